//! Printing a normal form back as e-nodes, the way a person writes it: the constant and the
//! factor common to every term taken out, terms in a stable order (plus before minus), small
//! factors (constants, row statistics) combined before they meet a large tensor, a row sum
//! over the row's size as a mean, square roots under one root, `exp(u)^e` as `exp(e * u)`.
//!
//! Owns [`render`] and its helpers. Invariant: the nodes made have exactly the value of the
//! form (only the grouping changes); the pass unions them with the class the form came from.

use super::poly::{Exp, Factor, Mono, Poly};
use crate::ir::Func;
use crate::simplify::analysis::EG;
use crate::simplify::lang::{ENode, EOp};
use egg::Id;
use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};

/// The order terms are printed in: positive before negative, fewer factors first, then a
/// fixed order.
pub(super) fn term_order(
    a: &(&Mono, &BigRational),
    b: &(&Mono, &BigRational),
) -> std::cmp::Ordering {
    (b.1.is_positive())
        .cmp(&a.1.is_positive())
        .then(a.0 .0.len().cmp(&b.0 .0.len()))
        .then(a.0.cmp(b.0))
}

/// `p` with a number under a root moved below the line when the coefficient divides by it
/// (`sqrt(2) / 2` is printed `1 / sqrt(2)`), so that `1/sqrt(2*pi)` reads as it is written.
/// The value is unchanged; only the split between coefficient and atom moves.
pub(super) fn numbers_for_print(eg: &EG, p: &Poly) -> Poly {
    let value = |a: Id| {
        eg[a].nodes.iter().find_map(|n| match &n.op {
            EOp::Num(v) if v.is_integer() && v.is_positive() && !v.is_one() => Some(v.to_integer()),
            _ => None,
        })
    };
    let terms = p.0.iter().map(|(m, c)| {
        let mut c = c.clone();
        let mut out = Vec::with_capacity(m.0.len());
        for &(a, e) in &m.0 {
            match value(a) {
                Some(v) if e.is_positive() && e.den > 1 && (c.denom() % &v).is_zero() => {
                    c *= BigRational::from_integer(v);
                    out.push((a, e.add(Exp::ONE.neg()).unwrap_or(e)));
                }
                _ => out.push((a, e)),
            }
        }
        (Mono(out), c)
    });
    Poly::from_terms(terms.collect())
}

/// The constant factor of a sum: the gcd of the numerators over the lcm of the
/// denominators, with the sign of the term printed first (so what is left is primitive and
/// starts with a plus).
pub(super) fn content(p: &Poly) -> BigRational {
    let gcd =
        p.0.iter()
            .fold(BigInt::zero(), |g, (_, c)| g.gcd(c.numer()));
    let lcm = p.0.iter().fold(BigInt::one(), |l, (_, c)| l.lcm(c.denom()));
    let k = BigRational::new(gcd, lcm);
    let first = p.terms().min_by(term_order).map(|(_, c)| c.clone());
    // Decimals (`0.044715`) would leave integers a person never writes (`200000 + 26829 *
    // x ** 2`): then the first term's coefficient comes out instead (`1 + 0.134145 * x ** 2`).
    let largest = p.0.iter().map(|(_, c)| (c / &k).abs()).max();
    if let (Some(first), Some(largest)) = (&first, largest) {
        if !k.is_zero() && largest > BigRational::from_integer(LARGEST_INTEGER.into()) {
            return first.clone();
        }
    }
    match first {
        Some(c) if c.is_negative() => -k,
        _ => k,
    }
}

/// The largest integer coefficient a content may leave in the sum it takes out of.
const LARGEST_INTEGER: i64 = 1000;

/// The factor every term of `p` shares among the atoms `pick` accepts: each such atom that
/// every term has with exponents of one sign, at the exponent nearest zero.
pub(super) fn common_factor(p: &Poly, pick: impl Fn(Id) -> bool) -> Mono {
    let Some((first, _)) = p.0.first() else {
        return Mono::default();
    };
    let mut common: Vec<Factor> = Vec::new();
    for &(a, e) in &first.0 {
        if !pick(a) {
            continue;
        }
        let mut best = e;
        let all = p.0.iter().all(|(m, _)| {
            m.0.iter().any(|&(b, f)| {
                let same_sign = f.is_positive() == e.is_positive();
                if b == a && same_sign && f.abs() < best.abs() {
                    best = f;
                }
                b == a && same_sign
            })
        });
        if all {
            common.push((a, best));
        }
    }
    Mono(common)
}

/// Nodes for the form `p` in `eg`: the constant and the factor common to every term taken
/// out (`(a - b) / s`, `2 * x / N`), terms in [`term_order`].
pub(super) fn render(eg: &mut EG, p: &Poly) -> Id {
    render_sum(eg, p, true)
}

