//! Expressions in LaTeX math: names, operations, and where long ones break.
//!
//! Owns [`TexPrinter`] (a graph node as math with the fewest parentheses: `+ -` < `⊙ · /` <
//! unary `-` < powers < atoms), [`name`] (`Wq` → `W_{q}`, `xhat` → `\hat{x}`, `mu` → `\mu`),
//! [`bar`] (the gradient ∂L/∂X is written `\bar{X}`), and [`display`] (an equation, broken
//! at its top-level `+`/`-` into `multline*` lines when it is too wide for the page).
//!
//! Invariant: every string produced is valid math-mode LaTeX using only amsmath/amssymb
//! commands; parentheses are always balanced within one line (a break happens only between
//! top-level terms).

use crate::ir::op::Tex;
use crate::ir::{DimPoly, Dims, Graph, NodeId, Op};
use std::collections::HashMap;

const ADD: u8 = 1;
const MUL: u8 = 2;
const NEG: u8 = 3;
const POW: u8 = 4;
const ATOM: u8 = 5;

/// Fractions nested deeper than this are written with a slash.
const MAX_FRACS: u8 = 2;

/// Widest a display line may be, in estimated characters (the text is about 85 wide).
pub const LINE_WIDTH: f64 = 64.0;

const GREEK: [&str; 24] = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega", "Gamma",
    "Delta",
];

/// A name's base, subscript and superscript mark: `Wq` → (`W`, `q`, ``), `xhat` →
/// (`\hat{x}`, ``, ``), `g1` → (`g`, `1`, ``), a fn's local `h.S` → (`S`, ``, `(\mathrm{h})`).
fn parts(name: &str) -> (String, String, String) {
    // The locals of an inlined call `h.S` / `attention.P`: the local, marked with its call
    // (`S^{(h)}`; the shape table gives the full name).
    if let Some((call, local)) = name.rsplit_once('.') {
        let (b, s, _) = parts(local);
        return (
            b,
            s,
            format!("(\\mathrm{{{}}})", escape_ident(&call_mark(call))),
        );
    }
    let (b, s) = plain_parts(name);
    (b, s, String::new())
}

/// A call's label as a superscript mark: short labels whole (`h`, `m`); a long one (the
/// fn's name of a call inside an expression, `attention2`) as its first three letters and
/// its number (`att2`), so that inline math stays narrow enough to set.
fn call_mark(call: &str) -> String {
    let call = call.rsplit('.').next().unwrap_or(call);
    if call.chars().count() <= 4 {
        return call.to_string();
    }
    let digits: String = call
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let stem: String = call.chars().take(3).collect();
    format!("{stem}{}", digits.chars().rev().collect::<String>())
}

/// [`parts`] of a name that is not a fn's local.
fn plain_parts(name: &str) -> (String, String) {
    if let Some(stem) = name.strip_suffix("hat").filter(|s| !s.is_empty()) {
        let (b, s) = plain_parts(stem);
        return (format!("\\hat{{{b}}}"), s);
    }
    // `x_1`, `d_k`, `W_q2`: the part after the underscore is the subscript.
    if let Some((b, sub)) = name.split_once('_') {
        if !b.is_empty() && !sub.is_empty() && !sub.contains('_') {
            let (base, inner) = plain_parts(b);
            let sub = escape_ident(sub);
            let sub = if inner.is_empty() {
                sub
            } else {
                format!("{inner},{sub}")
            };
            return (base, sub);
        }
    }
    if name == "eps" {
        return ("\\varepsilon".into(), String::new());
    }
    if name == "var" {
        return ("\\sigma^{2}".into(), String::new());
    }
    if GREEK.contains(&name) {
        return (format!("\\{name}"), String::new());
    }
    let chars: Vec<char> = name.chars().collect();
    if chars.len() == 1 {
        return (escape_ident(name), String::new());
    }
    // Letter + digits: g1 → g_{1}.
    if chars[0].is_ascii_alphabetic() && chars[1..].iter().all(|c| c.is_ascii_digit()) {
        return (chars[0].to_string(), chars[1..].iter().collect());
    }
    // A letter and a short lowercase tag: Wq → W_{q}, xc → x_{c}, dk → d_{k}.
    if chars[0].is_ascii_alphabetic()
        && chars.len() <= 4
        && chars[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && (chars[0].is_ascii_uppercase() || chars.len() <= 3)
    {
        return (chars[0].to_string(), chars[1..].iter().collect());
    }
    (format!("\\mathit{{{}}}", escape_ident(name)), String::new())
}

/// An identifier's characters in math: `_` escaped, Unicode letters as their commands
/// (`μ` → `\mu`), anything pdflatex cannot set as `?`.
fn escape_ident(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '_' => out.push_str("\\_"),
            c if c.is_ascii_alphanumeric() => out.push(c),
            c => match super::text::unicode(c) {
                Some(m) => out.push_str(m.trim_end()),
                None => out.push('?'),
            },
        }
    }
    out
}

