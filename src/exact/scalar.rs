//! The scalar types the evaluator runs on: [`Num`] for values, [`Dual`] for forward-mode
//! directional derivatives.
//!
//! Owns the [`Scalar`] trait: the *primitive* operations (field arithmetic, rational powers,
//! exp, log, erf, tanh, relu, −∞). Everything else the language offers (softmax, layer norm,
//! GELU, Φ, sigmoid, ...) is composed from these by the evaluator, so the derivative a
//! [`Dual`] carries comes from the primitive definitions alone (chain and product rules plus
//! d exp = exp, d log = 1/x, d erf = 2/√π·e^(−x²), d tanh = 1 − tanh², d x^p = p x^(p−1)) and
//! shares nothing with the reverse-mode rules it will check. Φ and σ are trait methods whose
//! default is that composition (what a `Dual` uses); a plain value ([`Num`]) overrides them
//! with direct certified enclosures, which are faster and tight in the tails.

use super::funcs;
use super::num::{int, Num, NumError, Prec};
use num_rational::BigRational;
use num_traits::{One, Zero};
use std::cmp::Ordering;

pub type SResult<S> = Result<S, NumError>;

/// A number the evaluator can compute with.
pub trait Scalar: Clone + std::fmt::Debug {
    /// A constant (its derivative is 0).
    fn constant(n: Num) -> Self;
    /// The value part.
    fn value(&self) -> &Num;
    fn neg_inf() -> Self {
        Self::constant(Num::NegInf)
    }
    fn add(&self, o: &Self, p: Prec) -> SResult<Self>;
    fn sub(&self, o: &Self, p: Prec) -> SResult<Self>;
    fn mul(&self, o: &Self, p: Prec) -> SResult<Self>;
    fn div(&self, o: &Self, p: Prec) -> SResult<Self>;
    fn neg(&self) -> SResult<Self>;
    /// `self ** e` for a rational constant exponent.
    fn powr(&self, e: &BigRational, p: Prec) -> SResult<Self>;
    fn exp(&self, p: Prec) -> SResult<Self>;
    /// e^x as a term of a sum shifted by its largest entry (softmax and its kin): below
    /// −[`funcs::EXP_LIMIT`], where e^x is not computed, the enclosure `[0, 2^-(bits+64)]`,
    /// which contains e^x < 2^-EXP_LIMIT, so a term the largest one dwarfs never stops the
    /// evaluation.
    fn exp_term(&self, p: Prec) -> SResult<Self>;
    fn log(&self, p: Prec) -> SResult<Self>;
    fn erf(&self, p: Prec) -> SResult<Self>;
    fn tanh(&self, p: Prec) -> SResult<Self>;
    /// Φ(x) = (1 + erf(x/√2)) / 2, composed from erf (so a [`Dual`]'s derivative comes from
    /// erf's); a value may use a direct enclosure of Φ instead (faster, and tight in the tails).
    fn phi(&self, p: Prec) -> SResult<Self> {
        let half = Self::constant(Num::exact(BigRational::new(1.into(), 2.into())));
        let inv_sqrt2 = Self::constant(funcs::sqrt(
            &Num::exact(BigRational::new(1.into(), 2.into())),
            p,
        )?);
        let one: Self = exact(1);
        one.add(&self.mul(&inv_sqrt2, p)?.erf(p)?, p)?.mul(&half, p)
    }
    /// σ(x) = 1 / (1 + e^(−x)), composed from exp; a value may use a direct enclosure.
    fn sigmoid(&self, p: Prec) -> SResult<Self> {
        let one: Self = exact(1);
        one.div(&one.add(&self.neg()?.exp(p)?, p)?, p)
    }
    fn relu(&self) -> SResult<Self>;
    /// The largest (or smallest) of `items`; ties and undecidable comparisons are allowed for
    /// values but not for derivatives.
    fn extreme(items: &[Self], largest: bool) -> SResult<Self>;
}

