//! Exact values in LaTeX: entries and `pmatrix` tensors.
//!
//! Owns [`entry`] (an exact rational as an integer or `\tfrac{p}{q}`; a certified enclosure as
//! its certified digits followed by `\ldots`, never a rounded float, or as the nearest short
//! decimal `\pm` a bound when it straddles a round number; −∞ as `-\infty`) and
//! [`tensor`] (a scalar, a row vector or a matrix) and [`equation`] (a tensor as display math;
//! a stack of matrices one line per leading index, 1-based).
//!
//! Invariant: every digit printed is certified: an exact value is printed whole, an
//! enclosure only to the digits its two ends share.

use crate::exact::num::{certified_digits, Num};
use crate::exact::tensor::Tensor;

/// Significant digits of an enclosure shown in the document.
const DIGITS: i64 = 4;

/// One entry.
pub fn entry(n: &Num) -> String {
    match n {
        Num::Exact(r) => super::math::constant(r).0,
        Num::Range { lo, hi } => {
            let digits = certified_digits(&lo.to_rational(), &hi.to_rational(), DIGITS);
            if digits.starts_with('[') {
                // Not even the sign is certified: a value within a tiny interval around 0.
                let m = num_traits::Signed::abs(&lo.to_rational())
                    .max(num_traits::Signed::abs(&hi.to_rational()));
                let e = crate::exact::num::Num::exact(m).to_f64().log10().ceil() as i64;
                return format!("0 \\pm 10^{{{e}}}");
            }
            if let Some((near, distance)) = digits.split_once(" ± ") {
                // Straddling a round number: the nearest decimal and a bound on the distance.
                return format!("{} \\pm {}", scientific(near), scientific(distance));
            }
            let digits = digits.trim_end_matches('…');
            let (sign, rest) = match digits.strip_prefix('-') {
                Some(r) => ("-", r),
                None => ("", digits),
            };
            // `1.5e-7` → `1.5\cdot 10^{-7}`
            let body = match rest.split_once('e') {
                Some((m, e)) => format!("{m}\\ldots\\cdot 10^{{{e}}}"),
                None => format!("{rest}\\ldots"),
            };
            format!("{sign}{body}")
        }
        Num::NegInf => "-\\infty".into(),
    }
}

/// `1.5e-7` as `1.5\cdot 10^{-7}`; anything else unchanged.
fn scientific(text: &str) -> String {
    match text.split_once('e') {
        Some((m, e)) => format!("{m}\\cdot 10^{{{e}}}"),
        None => text.to_string(),
    }
}

fn matrix(rows: usize, cols: usize, at: impl Fn(usize, usize) -> String) -> String {
    let body: Vec<String> = (0..rows)
        .map(|i| (0..cols).map(|j| at(i, j)).collect::<Vec<_>>().join(" & "))
        .collect();
    format!(
        "\\begin{{pmatrix}} {} \\end{{pmatrix}}",
        body.join(" \\\\ ")
    )
}

/// Columns beyond which a vector or a wide matrix is shown transposed (it fits the page).
const WIDE: usize = 4;

/// A tensor as math: a scalar, a row vector, a matrix, or `k{:}\ (...)` per leading index.
/// `true` when it is shown transposed (a wide matrix, a long vector: the caller writes the
/// left side with `^{\top}`).
pub fn tensor(t: &Tensor<Num>) -> (String, bool) {
    let shape = t.shape().to_vec();
    let e: Vec<&Num> = t.iter().collect();
    match shape.len() {
        0 => (entry(e[0]), false),
        1 if shape[0] > WIDE => (matrix(shape[0], 1, |i, _| entry(e[i])), true),
        1 => (matrix(1, shape[0], |_, j| entry(e[j])), false),
        2 if shape[1] > WIDE && shape[1] > shape[0] => (
            matrix(shape[1], shape[0], |i, j| entry(e[j * shape[1] + i])),
            true,
        ),
        2 => (
            matrix(shape[0], shape[1], |i, j| entry(e[i * shape[1] + j])),
            false,
        ),
        _ => {
            // A stack of matrices: the caller sets one per leading index (see [`equation`]).
            let (rows, cols) = (shape[shape.len() - 2], shape[shape.len() - 1]);
            (matrix(rows, cols, |i, j| entry(e[i * cols + j])), false)
        }
    }
}

/// `lhs = value` as display math: a wide matrix is shown transposed (`lhs^{\top}`), and a
/// stack of matrices is one line per leading index, `lhs[1,:,:] = (...)` (1-based).
pub fn equation(lhs: &str, t: &Tensor<Num>) -> String {
    let shape = t.shape().to_vec();
    if shape.len() < 3 {
        let (value, transposed) = tensor(t);
        let lhs = if transposed {
            format!("{}^{{\\top}}", super::math::script_base(lhs))
        } else {
            lhs.to_string()
        };
        // A matrix wider than the line (8 columns of digits) is shrunk to fit.
        return format!(
            "\\begin{{equation*}}\n  \\fitline{{{lhs} = {value}}}\n\\end{{equation*}}\n"
        );
    }
    let (rows, cols) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let block = rows * cols;
    let e: Vec<&Num> = t.iter().collect();
    let lead = &shape[..shape.len() - 2];
    let lines: Vec<String> = (0..e.len() / block.max(1))
        .map(|b| {
            // The 1-based leading indices of block b.
            let mut index = Vec::new();
            let mut rest = b;
            for &n in lead.iter().rev() {
                index.push(rest % n + 1);
                rest /= n;
            }
            index.reverse();
            let at: Vec<String> = index.iter().map(|i| i.to_string()).collect();
            format!(
                "  \\fitline{{{lhs}[{},:,:] = {}}}",
                at.join(","),
                matrix(rows, cols, |i, j| entry(e[b * block + i * cols + j]))
            )
        })
        .collect();
    format!(
        "\\begin{{gather*}}\n{}\n\\end{{gather*}}\n",
        lines.join(" \\\\\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::num::rat;

    #[test]
    fn exact_entries_are_whole_fractions() {
        assert_eq!(entry(&Num::exact(rat(-3, 4))), "-\\tfrac{3}{4}");
        assert_eq!(entry(&Num::exact(rat(5, 1))), "5");
        assert_eq!(entry(&Num::NegInf), "-\\infty");
    }

    #[test]
    fn enclosures_show_truncated_digits_or_a_bound() {
        let prec = crate::exact::num::Prec::new(64);
        // 1.99955… is never "2.000…": the digits are truncated.
        let near_two = Num::range(rat(199955, 100000), rat(199956, 100000), prec);
        assert_eq!(entry(&near_two), "1.999\\ldots");
        // An interval around 1/2 certifies no digit: the nearest decimal and the distance.
        let half = Num::range(rat(499999, 1000000), rat(500001, 1000000), prec);
        assert!(
            entry(&half).starts_with("0.5000 \\pm 1.0"),
            "{}",
            entry(&half)
        );
    }
}
