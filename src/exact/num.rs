//! Exact numbers and certified enclosures: the scalar of the exact evaluator.
//!
//! Owns [`Num`]: an exact rational, a rational interval proven to contain a real value, or
//! −∞ (the masked entries of `causal`). Arithmetic is exact on exact operands; an operation
//! with an interval operand gives an interval whose endpoints are rounded *outward* (lower
//! endpoint down, upper up) to [`Prec::bits`] significant bits, so numerators stay small and
//! containment is never lost.
//!
//! Invariants: a `Range` has `lo < hi` (an interval that collapses is `Exact`); rounding only
//! ever widens; nothing here compares on a floating-point tolerance.

use super::dyadic::Dy;
use num_bigint::{BigInt, Sign};
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};
use std::cmp::Ordering;
use std::fmt;

/// Working precision: significant bits kept in interval endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prec {
    pub bits: u32,
}

impl Prec {
    pub const DEFAULT: Prec = Prec { bits: 160 };

    pub fn new(bits: u32) -> Prec {
        Prec { bits: bits.max(16) }
    }
}

/// Why a value could not be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumError {
    DivisionByZero,
    LogOfNonPositive,
    SqrtOfNegative,
    /// `0 ** negative` or an even root of a negative number.
    BadPower(String),
    /// An enclosure straddles a point where the operation is undefined or not decidable
    /// (e.g. dividing by an interval containing 0): more precision may decide it.
    Undecided(String),
    /// −∞ reached an operation other than softmax, max/min, exp or `±` a finite number.
    NegInfinity(&'static str),
    /// An argument so large the result cannot be represented sensibly (`exp(10^7)`).
    TooLarge(String),
    /// A point where a derivative does not exist (relu at 0, a tie in max).
    NotDifferentiable(String),
    /// A token id that is not a whole number in the vocabulary's range.
    BadToken(String),
    /// A slice that runs outside its axis at the sizes in use.
    OutOfRange(String),
}

impl fmt::Display for NumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumError::DivisionByZero => write!(f, "division by zero"),
            NumError::LogOfNonPositive => write!(f, "log of a number that is not positive"),
            NumError::SqrtOfNegative => write!(f, "square root of a negative number"),
            NumError::BadPower(w) => write!(f, "{w}"),
            NumError::Undecided(w) => write!(f, "undecided at this precision: {w}"),
            NumError::NegInfinity(op) => write!(f, "−∞ (a masked entry of causal) reaches `{op}`; only softmax, logsoftmax, max/min, exp and adding a finite number accept it"),
            NumError::TooLarge(w) => write!(f, "{w}"),
            NumError::NotDifferentiable(w) => write!(f, "not differentiable here: {w}"),
            NumError::BadToken(w) | NumError::OutOfRange(w) => write!(f, "{w}"),
        }
    }
}

pub type NumResult = Result<Num, NumError>;

/// An exact rational, a certified enclosure, or −∞.
#[derive(Debug, Clone, PartialEq)]
pub enum Num {
    Exact(BigRational),
    Range { lo: Dy, hi: Dy },
    NegInf,
}

pub fn rat(n: i64, d: i64) -> BigRational {
    BigRational::new(n.into(), d.into())
}

pub fn int(n: i64) -> BigRational {
    BigRational::from_integer(n.into())
}

/// Round toward −∞ (`up = false`) or +∞ to `bits` significant bits.
pub fn round(x: &BigRational, bits: u32, up: bool) -> BigRational {
    Dy::round_rational(x, bits, up).to_rational()
}

impl Num {
    pub fn exact(r: BigRational) -> Num {
        Num::Exact(r)
    }

    pub fn from_int(n: i64) -> Num {
        Num::Exact(int(n))
    }

    /// An enclosure `[lo, hi]`, rounded outward; exact if the endpoints meet.
    pub fn range(lo: BigRational, hi: BigRational, prec: Prec) -> Num {
        debug_assert!(lo <= hi, "range {lo} > {hi}");
        if lo == hi {
            return Num::Exact(lo);
        }
        Num::Range {
            lo: Dy::round_rational(&lo, prec.bits, false),
            hi: Dy::round_rational(&hi, prec.bits, true),
        }
    }