impl Scalar for Num {
    fn constant(n: Num) -> Self {
        n
    }
    fn value(&self) -> &Num {
        self
    }
    fn add(&self, o: &Self, p: Prec) -> SResult<Self> {
        Num::add(self, o, p)
    }
    fn sub(&self, o: &Self, p: Prec) -> SResult<Self> {
        Num::sub(self, o, p)
    }
    fn mul(&self, o: &Self, p: Prec) -> SResult<Self> {
        Num::mul(self, o, p)
    }
    fn div(&self, o: &Self, p: Prec) -> SResult<Self> {
        Num::div(self, o, p)
    }
    fn neg(&self) -> SResult<Self> {
        Num::neg(self)
    }
    fn powr(&self, e: &BigRational, p: Prec) -> SResult<Self> {
        funcs::pow(self, e, p)
    }
    fn exp(&self, p: Prec) -> SResult<Self> {
        funcs::exp(self, p)
    }
    fn exp_term(&self, p: Prec) -> SResult<Self> {
        let limit = BigRational::from_integer(funcs::EXP_LIMIT.into());
        let Some((lo, hi)) = self.bounds() else {
            return Ok(Num::from_int(0));
        };
        if lo >= -limit.clone() {
            return funcs::exp(self, p);
        }
        // e^x <= e^hi, and below the limit e^hi < 2^-EXP_LIMIT <= 2^-(bits+64).
        let tiny = super::dyadic::Dy::pow2(-(i64::from(p.bits) + 64).min(funcs::EXP_LIMIT));
        let upper = if hi < -limit {
            tiny
        } else {
            match funcs::exp(&Num::exact(hi), p)? {
                Num::Exact(r) => super::dyadic::Dy::round_rational(&r, p.bits, true),
                Num::Range { hi, .. } => hi,
                Num::NegInf => unreachable!("exp of a finite number"),
            }
        };
        Ok(Num::range_dy(super::dyadic::Dy::zero(), upper, p))
    }
    fn log(&self, p: Prec) -> SResult<Self> {
        funcs::log(self, p)
    }
    fn erf(&self, p: Prec) -> SResult<Self> {
        funcs::erf(self, p)
    }
    fn tanh(&self, p: Prec) -> SResult<Self> {
        funcs::tanh(self, p)
    }
    fn phi(&self, p: Prec) -> SResult<Self> {
        funcs::phi(self, p)
    }
    fn sigmoid(&self, p: Prec) -> SResult<Self> {
        funcs::sigmoid(self, p)
    }
    fn relu(&self) -> SResult<Self> {
        if self.is_neg_inf() {
            return Err(NumError::NegInfinity("relu"));
        }
        Ok(self.max(&Num::from_int(0)))
    }
    fn extreme(items: &[Self], largest: bool) -> SResult<Self> {
        let mut it = items.iter();
        let first = it
            .next()
            .ok_or(NumError::Undecided("max/min of no entries".into()))?
            .clone();
        Ok(it.fold(
            first,
            |acc, x| if largest { acc.max(x) } else { acc.min(x) },
        ))
    }
}

/// A value with its directional derivative: `v + t·ε`, ε² = 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Dual {
    pub v: Num,
    pub t: Num,
}

impl Dual {
    pub fn new(v: Num, t: Num) -> Dual {
        Dual { v, t }
    }

    fn zero() -> Num {
        Num::from_int(0)
    }
}

