//! The algebra of normal forms: exact rational exponents ([`Exp`]), monomials over e-class
//! atoms ([`Mono`]) and sums of monomials with exact coefficients ([`Poly`]).
//!
//! Owns the arithmetic of forms. Invariants: a monomial's atoms are sorted and each appears
//! once with a nonzero exponent; a form's monomials are sorted, each once, with a nonzero
//! coefficient, so equal values written the same way compare and hash equal.

use egg::Id;
use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, ToPrimitive, Zero};

/// A small exact rational exponent, in lowest terms with a positive denominator; both
/// parts fit in an `i32`, so sums and products are exact in `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Exp {
    pub(super) num: i64,
    pub(super) den: i64,
}

impl Exp {
    pub(super) const ONE: Exp = Exp { num: 1, den: 1 };
    pub(super) const HALF: Exp = Exp { num: 1, den: 2 };

    pub(super) fn new(num: i64, den: i64) -> Option<Exp> {
        if den == 0 {
            return None;
        }
        let g = num.gcd(&den).max(1);
        let sign = if den < 0 { -1 } else { 1 };
        let (num, den) = (sign * num / g, sign * den / g);
        let fits = |x: i64| i32::try_from(x).is_ok();
        (fits(num) && fits(den)).then_some(Exp { num, den })
    }

    pub(super) fn from_rational(r: &BigRational) -> Option<Exp> {
        Exp::new(r.numer().to_i64()?, r.denom().to_i64()?)
    }

    pub(super) fn to_rational(self) -> BigRational {
        BigRational::new(self.num.into(), self.den.into())
    }

    pub(super) fn add(self, o: Exp) -> Option<Exp> {
        Exp::new(self.num * o.den + o.num * self.den, self.den * o.den)
    }

    pub(super) fn mul(self, o: Exp) -> Option<Exp> {
        Exp::new(self.num * o.num, self.den * o.den)
    }

    pub(super) fn neg(self) -> Exp {
        Exp {
            num: -self.num,
            den: self.den,
        }
    }

    pub(super) fn abs(self) -> Exp {
        Exp {
            num: self.num.abs(),
            den: self.den,
        }
    }

    pub(super) fn is_integer(self) -> bool {
        self.den == 1
    }

    pub(super) fn is_positive(self) -> bool {
        self.num > 0
    }

    /// The integer part and the rest in `[0, 1)`.
    pub(super) fn split(self) -> (i64, Exp) {
        let whole = self.num.div_euclid(self.den);
        (
            whole,
            Exp {
                num: self.num.rem_euclid(self.den),
                den: self.den,
            },
        )
    }
}

/// An atom and its exponent.
pub(super) type Factor = (Id, Exp);

/// A product of atoms (e-classes) with nonzero exponents, sorted by atom.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mono(pub(super) Vec<(Id, Exp)>);

/// A sum of monomials with nonzero exact coefficients, sorted by monomial, each once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Poly(pub(super) Vec<(Mono, BigRational)>);

impl std::hash::Hash for Poly {
    /// By numerator and denominator: `Ratio`'s own hash walks a continued fraction, and
    /// forms are hashed on every pass.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for (m, c) in &self.0 {
            m.hash(state);
            c.numer().hash(state);
            c.denom().hash(state);
        }
    }
}

impl Mono {
    pub(super) fn atom(id: Id, e: Exp) -> Mono {
        Mono(vec![(id, e)])
    }

