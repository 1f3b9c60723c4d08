//! Dyadic rationals `m·2^e`: the endpoints of enclosures.
//!
//! Owns [`Dy`]. Interval endpoints are always rounded to a bounded number of significant
//! bits, so they are dyadic; keeping them as mantissa and exponent avoids the gcd that every
//! `BigRational` operation pays (and binary gcd is quadratic on the large powers of two such
//! endpoints carry). Invariant: `m` is odd, or `m = 0` and `e = 0`; so equal values have equal
//! representations and conversion to a reduced `BigRational` needs no gcd.

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dy {
    m: BigInt,
    e: i64,
}

impl Dy {
    pub fn zero() -> Dy {
        Dy {
            m: BigInt::zero(),
            e: 0,
        }
    }

    fn new(m: BigInt, e: i64) -> Dy {
        if m.is_zero() {
            return Dy::zero();
        }
        let tz = m.trailing_zeros().unwrap_or(0);
        Dy {
            m: m >> tz,
            e: e + tz as i64,
        }
    }

    pub fn from_int(n: BigInt) -> Dy {
        Dy::new(n, 0)
    }

    /// `m·2^e` (normalised: fixed-point results become dyadics without any division).
    pub fn from_parts(m: BigInt, e: i64) -> Dy {
        Dy::new(m, e)
    }

    pub fn one() -> Dy {
        Dy {
            m: BigInt::one(),
            e: 0,
        }
    }

    /// `2^k`, for any `k`: only an exponent, whatever its size.
    pub fn pow2(k: i64) -> Dy {
        Dy {
            m: BigInt::one(),
            e: k,
        }
    }

    /// `self·2^k`: an exponent shift, exact.
    pub fn mul_pow2(&self, k: i64) -> Dy {
        if self.is_zero() {
            return Dy::zero();
        }
        Dy {
            m: self.m.clone(),
            e: self.e + k,
        }
    }

    /// The odd mantissa `m` and exponent `e` of `m·2^e`.
    pub fn parts(&self) -> (&BigInt, i64) {
        (&self.m, self.e)
    }

    pub fn is_zero(&self) -> bool {
        self.m.is_zero()
    }

    pub fn is_negative(&self) -> bool {
        self.m.is_negative()
    }

    pub fn is_positive(&self) -> bool {
        self.m.is_positive()
    }

    /// The exact dyadic value of `r`, if its denominator is a power of two.
    pub fn exact(r: &BigRational) -> Option<Dy> {
        let d = r.denom();
        let tz = d.trailing_zeros().unwrap_or(0);
        (d >> tz)
            .is_one()
            .then(|| Dy::new(r.numer().clone(), -(tz as i64)))
    }

    /// `r` rounded toward −∞ (`up = false`) or +∞ to about `bits` significant bits.
    pub fn round_rational(r: &BigRational, bits: u32, up: bool) -> Dy {
        if let Some(d) = Dy::exact(r) {
            return d.round(bits, up);
        }
        let mag = r.numer().bits() as i64 - r.denom().bits() as i64;
        let s = bits as i64 - mag + 1;
        let (num, den) = if s >= 0 {
            (r.numer() << s as u64, r.denom().clone())
        } else {
            (r.numer().clone(), r.denom() << (-s) as u64)
        };
        let (q, rem) = num.div_mod_floor(&den);
        let q = if up && !rem.is_zero() { q + 1 } else { q };
        Dy::new(q, -s)
    }

    /// Round to at most `bits` significant bits, toward +∞ if `up`, else toward −∞.
    pub fn round(self, bits: u32, up: bool) -> Dy {
        let len = self.m.bits();
        if len <= bits as u64 {
            return self;
        }
        let k = len - bits as u64;
        // An arithmetic shift rounds toward −∞; the dropped bits are all zero exactly when
        // the mantissa has at least k trailing zeros.
        let q = &self.m >> k;
        let dropped_nonzero = self.m.trailing_zeros().is_some_and(|z| z < k);
        let q = if up && dropped_nonzero { q + 1 } else { q };
        Dy::new(q, self.e + k as i64)
    }

    pub fn to_rational(&self) -> BigRational {
        if self.e >= 0 {
            BigRational::from_integer(&self.m << self.e as u64)
        } else {
            // m is odd, so m / 2^-e is already in lowest terms.
            BigRational::new_raw(self.m.clone(), BigInt::one() << (-self.e) as u64)
        }
    }

    /// The nearest f64, near enough (the mantissa's leading 64 bits, scaled in two steps so
    /// an exponent past f64's range on one factor alone does not overflow).
    pub fn to_f64(&self) -> f64 {
        use num_traits::ToPrimitive;
        let (m, e) = self.parts();
        let extra = (m.bits() as i64 - 64).max(0);
        let top = (m >> extra as usize).to_f64().unwrap_or(f64::NAN);
        let e = e + extra;
        let half = (e / 2).clamp(-2000, 2000) as i32;
        top * 2f64.powi(half) * 2f64.powi((e - half as i64).clamp(-2000, 2000) as i32)
    }