    /// An enclosure from dyadic endpoints, rounded outward.
    pub fn range_dy(lo: Dy, hi: Dy, prec: Prec) -> Num {
        debug_assert!(lo <= hi);
        if lo == hi {
            return Num::Exact(lo.to_rational());
        }
        Num::Range {
            lo: lo.round(prec.bits, false),
            hi: hi.round(prec.bits, true),
        }
    }

    pub fn is_exact(&self) -> bool {
        matches!(self, Num::Exact(_))
    }

    pub fn is_neg_inf(&self) -> bool {
        matches!(self, Num::NegInf)
    }

    /// The endpoints (equal for an exact value); `None` for −∞.
    pub fn bounds(&self) -> Option<(BigRational, BigRational)> {
        match self {
            Num::Exact(r) => Some((r.clone(), r.clone())),
            Num::Range { lo, hi } => Some((lo.to_rational(), hi.to_rational())),
            Num::NegInf => None,
        }
    }

    /// Dyadic endpoints for interval arithmetic: exact for dyadic values, else rounded
    /// outward with a few bits beyond the working precision.
    fn dy_bounds(&self, prec: Prec, op: &'static str) -> Result<(Dy, Dy), NumError> {
        match self {
            Num::Exact(r) => match Dy::exact(r) {
                Some(d) => Ok((d.clone(), d)),
                None => Ok((
                    Dy::round_rational(r, prec.bits + 8, false),
                    Dy::round_rational(r, prec.bits + 8, true),
                )),
            },
            Num::Range { lo, hi } => Ok((lo.clone(), hi.clone())),
            Num::NegInf => Err(NumError::NegInfinity(op)),
        }
    }

    /// Width `hi - lo` (0 when exact).
    pub fn width(&self) -> BigRational {
        match self {
            Num::Range { lo, hi } => hi.add(&lo.neg()).to_rational(),
            _ => BigRational::zero(),
        }
    }

    /// Is the enclosure narrower than 2^-bits relative to its magnitude (or absolutely,
    /// near zero)?
    pub fn is_tight(&self, bits: u32) -> bool {
        match self {
            Num::Range { lo, hi } => {
                let width = hi.add(&lo.neg());
                let scale = lo.magnitude().max(hi.magnitude()).max(0);
                width.is_zero() || width.magnitude() < scale - bits as i64
            }
            _ => true,
        }
    }

    /// Certainly `self < other`, certainly `self > other`, or not known (overlap).
    pub fn compare(&self, other: &Num) -> Option<Ordering> {
        match (self, other) {
            (Num::NegInf, Num::NegInf) => Some(Ordering::Equal),
            (Num::NegInf, _) => Some(Ordering::Less),
            (_, Num::NegInf) => Some(Ordering::Greater),
            (Num::Exact(a), Num::Exact(b)) => Some(a.cmp(b)),
            _ => {
                let (al, ah) = self.bounds()?;
                let (bl, bh) = other.bounds()?;
                if ah < bl {
                    Some(Ordering::Less)
                } else if al > bh {
                    Some(Ordering::Greater)
                } else {
                    None
                }
            }
        }
    }

    /// The sign if certain.
    pub fn sign(&self) -> Option<Ordering> {
        self.compare(&Num::from_int(0))
    }

    pub fn neg(&self) -> NumResult {
        Ok(match self {
            Num::Exact(r) => Num::Exact(-r),
            Num::Range { lo, hi } => Num::Range {
                lo: hi.neg(),
                hi: lo.neg(),
            },
            Num::NegInf => return Err(NumError::NegInfinity("unary -")),
        })
    }

    pub fn add(&self, o: &Num, prec: Prec) -> NumResult {
        match (self, o) {
            (Num::NegInf, _) | (_, Num::NegInf) => Ok(Num::NegInf),
            // Adding an exact 0 (a forward-mode tangent upstream of the perturbation).
            (Num::Exact(z), x) | (x, Num::Exact(z)) if z.is_zero() => Ok(x.clone()),
            (Num::Exact(a), Num::Exact(b)) => Ok(Num::Exact(match (Dy::exact(a), Dy::exact(b)) {
                // Dyadic operands: skip the gcd (binary gcd is slow on long powers of two).
                (Some(x), Some(y)) => x.add(&y).to_rational(),
                _ => a + b,
            })),
            _ => {
                let (al, ah) = self.dy_bounds(prec, "+")?;
                let (bl, bh) = o.dy_bounds(prec, "+")?;
                Ok(Num::range_dy(al.add(&bl), ah.add(&bh), prec))
            }
        }
    }

