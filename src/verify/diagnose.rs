//! Diagnosing a refuted claim: which common mistake fits the numbers.
//!
//! Owns [`diagnose`]: given both sides' exact values at the refuting point (and at a second
//! point), it tests, in order, a flipped sign, a transpose, and a constant factor (named when it
//! is a size of the dims, its square root, or an inverse: the missing 1/√d, a mean where the
//! truth sums). A diagnosis is reported only when every entry fits, at both points; otherwise
//! none is, and the caller says so.
//!
//! Invariant: a fit is decided like equality elsewhere: exact, or enclosures that overlap and
//! are tight; never a float tolerance.

use crate::exact::num::{Num, Prec};
use crate::ir::Program;
use num_rational::BigRational;
use std::cmp::Ordering;

const BITS: u32 = 100;

/// Certainly equal as far as certified values can say (exact equality or tight overlap).
fn same(a: &Num, b: &Num) -> bool {
    match a.compare(b) {
        Some(Ordering::Equal) => true,
        Some(_) => false,
        None => a.is_tight(BITS) && b.is_tight(BITS),
    }
}

fn certainly_nonzero(a: &Num) -> bool {
    matches!(a.sign(), Some(Ordering::Less | Ordering::Greater))
}

/// Values of both sides at one point: the shape (after broadcasting) and the entries.
pub struct Sides<'a> {
    pub shape: &'a [usize],
    pub left: &'a [Num],
    pub right: &'a [Num],
}

impl Sides<'_> {
    fn n(&self) -> usize {
        self.left.len().max(self.right.len())
    }

    fn l(&self, i: usize) -> &Num {
        &self.left[i % self.left.len()]
    }

    fn r(&self, i: usize) -> &Num {
        &self.right[i % self.right.len()]
    }

    fn negated(&self) -> bool {
        (0..self.n()).any(|i| certainly_nonzero(self.l(i)))
            && (0..self.n()).all(|i| self.l(i).neg().is_ok_and(|m| same(self.r(i), &m)))
    }

    fn transposed(&self) -> bool {
        let s = self.shape;
        let k = s.len();
        if k < 2 || s[k - 2] != s[k - 1] || self.left.len() != self.right.len() {
            return false;
        }
        let (rows, cols) = (s[k - 2], s[k - 1]);
        let block = rows * cols;
        let symmetric = (0..self.n()).all(|i| {
            let (b, rc) = (i / block, i % block);
            let j = b * block + (rc % cols) * cols + rc / cols;
            same(self.l(i), self.l(j))
        });
        !symmetric
            && (0..self.n()).all(|i| {
                let (b, rc) = (i / block, i % block);
                let j = b * block + (rc % cols) * cols + rc / cols;
                same(self.r(i), self.l(j))
            })
    }

    /// The factor c with right = c × left at every entry, if there is one.
    fn factor(&self) -> Option<Num> {
        let prec = Prec::new(BITS + 64);
        let i = (0..self.n()).find(|&i| certainly_nonzero(self.l(i)))?;
        let c = self.r(i).div(self.l(i), prec).ok()?;
        (0..self.n())
            .all(|j| c.mul(self.l(j), prec).is_ok_and(|cl| same(self.r(j), &cl)))
            .then_some(c)
    }
}

/// Named constants a factor may be: sizes of the dims, their roots and inverses, 2 and 1/2.
fn named_factors(program: &Program) -> Vec<(String, Num)> {
    let prec = Prec::new(BITS + 64);
    let mut out = Vec::new();
    for (_, d) in program.dims.declared() {
        let Some(size) = d.size else { continue };
        if size <= 1 {
            continue;
        }
        let s = Num::exact(BigRational::from_integer((size as i64).into()));
        let name = d.name.clone();
        if let Ok(root) = crate::exact::funcs::sqrt(&s, prec) {
            if let Ok(inv) = root.recip(prec) {
                out.push((format!("1/√{name}"), inv));
            }
            out.push((format!("√{name}"), root));
        }
        if let Ok(inv) = s.recip(prec) {
            out.push((format!("1/{name}"), inv));
        }
        out.push((name, s));
    }
    out.push(("2".into(), Num::from_int(2)));
    out.push((
        "1/2".into(),
        Num::exact(BigRational::new(1.into(), 2.into())),
    ));
    out
}

/// The mistake that fits both points, in words (`left`/`right` name the claim's sides).
pub fn diagnose(program: &Program, at: &Sides, again: Option<&Sides>) -> Option<String> {
    let both = |f: &dyn Fn(&Sides) -> bool| f(at) && again.is_none_or(f);
    if both(&|s: &Sides| s.negated()) {
        return Some("the sign is flipped: the right side is minus the left side".into());
    }
    if both(&|s: &Sides| s.transposed()) {
        return Some("off by a transpose: the right side is the transpose of the left side".into());
    }
    let c = at.factor()?;
    if let Some(second) = again {
        let c2 = second.factor()?;
        if !same(&c, &c2) {
            return None;
        }
    }
    for (name, value) in named_factors(program) {
        if same(&c, &value) {
            let hint = if name.starts_with("1/") && !name.contains('√') {
                " (a mean where the sum belongs, or a missing division?)"
            } else if name.starts_with("1/√") {
                " (a 1/√ scale applied where it does not belong?)"
            } else if name.starts_with('√') {
                " (a missing 1/√ scale?)"
            } else {
                ""
            };
            return Some(format!(
                "off by a constant factor {name}: the right side is {name} × the left side{hint}"
            ));
        }
    }
    Some(format!(
        "off by a constant factor: the right side is {} × the left side",
        crate::render::trace::entry_text(&c)
    ))
}