    pub fn neg(&self) -> Dy {
        Dy {
            m: -&self.m,
            e: self.e,
        }
    }

    pub fn add(&self, o: &Dy) -> Dy {
        if self.is_zero() {
            return o.clone();
        }
        if o.is_zero() {
            return self.clone();
        }
        let e = self.e.min(o.e);
        let a = &self.m << (self.e - e) as u64;
        let b = &o.m << (o.e - e) as u64;
        Dy::new(a + b, e)
    }

    pub fn mul(&self, o: &Dy) -> Dy {
        Dy::new(&self.m * &o.m, self.e + o.e)
    }

    /// `self / n` for a positive integer `n`, rounded to `bits` bits toward +∞ if `up`.
    pub fn div_int(&self, n: u64, bits: u32, up: bool) -> Dy {
        let r = if self.e >= 0 {
            BigRational::new_raw(&self.m << self.e as u64, BigInt::from(n))
        } else {
            BigRational::new_raw(self.m.clone(), BigInt::from(n) << (-self.e) as u64)
        };
        Dy::round_rational(&r, bits, up)
    }

    /// `self / o` (o ≠ 0) rounded to about `bits` significant bits toward +∞ if `up`.
    pub fn div(&self, o: &Dy, bits: u32, up: bool) -> Dy {
        assert!(!o.is_zero(), "Dy::div by zero");
        if self.is_zero() {
            return Dy::zero();
        }
        let (num, den) = if o.m.is_negative() {
            (-&self.m, -&o.m)
        } else {
            (self.m.clone(), o.m.clone())
        };
        let s = (bits as i64 + den.bits() as i64 - num.bits() as i64 + 2).max(0) as u64;
        let (q, r) = (num << s).div_mod_floor(&den);
        let q = if up && !r.is_zero() { q + 1 } else { q };
        Dy::new(q, self.e - o.e - s as i64)
    }

    pub fn abs(&self) -> Dy {
        Dy {
            m: self.m.abs(),
            e: self.e,
        }
    }

    /// Significant bits of the mantissa.
    pub fn bits(&self) -> u64 {
        self.m.bits()
    }

    /// ⌊log2 |x|⌋ (0 for zero).
    pub fn magnitude(&self) -> i64 {
        if self.is_zero() {
            0
        } else {
            self.m.bits() as i64 - 1 + self.e
        }
    }
}

impl PartialOrd for Dy {
    fn partial_cmp(&self, other: &Dy) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dy {
    fn cmp(&self, o: &Dy) -> Ordering {
        let (sa, sb) = (self.m.sign(), o.m.sign());
        if sa != sb {
            return sa.cmp(&sb);
        }
        if self.is_zero() {
            return Ordering::Equal;
        }
        // Same sign: compare magnitudes first, then aligned mantissas.
        let (ma, mb) = (self.magnitude(), o.magnitude());
        if ma != mb {
            let by_mag = ma.cmp(&mb);
            return if self.is_negative() {
                by_mag.reverse()
            } else {
                by_mag
            };
        }
        let e = self.e.min(o.e);
        let a = &self.m << (self.e - e) as u64;
        let b = &o.m << (o.e - e) as u64;
        a.cmp(&b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i64, d: i64) -> BigRational {
        BigRational::new(n.into(), d.into())
    }

    #[test]
    fn rounding_brackets_the_value() {
        for (n, d) in [(1, 3), (-1, 3), (22, 7), (-355, 113), (1, 1 << 40), (5, 1)] {
            let x = r(n, d);
            let lo = Dy::round_rational(&x, 20, false).to_rational();
            let hi = Dy::round_rational(&x, 20, true).to_rational();
            assert!(lo <= x && x <= hi, "{n}/{d}: {lo} {hi}");
            assert!(&hi - &lo <= x.abs() * r(1, 1 << 18));
        }
    }

    #[test]
    fn arithmetic_and_order() {
        let a = Dy::exact(&r(3, 4)).unwrap();
        let b = Dy::exact(&r(-5, 8)).unwrap();
        assert_eq!(a.add(&b).to_rational(), r(1, 8));
        assert_eq!(a.mul(&b).to_rational(), r(-15, 32));
        assert!(b < a && a.neg() < b && Dy::zero() < a);
        assert_eq!(Dy::exact(&r(6, 1)).unwrap(), Dy::from_int(6.into()));
        assert!(Dy::exact(&r(1, 3)).is_none());
        let third_lo = Dy::from_int(1.into())
            .div(&Dy::from_int(3.into()), 30, false)
            .to_rational();
        let third_hi = Dy::from_int(1.into())
            .div(&Dy::from_int(3.into()), 30, true)
            .to_rational();
        assert!(third_lo < r(1, 3) && r(1, 3) < third_hi && &third_hi - &third_lo < r(1, 1 << 29));
        let q = a.div(&b, 30, false).to_rational();
        assert!(q <= r(-6, 5) && r(-6, 5) - &q < r(1, 1 << 28));
    }
}