    pub fn sub(&self, o: &Num, prec: Prec) -> NumResult {
        if o.is_neg_inf() {
            return Err(NumError::NegInfinity("-"));
        }
        self.add(&o.neg()?, prec)
    }

    pub fn mul(&self, o: &Num, prec: Prec) -> NumResult {
        match (self, o) {
            (Num::Exact(a), Num::Exact(b)) => {
                return Ok(Num::Exact(match (Dy::exact(a), Dy::exact(b)) {
                    (Some(x), Some(y)) => x.mul(&y).to_rational(),
                    _ => a * b,
                }));
            }
            // An exact 0 times a finite number (a zero tangent in forward mode).
            (Num::Exact(z), Num::Range { .. }) | (Num::Range { .. }, Num::Exact(z))
                if z.is_zero() =>
            {
                return Ok(Num::from_int(0));
            }
            _ => {}
        }
        let (al, ah) = self.dy_bounds(prec, "*")?;
        let (bl, bh) = o.dy_bounds(prec, "*")?;
        let nonneg = |d: &Dy| !d.is_negative();
        let nonpos = |d: &Dy| !d.is_positive();
        // By signs, two products bound the result; only when both straddle 0 are all four
        // needed.
        let (lo, hi) = match () {
            _ if nonneg(&al) && nonneg(&bl) => (al.mul(&bl), ah.mul(&bh)),
            _ if nonpos(&ah) && nonpos(&bh) => (ah.mul(&bh), al.mul(&bl)),
            _ if nonneg(&al) && nonpos(&bh) => (ah.mul(&bl), al.mul(&bh)),
            _ if nonpos(&ah) && nonneg(&bl) => (al.mul(&bh), ah.mul(&bl)),
            _ => {
                let products = [al.mul(&bl), al.mul(&bh), ah.mul(&bl), ah.mul(&bh)];
                let lo = products.iter().min().unwrap().clone();
                let hi = products.iter().max().unwrap().clone();
                (lo, hi)
            }
        };
        Ok(Num::range_dy(lo, hi, prec))
    }

    pub fn recip(&self, prec: Prec) -> NumResult {
        match self {
            Num::NegInf => Err(NumError::NegInfinity("/")),
            Num::Exact(a) if a.is_zero() => Err(NumError::DivisionByZero),
            Num::Exact(a) => Ok(Num::Exact(a.recip())),
            Num::Range { lo, hi } => {
                let lo_le_0 = lo.is_negative() || lo.is_zero();
                if lo_le_0 && !hi.is_negative() {
                    return Err(NumError::Undecided(
                        "dividing by an enclosure that contains 0".into(),
                    ));
                }
                // 1/x decreases on each side of 0: [1/hi, 1/lo], rounded outward.
                let one = Dy::one();
                Ok(Num::Range {
                    lo: one.div(hi, prec.bits, false),
                    hi: one.div(lo, prec.bits, true),
                })
            }
        }
    }

    pub fn div(&self, o: &Num, prec: Prec) -> NumResult {
        if let (Num::Exact(a), Num::Exact(b)) = (self, o) {
            if b.is_zero() {
                return Err(NumError::DivisionByZero);
            }
            return Ok(Num::Exact(a / b));
        }
        self.mul(&o.recip(prec)?, prec)
    }

    /// `self ** n` for an integer `n` (tight on intervals: even powers of an interval that
    /// contains 0 start at 0).
    pub fn powi(&self, n: i64, prec: Prec) -> NumResult {
        if n < 0 {
            return self
                .powi(n.checked_neg().unwrap_or(i64::MAX), prec)?
                .recip(prec)
                .map_err(|e| match e {
                    NumError::DivisionByZero => {
                        NumError::BadPower("0 raised to a negative power".into())
                    }
                    other => other,
                });
        }
        let Ok(n32) = u32::try_from(n) else {
            return Err(NumError::TooLarge(format!("the power {n} is too large")));
        };
        if let Num::Exact(a) = self {
            return Ok(Num::Exact(num_traits::pow::Pow::pow(a, n32)));
        }
        let (l, h) = self.dy_bounds(prec, "**")?;
        if n == 0 {
            return Ok(Num::from_int(1));
        }
        // Square-and-multiply on each endpoint, rounding outward as we go.
        let power = |x: &Dy, up: bool| -> Dy {
            let mut result = Dy::from_int(BigInt::one());
            let mut base = x.clone();
            let mut k = n as u64;
            while k > 0 {
                if k & 1 == 1 {
                    result = result.mul(&base);
                }
                base = base.mul(&base);
                k >>= 1;
            }
            result.round(prec.bits + 8, up)
        };
        // Directions: for odd n the map is increasing; for even n it decreases on x < 0.
        let odd = n % 2 == 1;
        let (pl_lo, pl_hi) = (power(&l, false), power(&l, true));
        let (ph_lo, ph_hi) = (power(&h, false), power(&h, true));
        if odd {
            return Ok(Num::range_dy(pl_lo, ph_hi, prec));
        }
        if l.is_negative() && !h.is_negative() && !h.is_zero() {
            Ok(Num::range_dy(Dy::zero(), pl_hi.max(ph_hi), prec))
        } else if h.is_negative() || h.is_zero() {
            Ok(Num::range_dy(ph_lo, pl_hi, prec))
        } else {
            Ok(Num::range_dy(pl_lo, ph_hi, prec))
        }
    }