/// [`render`]; `groups`: a sum with no common factor may group the terms sharing a divisor
/// (not inside a sum whose common factor was taken out: its terms stay together).
fn render_sum(eg: &mut EG, p: &Poly, groups: bool) -> Id {
    let printed = numbers_for_print(eg, p);
    let p = &printed;
    let mut terms: Vec<(&Mono, &BigRational)> = p.terms().collect();
    terms.sort_by(term_order);
    let Some(first) = terms.first() else {
        return eg.add(ENode::leaf(EOp::Num(BigRational::zero())));
    };
    if terms.len() == 1 {
        return render_term(eg, first.1, first.0);
    }
    // The content: a rational factor with the first term's sign, and each atom every term
    // has with exponents of one sign, at the exponent nearest zero.
    let k = content(p);
    let common = common_factor(p, |_| true);
    if common.0.is_empty() {
        // Inside a sum whose common factor was taken out, only a constant divisor groups
        // terms (`(1 + t) / 2 + x * s * (1 + c * x ** 2) / sqrt(2 * pi)`).
        let divisor = |a: Id| groups || eg[a].data.konst.is_some() || is_pi(eg, a);
        if let Some((group, rest)) = divisor_group(p, divisor) {
            // `dy + (a - mean(a) - x * mean(a * x)) / s`: the rest, then the group.
            let r = render(eg, &rest);
            return if content(&group).is_negative() {
                let g = render(eg, &group.scale(&-BigRational::one()));
                eg.add(ENode::new(EOp::Sub, vec![r, g]))
            } else {
                let g = render(eg, &group);
                eg.add(ENode::new(EOp::Add, vec![r, g]))
            };
        }
    }
    let split = |common: &Mono| -> Option<Poly> {
        let inverse = common.pow(Exp::ONE.neg())?;
        let mut inner = Poly::zero();
        for (m, c) in &terms {
            inner.add_term(m.mul(&inverse)?, *c / &k);
        }
        Some(inner)
    };
    let mut common = common;
    let inner = split(&common).unwrap_or_else(|| {
        common = Mono::default();
        p.scale(&k.recip())
    });
    if !common.0.is_empty() || !k.is_one() {
        // The inner sum is primitive with no common factor: printed on its own terms.
        let sum = render_sum(eg, &inner, false);
        return product(eg, &k, &common, Some(sum));
    }
    if let Some((rest, by_atom)) = sum_factor(&inner) {
        // `x * (1 - t ** 2) * (1 + c * x ** 2)`, not four terms.
        let r = render(eg, &rest);
        let f = render(eg, &by_atom);
        return eg.add(ENode::new(EOp::Mul, vec![r, f]));
    }
    let mut inner_terms: Vec<(&Mono, &BigRational)> = inner.terms().collect();
    inner_terms.sort_by(term_order);
    let mut acc: Option<Id> = None;
    for (m, c) in inner_terms {
        let t = render_term(eg, &c.abs(), m);
        acc = Some(match acc {
            None if c.is_negative() => eg.add(ENode::new(EOp::Neg, vec![t])),
            None => t,
            Some(a) if c.is_negative() => eg.add(ENode::new(EOp::Sub, vec![a, t])),
            Some(a) => eg.add(ENode::new(EOp::Add, vec![a, t])),
        });
    }
    acc.expect("a sum of two or more terms")
}

/// A factor that is itself a sum: `p = P · Q` where `Q` is a sum of powers of one atom `a`
/// and `P` (two or more terms) does not mention `a`, found when the parts of `p` at each
/// power of `a` are multiples of one another (`P - P·t²` is `P · (1 - t²)`). The first atom
/// in order that splits `p` so.
fn sum_factor(p: &Poly) -> Option<(Poly, Poly)> {
    let mut atoms: Vec<Id> =
        p.0.iter()
            .flat_map(|(m, _)| m.0.iter().map(|&(a, _)| a))
            .collect();
    atoms.sort();
    atoms.dedup();
    for a in atoms {
        // The part of `p` at each power of `a` (zero included), `a` taken out.
        let mut parts: Vec<(Exp, Poly)> = Vec::new();
        for (m, c) in &p.0 {
            let e =
                m.0.iter()
                    .find(|&&(b, _)| b == a)
                    .map_or(Exp::new(0, 1)?, |&(_, e)| e);
            let rest = Mono(m.0.iter().copied().filter(|&(b, _)| b != a).collect());
            match parts.iter_mut().find(|(f, _)| *f == e) {
                Some((_, q)) => q.add_term(rest, c.clone()),
                None => parts.push((e, Poly::term(rest, c.clone()))),
            }
        }
        if parts.len() < 2 {
            continue;
        }
        let (_, first) = &parts[0];
        if first.0.len() < 2 {
            continue;
        }
        // Each part must be `c · first`.
        let ratio = |q: &Poly| -> Option<BigRational> {
            if q.0.len() != first.0.len() {
                return None;
            }
            let k = &q.0.first()?.1 / &first.0.first()?.1;
            q.0.iter()
                .zip(&first.0)
                .all(|((m, c), (n, d))| m == n && *c == &k * d)
                .then_some(k)
        };
        let Some(by_atom) = parts
            .iter()
            .map(|(e, q)| Some((Mono::atom(a, *e), ratio(q)?)))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let by_atom = by_atom
            .into_iter()
            .map(|(m, c)| {
                (
                    if m.0[0].1.num == 0 {
                        Mono::default()
                    } else {
                        m
                    },
                    c,
                )
            })
            .collect();
        return Some((first.clone(), Poly::from_terms(by_atom)));
    }
    None
}