fn with_sub(base: String, sub: &str) -> String {
    if sub.is_empty() {
        base
    } else {
        format!("{base}_{{{sub}}}")
    }
}

fn with_sup(base: String, sup: &str) -> String {
    if sup.is_empty() {
        base
    } else {
        format!("{{{base}}}^{{{sup}}}")
    }
}

/// A tensor or dim name in math.
pub fn name(n: &str) -> String {
    let (b, s, m) = parts(n);
    with_sup(with_sub(b, &s), &m)
}

/// ∂L/∂NAME, written `\bar{NAME}`.
pub fn bar(n: &str) -> String {
    let (b, s, m) = parts(n);
    // A bar over one letter; a line over a word or a power (`logp`, `σ²`).
    let over = if b.starts_with("\\mathit") || b.contains('^') {
        format!("\\overline{{{b}}}")
    } else {
        format!("\\bar{{{b}}}")
    };
    with_sup(with_sub(over, &s), &m)
}

/// A size as math: `h*dk` → `h\,d_{k}`.
pub fn dim(dims: &Dims, p: &DimPoly) -> String {
    p.display(&|id| name(dims.name(id))).replace('*', "\\,")
}

/// A shape as math: `[T, d]` → `T \times d`; a scalar is `1`.
pub fn shape(dims: &Dims, s: &[DimPoly]) -> String {
    if s.is_empty() {
        return "\\text{scalar}".into();
    }
    s.iter()
        .map(|p| dim(dims, p))
        .collect::<Vec<_>>()
        .join(" \\times ")
}

/// A rational as math: `3`, `-\tfrac{1}{2}`.
pub fn rational(r: &num_rational::BigRational) -> (String, u8) {
    if r.is_integer() {
        let t = r.to_string();
        let p = if t.starts_with('-') { NEG } else { ATOM };
        (t, p)
    } else {
        let (n, d) = (r.numer(), r.denom());
        if n.sign() == num_bigint::Sign::Minus {
            (format!("-\\tfrac{{{}}}{{{d}}}", -n), NEG)
        } else {
            (format!("\\tfrac{{{n}}}{{{d}}}"), ATOM)
        }
    }
}

/// A constant of a formula: a decimal as a file writes it (`0.044715`) when its denominator
/// is a power of ten's divisor above 100 and it has at most 8 decimals; else [`rational`]
/// (`\tfrac{1}{2}` stays a fraction).
pub fn constant(r: &num_rational::BigRational) -> (String, u8) {
    use num_traits::{One, Signed, Zero};
    let d = r.denom().clone();
    let ten = num_bigint::BigInt::from(10);
    let mut scale = num_bigint::BigInt::one();
    let mut places = 0usize;
    while !(&scale % &d).is_zero() && places < 8 {
        scale *= &ten;
        places += 1;
    }
    if d <= num_bigint::BigInt::from(100) || !(&scale % &d).is_zero() {
        return rational(r);
    }
    let digits = (r.numer().abs() * (&scale / &d)).to_string();
    let digits = format!("{digits:0>width$}", width = places + 1);
    let (int, frac) = digits.split_at(digits.len() - places);
    let sign = if r.is_negative() { "-" } else { "" };
    let p = if r.is_negative() { NEG } else { ATOM };
    (format!("{sign}{int}.{frac}"), p)
}