    pub(super) fn mul(&self, other: &Mono) -> Option<Mono> {
        let mut out: Vec<(Id, Exp)> = Vec::with_capacity(self.0.len() + other.0.len());
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() || j < other.0.len() {
            let left = self.0.get(i);
            let right = other.0.get(j);
            match (left, right) {
                (Some(l), Some(r)) if l.0 == r.0 => {
                    let e = l.1.add(r.1)?;
                    if e.num != 0 {
                        out.push((l.0, e));
                    }
                    i += 1;
                    j += 1;
                }
                (Some(l), Some(r)) if l.0 < r.0 => {
                    out.push(*l);
                    i += 1;
                }
                (Some(l), None) => {
                    out.push(*l);
                    i += 1;
                }
                (_, Some(r)) => {
                    out.push(*r);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        Some(Mono(out))
    }

    pub(super) fn pow(&self, p: Exp) -> Option<Mono> {
        self.0
            .iter()
            .map(|(a, e)| Some((*a, e.mul(p)?)))
            .collect::<Option<_>>()
            .map(Mono)
    }
}

impl Poly {
    pub fn zero() -> Poly {
        Poly::default()
    }

    pub fn constant(c: BigRational) -> Poly {
        let mut p = Poly::zero();
        p.add_term(Mono::default(), c);
        p
    }

    pub(super) fn atom(id: Id) -> Poly {
        Poly::term(Mono::atom(id, Exp::ONE), BigRational::one())
    }

    pub(super) fn term(m: Mono, c: BigRational) -> Poly {
        let mut p = Poly::zero();
        p.add_term(m, c);
        p
    }

    pub(super) fn add_term(&mut self, m: Mono, c: BigRational) {
        if c.is_zero() {
            return;
        }
        match self.0.binary_search_by(|(x, _)| x.cmp(&m)) {
            Ok(i) => {
                self.0[i].1 += c;
                if self.0[i].1.is_zero() {
                    self.0.remove(i);
                }
            }
            Err(i) => self.0.insert(i, (m, c)),
        }
    }

    /// A form from terms in any order, equal monomials combined.
    pub(super) fn from_terms(mut terms: Vec<(Mono, BigRational)>) -> Poly {
        terms.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Mono, BigRational)> = Vec::with_capacity(terms.len());
        for (m, c) in terms {
            match out.last_mut() {
                Some(last) if last.0 == m => last.1 += c,
                _ => out.push((m, c)),
            }
        }
        out.retain(|(_, c)| !c.is_zero());
        Poly(out)
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// The constant value, if no atom occurs.
    pub fn as_constant(&self) -> Option<BigRational> {
        match self.0.len() {
            0 => Some(BigRational::zero()),
            1 => self.0[0].0 .0.is_empty().then(|| self.0[0].1.clone()),
            _ => None,
        }
    }

    pub(super) fn single(&self) -> Option<(&Mono, &BigRational)> {
        match self.0.as_slice() {
            [(m, c)] => Some((m, c)),
            _ => None,
        }
    }

    pub(super) fn add(&self, other: &Poly) -> Poly {
        Poly::from_terms(self.0.iter().chain(&other.0).cloned().collect())
    }

    pub(super) fn scale(&self, k: &BigRational) -> Poly {
        if k.is_zero() {
            return Poly::zero();
        }
        Poly(self.0.iter().map(|(m, c)| (m.clone(), c * k)).collect())
    }

    pub fn terms(&self) -> impl Iterator<Item = (&Mono, &BigRational)> {
        self.0.iter().map(|(m, c)| (m, c))
    }

    pub(super) fn mentions(&self, atom: Id) -> bool {
        self.0
            .iter()
            .any(|(m, _)| m.0.iter().any(|(x, _)| *x == atom))
    }
}

pub(super) fn pow_rational(c: &BigRational, n: i64) -> Option<BigRational> {
    if n.unsigned_abs() > 64 || (n < 0 && c.is_zero()) {
        return None;
    }
    let mut r = BigRational::one();
    for _ in 0..n.unsigned_abs() {
        r *= c;
    }
    Some(if n < 0 { r.recip() } else { r })
}

/// `c ^ e` for a positive `c`, when it is rational.
pub(super) fn root_rational(c: &BigRational, e: Exp) -> Option<BigRational> {
    let q = u32::try_from(e.den).ok().filter(|&q| q <= 16)?;
    let root = |x: &BigInt| -> Option<BigInt> {
        let r = x.nth_root(q);
        (num_traits::pow(r.clone(), q as usize) == *x).then_some(r)
    };
    let base = BigRational::new(root(c.numer())?, root(c.denom())?);
    pow_rational(&base, e.num)
}
