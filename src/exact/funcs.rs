//! Certified enclosures of the transcendental functions.
//!
//! Owns exp, log, sqrt (and rational roots), erf, π, ln 2, with Φ, tanh and sigmoid built
//! from them. Each point function returns `[lo, hi]` proven to contain the true value:
//! a Taylor/atanh/Machin series whose truncation error is bounded explicitly, evaluated
//! with directed rounding (lower sums round down, upper sums round up), after argument
//! reduction (exp: halving and squaring; log: powers of two). Every function here is monotone
//! increasing, so an interval argument `[a, b]` maps to `[f(a).lo, f(b).hi]`.
//!
//! Invariant: an exact result is returned only where it is exact (exp 0 = 1, log 1 = 0,
//! sqrt of a perfect square, erf 0 = 0).

use super::dyadic::Dy;
use super::num::{int, rat, round, Num, NumError, NumResult, Prec};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::cell::RefCell;
use std::collections::HashMap;

/// Extra bits carried inside series so the final rounding dominates the error.
const GUARD: u32 = 24;

/// Largest |x| accepted by exp (beyond it the result has millions of bits).
const EXP_LIMIT: i64 = 1 << 20;

type Bounds = (BigRational, BigRational);

fn down(x: &BigRational, bits: u32) -> BigRational {
    round(x, bits, false)
}

fn up(x: &BigRational, bits: u32) -> BigRational {
    round(x, bits, true)
}

fn pow2(e: i64) -> BigRational {
    let p = BigInt::one() << e.unsigned_abs();
    if e >= 0 {
        BigRational::from_integer(p)
    } else {
        BigRational::new(BigInt::one(), p)
    }
}

/// Apply a monotone increasing point enclosure to a number.
fn monotone(
    x: &Num,
    prec: Prec,
    name: &'static str,
    f: impl Fn(&BigRational, Prec) -> Result<Bounds, NumError>,
) -> NumResult {
    match x {
        Num::NegInf => Err(NumError::NegInfinity(name)),
        Num::Exact(a) => {
            let (lo, hi) = f(a, prec)?;
            Ok(if lo == hi {
                Num::Exact(lo)
            } else {
                Num::range(lo, hi, prec)
            })
        }
        Num::Range { lo, hi } => {
            let (l, _) = f(&lo.to_rational(), prec)?;
            let (_, h) = f(&hi.to_rational(), prec)?;
            Ok(Num::range(l, h, prec))
        }
    }
}

// ---------------------------------------------------------------- exp

/// e^x for rational x.
fn exp_point(x: &BigRational, prec: Prec) -> Result<Bounds, NumError> {
    if x.is_zero() {
        return Ok((int(1), int(1)));
    }
    if x.abs() > int(EXP_LIMIT) {
        return Err(NumError::TooLarge(format!(
            "exp of an argument of magnitude above 2^20 ({})",
            x.to_f64().unwrap_or(f64::INFINITY)
        )));
    }
    // Halve s times so that |y| <= 1/2, then e^x = (e^y)^(2^s).
    let mag = x.numer().bits() as i64 - x.denom().bits() as i64; // |x| < 2^(mag+1)
    let s = (mag + 2).max(0) as u64;
    let bits = prec.bits + GUARD + 2 * s as u32;
    let y = BigRational::new_raw(x.numer().clone(), x.denom() << s);
    // e^y is increasing: round y outward and bound each side.
    let lo = exp_series(&Dy::round_rational(&y, bits + 8, false), bits, false);
    let hi = exp_series(&Dy::round_rational(&y, bits + 8, true), bits, true);
    let (mut lo, mut hi) = (lo, hi);
    for _ in 0..s {
        lo = lo.mul(&lo).round(bits, false);
        hi = hi.mul(&hi).round(bits, true);
    }
    Ok((lo.to_rational(), hi.to_rational()))
}