    /// max of two numbers (−∞ is the identity).
    pub fn max(&self, o: &Num) -> Num {
        self.extreme(o, true)
    }

    /// min of two numbers (−∞ wins).
    pub fn min(&self, o: &Num) -> Num {
        self.extreme(o, false)
    }

    fn extreme(&self, o: &Num, largest: bool) -> Num {
        match (self, o) {
            (Num::NegInf, x) | (x, Num::NegInf) => {
                if largest {
                    x.clone()
                } else {
                    Num::NegInf
                }
            }
            (Num::Exact(a), Num::Exact(b)) => {
                Num::Exact(if largest { a.max(b) } else { a.min(b) }.clone())
            }
            _ => {
                let (al, ah) = self.bounds().unwrap();
                let (bl, bh) = o.bounds().unwrap();
                let (lo, hi) = if largest {
                    (al.max(bl), ah.max(bh))
                } else {
                    (al.min(bl), ah.min(bh))
                };
                // Round an exact (possibly non-dyadic) endpoint outward at the precision the
                // enclosure already carries.
                let bits = [self, o]
                    .iter()
                    .filter_map(|n| match n {
                        Num::Range { lo, hi } => Some(lo.bits().max(hi.bits())),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(64);
                Num::range(lo, hi, Prec::new(bits as u32 + 16))
            }
        }
    }

    /// Midpoint as f64 (for display and float comparisons in tests only).
    pub fn to_f64(&self) -> f64 {
        use num_traits::ToPrimitive;
        match self {
            Num::Exact(r) => r.to_f64().unwrap_or(f64::NAN),
            Num::Range { lo, hi } => lo.to_f64() / 2.0 + hi.to_f64() / 2.0,
            Num::NegInf => f64::NEG_INFINITY,
        }
    }

    /// Does the enclosure contain the rational `x`?
    pub fn contains(&self, x: &BigRational) -> bool {
        match self.bounds() {
            Some((l, h)) => &l <= x && x <= &h,
            None => false,
        }
    }
}

/// The decimal digits an enclosure certifies: the longest decimal that both endpoints start
/// with (each truncated, never rounded: every digit shown is a digit of the true value, and
/// `…` stands for the ones after it), then `…`: `0.8807970779…`, `-1.5…`, `2.5e-13…`. Exact
/// values print as fractions elsewhere; this is for enclosures.
pub fn certified_decimal(lo: &BigRational, hi: &BigRational) -> String {
    certified_digits(lo, hi, 40)
}

/// [`certified_decimal`] with at most `max_digits` significant digits.
pub fn certified_digits(lo: &BigRational, hi: &BigRational, max_digits: i64) -> String {
    let mag = lo.abs().max(hi.abs());
    if mag.is_zero() {
        return "0".into();
    }
    if lo.is_negative() != hi.is_negative() || lo.is_zero() || hi.is_zero() {
        // Not even the sign is certain.
        return format!("[{}, {}]", short(lo), short(hi));
    }
    // Integer arithmetic on numerators and denominators only: a `BigRational` product would
    // normalise with gcds, which on the million-bit power-of-two denominator of e^(−10^6)
    // take minutes.
    let ten_pow = |a: u64| -> BigInt { num_traits::pow(BigInt::from(10u32), a as usize) };
    let (mn, md) = (mag.numer(), mag.denom());
    // mag >= 10^e?
    let at_least = |e: i64| -> bool {
        let p = ten_pow(e.unsigned_abs());
        if e >= 0 {
            *mn >= md * p
        } else {
            mn * p >= *md
        }
    };
    // Decimal exponent of the larger endpoint: 10^e <= mag < 10^(e+1).
    let mut e = ((mn.bits() as f64 - md.bits() as f64) * std::f64::consts::LOG10_2).floor() as i64;
    while at_least(e + 1) {
        e += 1;
    }
    while !at_least(e) {
        e -= 1;
    }
    let big = ten_pow(e.unsigned_abs());
    // The first k + 1 significant digits of |x|: ⌊|x|·10^(k−e)⌋ = ⌊n·mul / (d·div)⌋ with
    // 10^(k−e) = mul/div.
    let digits_at = |x: &BigRational, k: i64| -> BigInt {
        let (mul, div) = if e <= 0 {
            (&big * ten_pow(k as u64), BigInt::from(1))
        } else if k >= e {
            (ten_pow((k - e) as u64), BigInt::from(1))
        } else {
            (BigInt::from(1), &big / ten_pow(k as u64))
        };
        let (n, d) = (x.numer().abs(), x.denom());
        (n * &mul).div_floor(&(d * &div))
    };
    let mut best: Option<(BigInt, i64)> = None;
    for k in 0..max_digits.max(1) {
        // Truncations that agree at k digits agree at fewer: stop at the first difference.
        let (a, b) = (digits_at(lo, k), digits_at(hi, k));
        if a != b {
            break;
        }
        best = Some((a, k));
    }
    let neg = lo.is_negative();
    let sign = if neg { "-" } else { "" };
    let certified = best.filter(|(digits, k)| digits.to_string().len() as i64 == k + 1);
    let Some((digits, _)) = certified else {
        // The interval straddles a round number (a value computed to be exactly 1/2 lies
        // in [0.4999…, 0.5000…]): no digit is certain, so the nearest short decimal and a
        // bound on the distance to it.
        let k = max_digits.max(1) - 1;
        let mid = ((lo + hi) / BigRational::from_integer(2.into())).abs();
        let half = BigRational::new(1.into(), 2.into()) * scale(e - k);
        let mut near = digits_at(&(&mid + half), k);
        let mut e = e;
        if near.to_string().len() as i64 > k + 1 {
            // Rounding carried into a new digit (9.99… → 10.0…).
            near /= 10;
            e += 1;
        }
        let d = BigRational::from_integer(near.clone()) * scale(e - k);
        let d = if neg { -d } else { d };
        let r = (lo - &d).abs().max((hi - &d).abs());
        return format!(
            "{sign}{} ± {}",
            decimal_body(&near.to_string(), e),
            short(&r)
        );
    };
    let body = decimal_body(&digits.to_string(), e);
    format!("{sign}{body}…")
}

/// `10^p` as a rational.
fn scale(p: i64) -> BigRational {
    let t = num_traits::pow(BigInt::from(10u32), p.unsigned_abs() as usize);
    if p >= 0 {
        BigRational::from_integer(t)
    } else {
        BigRational::new(BigInt::from(1), t)
    }
}

/// Significant digits `text` of a number `d.ddd × 10^e`, as a decimal.
fn decimal_body(text: &str, e: i64) -> String {
    if (-5..=15).contains(&e) {
        if e >= 0 {
            let int_len = (e + 1) as usize;
            if text.len() <= int_len {
                format!("{}{}", text, "0".repeat(int_len - text.len()))
            } else {
                format!("{}.{}", &text[..int_len], &text[int_len..])
            }
        } else {
            format!("0.{}{}", "0".repeat((-e - 1) as usize), text)
        }
    } else if text.len() > 1 {
        format!("{}.{}e{}", &text[..1], &text[1..], e)
    } else {
        format!("{text}e{e}")
    }
}

/// A short decimal for a rational (3 significant digits), for undecided displays.
fn short(x: &BigRational) -> String {
    use num_traits::ToPrimitive;
    format!("{:.3e}", x.to_f64().unwrap_or(f64::NAN))
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Exact(r) => write!(f, "{r}"),
            Num::Range { lo, hi } => {
                f.write_str(&certified_decimal(&lo.to_rational(), &hi.to_rational()))
            }
            Num::NegInf => f.write_str("-inf"),
        }
    }
}

