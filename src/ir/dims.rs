//! Named dimensions and symbolic sizes.
//!
//! Owns [`DimPoly`], a size written in dims: a Laurent polynomial with rational coefficients
//! over dim variables (`T`, `4*d`, `h*dk`, `d/h`, `T+1`), and [`Dims`], the table of declared
//! dims with their definitions and the sizes used by numeric checks.
//!
//! Invariants: a `DimPoly` is kept in the form it was written, over the dims the person named
//! (so `[T, d]` prints as written); equality is decided on the *expanded* form, over base dims
//! only (those declared with a number, or fn-generic dims), so `d = h*dk` makes `[T, d]` and
//! `[T, h*dk]` the same shape for every size. Zero coefficients are never stored.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Index of a dim in [`Dims`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimId(pub u32);

/// A product of dim variables with integer exponents, sorted by id, no zero exponents.
type Monomial = Vec<(DimId, i32)>;

/// The largest size a dim may have (2^40): sizes are counted, priced and allocated as
/// machine integers, and no tensor that large can be evaluated exactly anyway.
pub const MAX_SIZE: u64 = 1 << 40;

/// A symbolic size.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct DimPoly {
    terms: BTreeMap<Monomial, BigRational>,
}

impl DimPoly {
    pub fn constant(c: impl Into<BigInt>) -> DimPoly {
        Self::from_rational(BigRational::from_integer(c.into()))
    }

    fn from_rational(c: BigRational) -> DimPoly {
        let mut terms = BTreeMap::new();
        if !c.is_zero() {
            terms.insert(Vec::new(), c);
        }
        DimPoly { terms }
    }

    pub fn var(id: DimId) -> DimPoly {
        let mut terms = BTreeMap::new();
        terms.insert(vec![(id, 1)], BigRational::one());
        DimPoly { terms }
    }

    /// The constant value, if this poly has no variables.
    pub fn as_constant(&self) -> Option<BigRational> {
        match self.terms.len() {
            0 => Some(BigRational::zero()),
            1 => self.terms.get(&Vec::new()).cloned(),
            _ => None,
        }
    }

    pub fn is_one(&self) -> bool {
        self.as_constant().is_some_and(|c| c.is_one())
    }

    /// The single dim this poly is, if it is exactly one variable.
    pub fn as_var(&self) -> Option<DimId> {
        if self.terms.len() != 1 {
            return None;
        }
        let (m, c) = self.terms.iter().next()?;
        (c.is_one() && m.len() == 1 && m[0].1 == 1).then(|| m[0].0)
    }

    pub fn add(&self, other: &DimPoly) -> DimPoly {
        let mut terms = self.terms.clone();
        for (m, c) in &other.terms {
            let entry = terms.entry(m.clone()).or_insert_with(BigRational::zero);
            *entry += c;
            if entry.is_zero() {
                terms.remove(m);
            }
        }
        DimPoly { terms }
    }

    pub fn neg(&self) -> DimPoly {
        DimPoly {
            terms: self.terms.iter().map(|(m, c)| (m.clone(), -c)).collect(),
        }
    }

    pub fn sub(&self, other: &DimPoly) -> DimPoly {
        self.add(&other.neg())
    }

    pub fn mul(&self, other: &DimPoly) -> DimPoly {
        let mut out = DimPoly::default();
        for (m1, c1) in &self.terms {
            for (m2, c2) in &other.terms {
                let mut single = DimPoly::default();
                single.terms.insert(mul_monomials(m1, m2, 1), c1 * c2);
                out = out.add(&single);
            }
        }
        out
    }

    /// Division by a single term (a constant times a product of dims). `None` when `other`
    /// is zero or a sum of several terms.
    pub fn div(&self, other: &DimPoly) -> Option<DimPoly> {
        if other.terms.len() != 1 {
            return None;
        }
        let (m2, c2) = other.terms.iter().next()?;
        let mut out = DimPoly::default();
        for (m1, c1) in &self.terms {
            let mut single = DimPoly::default();
            single.terms.insert(mul_monomials(m1, m2, -1), c1 / c2);
            out = out.add(&single);
        }
        Some(out)
    }

    /// Substitute each variable by a poly (`None` keeps the variable).
    pub fn substitute(&self, f: &dyn Fn(DimId) -> Option<DimPoly>) -> DimPoly {
        let mut out = DimPoly::default();
        for (m, c) in &self.terms {
            let mut term = DimPoly::from_rational(c.clone());
            for &(id, e) in m {
                let base = f(id).unwrap_or_else(|| DimPoly::var(id));
                let factor = if e >= 0 {
                    (0..e).fold(DimPoly::constant(1), |acc, _| acc.mul(&base))
                } else {
                    let denom = (0..-e).fold(DimPoly::constant(1), |acc, _| acc.mul(&base));
                    match DimPoly::constant(1).div(&denom) {
                        Some(p) => p,
                        // Dividing by a sum: keep the variable rather than lose the size.
                        None => {
                            let mut keep = DimPoly::default();
                            keep.terms.insert(vec![(id, e)], BigRational::one());
                            keep
                        }
                    }
                };
                term = term.mul(&factor);
            }
            out = out.add(&term);
        }
        out
    }