/// `a` ready for a superscript: braced, or in parentheses when it has a superscript of its
/// own (TeX unwraps a group of one atom, so `{x^{a}}^{b}` would be a double superscript).
pub fn script_base(a: &str) -> String {
    if a.contains('^') {
        format!("({a})")
    } else {
        format!("{{{a}}}")
    }
}

/// Prints nodes of one graph as math.
pub struct TexPrinter<'a> {
    pub graph: &'a Graph,
    pub dims: &'a Dims,
    /// Nodes printed as a name (already in math form).
    pub names: &'a HashMap<NodeId, String>,
}

impl TexPrinter<'_> {
    /// `node` as math; a named node prints its definition, not its name.
    pub fn definition(&self, node: NodeId) -> String {
        self.print(node, true).0
    }

    /// `node` as math, a named node as its name.
    pub fn expr(&self, node: NodeId) -> String {
        self.print(node, false).0
    }

    /// [`TexPrinter::terms`] of an expression as written: a named node stays its name.
    pub fn expr_terms(&self, node: NodeId) -> Vec<(bool, String)> {
        let mut out = Vec::new();
        self.collect_terms(node, false, false, &mut out);
        out
    }

    /// `node`'s top-level terms, each with its sign (`+`/`-`), as math.
    pub fn terms(&self, node: NodeId) -> Vec<(bool, String)> {
        let mut out = Vec::new();
        self.collect_terms(node, false, true, &mut out);
        out
    }

    fn collect_terms(&self, n: NodeId, negative: bool, top: bool, out: &mut Vec<(bool, String)>) {
        let node = self.graph.node(n);
        let named = !top && self.names.contains_key(&n);
        match node.op {
            Op::Add if !named => {
                self.collect_terms(node.args[0], negative, false, out);
                self.collect_terms(node.args[1], negative, false, out);
            }
            Op::Sub if !named => {
                self.collect_terms(node.args[0], negative, false, out);
                self.collect_terms(node.args[1], !negative, false, out);
            }
            _ => {
                let (s, p) = self.print(n, top);
                let s = if p < MUL { format!("({s})") } else { s };
                out.push((negative, s));
            }
        }
    }

    fn print(&self, n: NodeId, top: bool) -> (String, u8) {
        self.print_at(n, top, 0)
    }

    /// [`TexPrinter::print`] inside `fracs` fractions: from the [`MAX_FRACS`]th on, a
    /// fraction is written with a slash (`a/b`), so that nothing is set at
    /// script-script size.
    fn print_at(&self, n: NodeId, top: bool, fracs: u8) -> (String, u8) {
        if !top {
            if let Some(name) = self.names.get(&n) {
                return (name.clone(), ATOM);
            }
        }
        let node = self.graph.node(n);
        let arg = |i: usize, min: u8| -> String {
            let (s, p) = self.print_at(node.args[i], false, fracs);
            if p < min {
                format!("({s})")
            } else {
                s
            }
        };
        let plain = |i: usize| self.print_at(node.args[i], false, fracs).0;
        let scalar = |i: usize| self.graph.shape(node.args[i]).is_empty();
        let ranks: Vec<usize> = node
            .args
            .iter()
            .map(|&a| self.graph.shape(a).len())
            .collect();
        let call = |head: &str| -> (String, u8) {
            let parts = node.op.call_parts(&ranks, &|d| dim(self.dims, d));
            if let Some(alias) = parts.name {
                return (format!("\\operatorname{{{alias}}}({})", plain(0)), ATOM);
            }
            let sub = node
                .op
                .tex_subscript(&ranks, &|s| shape(self.dims, s))
                .map(|s| format!("_{{{s}}}"))
                .unwrap_or_default();
            let args: Vec<String> = (0..node.args.len()).map(plain).collect();
            (format!("{head}{sub}({})", args.join(", ")), ATOM)
        };
        match node.op.spec().tex {
            Tex::Value => match &node.op {
                Op::Literal(r) if fracs >= MAX_FRACS && !r.is_integer() => {
                    let text = format!("{}/{}", r.numer(), r.denom());
                    let prec = if r.numer().sign() == num_bigint::Sign::Minus {
                        NEG
                    } else {
                        MUL
                    };
                    (text, prec)
                }
                Op::Literal(r) => constant(r),
                Op::Pi => ("\\pi".into(), ATOM),
                Op::DimSize(p) => {
                    let t = dim(self.dims, p);
                    let prec = if t.contains('+') || t.contains('-') {
                        ADD
                    } else if t.contains("\\,") {
                        MUL
                    } else {
                        ATOM
                    };
                    (t, prec)
                }
                // Leaves, fn parameters and `grad(NAME)` print as their names.
                _ => (
                    self.names.get(&n).cloned().unwrap_or_else(|| "?".into()),
                    ATOM,
                ),
            },
            Tex::Prefix => (format!("-{}", arg(0, NEG)), NEG),
            Tex::Infix("+") => {
                let right = arg(1, MUL);
                match right.strip_prefix('-') {
                    Some(r) => (format!("{} - {r}", arg(0, ADD)), ADD),
                    None => (format!("{} + {right}", arg(0, ADD)), ADD),
                }
            }
            Tex::Infix(op) => (format!("{} {op} {}", arg(0, ADD), arg(1, MUL)), ADD),
            Tex::Product if matches!(&self.graph.node(node.args[0]).op, Op::Literal(r) if *r == -num_rational::BigRational::from_integer(1.into())) => {
                (format!("-{}", arg(1, NEG)), NEG)
            }
            Tex::Product => {
                let op = if scalar(0) || scalar(1) {
                    "\\,"
                } else {
                    " \\odot "
                };
                // A number goes first (`2\,(a + b)`, not `(a + b)\,2`).
                let literal = |i: usize| is_number(self.graph, node.args[i]);
                let (l, r) = if literal(1) && !literal(0) {
                    (1, 0)
                } else {
                    (0, 1)
                };
                // A negated right factor keeps its parentheses: `a\,(-b)`, not `a\,-b`.
                (format!("{}{op}{}", arg(l, MUL), arg(r, POW)), MUL)
            }
            Tex::Fraction if fracs >= MAX_FRACS => {
                (format!("{}/{}", arg(0, MUL), arg(1, POW)), MUL)
            }
            Tex::Fraction => {
                let inner = |i: usize| self.print_at(node.args[i], false, fracs + 1).0;
                (format!("\\frac{{{}}}{{{}}}", inner(0), inner(1)), ATOM)
            }
            Tex::Juxtapose => (format!("{}\\,{}", arg(0, MUL), arg(1, POW)), MUL),
            Tex::Power => {
                let p = match &node.op {
                    Op::Pow(p) => p.to_string(),
                    other => other.name().to_string(),
                };
                (format!("{}^{{{p}}}", script_base(&arg(0, ATOM))), POW)
            }
            Tex::Transpose(_) if node.op.is_transpose(ranks[0]) => {
                (format!("{}^{{\\top}}", script_base(&arg(0, ATOM))), POW)
            }
            Tex::Transpose(head) | Tex::Call(head) => call(head),
            Tex::Norm(head) => {
                let params: Vec<String> = (1..node.args.len()).map(plain).collect();
                (format!("{head}({}; {})", plain(0), params.join(", ")), ATOM)
            }
            Tex::Sqrt => (format!("\\sqrt{{{}}}", plain(0)), ATOM),
            Tex::Mask => (format!("{} + M", arg(0, ADD)), ADD),
            Tex::Iverson => (format!("[{} = {}]", plain(0), plain(1)), ATOM),
            // A broadcast is implicit in the notation.
            Tex::Implicit => self.print_at(node.args[0], false, fracs),
            Tex::Identity => ("I".into(), ATOM),
        }
    }
}