/// Sign of a BigInt as an ordering helper.
pub fn is_negative_int(x: &BigInt) -> bool {
    x.sign() == Sign::Minus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_directed_and_short() {
        let x = rat(1, 3);
        let p = 32;
        let lo = round(
            &(x.clone() * int(1) / int(1) + rat(1, 1 << 40) * rat(1, 7)),
            p,
            false,
        );
        assert!(lo <= x.clone() + rat(1, 1 << 40) * rat(1, 7));
        let third = BigRational::new(BigInt::from(1), BigInt::from(3).pow(200));
        let d = round(&third, p, false);
        let u = round(&third, p, true);
        assert!(d <= third && third <= u && d < u);
        assert!(u.numer().bits() <= 40);
    }

    #[test]
    fn interval_products_and_powers() {
        let prec = Prec::new(64);
        let a = Num::range(int(-1), int(2), prec);
        let sq = a.powi(2, prec).unwrap();
        assert_eq!(sq.bounds(), Some((int(0), int(4))));
        let p = a.mul(&Num::from_int(-3), prec).unwrap();
        assert_eq!(p.bounds(), Some((int(-6), int(3))));
        let cube = Num::range(int(-2), int(-1), prec).powi(3, prec).unwrap();
        assert_eq!(cube.bounds(), Some((int(-8), int(-1))));
        let sq = Num::range(int(-2), int(-1), prec).powi(2, prec).unwrap();
        assert_eq!(sq.bounds(), Some((int(1), int(4))));
        assert!(matches!(a.recip(prec), Err(NumError::Undecided(_))));
        assert_eq!(Num::from_int(0).recip(prec), Err(NumError::DivisionByZero));
    }

    #[test]
    fn max_of_an_exact_third_and_an_enclosure_stays_small_and_sound() {
        let prec = Prec::new(64);
        let third = Num::exact(rat(1, 3));
        let r = Num::range(rat(1, 10), rat(1, 5), prec);
        let m = third.max(&r);
        assert!(m.contains(&rat(1, 3)) && m.is_tight(60));
        let m = r.min(&third);
        assert!(m.contains(&rat(1, 10)) && m.contains(&rat(1, 5)));
    }

    #[test]
    fn certified_decimals_show_only_shared_digits() {
        // Truncated, never rounded: the digits shown are digits of the true value.
        assert_eq!(
            certified_decimal(&rat(8807, 10000), &rat(8809, 10000)),
            "0.880…"
        );
        assert_eq!(
            certified_decimal(&rat(-8809, 10000), &rat(-8807, 10000)),
            "-0.880…"
        );
        assert_eq!(certified_decimal(&rat(151, 100), &rat(152, 100)), "1.5…");
        // 1.99955… is not "2.000…", and 7.3327… is not "7.333…".
        assert_eq!(
            certified_digits(&rat(199955, 100000), &rat(199956, 100000), 4),
            "1.999…"
        );
        assert_eq!(
            certified_digits(&rat(73327, 10000), &rat(73328, 10000), 4),
            "7.332…"
        );
        // Straddling a round number certifies no digit: the nearest decimal and how far.
        assert_eq!(
            certified_digits(&rat(99999, 100000), &rat(100001, 100000), 4),
            "1.000 ± 1.000e-5"
        );
        assert_eq!(
            certified_digits(&rat(-100001, 200000), &rat(-99999, 200000), 4),
            "-0.5000 ± 5.000e-6"
        );
        assert_eq!(
            certified_decimal(&rat(25, 100_000_000_000_000), &rat(26, 100_000_000_000_000)),
            "2e-13…"
        );
        assert_eq!(
            certified_decimal(&rat(-1, 2), &rat(1, 2)),
            "[-5.000e-1, 5.000e-1]"
        );
    }

    #[test]
    fn certified_decimals_of_tiny_dyadics_are_quick() {
        // 2^-100000 (1 ± 2^-80) = 1.0009989037986941668162647131933…e-30103: the
        // denominator has 100,080 bits; integer arithmetic only, no gcd.
        let t = std::time::Instant::now();
        let tiny = |d: i32| {
            let m = (BigInt::one() << 80u32) + d;
            Dy::from_parts(m, -100_080).to_rational()
        };
        let s = certified_decimal(&tiny(-1), &tiny(1));
        assert!(
            s.starts_with("1.00099890379869416681") && s.ends_with("e-30103…"),
            "{s}"
        );
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    }
}