    /// Value at sizes given per dim; `None` if a dim has no size or a division by zero occurs.
    pub fn eval(&self, size: &dyn Fn(DimId) -> Option<BigRational>) -> Option<BigRational> {
        let mut total = BigRational::zero();
        for (m, c) in &self.terms {
            let mut t = c.clone();
            for &(id, e) in m {
                let v = size(id)?;
                if v.is_zero() && e < 0 {
                    return None;
                }
                let p = num_traits::pow::Pow::pow(&v, e.unsigned_abs());
                t = if e >= 0 { t * p } else { t / p };
            }
            total += t;
        }
        Some(total)
    }

    /// Variables appearing in the poly.
    pub fn vars(&self) -> Vec<DimId> {
        let mut v: Vec<DimId> = self.terms.keys().flatten().map(|&(id, _)| id).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Human form using `name` for each dim: `T`, `4*d`, `h*dk`, `d/h`, `T + 1`.
    pub fn display(&self, name: &dyn Fn(DimId) -> String) -> String {
        if self.terms.is_empty() {
            return "0".into();
        }
        let mut out = String::new();
        // Terms with variables first (in id order), constant last: `T + 1`.
        let mut terms: Vec<(&Monomial, &BigRational)> = self.terms.iter().collect();
        terms.sort_by_key(|(m, _)| m.is_empty());
        for (i, (m, c)) in terms.into_iter().enumerate() {
            let negative = c.is_negative();
            if i > 0 {
                out.push_str(if negative { " - " } else { " + " });
            } else if negative {
                out.push('-');
            }
            let c = c.abs();
            let num: Vec<String> = m
                .iter()
                .filter(|(_, e)| *e > 0)
                .map(|&(id, e)| power(&name(id), e))
                .collect();
            let den: Vec<String> = m
                .iter()
                .filter(|(_, e)| *e < 0)
                .map(|&(id, e)| power(&name(id), -e))
                .collect();
            let mut factors = Vec::new();
            if !c.numer().is_one() || num.is_empty() {
                factors.push(c.numer().to_string());
            }
            factors.extend(num);
            let mut text = factors.join("*");
            if !c.denom().is_one() {
                let _ = write!(text, "/{}", c.denom());
            }
            for d in den {
                let _ = write!(text, "/{d}");
            }
            out.push_str(&text);
        }
        out
    }

    /// True if this is a positive whole number at these sizes (what a size must be).
    pub fn positive_integer(value: &BigRational) -> Option<u64> {
        (value.denom().is_one() && value.is_positive())
            .then(|| value.numer().to_u64())
            .flatten()
            .filter(|&v| v <= MAX_SIZE)
    }
}

fn power(name: &str, e: i32) -> String {
    if e == 1 {
        name.to_string()
    } else {
        format!("{name}^{e}")
    }
}

fn mul_monomials(a: &Monomial, b: &Monomial, sign: i32) -> Monomial {
    let mut map: BTreeMap<DimId, i32> = a.iter().cloned().collect();
    for &(id, e) in b {
        *map.entry(id).or_insert(0) += sign * e;
    }
    map.into_iter().filter(|&(_, e)| e != 0).collect()
}

/// How a dim was declared.
#[derive(Debug, Clone)]
pub enum DimDef {
    /// `dim T = 4`: a base dim with its size.
    Base,
    /// `dim f = 4*d`: defined from other dims.
    Derived(DimPoly),
    /// A dim name in a fn signature: bound per call.
    Generic,
}

#[derive(Debug, Clone)]
pub struct DimDecl {
    pub name: String,
    pub def: DimDef,
    /// Size used by numeric checks (declared or overridden); `None` for generic dims.
    pub size: Option<u64>,
}

/// The dims of a program.
#[derive(Debug, Clone, Default)]
pub struct Dims {
    decls: Vec<DimDecl>,
}

impl Dims {
    pub fn add(&mut self, decl: DimDecl) -> DimId {
        self.decls.push(decl);
        DimId(self.decls.len() as u32 - 1)
    }

    pub fn get(&self, id: DimId) -> &DimDecl {
        &self.decls[id.0 as usize]
    }

    pub fn name(&self, id: DimId) -> &str {
        &self.get(id).name
    }

    /// Declared (non-generic) dims in declaration order.
    pub fn declared(&self) -> impl Iterator<Item = (DimId, &DimDecl)> {
        self.decls
            .iter()
            .enumerate()
            .filter(|(_, d)| !matches!(d.def, DimDef::Generic))
            .map(|(i, d)| (DimId(i as u32), d))
    }

    /// The poly over base dims only.
    pub fn expand(&self, p: &DimPoly) -> DimPoly {
        // Derived dims are defined from earlier dims, so one level of substitution per
        // declaration depth; iterate until no derived dim remains.
        let mut cur = p.clone();
        for _ in 0..=self.decls.len() {
            if !cur
                .vars()
                .iter()
                .any(|&v| matches!(self.get(v).def, DimDef::Derived(_)))
            {
                break;
            }
            cur = cur.substitute(&|id| match &self.get(id).def {
                DimDef::Derived(q) => Some(q.clone()),
                _ => None,
            });
        }
        cur
    }