/// Is `n` a number (arithmetic of literals, π and sizes, no tensor)? It is written first in
/// a product, as on paper.
pub fn is_number(g: &Graph, n: NodeId) -> bool {
    let mut stack = vec![n];
    while let Some(k) = stack.pop() {
        let node = g.node(k);
        match node.op {
            Op::Literal(_) | Op::Pi | Op::DimSize(_) => {}
            _ if node.args.is_empty() || !g.shape(k).is_empty() => return false,
            _ => stack.extend(node.args.iter().copied()),
        }
    }
    true
}

/// Estimated printed width of math (commands count as one glyph, sub/superscripts as less).
pub fn width(tex: &str) -> f64 {
    let b = tex.as_bytes();
    let mut w = 0.0;
    let mut i = 0;
    let mut script = 0usize;
    let mut depth_at_script: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j].is_ascii_alphabetic() {
                    j += 1;
                }
                let cmd = &tex[start..j];
                match cmd {
                    "operatorname" | "mathrm" | "mathit" | "mathtt" | "text" | "hat" | "bar"
                    | "frac" | "tfrac" | "left" | "right" => {}
                    "sqrt" => w += 1.0,
                    "" => w += 0.3,
                    // Binary operators and relations come with space on both sides.
                    "odot" | "cdot" | "times" | "le" | "ge" | "to" | "in" => {
                        w += if script > 0 { 1.2 } else { 2.4 }
                    }
                    _ => w += if script > 0 { 0.6 } else { 1.0 },
                }
                i = j.max(i + 2);
                continue;
            }
            b'^' | b'_' => {
                script += 1;
                depth_at_script.push(depth);
            }
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth_at_script.last() == Some(&depth) {
                    depth_at_script.pop();
                    script -= 1;
                }
            }
            b' ' => {}
            b'+' | b'-' | b'=' => w += if script > 0 { 1.0 } else { 2.2 },
            _ => w += if script > 0 { 0.6 } else { 1.0 },
        }
        // A script without braces covers one character.
        if (c != b'^' && c != b'_' && c != b'{')
            && depth_at_script.last() == Some(&depth)
            && i > 0
            && (b[i - 1] == b'^' || b[i - 1] == b'_')
        {
            depth_at_script.pop();
            script -= 1;
        }
        i += 1;
    }
    w
}