/// With no factor common to every term: the terms sharing a divisor that two or more (but
/// not all) of them have, and the others; the divisor in the most terms, the first atom on
/// a tie; only divisors `pick` accepts. A layer norm's backward beside a residual reads
/// `dy + (...) / s`, not `dy + a / s - b / s - c / s`.
fn divisor_group(p: &Poly, pick: impl Fn(Id) -> bool) -> Option<(Poly, Poly)> {
    let divides = |m: &Mono, a: Id| m.0.iter().any(|&(b, e)| b == a && !e.is_positive());
    let mut best: Option<(usize, Id)> = None;
    for (m, _) in &p.0 {
        for &(a, e) in &m.0 {
            if e.is_positive() || !pick(a) {
                continue;
            }
            let count = p.0.iter().filter(|(n, _)| divides(n, a)).count();
            if count >= 2 && count < p.0.len() && best.is_none_or(|(c, b)| (count, b) > (c, a)) {
                best = Some((count, a));
            }
        }
    }
    let (_, a) = best?;
    let (group, rest): (Vec<_>, Vec<_>) = p.0.iter().cloned().partition(|(m, _)| divides(m, a));
    Some((Poly::from_terms(group), Poly::from_terms(rest)))
}

fn is_pi(eg: &EG, a: Id) -> bool {
    eg[a].nodes.iter().any(|n| n.op == EOp::Pi)
}

/// Nodes for `c · m`.
pub(super) fn render_term(eg: &mut EG, c: &BigRational, m: &Mono) -> Id {
    product(eg, c, m, None)
}