    /// `p` as the declared dim it equals for every size, if one does (`hk*g` is `hq` after
    /// `dim hq = hk*g`): a size an op computes, printed as the person named it.
    pub fn named(&self, p: &DimPoly) -> DimPoly {
        if p.as_var().is_some() || p.as_constant().is_some() {
            return p.clone();
        }
        let expanded = self.expand(p);
        self.declared()
            .find(|(_, d)| matches!(&d.def, DimDef::Derived(q) if self.expand(q) == expanded))
            .map_or_else(|| p.clone(), |(id, _)| DimPoly::var(id))
    }

    /// Equal for every size of the dims.
    pub fn same(&self, a: &DimPoly, b: &DimPoly) -> bool {
        a == b || self.expand(a) == self.expand(b)
    }

    /// Is this size 1 for every size of the dims?
    pub fn is_one(&self, p: &DimPoly) -> bool {
        p.is_one() || self.expand(p).is_one()
    }

    /// The size at the declared sizes, if every dim in it has one.
    pub fn eval(&self, p: &DimPoly) -> Option<BigRational> {
        self.expand(p).eval(&|id| {
            self.get(id)
                .size
                .map(|s| BigRational::from_integer(BigInt::from(s)))
        })
    }

    /// A shape at the sizes in use, if every size is a positive whole number there.
    pub fn sizes(&self, shape: &[DimPoly]) -> Option<Vec<usize>> {
        shape
            .iter()
            .map(|d| {
                self.eval(d)
                    .and_then(|v| DimPoly::positive_integer(&v))
                    .map(|v| v as usize)
            })
            .collect()
    }

    /// A count that may be 0 (a slice's start, a pad's width) at the sizes in use, if it is
    /// a whole number there.
    pub fn offset(&self, p: &DimPoly) -> Option<usize> {
        self.eval(p)
            .filter(|v| v.is_integer())
            .and_then(|v| usize::try_from(v.to_integer()).ok())
    }

    pub fn show(&self, p: &DimPoly) -> String {
        p.display(&|id| self.name(id).to_string())
    }
}

/// `T=2,d=3` (the `--dims` flag): names and sizes, in order. Errors are sentences.
pub fn parse_sizes(text: &str) -> Result<Vec<(String, u64)>, String> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (name, size) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` should look like NAME=SIZE, e.g. T=2"))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("`{pair}` names no dim"));
            }
            let size = size.trim();
            let digits = !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit());
            let size: u64 = match size.parse() {
                Ok(n) => n,
                // All digits but no u64: past 2^64, so past the largest size too.
                Err(_) if digits => {
                    return Err(format!(
                        "{name}={size} is larger than the largest size handtrace takes (2^40)"
                    ))
                }
                Err(_) => return Err(format!("`{size}` is not a positive whole number")),
            };
            if size == 0 {
                return Err(format!("{name}=0: a size must be a positive whole number"));
            }
            Ok((name.to_string(), size))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (Dims, DimId, DimId, DimId) {
        let mut dims = Dims::default();
        let h = dims.add(DimDecl {
            name: "h".into(),
            def: DimDef::Base,
            size: Some(2),
        });
        let k = dims.add(DimDecl {
            name: "dk".into(),
            def: DimDef::Base,
            size: Some(4),
        });
        let d = dims.add(DimDecl {
            name: "d".into(),
            def: DimDef::Derived(DimPoly::var(h).mul(&DimPoly::var(k))),
            size: Some(8),
        });
        (dims, h, k, d)
    }

    #[test]
    fn derived_dims_expand_for_equality_but_print_as_written() {
        let (dims, h, k, d) = table();
        let hk = DimPoly::var(h).mul(&DimPoly::var(k));
        assert!(dims.same(&DimPoly::var(d), &hk));
        assert_eq!(dims.show(&DimPoly::var(d)), "d");
        assert_eq!(dims.show(&hk), "h*dk");
        let quotient = DimPoly::var(d).div(&DimPoly::var(h)).unwrap();
        assert!(dims.same(&quotient, &DimPoly::var(k)));
        assert_eq!(dims.show(&quotient), "d/h");
        assert_eq!(
            dims.eval(&quotient),
            Some(BigRational::from_integer(4.into()))
        );
    }

    #[test]
    fn sums_and_constants_print_readably() {
        let (dims, h, _, _) = table();
        let p = DimPoly::var(h).add(&DimPoly::constant(1));
        assert_eq!(dims.show(&p), "h + 1");
        assert_eq!(
            dims.show(&DimPoly::constant(4).mul(&DimPoly::var(h))),
            "4*h"
        );
        assert!(dims.is_one(&DimPoly::var(h).div(&DimPoly::var(h)).unwrap()));
        assert!(DimPoly::var(h).div(&p).is_none());
    }
}
