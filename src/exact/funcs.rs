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

/// The endpoints of a finite enclosure, rounded outward to `bits`.
fn outward(n: &Num, bits: u32) -> Bounds {
    let (lo, hi) = n.bounds().expect("a finite enclosure");
    (down(&lo, bits), up(&hi, bits))
}

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
    if x < &-int(EXP_LIMIT) {
        // e^x < 2^(−⌊|x|·1.44⌋) since log2 e > 1.44: a tiny, certain enclosure.
        let k = (-x * rat(144, 100)).floor().to_integer();
        let k: i64 = k.try_into().unwrap_or(i64::MAX / 2);
        return Ok((int(0), pow2(-k)));
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
        let largest = tl.abs().max(th.abs());
        if largest.is_zero() || largest.magnitude() < small {
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

/// atanh(z) = z + z^3/3 + z^5/5 + ... for a dyadic |z| <= 1/3, as dyadic bounds.
fn atanh_series(z: &Dy, bits: u32) -> (Dy, Dy) {
    if z.is_zero() {
        return (Dy::zero(), Dy::zero());
    }
    if z.is_negative() {
        let (l, h) = atanh_series(&z.neg(), bits);
        return (h.neg(), l.neg());
    }
    let w = bits + 8;
    let small = -(bits as i64) - 4;
    let z2 = z.mul(z);
    let (mut pl, mut ph) = (z.clone(), z.clone());
    let (mut sl, mut sh) = (Dy::zero(), Dy::zero());
    let mut k = 1u64;
    loop {
        sl = sl.add(&pl.div_int(k, w, false)).round(w, false);
        sh = sh.add(&ph.div_int(k, w, true)).round(w, true);
        pl = pl.mul(&z2).round(w, false);
        ph = ph.mul(&z2).round(w, true);
        k += 2;
        if ph.magnitude() - (k as f64).log2() as i64 + 1 < small {
            break;
        }
    }
    // Tail <= z^k / (k (1 - z²)) <= z^k/k · 9/8.
    let tail = ph
        .div_int(k, w, true)
        .mul(&Dy::from_int(9.into()))
        .div_int(8, w, true);
    (sl.round(bits, false), sh.add(&tail).round(bits, true))
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

/// ln 2 = 2 atanh(1/3); atanh is increasing, so bound 1/3 from both sides.
fn ln2(bits: u32) -> Bounds {
    cached("ln2", bits, || {
        let third = rat(1, 3);
        let (l, _) = atanh_series(&Dy::round_rational(&third, bits + 16, false), bits + 4);
        let (_, h) = atanh_series(&Dy::round_rational(&third, bits + 16, true), bits + 4);
        let two = Dy::from_int(2.into());
        (
            l.mul(&two).round(bits, false).to_rational(),
            h.mul(&two).round(bits, true).to_rational(),
        )
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
    // x = 2^k m with m in [2/3, 4/3]: log x = k ln2 + 2 atanh((m−1)/(m+1)), |z| <= 1/7.
    let mut k = x.numer().bits() as i64 - x.denom().bits() as i64;
    let scaled = |k: i64| {
        if k >= 0 {
            BigRational::new_raw(x.numer().clone(), x.denom() << k as u64)
        } else {
            BigRational::new_raw(x.numer() << (-k) as u64, x.denom().clone())
        }
    };
    while scaled(k) > rat(4, 3) {
        k += 1;
    }
    while scaled(k) < rat(2, 3) {
        k -= 1;
    }
    let m = scaled(k);
    let one = Dy::from_int(BigInt::one());
    let (ml, mh) = (
        Dy::round_rational(&m, bits + 16, false),
        Dy::round_rational(&m, bits + 16, true),
    );
    // z = (m−1)/(m+1) is increasing in m.
    // z from the exact m, so log(1 + tiny) keeps its relative accuracy.
    let z = (&m - int(1)) / (&m + int(1));
    let (zl, zh) = (
        Dy::round_rational(&z, bits + 16, false),
        Dy::round_rational(&z, bits + 16, true),
    );
    let _ = (ml, mh, one);
    let (al, _) = atanh_series(&zl, bits + 4);
    let (_, ah) = atanh_series(&zh, bits + 4);
    let (l2l, l2h) = ln2(bits + 8 + (k.unsigned_abs().max(1)).ilog2());
    let kk = int(k);
    let (kl, kh) = if k >= 0 {
        (&kk * &l2l, &kk * &l2h)
    } else {
        (&kk * &l2h, &kk * &l2l)
    };
    let two = Dy::from_int(2.into());
    let lo = Dy::round_rational(&kl, bits + 8, false).add(&al.mul(&two));
    let hi = Dy::round_rational(&kh, bits + 8, true).add(&ah.mul(&two));
    Ok((
        lo.round(bits, false).to_rational(),
        hi.round(bits, true).to_rational(),
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
        if q.is_multiple_of(2) {
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
    let scaled: BigInt = (n * num_traits::pow::Pow::pow(d, q - 1)) << (q as u64 * s as u64);
    let r = scaled.nth_root(q);
    let denom: BigInt = d << s as u64;
    let lo = BigRational::new_raw(r.clone(), denom.clone());
    let hi = BigRational::new_raw(r + 1, denom);
    Ok((down(&lo, bits), up(&hi, bits)))
}

pub fn sqrt(x: &Num, prec: Prec) -> NumResult {
    root(x, 2, prec)
}

/// x^(1/q); for an interval that dips below 0 under an even root, undecided.
pub fn root(x: &Num, q: u32, prec: Prec) -> NumResult {
    if let Some((lo, hi)) = x.bounds().filter(|_| !x.is_exact()) {
        if q.is_multiple_of(2) && lo.is_negative() {
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
    if q > 64 {
        // An integer q-th root would work on numbers q·(prec) bits long: use
        // x^(1/q) = e^(log(x)/q) (both increasing) instead.
        let r = match x.sign() {
            Some(std::cmp::Ordering::Greater) => {
                exp(&log(x, prec)?.div(&Num::exact(int(q as i64)), prec)?, prec)?
            }
            Some(std::cmp::Ordering::Equal) if x.is_exact() => Num::from_int(0),
            Some(std::cmp::Ordering::Less) if q % 2 == 1 => {
                let pos = x.neg()?;
                exp(
                    &log(&pos, prec)?.div(&Num::exact(int(q as i64)), prec)?,
                    prec,
                )?
                .neg()?
            }
            Some(std::cmp::Ordering::Less) => {
                return Err(NumError::BadPower(format!(
                    "an even root (1/{q}) of a negative number"
                )))
            }
            _ => {
                return Err(NumError::Undecided(
                    "a root of an enclosure that contains 0".into(),
                ))
            }
        };
        return r.powi(p, prec);
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
    let w = bits + 8;
    let (xl, xh) = (
        Dy::round_rational(x, w, false),
        Dy::round_rational(x, w, true),
    );
    // Σ 2^n x^(2n+1) / (2n+1)!!: positive terms, t_(n+1) = t_n · 2x² / (2n+3).
    let series = |x: &Dy, upper: bool| -> Dy {
        let two_x2 = x.mul(x).mul(&Dy::from_int(2.into()));
        let four_x2 = two_x2.mul(&Dy::from_int(2.into()));
        let mut term = x.clone();
        let mut sum = Dy::zero();
        let mut n = 0u64;
        loop {
            sum = sum.add(&term).round(w, upper);
            term = term.mul(&two_x2).div_int(2 * n + 3, w, upper);
            n += 1;
            // Once 4x² <= 2n+3 every later ratio is at most 1/2: the tail is <= 2·term.
            if four_x2 <= Dy::from_int((2 * n + 3).into())
                && term.magnitude() < sum.magnitude() - bits as i64 - 8
            {
                break;
            }
        }
        if upper {
            sum.add(&term.mul(&Dy::from_int(2.into()))).round(w, true)
        } else {
            sum
        }
    };
    let s_lo = series(&xl, false).to_rational();
    let s_hi = series(&xh, true).to_rational();
    let (xl, xh) = (xl.to_rational(), xh.to_rational());
    // e^(−x²) is decreasing in x: its lower bound at xh, upper at xl.
    let (el, _) = exp_point(&-(&xh * &xh), Prec::new(bits + 8))?;
    let (_, eh) = exp_point(&-(&xl * &xl), Prec::new(bits + 8))?;
    let w = Prec::new(bits + 8);
    let c = Num::from_int(2).div(&sqrt(&pi(w), w)?, w)?;
    let e = Num::range(el, eh, w);
    let series = Num::range(s_lo, s_hi, w);
    let v = c.mul(&e, w)?.mul(&series, w)?;
    let (lo, hi) = v.bounds().expect("finite");
    Ok((down(&lo, bits).min(int(1)), up(&hi, bits).min(int(1))))
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
    // Small x: the series x − x³/3 + 2x⁵/15 − … alternates with decreasing terms, so
    // x − x³/3 <= tanh x <= x − x³/3 + 2x⁵/15; relatively tight once x⁴ < 2^−bits.
    if x.numer().bits() as i64 - x.denom().bits() as i64 <= -(bits as i64 / 4) - 2 {
        let x3 = x * x * x;
        let lo = x - &x3 / int(3);
        let hi = &lo + &x3 * x * x * rat(2, 15);
        return Ok((down(&lo, bits), up(&hi, bits)));
    }
    // 1 − tanh x < 2e^(−2x): tiny beyond 2x > (bits+2) ln 2.
    if x * int(2) > int(bits as i64 + 4) * rat(7, 10) {
        return Ok((int(1) - pow2(-(bits as i64) - 2), int(1)));
    }
    let w = Prec::new(bits + 4);
    let (el, eh) = exp_point(&(x * int(2)), w)?;
    // 1 − 2/(E + 1): E appears once, so interval arithmetic is tight.
    let e = Num::range(el, eh, w);
    let t = Num::from_int(1).sub(&Num::from_int(2).div(&e.add(&Num::from_int(1), w)?, w)?, w)?;
    Ok(outward(&t, bits))
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
        // σ(x) = e^x/(1 + e^x) >= e^x (1 − e^x).
        let (el, eh) = exp_point(x, Prec::new(bits + 4))?;
        let lo = Dy::round_rational(&el, bits + 8, false);
        let lo = lo
            .mul(&Dy::from_int(BigInt::one()).add(&Dy::round_rational(&eh, bits + 8, true).neg()));
        return Ok((lo.round(bits, false).to_rational(), up(&eh, bits)));
    }
    let w = Prec::new(bits + 4);
    let (el, eh) = exp_point(&-x, w)?;
    let e = Num::range(el, eh, w);
    let v = Num::from_int(1).div(&e.add(&Num::from_int(1), w)?, w)?;
    Ok(outward(&v, bits))
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
    let w = Prec::new(bits + 8);
    let a = Num::exact(x.clone()).mul(&sqrt(&Num::exact(rat(1, 2)), w)?, w)?;
    let (al, ah) = a.bounds().expect("finite");
    let (el, _) = erf_point(&al, Prec::new(bits + 4))?;
    let (_, eh) = erf_point(&ah, Prec::new(bits + 4))?;
    let v = Num::from_int(1)
        .add(&Num::range(el, eh, w), w)?
        .div(&Num::from_int(2), w)?;
    Ok(outward(&v, bits))
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
        crate::decimal::parse_decimal(s)
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
    fn small_arguments_keep_relative_accuracy() {
        let x = Num::exact(pow2(-1000));
        let t = tanh(&x, P).unwrap();
        assert_eq!(t.sign(), Some(std::cmp::Ordering::Greater));
        let (lo, hi) = t.bounds().unwrap();
        assert!(&hi - &lo < pow2(-1100));
        let l = log(&Num::exact(int(1) + pow2(-300)), P).unwrap();
        let (lo, _) = l.bounds().unwrap();
        assert!(lo > int(0), "log(1 + 2^-300) must be certainly positive");
        // A large root goes through exp/log, quickly.
        let r = pow(&Num::exact(rat(3, 7)), &rat(1, 100_000), P).unwrap();
        assert!(
            !r.contains(&int(1)) && r.compare(&Num::from_int(1)) == Some(std::cmp::Ordering::Less)
        );
    }

    #[test]
    fn domain_errors() {
        assert_eq!(log(&Num::from_int(0), P), Err(NumError::LogOfNonPositive));
        assert_eq!(sqrt(&Num::from_int(-1), P), Err(NumError::SqrtOfNegative));
        assert!(exp(&Num::from_int(1 << 21), P).is_err());
        // Very negative: a tiny enclosure, not an error.
        let tiny = exp(&Num::from_int(-(1 << 21)), P).unwrap();
        assert!(tiny.contains(&int(0)) && tiny.is_tight(120));
    }
}