/// Nodes for `k · m · extra`. The factors with fewer entries than the largest (constants,
/// scalars, a row's statistics) are combined first, sign included, and the large ones
/// multiplied by that once: `xc * (mean(d) / s)`, not `-(xc * mean(d) / s)`, which pays for
/// the division and the negation at every entry.
pub(super) fn product(eg: &mut EG, k: &BigRational, m: &Mono, extra: Option<Id>) -> Id {
    let mut num: Vec<Id> = Vec::new();
    let mut den: Vec<Id> = Vec::new();
    let kn = k.numer().abs();
    if !kn.is_one() {
        num.push(eg.add(ENode::leaf(EOp::Num(BigRational::from_integer(kn)))));
    }
    if !k.denom().is_one() {
        den.push(eg.add(ENode::leaf(EOp::Num(BigRational::from_integer(
            k.denom().clone(),
        )))));
    }
    // Square roots on each side of the line go under one root (`sqrt(2 * pi)`).
    let (mut num_roots, mut den_roots) = (Vec::new(), Vec::new());
    for (a, e) in &as_means(eg, m).0 {
        // `exp(u)^e` prints as `exp(e * u)` (`exp(-(x ** 2 / 2))`).
        if *e != Exp::ONE {
            if let Some(u) = exp_argument(eg, *a) {
                let scaled = product(eg, &e.to_rational(), &Mono::atom(u, Exp::ONE), None);
                num.push(eg.add(ENode::new(EOp::Func(Func::Exp), vec![scaled])));
                continue;
            }
        }
        if e.abs() == Exp::HALF {
            if e.is_positive() {
                &mut num_roots
            } else {
                &mut den_roots
            }
            .push(*a);
            continue;
        }
        let f = power(eg, *a, e.abs());
        if e.is_positive() {
            num.push(f);
        } else {
            den.push(f);
        }
    }
    for (roots, side) in [(num_roots, &mut num), (den_roots, &mut den)] {
        let mut it = roots.into_iter();
        if let Some(first) = it.next() {
            let inside = it.fold(first, |acc, x| eg.add(ENode::new(EOp::Mul, vec![acc, x])));
            side.push(eg.add(ENode::new(EOp::Func(Func::Sqrt), vec![inside])));
        }
    }
    num.extend(extra);
    let largest = num
        .iter()
        .chain(&den)
        .map(|id| eg[*id].data.entries)
        .max()
        .unwrap_or(1);
    let small = |eg: &EG, id: &Id| eg[*id].data.entries < largest;
    let (small_num, big_num): (Vec<Id>, Vec<Id>) = num.iter().partition(|id| small(eg, id));
    let (small_den, big_den): (Vec<Id>, Vec<Id>) = den.iter().partition(|id| small(eg, id));
    let fold = |eg: &mut EG, ids: &[Id]| -> Option<Id> {
        let mut it = ids.iter();
        let first = *it.next()?;
        Some(it.fold(first, |acc, &x| eg.add(ENode::new(EOp::Mul, vec![acc, x]))))
    };
    let quotient = |eg: &mut EG, top: Option<Id>, bottom: Option<Id>| match (top, bottom) {
        (top, Some(bottom)) => {
            let top = top.unwrap_or_else(|| eg.add(ENode::leaf(EOp::Num(BigRational::one()))));
            Some(eg.add(ENode::new(EOp::Div, vec![top, bottom])))
        }
        (top, None) => top,
    };
    // Without a small numerator, the small denominators divide (`S @ K / sqrt(d)`).
    let (small_den, big_den) = if small_num.is_empty() {
        (vec![], [big_den, small_den].concat())
    } else {
        (small_den, big_den)
    };
    let (sn, sd) = (fold(eg, &small_num), fold(eg, &small_den));
    let mut coefficient = quotient(eg, sn, sd);
    let mut negate = k.is_negative();
    if negate && !big_num.is_empty() {
        if let Some(c) = coefficient {
            coefficient = Some(eg.add(ENode::new(EOp::Neg, vec![c])));
            negate = false;
        }
    }
    let (bn, bd) = (fold(eg, &big_num), fold(eg, &big_den));
    let top = match (bn, coefficient) {
        (Some(b), Some(c)) => Some(eg.add(ENode::new(EOp::Mul, vec![b, c]))),
        (b, c) => b.or(c),
    };
    let value =
        quotient(eg, top, bd).unwrap_or_else(|| eg.add(ENode::leaf(EOp::Num(BigRational::one()))));
    if negate {
        eg.add(ENode::new(EOp::Neg, vec![value]))
    } else {
        value
    }
}

/// `m` with each row sum over a row of size `n` that is divided by `n` written as the row's
/// mean (`rowsum(x) / D` is `mean(x)`): the atom becomes a mean node.
pub(super) fn as_means(eg: &mut EG, m: &Mono) -> Mono {
    let mut out = m.clone();
    for &(a, e) in &m.0 {
        if e != Exp::ONE {
            continue;
        }
        let Some(arg) = eg[a]
            .nodes
            .iter()
            .find(|n| n.op == EOp::RowSum)
            .map(|n| n.args[0])
        else {
            continue;
        };
        let Some(last) = eg[arg].data.shape.last().cloned() else {
            continue;
        };
        let k = eg.analysis.tables.dim(&last);
        let Some(size) = eg.lookup(ENode::leaf(EOp::Dim(k))) else {
            continue;
        };
        let divides = out.0.iter().any(|&(b, f)| b == size && !f.is_positive());
        if !divides {
            continue;
        }
        let mean = eg.add(ENode::new(EOp::RowMean, vec![arg]));
        let swap = Mono::atom(a, Exp::ONE.neg())
            .mul(&Mono::atom(size, Exp::ONE))
            .and_then(|s| s.mul(&Mono::atom(mean, Exp::ONE)));
        if let Some(next) = swap.and_then(|s| out.mul(&s)) {
            out = next;
        }
    }
    out
}

/// `u` when class `a` is `exp(u)`.
pub(super) fn exp_argument(eg: &EG, a: Id) -> Option<Id> {
    eg[a].nodes.iter().find_map(|n| match n.op {
        EOp::Func(Func::Exp) => Some(n.args[0]),
        _ => None,
    })
}

/// Nodes for `a ^ e`, `e > 0`: the atom, its square root, or a power.
pub(super) fn power(eg: &mut EG, a: Id, e: Exp) -> Id {
    if e == Exp::ONE {
        a
    } else if e == Exp::HALF {
        eg.add(ENode::new(EOp::Func(Func::Sqrt), vec![a]))
    } else {
        eg.add(ENode::new(EOp::Pow(e.to_rational()), vec![a]))
    }
}