/// Lower (`upper = false`) or upper bound of e^y for |y| <= 1/2: Taylor terms carried as
/// outward-rounded dyadic intervals, plus a bound on the tail.
fn exp_series(y: &Dy, bits: u32, upper: bool) -> Dy {
    let w = bits + 8;
    let small = -(bits as i64) - 4;
    let (mut sl, mut sh) = (Dy::zero(), Dy::zero());
    let (mut tl, mut th) = (Dy::from_int(BigInt::one()), Dy::from_int(BigInt::one()));
    let mut n = 0u64;
    loop {
        sl = sl.add(&tl).round(w, false);
        sh = sh.add(&th).round(w, true);
        n += 1;
        // term · y / n, keeping [tl, th] ordered whatever the sign of y.
        let (a, b) = (tl.mul(y), th.mul(y));
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        tl = a.div_int(n, w, false);
        th = b.div_int(n, w, true);
        if tl.abs().max(th.abs()).magnitude() < small {
            break;
        }
    }
    // Tail: |sum_{k>=n} y^k/k!| <= 2|term| since ratios are below 1/2.
    let tail = tl.abs().max(th.abs()).mul(&Dy::from_int(2.into()));
    if upper {
        sh.add(&tail).round(bits, true)
    } else {
        sl.add(&tail.neg()).round(bits, false)
    }
}

pub fn exp(x: &Num, prec: Prec) -> NumResult {
    if x.is_neg_inf() {
        return Ok(Num::from_int(0));
    }
    monotone(x, prec, "exp", exp_point)
}

// ---------------------------------------------------------------- log, ln 2, π

/// atanh(z) = z + z^3/3 + ... for |z| <= 1/3, as bounds (interval-carried terms).
fn atanh_series(z: &BigRational, bits: u32) -> Bounds {
    let prec = Prec::new(bits + 8);
    let eps = pow2(-(bits as i64) - 4);
    let z2 = Num::exact(z * z);
    let mut power = Num::exact(z.clone());
    let mut sum = Num::from_int(0);
    let mut k = 1i64;
    let magnitude = |n: &Num| {
        let (l, h) = n.bounds().expect("finite");
        l.abs().max(h.abs())
    };
    loop {
        sum = sum
            .add(&power.div(&Num::from_int(k), prec).expect("k > 0"), prec)
            .expect("finite");
        power = power.mul(&z2, prec).expect("finite");
        k += 2;
        if magnitude(&power) / int(k) < eps {
            break;
        }
    }
    // Tail <= |z|^k / (k (1 - z^2)) <= |z|^k/k * 9/8.
    let tail = magnitude(&power) / int(k) * rat(9, 8);
    let (sl, sh) = sum.bounds().expect("finite");
    (down(&(sl - &tail), bits), up(&(sh + &tail), bits))
}