impl Scalar for Dual {
    fn constant(n: Num) -> Self {
        Dual {
            v: n,
            t: Dual::zero(),
        }
    }
    fn value(&self) -> &Num {
        &self.v
    }
    fn add(&self, o: &Self, p: Prec) -> SResult<Self> {
        Ok(Dual::new(self.v.add(&o.v, p)?, self.t.add(&o.t, p)?))
    }
    fn sub(&self, o: &Self, p: Prec) -> SResult<Self> {
        Ok(Dual::new(self.v.sub(&o.v, p)?, self.t.sub(&o.t, p)?))
    }
    fn mul(&self, o: &Self, p: Prec) -> SResult<Self> {
        // (a + a'ε)(b + b'ε) = ab + (a'b + ab')ε
        let t = self.t.mul(&o.v, p)?.add(&self.v.mul(&o.t, p)?, p)?;
        Ok(Dual::new(self.v.mul(&o.v, p)?, t))
    }
    fn div(&self, o: &Self, p: Prec) -> SResult<Self> {
        // (a/b)' = (a'b − ab')/b²
        let v = self.v.div(&o.v, p)?;
        let num = self.t.mul(&o.v, p)?.sub(&self.v.mul(&o.t, p)?, p)?;
        let t = num.div(&o.v.powi(2, p)?, p)?;
        Ok(Dual::new(v, t))
    }
    fn neg(&self) -> SResult<Self> {
        Ok(Dual::new(self.v.neg()?, self.t.neg()?))
    }
    fn powr(&self, e: &BigRational, p: Prec) -> SResult<Self> {
        let v = funcs::pow(&self.v, e, p)?;
        if e.is_zero() {
            return Ok(Dual::new(v, Dual::zero()));
        }
        // (x^e)' = e·x^(e−1)·x'
        let d = funcs::pow(&self.v, &(e - BigRational::one()), p).map_err(|err| match err {
            NumError::BadPower(_) | NumError::DivisionByZero => {
                NumError::NotDifferentiable(format!("x ** {e} at x = 0"))
            }
            other => other,
        })?;
        let t = Num::exact(e.clone()).mul(&d, p)?.mul(&self.t, p)?;
        Ok(Dual::new(v, t))
    }
    fn exp(&self, p: Prec) -> SResult<Self> {
        if self.v.is_neg_inf() {
            return Ok(Dual::constant(Num::from_int(0)));
        }
        let v = funcs::exp(&self.v, p)?;
        let t = v.mul(&self.t, p)?;
        Ok(Dual::new(v, t))
    }
    fn exp_term(&self, p: Prec) -> SResult<Self> {
        if self.v.is_neg_inf() {
            return Ok(Dual::constant(Num::from_int(0)));
        }
        // (e^x)' = e^x·x': the enclosure of e^x times x' contains it.
        let v = self.v.exp_term(p)?;
        let t = v.mul(&self.t, p)?;
        Ok(Dual::new(v, t))
    }
    fn log(&self, p: Prec) -> SResult<Self> {
        let v = funcs::log(&self.v, p)?;
        Ok(Dual::new(v, self.t.div(&self.v, p)?))
    }
    fn erf(&self, p: Prec) -> SResult<Self> {
        // erf'(x) = 2/√π · e^(−x²)
        let v = funcs::erf(&self.v, p)?;
        let e = funcs::exp(&self.v.powi(2, p)?.neg()?, p)?;
        let c = funcs::two_over_sqrt_pi(p);
        Ok(Dual::new(v, c.mul(&e, p)?.mul(&self.t, p)?))
    }
    fn tanh(&self, p: Prec) -> SResult<Self> {
        let v = funcs::tanh(&self.v, p)?;
        let d = Num::from_int(1).sub(&v.powi(2, p)?, p)?;
        Ok(Dual::new(v.clone(), d.mul(&self.t, p)?))
    }
    fn relu(&self) -> SResult<Self> {
        match self.v.sign() {
            Some(Ordering::Greater) => Ok(self.clone()),
            Some(Ordering::Less) => Ok(Dual::constant(Num::from_int(0))),
            Some(Ordering::Equal) => Err(NumError::NotDifferentiable("relu at 0".into())),
            // The sign is not yet known: more precision may decide it.
            None => Err(NumError::Undecided("the sign of relu's argument".into())),
        }
    }
    fn extreme(items: &[Self], largest: bool) -> SResult<Self> {
        let want = if largest {
            Ordering::Greater
        } else {
            Ordering::Less
        };
        let mut best = items
            .first()
            .ok_or(NumError::Undecided("max/min of no entries".into()))?;
        let mut tie = false;
        for x in &items[1..] {
            match x.v.compare(&best.v) {
                Some(o) if o == want => {
                    best = x;
                    tie = false;
                }
                Some(Ordering::Equal) if x.v.is_neg_inf() => {}
                Some(Ordering::Equal) => tie = true,
                Some(_) => {}
                None => {
                    return Err(NumError::Undecided(
                        "comparing enclosures in max/min".into(),
                    ))
                }
            }
        }
        if tie {
            return Err(NumError::NotDifferentiable(
                "a tie for the largest (smallest) entry in max/min".into(),
            ));
        }
        Ok(best.clone())
    }
}

/// `n` as an exact scalar.
pub fn exact<S: Scalar>(n: i64) -> S {
    S::constant(Num::exact(int(n)))
}