/// `lhs = rhs` as a display: `equation*`, or `multline*` broken between top-level terms
/// when it is wider than [`LINE_WIDTH`]. Each line goes through the preamble's `\fitline`,
/// which shrinks a line only when it is still wider than the text (one long product).
pub fn display(lhs: &str, terms: &[(bool, String)]) -> String {
    display_rel(lhs, "=", terms)
}

/// [`display`] with another relation (`\\neq` for a claim that the sides differ).
pub fn display_rel(lhs: &str, rel: &str, terms: &[(bool, String)]) -> String {
    let mut text = String::new();
    for (k, (negative, t)) in terms.iter().enumerate() {
        let sign = match (k, negative) {
            (0, false) => "",
            (0, true) => "-",
            (_, false) => " + ",
            (_, true) => " - ",
        };
        text.push_str(sign);
        text.push_str(t);
    }
    if width(lhs) + width(&text) + 2.0 <= LINE_WIDTH || terms.len() < 2 {
        return format!(
            "\\begin{{equation*}}\n  \\fitline{{{lhs} {rel} {text}}}\n\\end{{equation*}}\n"
        );
    }
    let mut lines: Vec<String> = vec![format!("{lhs} {rel} ")];
    let mut current = width(lhs) + 2.0;
    for (k, (negative, t)) in terms.iter().enumerate() {
        let sign = match (k, negative) {
            (0, false) => "",
            (0, true) => "-",
            (_, false) => "+ ",
            (_, true) => "- ",
        };
        let piece = format!("{sign}{t}");
        let w = width(&piece) + 1.0;
        if k > 0 && current + w > LINE_WIDTH {
            lines.push(String::new());
            current = 0.0;
        }
        let last = lines.last_mut().expect("a line");
        if !last.is_empty() && !last.ends_with(&format!("{rel} ")) {
            last.push(' ');
        }
        last.push_str(&piece);
        current += w;
    }
    // A single term wider than the line cannot break: `\fitline` shrinks it to fit.
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| format!("\\fitline{{{l}}}"))
        .collect();
    format!(
        "\\begin{{multline*}}\n  {}\n\\end{{multline*}}\n",
        lines.join(" \\\\\n  ")
    )
}