thread_local! {
    static CONSTANTS: RefCell<HashMap<(&'static str, u32), Bounds>> = RefCell::new(HashMap::new());
}

fn cached(name: &'static str, bits: u32, compute: impl FnOnce() -> Bounds) -> Bounds {
    if let Some(b) = CONSTANTS.with(|c| c.borrow().get(&(name, bits)).cloned()) {
        return b;
    }
    let b = compute();
    CONSTANTS.with(|c| c.borrow_mut().insert((name, bits), b.clone()));
    b
}

/// ln 2 = 2 atanh(1/3).
fn ln2(bits: u32) -> Bounds {
    cached("ln2", bits, || {
        let (l, h) = atanh_series(&rat(1, 3), bits + 4);
        (down(&(l * int(2)), bits), up(&(h * int(2)), bits))
    })
}

/// π = 16 atan(1/5) − 4 atan(1/239) (Machin).
fn pi_bounds(bits: u32) -> Bounds {
    cached("pi", bits, || {
        let (a_lo, a_hi) = atan_inv(5, bits + 8);
        let (b_lo, b_hi) = atan_inv(239, bits + 8);
        (
            down(&(a_lo * int(16) - b_hi * int(4)), bits),
            up(&(a_hi * int(16) - b_lo * int(4)), bits),
        )
    })
}

/// atan(1/k) for an integer k >= 2: an alternating series with decreasing terms, so the
/// partial sums bracket the value.
fn atan_inv(k: i64, bits: u32) -> Bounds {
    let eps = pow2(-(bits as i64) - 4);
    let x = rat(1, k);
    let x2 = &x * &x;
    let mut power = x.clone();
    let mut sum = BigRational::zero();
    let mut n = 0i64;
    loop {
        let term = &power / int(2 * n + 1);
        if n % 2 == 0 {
            sum += &term;
        } else {
            sum -= &term;
        }
        power = &power * &x2;
        n += 1;
        let next = &power / int(2 * n + 1);
        if next < eps {
            // The next term would move the sum by `next` in the direction of its sign.
            let other = if n % 2 == 0 {
                &sum + &next
            } else {
                &sum - &next
            };
            let (lo, hi) = if sum < other {
                (sum, other)
            } else {
                (other, sum)
            };
            return (down(&lo, bits), up(&hi, bits));
        }
    }
}

pub fn pi(prec: Prec) -> Num {
    let (lo, hi) = pi_bounds(prec.bits + GUARD);
    Num::range(lo, hi, prec)
}

fn log_point(x: &BigRational, prec: Prec) -> Result<Bounds, NumError> {
    if !x.is_positive() {
        return Err(NumError::LogOfNonPositive);
    }
    if x.is_one() {
        return Ok((int(0), int(0)));
    }
    let bits = prec.bits + GUARD;
    // x = 2^k m with m in [2/3, 4/3]: log x = k ln2 + 2 atanh((m-1)/(m+1)), |z| <= 1/7.
    let mut k = x.numer().bits() as i64 - x.denom().bits() as i64;
    let mut m = x * pow2(-k);
    while m > rat(4, 3) {
        m /= int(2);
        k += 1;
    }
    while m < rat(2, 3) {
        m *= int(2);
        k -= 1;
    }
    let (ml, mh) = (down(&m, bits + 8), up(&m, bits + 8));
    let z = |m: &BigRational| (m - int(1)) / (m + int(1));
    let (zl, _) = atanh_series(&z(&ml), bits + 4);
    let (_, zh) = atanh_series(&z(&mh), bits + 4);
    let (l2l, l2h) = ln2(bits + 8 + (k.unsigned_abs() as u64).max(1).ilog2());
    let kk = int(k);
    let (kl, kh) = if k >= 0 {
        (&kk * &l2l, &kk * &l2h)
    } else {
        (&kk * &l2h, &kk * &l2l)
    };
    Ok((
        down(&(kl + zl * int(2)), bits),
        up(&(kh + zh * int(2)), bits),
    ))
}

pub fn log(x: &Num, prec: Prec) -> NumResult {
    if let Some((lo, hi)) = x.bounds().filter(|_| !x.is_exact()) {
        if !hi.is_positive() {
            return Err(NumError::LogOfNonPositive);
        }
        if !lo.is_positive() {
            return Err(NumError::Undecided(
                "log of an enclosure that contains 0".into(),
            ));
        }
    }
    monotone(x, prec, "log", log_point)
}

// ---------------------------------------------------------------- roots

/// x^(1/q) for rational x, exact when x is a perfect q-th power.
fn root_point(x: &BigRational, q: u32, prec: Prec) -> Result<Bounds, NumError> {
    if x.is_negative() {
        if q % 2 == 0 {
            return Err(if q == 2 {
                NumError::SqrtOfNegative
            } else {
                NumError::BadPower(format!("an even root (1/{q}) of a negative number"))
            });
        }
        let (l, h) = root_point(&-x, q, prec)?;
        return Ok((-h, -l));
    }
    if x.is_zero() {
        return Ok((int(0), int(0)));
    }
    let (n, d) = (x.numer(), x.denom());
    let (rn, rd) = (n.nth_root(q), d.nth_root(q));
    if num_traits::pow::Pow::pow(&rn, q) == *n && num_traits::pow::Pow::pow(&rd, q) == *d {
        let r = BigRational::new(rn, rd);
        return Ok((r.clone(), r));
    }
    // x^(1/q) = (n d^(q-1))^(1/q) / d; scale by 2^(q*s) for s fractional bits.
    let bits = prec.bits + GUARD;
    let s = bits as i64 + (d.bits() as i64);
    let scaled: BigInt = n * num_traits::pow::Pow::pow(d, q - 1) << (q as u64 * s as u64);
    let r = scaled.nth_root(q);
    let denom = BigRational::from_integer(d.clone()) * pow2(s);
    let lo = BigRational::from_integer(r.clone()) / &denom;
    let hi = BigRational::from_integer(r + 1) / &denom;
    Ok((down(&lo, bits), up(&hi, bits)))
}

pub fn sqrt(x: &Num, prec: Prec) -> NumResult {
    root(x, 2, prec)
}

/// x^(1/q); for an interval that dips below 0 under an even root, undecided.
pub fn root(x: &Num, q: u32, prec: Prec) -> NumResult {
    if let Some((lo, hi)) = x.bounds().filter(|_| !x.is_exact()) {
        if q % 2 == 0 && lo.is_negative() {
            if hi.is_negative() {
                return Err(if q == 2 {
                    NumError::SqrtOfNegative
                } else {
                    NumError::BadPower("an even root of a negative number".into())
                });
            }
            return Err(NumError::Undecided(
                "an even root of an enclosure that contains 0".into(),
            ));
        }
    }
    monotone(x, prec, "sqrt", |a, p| root_point(a, q, p))
}

/// x ** (p/q) for a rational exponent.
pub fn pow(x: &Num, e: &BigRational, prec: Prec) -> NumResult {
    let p = e
        .numer()
        .to_i64()
        .ok_or_else(|| NumError::TooLarge(format!("exponent {e} is too large")))?;
    let q = e
        .denom()
        .to_u32()
        .ok_or_else(|| NumError::TooLarge(format!("exponent {e} is too large")))?;
    if p.unsigned_abs() > 1 << 16 {
        return Err(NumError::TooLarge(format!("exponent {e} is too large")));
    }
    if q == 1 {
        return x.powi(p, prec);
    }
    if p < 0 {
        if let Some((l, h)) = x.bounds() {
            if l.is_zero() && h.is_zero() {
                return Err(NumError::BadPower("0 raised to a negative power".into()));
            }
        }
    }
    root(x, q, prec)?.powi(p, prec)
}

// ---------------------------------------------------------------- erf and friends

/// erf(x) for rational x >= 0:
/// erf x = (2/√π) e^(−x²) Σ 2^n x^(2n+1) / (1·3···(2n+1)), all terms positive.
fn erf_point(x: &BigRational, prec: Prec) -> Result<Bounds, NumError> {
    if x.is_zero() {
        return Ok((int(0), int(0)));
    }
    if x.is_negative() {
        let (l, h) = erf_point(&-x, prec)?;
        return Ok((-h, -l));
    }
    let bits = prec.bits + GUARD;
    let x2 = x * x;
    // erfc x <= e^(−x²): beyond (bits+2)·ln 2 < x², erf x is within 2^-(bits+2) of 1.
    if x2 > int(bits as i64 + 2) * rat(7, 10) {
        return Ok((int(1) - pow2(-(bits as i64) - 2), int(1)));
    }
    let (xl, xh) = (down(x, bits + 8), up(x, bits + 8));
    let series = |x: &BigRational, upper: bool| -> BigRational {
        let x2 = x * x;
        let eps = pow2(-(bits as i64) - 8);
        let mut term = x.clone();
        let mut sum = BigRational::zero();
        let mut n = 0i64;
        loop {
            sum += &term;
            term = &term * &x2 * int(2) / int(2 * n + 3);
            term = if upper {
                up(&term, bits + 8)
            } else {
                down(&term, bits + 8)
            };
            n += 1;
            // Once 2x² <= (2n+3)/2 every later ratio is at most 1/2: the tail is <= 2·term.
            if int(4) * &x2 <= int(2 * n + 3) && term < &sum * &eps {
                break;
            }
        }
        if upper {
            up(&(sum + term * int(2)), bits + 8)
        } else {
            down(&sum, bits + 8)
        }
    };
    let s_lo = series(&xl, false);
    let s_hi = series(&xh, true);
    // e^(−x²) is decreasing in x: its lower bound at xh, upper at xl.
    let (el, _) = exp_point(&-(&xh * &xh), Prec::new(bits + 8))?;
    let (_, eh) = exp_point(&-(&xl * &xl), Prec::new(bits + 8))?;
    let (pl, ph) = pi_bounds(bits + 8);
    // 2/√π
    let (rl, _) = root_point(&ph, 2, Prec::new(bits + 8))?;
    let (_, rh) = root_point(&pl, 2, Prec::new(bits + 8))?;
    let c_lo = int(2) / rh;
    let c_hi = int(2) / rl;
    let lo = down(&(c_lo * el * s_lo), bits);
    let hi = up(&(c_hi * eh * s_hi), bits);
    Ok((lo.min(int(1)), hi.min(int(1))))
}

pub fn erf(x: &Num, prec: Prec) -> NumResult {
    monotone(x, prec, "erf", erf_point)
}

/// tanh x = 1 − 2/(e^(2x) + 1), increasing in x.
fn tanh_point(x: &BigRational, prec: Prec) -> Result<Bounds, NumError> {
    if x.is_zero() {
        return Ok((int(0), int(0)));
    }
    if x.is_negative() {
        let (l, h) = tanh_point(&-x, prec)?;
        return Ok((-h, -l));
    }
    let bits = prec.bits + GUARD;
    // 1 − tanh x < 2e^(−2x): tiny beyond 2x > (bits+2) ln 2.
    if x * int(2) > int(bits as i64 + 4) * rat(7, 10) {
        return Ok((int(1) - pow2(-(bits as i64) - 2), int(1)));
    }
    let (el, eh) = exp_point(&(x * int(2)), Prec::new(bits + 4))?;
    let lo = int(1) - int(2) / (el + int(1));
    let hi = int(1) - int(2) / (eh + int(1));
    Ok((down(&lo, bits), up(&hi, bits)))
}

pub fn tanh(x: &Num, prec: Prec) -> NumResult {
    monotone(x, prec, "tanh", tanh_point)
}

/// σ(x) = 1/(1 + e^(−x)), increasing in x.
fn sigmoid_point(x: &BigRational, prec: Prec) -> Result<Bounds, NumError> {
    if x.is_zero() {
        return Ok((rat(1, 2), rat(1, 2)));
    }
    let bits = prec.bits + GUARD;
    let limit = int(bits as i64 + 4) * rat(7, 10);
    if x > &limit {
        return Ok((int(1) - pow2(-(bits as i64) - 2), int(1)));
    }
    if x < &-limit.clone() {
        // σ(x) < e^x: tiny but positive; compute e^x directly for a relative bound.
        let (el, eh) = exp_point(x, Prec::new(bits + 4))?;
        return Ok((down(&(&el / (int(1) + &el)), bits), up(&eh, bits)));
    }
    let (el, eh) = exp_point(&-x, Prec::new(bits + 4))?;
    let lo = int(1) / (eh + int(1));
    let hi = int(1) / (el + int(1));
    Ok((down(&lo, bits), up(&hi, bits)))
}

pub fn sigmoid(x: &Num, prec: Prec) -> NumResult {
    monotone(x, prec, "sigmoid", sigmoid_point)
}

/// Φ(x) = (1 + erf(x/√2))/2, increasing in x.
fn phi_point(x: &BigRational, prec: Prec) -> Result<Bounds, NumError> {
    if x.is_zero() {
        return Ok((rat(1, 2), rat(1, 2)));
    }
    let bits = prec.bits + GUARD;
    let (s_lo, s_hi) = root_point(&rat(1, 2), 2, Prec::new(bits + 8))?;
    // x/√2 = x·√(1/2): order the product by the sign of x.
    let (al, ah) = if x.is_positive() {
        (x * &s_lo, x * &s_hi)
    } else {
        (x * &s_hi, x * &s_lo)
    };
    let (el, _) = erf_point(&down(&al, bits + 8), Prec::new(bits + 4))?;
    let (_, eh) = erf_point(&up(&ah, bits + 8), Prec::new(bits + 4))?;
    Ok((
        down(&((int(1) + el) / int(2)), bits),
        up(&((int(1) + eh) / int(2)), bits),
    ))
}

pub fn phi(x: &Num, prec: Prec) -> NumResult {
    monotone(x, prec, "Phi", phi_point)
}

/// The standard normal density φ(x) = e^(−x²/2)/√(2π) (for derivatives of Φ).
pub fn normal_density(x: &Num, prec: Prec) -> NumResult {
    let half_sq = x.mul(x, prec)?.div(&Num::from_int(-2), prec)?;
    let e = exp(&half_sq, prec)?;
    let two_pi = pi(prec).mul(&Num::from_int(2), prec)?;
    e.div(&sqrt(&two_pi, prec)?, prec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> BigRational {
        crate::syntax::parser::parse_decimal(s)
    }

    /// The enclosure contains a value known to 50 digits (± 1e-50).
    #[track_caller]
    fn contains(n: &Num, digits: &str) {
        let v = parse(digits);
        let slack = parse("1e-50");
        let (lo, hi) = n.bounds().unwrap();
        assert!(
            lo <= &v + &slack && &v - &slack <= hi,
            "{n:?} does not contain {digits}"
        );
        assert!(n.is_tight(120), "{n} is too wide");
    }

    const P: Prec = Prec { bits: 160 };

    #[test]
    fn known_constants() {
        contains(
            &exp(&Num::from_int(1), P).unwrap(),
            "2.71828182845904523536028747135266249775724709369995",
        );
        contains(
            &sqrt(&Num::from_int(2), P).unwrap(),
            "1.41421356237309504880168872420969807856967187537694",
        );
        contains(
            &pi(P),
            "3.14159265358979323846264338327950288419716939937510",
        );
        contains(
            &log(&Num::from_int(2), P).unwrap(),
            "0.69314718055994530941723212145817656807550013436025",
        );
        contains(
            &log(&Num::from_int(10), P).unwrap(),
            "2.30258509299404568401799145468436420760110148862877",
        );
        contains(
            &erf(&Num::exact(rat(1, 2)), P).unwrap(),
            "0.52049987781304653768274665389196452873645157575795",
        );
        contains(
            &tanh(&Num::from_int(1), P).unwrap(),
            "0.76159415595576488811945828260479359041276859725793",
        );
        contains(
            &sigmoid(&Num::from_int(2), P).unwrap(),
            "0.88079707797788244405972914130239679520638429862897",
        );
        contains(
            &phi(&Num::from_int(1), P).unwrap(),
            "0.84134474606854294858523254563203792247791296672660",
        );
        contains(
            &exp(&Num::from_int(-30), P).unwrap(),
            "0.0000000000000935762296884017460491583222337870674495832268893588",
        );
    }

    #[test]
    fn exact_where_exact() {
        assert_eq!(
            sqrt(&Num::exact(rat(9, 4)), P).unwrap(),
            Num::exact(rat(3, 2))
        );
        assert_eq!(exp(&Num::from_int(0), P).unwrap(), Num::from_int(1));
        assert_eq!(log(&Num::from_int(1), P).unwrap(), Num::from_int(0));
        assert_eq!(
            pow(&Num::exact(rat(8, 27)), &rat(2, 3), P).unwrap(),
            Num::exact(rat(4, 9))
        );
        assert_eq!(exp(&Num::NegInf, P).unwrap(), Num::from_int(0));
    }

    #[test]
    fn enclosures_shrink_as_precision_rises() {
        let mut last: Option<BigRational> = None;
        for bits in [32, 64, 128, 256] {
            let w = erf(&Num::exact(rat(3, 7)), Prec::new(bits))
                .unwrap()
                .width();
            if let Some(prev) = last {
                assert!(w < prev, "width did not shrink at {bits} bits");
            }
            last = Some(w);
        }
    }

    #[test]
    fn domain_errors() {
        assert_eq!(log(&Num::from_int(0), P), Err(NumError::LogOfNonPositive));
        assert_eq!(sqrt(&Num::from_int(-1), P), Err(NumError::SqrtOfNegative));
        assert!(exp(&Num::from_int(1 << 21), P).is_err());
    }
}