/// A final result, boxed, with its shape beside it: `\boxed{lhs = terms} \qquad (shape)`. A
/// box cannot break, so a long one is shrunk to the line.
pub fn boxed(lhs: &str, terms: &[(bool, String)], shape: &str) -> String {
    let mut text = String::new();
    for (k, (negative, t)) in terms.iter().enumerate() {
        text.push_str(match (k, negative) {
            (0, false) => "",
            (0, true) => "-",
            (_, false) => " + ",
            (_, true) => " - ",
        });
        text.push_str(t);
    }
    format!(
        "\\begin{{equation*}}\n  \\fitline{{\\boxed{{{lhs} = {text}}} \\qquad ({shape})}}\n\\end{{equation*}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_like_paper() {
        assert_eq!(name("Wq"), "W_{q}");
        assert_eq!(name("xhat"), "\\hat{x}");
        assert_eq!(name("mu"), "\\mu");
        assert_eq!(name("eps"), "\\varepsilon");
        assert_eq!(name("g1"), "g_{1}");
        assert_eq!(name("dk"), "d_{k}");
        assert_eq!(name("logp"), "\\mathit{logp}");
        assert_eq!(name("x_1"), "x_{1}");
        assert_eq!(name("W_q2"), "W_{q2}");
        assert_eq!(name("_b"), "\\mathit{\\_b}");
        assert_eq!(name("μ"), "\\mu");
        assert_eq!(bar("Wq"), "\\bar{W}_{q}");
        assert_eq!(bar("logp"), "\\overline{\\mathit{logp}}");
        assert_eq!(bar("var"), "\\overline{\\sigma^{2}}");
        assert_eq!(bar("h.S"), "{\\bar{S}}^{(\\mathrm{h})}");
        assert_eq!(name("attention.P"), "{P}^{(\\mathrm{att})}");
        assert_eq!(name("blk.attention2.P"), "{P}^{(\\mathrm{att2})}");
    }

    #[test]
    fn constants_print_as_the_file_writes_them() {
        let r = |n: i64, d: i64| num_rational::BigRational::new(n.into(), d.into());
        assert_eq!(constant(&r(8943, 200000)).0, "0.044715");
        assert_eq!(constant(&r(-1, 100000)).0, "-0.00001");
        assert_eq!(constant(&r(1, 2)).0, "\\tfrac{1}{2}");
        assert_eq!(constant(&r(1, 3)).0, "\\tfrac{1}{3}");
        assert_eq!(constant(&r(1, 1024)).0, "\\tfrac{1}{1024}");
    }

    #[test]
    fn width_counts_glyphs_not_commands() {
        assert_eq!(width("Q\\,K"), 2.3);
        assert!(width("a + b") > width("ab") + 2.0);
        assert!(width("\\operatorname{rowsum}(x)") > 8.0);
        assert!(width("x_{abc}") < 3.0);
    }
}
