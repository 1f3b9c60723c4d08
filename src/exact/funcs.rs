//! Certified enclosures of the transcendental functions.
//!
//! Owns exp, log, sqrt (and rational roots), erf, Φ, tanh, sigmoid, the normal density, sin
//! and cos, and the constants π, ln 2, √π-related factors (cached per precision). Each point
//! function returns dyadic bounds `[lo, hi]` proven to contain the true value, computed in binary
//! fixed point (an integer `N` stands for `N·2^-f`) with directed rounding: every lower bound
//! is rounded toward −∞ and every upper bound toward +∞, so no rounding-error analysis is
//! needed beyond each series' truncation bound, which is stated where it is used. Working in
//! integers and dyadics keeps gcds (`BigRational` normalisation) out of every inner loop.
//!
//! Invariants:
//! - exp, log, the roots, erf, Φ, tanh and σ are increasing, so an interval argument `[a, b]`
//!   maps to `[f(a).lo, f(b).hi]` (the normal density, which is not, uses interval arithmetic).
//! - An exact result only where it is exact (exp 0 = 1, log 1 = 0, roots of perfect powers,
//!   erf 0 = tanh 0 = 0, σ(0) = Φ(0) = 1/2, sin 0 = 0, cos 0 = 1).
//! - A bound sits on the true side of a limit it approaches: erf, tanh, σ, Φ stay below 1
//!   (and above −1 or 0 in the lower tail), and exp stays above 0. The tails are computed with
//!   *relative* precision (1 − erf x and 1 − Φ(x) from continued fractions, 1 − tanh x and
//!   1 − σ(x) from e^(−x)), so an enclosure of erf(10) excludes 1 as soon as the precision exceeds the
//!   45 digits of the gap. The only upper bound equal to 1 is the one the requested precision
//!   forces: when the gap is below 2^-(bits+2), no `bits`-bit number lies between the value
//!   and 1.
//! - exp refuses |x| > 2^21 ([`EXP_LIMIT`]) with [`NumError::TooLarge`] at once, before any
//!   allocation; up to it, e^x = 2^k·e^r keeps 2^k as a dyadic exponent, so e^(−10^6) costs no
//!   more than e^(−1) and is certainly positive.
//! - sin and cos (rotary angles, position × frequency): x = q·π/2 + r with q = round(x/(π/2))
//!   and π carried to log2 |q| + 4 bits beyond the working ones, so r's enclosure is a few
//!   units wide; Taylor series of both at r's midpoint (|r| < 0.8: alternating, decreasing
//!   terms, the remainder below the first omitted term), widened by r's radius, then the
//!   quadrant identities. Not monotone but 1-Lipschitz: an interval maps to the point enclosure
//!   at its midpoint widened by its radius. Endpoints lie in [−1, 1] and carry `bits + 2` bits,
//!   so a rational's enclosure is narrower than 2^-bits in absolute terms. |x| > 2^40
//!   ([`TRIG_LIMIT`]) is refused with [`NumError::TooLarge`].

use super::dyadic::Dy;
use super::num::{int, rat, Num, NumError, NumResult, Prec};
use num_bigint::BigInt;
use num_integer::{Integer, Roots};
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::cell::RefCell;
use std::collections::HashMap;

/// Extra bits computed beyond the requested precision: every error below is a few units in
/// the last of these bits, so the final outward rounding to `bits` dominates.
const GUARD: u64 = 10;

/// Largest |x| accepted by exp (and so by σ of a negative argument): e^(±2^21) is about
/// 2^(±3 million), whose exponent alone every later exact operation would pay for.
pub const EXP_LIMIT: i64 = 1 << 21;

/// Point bounds: `lo <= f(x) <= hi`.
type Bounds = (Dy, Dy);

/// Fixed-point bounds: `lo <= v·2^f <= hi` for a real `v`, with `f` known from context.
type Fix = (BigInt, BigInt);

// ---------------------------------------------------------------- fixed point

/// ⌊a / 2^s⌋ (num-bigint's `>>` rounds toward −∞, also for negative values).
fn shr_floor(a: &BigInt, s: u64) -> BigInt {
    a >> s
}

/// ⌈a / 2^s⌉.
fn shr_ceil(a: &BigInt, s: u64) -> BigInt {
    -((-a) >> s)
}

/// ⌊a·b / (2^s·n)⌋ for a, b >= 0 and n >= 1: a lower series term from the previous one
/// (owned, so the product's buffer is reused; nested floors compose).
fn term_down(a: BigInt, b: &BigInt, s: u64, n: u64) -> BigInt {
    ((a * b) >> s) / n
}

/// ⌈a·b / (2^s·n)⌉ for a, b >= 0 and n >= 1: an upper series term (nested ceilings compose).
fn term_up(a: BigInt, b: &BigInt, s: u64, n: u64) -> BigInt {
    let p = a * b;
    let exact = p.is_zero() || p.trailing_zeros().unwrap_or(0) >= s;
    let q = if exact { p >> s } else { (p >> s) + 1u32 };
    (q + (n - 1)) / n
}

/// ⌊x·2^f⌋ and ⌈x·2^f⌉ (one shift for a dyadic x, else one division).
fn fixed(x: &BigRational, f: u64) -> Fix {
    let (n, d) = (x.numer(), x.denom());
    let tz = d.trailing_zeros().unwrap_or(0);
    if d.bits() == tz + 1 {
        // d = 2^tz.
        if f >= tz {
            let v = n << (f - tz);
            return (v.clone(), v);
        }
        return (shr_floor(n, tz - f), shr_ceil(n, tz - f));
    }
    let num = n << f;
    (num.div_floor(d), num.div_ceil(d))
}

/// The dyadic bounds `[lo·2^-f, hi·2^-f]` of fixed-point bounds.
fn to_dy((lo, hi): Fix, f: u64) -> Bounds {
    (
        Dy::from_parts(lo, -(f as i64)),
        Dy::from_parts(hi, -(f as i64)),
    )
}

/// Products of positive bounds, rounded outward to `bits` bits.
fn mul_bounds(a: &Bounds, b: &Bounds, bits: u64) -> Bounds {
    (
        a.0.mul(&b.0).round(bits as u32, false),
        a.1.mul(&b.1).round(bits as u32, true),
    )
}

/// 1 − q for 0 < q < 1, rounded to `bits` bits toward +∞ (`up`) or −∞. Below 2^-(bits+2) the
/// gap cannot be shown at `bits` bits: the neighbours of 1 − q are 1 − 2^-bits and 1 (so an
/// upper bound of exactly 1 means only that the precision is too low to separate).
fn one_minus(q: &Dy, bits: u64, up: bool) -> Dy {
    if q.magnitude() < -(bits as i64) - 2 {
        return if up {
            Dy::one()
        } else {
            Dy::one().add(&Dy::pow2(-(bits as i64)).neg())
        };
    }
    Dy::one().add(&q.neg()).round(bits as u32, up)
}

/// `[1 − 2^-bits, 1]`: what [`one_minus`] gives for any gap below 2^-(bits+2); used where
/// such a bound on the gap is known without computing it.
fn saturated(bits: u64) -> Bounds {
    (Dy::one().add(&Dy::pow2(-(bits as i64)).neg()), Dy::one())
}

/// e/(1 + e) for e > 0, rounded to `bits` bits: σ(−x) for e = e^(−x). For tiny e,
/// e(1 − 2^-(bits+4)) <= e − e² <= e/(1 + e) < e, which avoids a 1 + e with millions of bits.
fn e_ratio(e: &Dy, bits: u64, up: bool) -> Dy {
    if e.magnitude() < -(bits as i64) - 4 {
        return if up {
            e.clone()
        } else {
            e.add(&e.mul_pow2(-(bits as i64) - 4).neg())
        };
    }
    e.div(&Dy::one().add(e), bits as u32 + 2, up)
}

/// x·y, without gcds when both are dyadic: a Range endpoint's denominator can be a
/// million-bit power of two, on which `BigRational`'s binary gcd is slow.
fn rmul(x: &BigRational, y: &BigRational) -> BigRational {
    match (Dy::exact(x), Dy::exact(y)) {
        (Some(a), Some(b)) => a.mul(&b).to_rational(),
        _ => x * y,
    }
}

/// The dyadic bounds of a rational: exact when dyadic, else rounded outward to `bits`.
fn rat_bounds(x: &BigRational, bits: u64) -> Bounds {
    match Dy::exact(x) {
        Some(d) => (d.clone(), d),
        None => (
            Dy::round_rational(x, bits as u32, false),
            Dy::round_rational(x, bits as u32, true),
        ),
    }
}

/// Apply a monotone increasing point enclosure to a number; `id` names the function (and
/// its parameter, as a root's degree) for the memory of [`remembered`].
fn monotone(
    x: &Num,
    prec: Prec,
    id: FuncId,
    f: impl Fn(&BigRational, u32) -> Result<Bounds, NumError>,
) -> NumResult {
    let name = id.0;
    match x {
        Num::NegInf => Err(NumError::NegInfinity(name)),
        Num::Exact(a) => {
            let (lo, hi) = remembered(id, a, prec.bits, &f)?;
            Ok(Num::range_dy(lo, hi, prec))
        }
        Num::Range { lo, hi } => {
            let (l, _) = remembered(id, &lo.to_rational(), prec.bits, &f)?;
            let (_, h) = remembered(id, &hi.to_rational(), prec.bits, &f)?;
            Ok(Num::range_dy(l, h, prec))
        }
    }
}

/// Point enclosures remembered per thread, at most this many (then forgotten all at once).
const REMEMBERED: usize = 1 << 16;

/// A point function: its name, and a parameter (a root's degree; 0 for none).
type FuncId = (&'static str, u32);

/// Numerator and denominator, not the rational itself: `Ratio`'s `Hash` expands a continued
/// fraction (it allows unreduced ratios), and a `BigRational` here is always reduced.
type PointKey = (FuncId, BigInt, BigInt, u32);

thread_local! {
    static POINTS: RefCell<HashMap<PointKey, Result<Bounds, NumError>>> =
        RefCell::new(HashMap::new());
}

/// `f(x, bits)`, computed once per thread: a check evaluates the same forward values at the
/// same point for every claim, and a point function is a pure function of its arguments.
fn remembered(
    id: FuncId,
    x: &BigRational,
    bits: u32,
    f: &impl Fn(&BigRational, u32) -> Result<Bounds, NumError>,
) -> Result<Bounds, NumError> {
    let key = (id, x.numer().clone(), x.denom().clone(), bits);
    if let Some(known) = POINTS.with(|m| m.borrow().get(&key).cloned()) {
        return known;
    }
    let value = f(x, bits);
    POINTS.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= REMEMBERED {
            m.clear();
        }
        m.insert(key, value.clone());
    });
    value
}

// ---------------------------------------------------------------- constants

thread_local! {
    static CONSTANTS: RefCell<HashMap<(&'static str, u64), Fix>> = RefCell::new(HashMap::new());
}

/// A constant's fixed-point bounds at `f` bits, computed once per thread at `f` rounded up
/// to a multiple of 64 (so the few precisions the checker uses share one computation).
fn constant(name: &'static str, f: u64, compute: fn(u64) -> Fix) -> Fix {
    let g = f.div_ceil(64) * 64;
    let cached = CONSTANTS.with(|c| c.borrow().get(&(name, g)).cloned());
    let (lo, hi) = cached.unwrap_or_else(|| {
        let b = compute(g);
        CONSTANTS.with(|c| c.borrow_mut().insert((name, g), b.clone()));
        b
    });
    (shr_floor(&lo, g - f), shr_ceil(&hi, g - f))
}

/// ln 2 = 2 atanh(1/3) = Σ 2/((2n+1)·3^(2n+1)). With p_n = ⌊2^(g+1)/3^(2n+1)⌋ (exactly that,
/// since nested floors of positive integer divisions compose), each computed term
/// ⌊p_n/(2n+1)⌋ is below the true one by less than 1; once p_n = 0 the rest of the series is
/// below (9/8)/(2n+1) < 2.
fn ln2_fix(f: u64) -> Fix {
    let g = f + 8;
    let mut p: BigInt = (BigInt::one() << (g + 1)) / 3u32;
    let mut sum = BigInt::zero();
    let mut n = 0u64;
    while !p.is_zero() {
        sum += &p / (2 * n + 1);
        p /= 9u32;
        n += 1;
    }
    let hi = &sum + BigInt::from(n + 2);
    (shr_floor(&sum, 8), shr_ceil(&hi, 8))
}

fn ln2(f: u64) -> Fix {
    constant("ln2", f, ln2_fix)
}

/// atan(1/k)·2^g up to the returned error: Σ (−1)^n ⌊p_n/(2n+1)⌋ with p_n = ⌊2^g/k^(2n+1)⌋;
/// each term is low by less than 1, and once p_n = 0 the alternating remainder is below 1.
fn atan_inv_fix(k: u32, g: u64) -> (BigInt, u64) {
    let mut p: BigInt = (BigInt::one() << g) / k;
    let mut sum = BigInt::zero();
    let mut n = 0u64;
    while !p.is_zero() {
        let t = &p / (2 * n + 1);
        if n.is_multiple_of(2) {
            sum += t;
        } else {
            sum -= t;
        }
        p /= k * k;
        n += 1;
    }
    (sum, n + 1)
}

/// π = 16 atan(1/5) − 4 atan(1/239) (Machin).
fn pi_fix(f: u64) -> Fix {
    let g = f + 32;
    let (a, ea) = atan_inv_fix(5, g);
    let (b, eb) = atan_inv_fix(239, g);
    let mid = a * 16u32 - b * 4u32;
    let err = BigInt::from(16 * ea + 4 * eb);
    (shr_floor(&(&mid - &err), 32), shr_ceil(&(&mid + &err), 32))
}

fn pi_fixed(f: u64) -> Fix {
    constant("pi", f, pi_fix)
}

/// √(c·π)·2^f from π's bounds: ⌊√(c·Π·2^f)⌋ and that + 1.
fn sqrt_c_pi(f: u64, c: u32) -> Fix {
    let (lo, hi) = pi_fixed(f + 4);
    let lo: BigInt = (lo * c) << (f - 4);
    let hi: BigInt = (hi * c) << (f - 4);
    (lo.sqrt(), hi.sqrt() + 1u32)
}

/// 2^(2f)/[lo, hi], rounded outward: bounds of 1/v from bounds of a positive v.
fn recip_fix((lo, hi): &Fix, f: u64) -> Fix {
    let one: BigInt = BigInt::one() << (2 * f);
    (one.div_floor(hi), one.div_ceil(lo))
}

/// 2/√π (erf's factor).
fn two_over_sqrt_pi_fix(f: u64) -> Fix {
    let s = sqrt_c_pi(f + 8, 1);
    let (lo, hi) = recip_fix(&s, f + 8);
    (shr_floor(&lo, 7), shr_ceil(&hi, 7))
}

/// 1/√π (erfc's factor).
fn inv_sqrt_pi_fix(f: u64) -> Fix {
    let s = sqrt_c_pi(f + 8, 1);
    let (lo, hi) = recip_fix(&s, f + 8);
    (shr_floor(&lo, 8), shr_ceil(&hi, 8))
}

/// 1/√(2π) (the normal density's factor).
fn inv_sqrt_2pi_fix(f: u64) -> Fix {
    let s = sqrt_c_pi(f + 8, 2);
    let (lo, hi) = recip_fix(&s, f + 8);
    (shr_floor(&lo, 8), shr_ceil(&hi, 8))
}

/// √(2/π) (the tanh form of GELU): 2·(1/√(2π)).
fn sqrt_two_over_pi_fix(f: u64) -> Fix {
    let (lo, hi) = inv_sqrt_2pi_fix(f + 1);
    (lo, hi)
}

/// A cached constant as dyadic bounds good to `bits` bits.
fn constant_dy(name: &'static str, bits: u64, compute: fn(u64) -> Fix) -> Bounds {
    let f = bits + 4;
    to_dy(constant(name, f, compute), f)
}

fn constant_num(name: &'static str, prec: Prec, compute: fn(u64) -> Fix) -> Num {
    let (lo, hi) = constant_dy(name, prec.bits as u64 + GUARD, compute);
    Num::range_dy(lo, hi, prec)
}

pub fn pi(prec: Prec) -> Num {
    constant_num("pi", prec, pi_fix)
}

/// 2/√π, cached per precision (the derivative of erf is 2/√π · e^(−x²)).
pub fn two_over_sqrt_pi(prec: Prec) -> Num {
    constant_num("2/sqrt(pi)", prec, two_over_sqrt_pi_fix)
}

/// √(2/π), cached per precision (the tanh form of GELU).
pub fn sqrt_two_over_pi(prec: Prec) -> Num {
    constant_num("sqrt(2/pi)", prec, sqrt_two_over_pi_fix)
}

/// 1/√(2π), cached per precision (the normal density).
pub fn inv_sqrt_two_pi(prec: Prec) -> Num {
    constant_num("1/sqrt(2pi)", prec, inv_sqrt_2pi_fix)
}

// ---------------------------------------------------------------- exp

/// Halvings before the Taylor series: y/2^s needs about f/(s + log2 n) terms and s squarings
/// undo it; s ≈ √f/2 balances the two.
fn halvings(f: u64) -> u64 {
    f.sqrt() / 2
}

/// e^x for rational x, |x| <= 2^21.
///
/// Range reduction x = k·ln2 + r with k = round(x/ln2) exact and |r| <= ln2/2 (+ a float's
/// error): e^x = 2^k·e^r, where 2^k is only the exponent of the dyadic result. r is bounded
/// from ln 2's bounds (which side depends on k's sign), and e^r from the Taylor series on
/// r/2^s followed by s squarings. The lower bound is positive whatever x.
fn exp_point(x: &BigRational, bits: u32) -> Result<Bounds, NumError> {
    if x.is_zero() {
        return Ok((Dy::one(), Dy::one()));
    }
    // |x| >= 2^(numer bits − denom bits − 1): the bit lengths settle most cases at once.
    let beyond = x.numer().bits() > x.denom().bits() + 22 || x.abs() > int(EXP_LIMIT);
    if beyond {
        return Err(NumError::TooLarge(format!(
            "exp of an argument of magnitude above 2^21 ({:e}): the result is beyond 2^(±3 million)",
            x.to_f64().unwrap_or(f64::INFINITY)
        )));
    }
    let k = (x.to_f64().unwrap_or(0.0) / std::f64::consts::LN_2).round() as i64;
    let w = bits as u64 + GUARD;
    let s = halvings(w);
    let f = w + s + 8;
    let (xl, xh) = fixed(x, f);
    let (rl, rh) = if k == 0 {
        (xl, xh)
    } else {
        // ln 2 to f + 24 bits: k·ln2 (|k| < 2^22) stays within a few units at f bits.
        let (ll, lh) = ln2(f + 24);
        let kk = BigInt::from(k);
        // The bounds of k·ln2 are k·[ll, lh] for k > 0, k·[lh, ll] for k < 0.
        let (kl, kh) = if k > 0 {
            (&kk * &ll, &kk * &lh)
        } else {
            (&kk * &lh, &kk * &ll)
        };
        (xl - shr_ceil(&kh, 24), xh - shr_floor(&kl, 24))
    };
    // k = round(x/ln2) from a float: |r| <= ln2/2 + 2^-30 < 1/2, which the series' tail
    // bound needs; checked, since a wrong k would make that bound unsound.
    let half = BigInt::one() << (f - 1);
    assert!(
        rl.abs() < half && rh.abs() < half,
        "exp: range reduction left |r| >= 1/2"
    );
    let (el, eh) = exp_reduced(&rl, &rh, f, s);
    Ok((
        Dy::from_parts(el, k - f as i64),
        Dy::from_parts(eh, k - f as i64),
    ))
}

/// Bounds of e^r·2^f for r in [rl, rh]·2^-f, |r| <= 1/2. A negative r goes through
/// e^r = 1/e^(−r), so the series only ever sums positive terms.
fn exp_reduced(rl: &BigInt, rh: &BigInt, f: u64, s: u64) -> Fix {
    let one2: BigInt = BigInt::one() << (2 * f);
    if !rl.is_negative() {
        exp_positive(rl, rh, f, s)
    } else if !rh.is_positive() {
        let (a, b) = exp_positive(&-rh, &-rl, f, s);
        (one2.div_floor(&b), one2.div_ceil(&a))
    } else {
        // r straddles 0 (x itself within a few units of 0): e^r in [1/e^m, e^m], m = max |r|.
        let m = (-rl).max(rh.clone());
        let (_, b) = exp_positive(&BigInt::zero(), &m, f, s);
        (one2.div_floor(&b), b)
    }
}

/// Bounds of e^y·2^f for 0 <= yl <= y <= yh, y <= 1/2 (·2^f): Σ (y/2^s)^n/n! with lower terms
/// rounded down and upper terms up, then s squarings. The ratio of consecutive terms is
/// (y/2^s)/(n+1) <= 1/2, so the tail after a term is at most that term again.
fn exp_positive(yl: &BigInt, yh: &BigInt, f: u64, s: u64) -> Fix {
    let shift = f + s;
    let one = BigInt::one() << f;
    let (mut tl, mut th) = (one.clone(), one);
    let (mut sl, mut sh) = (BigInt::zero(), BigInt::zero());
    let mut n = 0u64;
    loop {
        sl += &tl;
        sh += &th;
        n += 1;
        tl = term_down(tl, yl, shift, n);
        th = term_up(th, yh, shift, n);
        if th.bits() <= 1 {
            sh += &th << 1;
            break;
        }
    }
    for _ in 0..s {
        sl = term_down(sl.clone(), &sl, f, 1);
        sh = term_up(sh.clone(), &sh, f, 1);
    }
    (sl, sh)
}

pub fn exp(x: &Num, prec: Prec) -> NumResult {
    if x.is_neg_inf() {
        return Ok(Num::from_int(0));
    }
    monotone(x, prec, ("exp", 0), exp_point)
}

/// e^y − 1 for rational 0 < y <= 1/2, with relative precision (y·Σ y^n/(n+1)!): tanh of a
/// small x without the cancellation of 1 − 2/(e^(2x) + 1). Ratios y/(n+2) <= 1/4 bound the
/// tail by the last term.
fn expm1_small(y: &BigRational, w: u64) -> Bounds {
    let f = w + 8;
    let (yl, yh) = fixed(y, f);
    let one = BigInt::one() << f;
    let (mut tl, mut th) = (one.clone(), one);
    let (mut sl, mut sh) = (BigInt::zero(), BigInt::zero());
    let mut n = 0u64;
    loop {
        sl += &tl;
        sh += &th;
        tl = term_down(tl, &yl, f, n + 2);
        th = term_up(th, &yh, f, n + 2);
        n += 1;
        if th.bits() <= 1 {
            sh += &th << 1;
            break;
        }
    }
    let sum = to_dy((sl, sh), f);
    mul_bounds(&rat_bounds(y, f), &sum, f)
}

// ---------------------------------------------------------------- log

/// log x for rational x > 0: x = 2^k·m with m in [2/3, 4/3], log x = k·ln2 + 2·atanh(z) with
/// z = (m−1)/(m+1) in [−1/5, 1/7]. For k = 0 the fixed point is scaled to z's size, so
/// log(1 + tiny) keeps its relative accuracy.
fn log_point(x: &BigRational, bits: u32) -> Result<Bounds, NumError> {
    if !x.is_positive() {
        return Err(NumError::LogOfNonPositive);
    }
    if x.is_one() {
        return Ok((Dy::zero(), Dy::zero()));
    }
    let (n, d) = (x.numer(), x.denom());
    let mut k = n.bits() as i64 - d.bits() as i64;
    // m = a/b in (1/2, 2), then moved into [2/3, 4/3].
    let (mut a, mut b) = if k >= 0 {
        (n.clone(), d << k as u64)
    } else {
        (n << (-k) as u64, d.clone())
    };
    if &a * 3u32 > &b * 4u32 {
        b <<= 1;
        k += 1;
    } else if &a * 3u32 < &b * 2u32 {
        a <<= 1;
        k -= 1;
    }
    let num = &a - &b;
    let den = &a + &b;
    let w = bits as u64 + GUARD;
    // |z| >= 2^(zmag − 1): for k = 0 the result is about 2z, so carry bits below z's size.
    let zmag = num.bits() as i64 - den.bits() as i64;
    let f = w + 8 + if k == 0 { (-zmag).max(0) as u64 } else { 0 };
    let z = BigRational::new_raw(num.abs(), den);
    let (zl, zh) = fixed(&z, f);
    let (al, ah) = atanh_fixed(&zl, &zh, f);
    // log m = 2 atanh z; atanh is odd.
    let (ml, mh) = if num.is_negative() {
        (-(ah << 1u32), -(al << 1u32))
    } else {
        (al << 1u32, ah << 1u32)
    };
    let (kl, kh) = if k == 0 {
        (BigInt::zero(), BigInt::zero())
    } else {
        let extra = 4 + 64 - k.unsigned_abs().leading_zeros() as u64;
        let (ll, lh) = ln2(f + extra);
        let kk = BigInt::from(k);
        let (lo, hi) = if k > 0 {
            (&kk * &ll, &kk * &lh)
        } else {
            (&kk * &lh, &kk * &ll)
        };
        (shr_floor(&lo, extra), shr_ceil(&hi, extra))
    };
    Ok(to_dy((kl + ml, kh + mh), f))
}

/// Bounds of atanh(z)·2^f for 0 <= zl <= z·2^f <= zh, z <= 1/5: Σ z^(2j+1)/(2j+1), positive
/// terms; the tail after a power p is below p·Σ z^(2i) <= p·25/24 < 2p.
fn atanh_fixed(zl: &BigInt, zh: &BigInt, f: u64) -> Fix {
    let z2l = term_down(zl.clone(), zl, f, 1);
    let z2h = term_up(zh.clone(), zh, f, 1);
    let (mut pl, mut ph) = (zl.clone(), zh.clone());
    let (mut sl, mut sh) = (BigInt::zero(), BigInt::zero());
    let mut j = 0u64;
    loop {
        sl += &pl / (2 * j + 1);
        sh += (&ph + 2 * j) / (2 * j + 1);
        pl = term_down(pl, &z2l, f, 1);
        ph = term_up(ph, &z2h, f, 1);
        j += 1;
        if ph.bits() <= 1 {
            sh += &ph << 1;
            break;
        }
    }
    (sl, sh)
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
    monotone(x, prec, ("log", 0), log_point)
}

// ---------------------------------------------------------------- roots

/// x^(1/q) for rational x. A dyadic x = m·2^e = (m·2^r)·2^(q·j), 0 <= r < q, has the root
/// 2^j·(m·2^r)^(1/q): an integer root of the small mantissa (exact for a perfect power),
/// whatever the exponent. Otherwise x^(1/q) = (n·d^(q−1))^(1/q)/d, scaled by 2^(q·s) for s
/// fractional bits. The integer root r = ⌊·⌋ brackets the value in [r, r + 1].
fn root_point(x: &BigRational, q: u32, bits: u32) -> Result<Bounds, NumError> {
    if x.is_negative() {
        if q.is_multiple_of(2) {
            return Err(if q == 2 {
                NumError::SqrtOfNegative
            } else {
                NumError::BadPower(format!("an even root (1/{q}) of a negative number"))
            });
        }
        let (l, h) = root_point(&-x, q, bits)?;
        return Ok((h.neg(), l.neg()));
    }
    if x.is_zero() {
        return Ok((Dy::zero(), Dy::zero()));
    }
    let w = bits as u64 + GUARD;
    if let Some(d) = Dy::exact(x) {
        let (m, e) = d.parts();
        let (j, r) = (e.div_euclid(q as i64), e.rem_euclid(q as i64));
        let c: BigInt = m << r as u64;
        let root = c.nth_root(q);
        if num_traits::pow::Pow::pow(&root, q) == c {
            let v = Dy::from_parts(root, j);
            return Ok((v.clone(), v));
        }
        let s = (w as i64 + 2 - c.bits() as i64 / q as i64).max(0) as u64;
        let r = (&c << (q as u64 * s)).nth_root(q);
        let e = j - s as i64;
        return Ok((Dy::from_parts(r.clone(), e), Dy::from_parts(r + 1u32, e)));
    }
    let (n, d) = (x.numer(), x.denom());
    let s = w + d.bits();
    let scaled: BigInt = (n * num_traits::pow::Pow::pow(d, q - 1)) << (q as u64 * s);
    let r = scaled.nth_root(q);
    let denom: BigInt = d << s;
    let lo = BigRational::new_raw(r.clone(), denom.clone());
    let hi = BigRational::new_raw(r + 1u32, denom);
    Ok((
        Dy::round_rational(&lo, w as u32, false),
        Dy::round_rational(&hi, w as u32, true),
    ))
}

/// The q-th root of a rational whose numerator and denominator are perfect q-th powers
/// (an odd root of a negative number keeps its sign).
fn exact_root(x: &BigRational, q: u32) -> Option<BigRational> {
    let (n, d) = (x.numer().abs(), x.denom());
    let (rn, rd) = (n.nth_root(q), d.nth_root(q));
    let perfect = num_traits::pow::Pow::pow(&rn, q) == n && num_traits::pow::Pow::pow(&rd, q) == *d;
    perfect.then(|| BigRational::new_raw(if x.is_negative() { -rn } else { rn }, rd))
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
    if let Num::Exact(a) = x {
        // A non-dyadic perfect power (4/9) is exact too; dyadic ones are found by root_point.
        let even_of_negative = a.is_negative() && q.is_multiple_of(2);
        if !even_of_negative && Dy::exact(a).is_none() {
            if let Some(r) = exact_root(a, q) {
                return Ok(Num::Exact(r));
            }
        }
    }
    monotone(x, prec, ("sqrt", q), |a, bits| root_point(a, q, bits))
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

// ---------------------------------------------------------------- erf, Φ, tanh, sigmoid

/// x·e^(−t)·Σ (2t)^n/(1·3···(2n+1)) for rational x > 0 and t = x² or x²/2, as bounds good to
/// `w` bits: (√π/2)·erf x for t = x², √(2π)·(Φ(x) − 1/2) for t = x²/2. All terms are
/// positive; once 2·(2t) <= 2n+3 every later ratio 2t/(2m+3) is at most 1/2, so the tail is
/// at most the current term again. e^(−t) is computed once, at the exact t.
fn gauss_series(x: &BigRational, t: &BigRational, w: u64) -> Result<Bounds, NumError> {
    let f = w + 8;
    let (vl, vh) = fixed(&rmul(t, &int(2)), f);
    let one = BigInt::one() << f;
    let (mut tl, mut th) = (one.clone(), one);
    let (mut sl, mut sh) = (BigInt::zero(), BigInt::zero());
    // Ratios v/(2n+3) are at most 1/2 from n = n_half on (2v <= 2n+3).
    let n_half = (&vh >> f).to_u64().unwrap_or(u64::MAX / 4) + 1;
    let mut n = 0u64;
    loop {
        sl += &tl;
        sh += &th;
        let d = 2 * n + 3;
        tl = term_down(tl, &vl, f, d);
        th = term_up(th, &vh, f, d);
        n += 1;
        // The sum is at least 1 (2^f here): stop when the tail is below 2^-(w+4) of it.
        if n >= n_half && th.bits() + w + 5 <= sl.bits() {
            sh += &th << 1;
            break;
        }
    }
    let (el, eh) = exp_point(&-t, w as u32)?;
    let prod = mul_bounds(&rat_bounds(x, f), &(el, eh), f);
    Ok(mul_bounds(&prod, &to_dy((sl, sh), f), f))
}

/// The continued fraction 1/(x + c/(x + 2c/(x + 3c/(x + …)))) for rational x > 0: with
/// c = 1/2 it is √π·e^(x²)·erfc x (Abramowitz & Stegun 7.1.14), with c = 1 the Mills ratio
/// (1 − Φ(x))/φ(x) (A&S 26.2.14). Every partial numerator and denominator is positive, so
/// the value lies between any two consecutive convergents (it is a monotone Möbius function
/// of the positive tail, which the two convergents replace by 0 and by ∞). Convergents are
/// exact integer ratios A_n/B_n (the fraction is scaled by x's denominator so that every
/// element is an integer), and |C_n − C_(n−1)| = Π a_i/(B_n·B_(n−1)) says when to stop.
/// It converges fast for large x: used where the series would need many terms.
fn mills_cf(x: &BigRational, half: bool, w: u64) -> Bounds {
    let (p, q) = (x.numer(), x.denom());
    // Equivalence transform by c_i = 2q (c = 1/2) or q (c = 1): b = 2p, a_1 = 2q,
    // a_i = 2q²·(i−1); or b = p, a_1 = q, a_i = q²·(i−1).
    let (b, a1, q2) = if half {
        (p << 1u32, q << 1u32, (q * q) << 1u32)
    } else {
        (p.clone(), q.clone(), q * q)
    };
    let (mut a_prev, mut a_cur) = (BigInt::one(), BigInt::zero()); // A_(−1), A_0
    let (mut b_prev, mut b_cur) = (BigInt::zero(), BigInt::one()); // B_(−1), B_0
    let mut prod = BigInt::one();
    let mut i = 0u64;
    loop {
        i += 1;
        let ai = if i == 1 { a1.clone() } else { &q2 * (i - 1) };
        let a_next = &b * &a_cur + &ai * &a_prev;
        let b_next = &b * &b_cur + &ai * &b_prev;
        prod *= &ai;
        a_prev = std::mem::replace(&mut a_cur, a_next);
        b_prev = std::mem::replace(&mut b_cur, b_next);
        // Stop once Π a_i·2^(w+4) < A_i·B_(i−1), i.e. the bracket is 2^-(w+4) of C_i.
        if i >= 2 && prod.bits() + w + 6 <= a_cur.bits() + b_prev.bits() {
            break;
        }
    }
    // A_i B_(i−1) − A_(i−1) B_i = (−1)^(i−1) Π a: odd convergents are the upper bounds.
    let ((ln, ld), (hn, hd)) = if i % 2 == 1 {
        ((a_prev, b_prev), (a_cur, b_cur))
    } else {
        ((a_cur, b_cur), (a_prev, b_prev))
    };
    let bits = w as u32 + 8;
    (
        Dy::from_int(ln).div(&Dy::from_int(ld), bits, false),
        Dy::from_int(hn).div(&Dy::from_int(hd), bits, true),
    )
}

/// erfc x = e^(−x²)/√π · K(x) for rational x > 0, with relative precision (so 1 − erfc x is
/// strictly below 1).
fn erfc_tail(x: &BigRational, w: u64) -> Result<Bounds, NumError> {
    let k = mills_cf(x, true, w);
    let e = exp_point(&-rmul(x, x), w as u32)?;
    let c = constant_dy("1/sqrt(pi)", w + 8, inv_sqrt_pi_fix);
    Ok(mul_bounds(&mul_bounds(&c, &e, w + 8), &k, w + 8))
}

/// 1 − Φ(x) = φ(x)·R(x) for rational x > 0, with relative precision.
fn normal_tail(x: &BigRational, w: u64) -> Result<Bounds, NumError> {
    let r = mills_cf(x, false, w);
    let e = exp_point(&-rmul(&rmul(x, x), &rat(1, 2)), w as u32)?;
    let c = constant_dy("1/sqrt(2pi)", w + 8, inv_sqrt_2pi_fix);
    Ok(mul_bounds(&mul_bounds(&c, &e, w + 8), &r, w + 8))
}

/// Where the series gives way to the continued fraction: the series needs about e·2t terms,
/// the fraction about w²/(11·2t); they cross near 8t = w (t = x² for erf, x²/2 for Φ).
fn use_fraction(t: &BigRational, w: u64) -> bool {
    t * int(8) >= int(w as i64)
}

/// erf x for rational x: the series for small x, 1 − erfc x beyond.
fn erf_point(x: &BigRational, bits: u32) -> Result<Bounds, NumError> {
    if x.is_zero() {
        return Ok((Dy::zero(), Dy::zero()));
    }
    if x.is_negative() {
        let (l, h) = erf_point(&-x, bits)?;
        return Ok((h.neg(), l.neg()));
    }
    let w = bits as u64 + GUARD;
    let u = rmul(x, x);
    // erfc x <= e^(−x²) < 2^-(w+2) once x² > w + 2: no w-bit number lies strictly between.
    if u > int(w as i64 + 2) {
        return Ok(saturated(w));
    }
    if !use_fraction(&u, w) {
        let s = gauss_series(x, &u, w)?;
        let c = constant_dy("2/sqrt(pi)", w + 8, two_over_sqrt_pi_fix);
        let (lo, hi) = mul_bounds(&c, &s, w + 8);
        // Here erfc x > 2^(−0.2w) dwarfs the series' 2^-w error; checked, not assumed.
        if hi < Dy::one() {
            return Ok((lo, hi));
        }
    }
    let (cl, ch) = erfc_tail(x, w)?;
    Ok((one_minus(&ch, w, false), one_minus(&cl, w, true)))
}

pub fn erf(x: &Num, prec: Prec) -> NumResult {
    monotone(x, prec, ("erf", 0), erf_point)
}

/// Φ(x) for rational x: 1/2 ± the series for small |x|, the tail φ(x)·R(x) beyond (as is for
/// x < 0, so Φ(−15) = 3.67e-51 has relative precision; 1 − it for x > 0).
fn phi_point(x: &BigRational, bits: u32) -> Result<Bounds, NumError> {
    if x.is_zero() {
        let half = Dy::pow2(-1);
        return Ok((half.clone(), half));
    }
    let w = bits as u64 + GUARD;
    let ax = x.abs();
    let t = rmul(&rmul(&ax, &ax), &rat(1, 2));
    let upper = x.is_positive();
    // 1 − Φ(x) <= e^(−x²/2)/2 < 2^-(w+2) once x²/2 > w + 2.
    if upper && t > int(w as i64 + 2) {
        return Ok(saturated(w));
    }
    if !use_fraction(&t, w) {
        // Φ(−x) = 1/2 − D loses log2(1/Φ(−x)) <= 1.45·x²/2 + 8 bits to cancellation:
        // carry them.
        let ws = if upper {
            w
        } else {
            w + 16 + (t.to_f64().unwrap_or(0.0) * 1.5).ceil() as u64
        };
        let s = gauss_series(&ax, &t, ws)?;
        let c = constant_dy("1/sqrt(2pi)", ws + 8, inv_sqrt_2pi_fix);
        let (dl, dh) = mul_bounds(&c, &s, ws + 8);
        let half = Dy::pow2(-1);
        let (lo, hi) = if upper {
            (half.add(&dl), half.add(&dh))
        } else {
            (half.add(&dh.neg()), half.add(&dl.neg()))
        };
        if lo.is_positive() && hi < Dy::one() {
            return Ok((lo.round(ws as u32, false), hi.round(ws as u32, true)));
        }
    }
    let (ql, qh) = normal_tail(&ax, w)?;
    Ok(if upper {
        (one_minus(&qh, w, false), one_minus(&ql, w, true))
    } else {
        (ql, qh)
    })
}

pub fn phi(x: &Num, prec: Prec) -> NumResult {
    monotone(x, prec, ("Phi", 0), phi_point)
}

/// tanh x for rational x: e^(2x) − 1 over e^(2x) + 1 for small x (relative precision near
/// 0), 1 − 2e^(−2x)/(1 + e^(−2x)) beyond (strictly below 1); odd.
fn tanh_point(x: &BigRational, bits: u32) -> Result<Bounds, NumError> {
    if x.is_zero() {
        return Ok((Dy::zero(), Dy::zero()));
    }
    if x.is_negative() {
        let (l, h) = tanh_point(&-x, bits)?;
        return Ok((h.neg(), l.neg()));
    }
    let w = bits as u64 + GUARD;
    // 1 − tanh x < 2e^(−2x) < 2^-(w+2) once 2x > w + 3.
    let two_x = rmul(x, &int(2));
    if two_x > int(w as i64 + 3) {
        return Ok(saturated(w));
    }
    if x <= &rat(1, 4) {
        // tanh x = M/(M + 2) with M = e^(2x) − 1, increasing in M.
        let (ml, mh) = expm1_small(&two_x, w);
        let two = Dy::from_int(2.into());
        let bits = w as u32 + 4;
        return Ok((
            ml.div(&ml.add(&two), bits, false),
            mh.div(&mh.add(&two), bits, true),
        ));
    }
    // 1 − tanh x = 2·E/(1 + E) with E = e^(−2x), increasing in E.
    let (el, eh) = exp_point(&-two_x, w as u32)?;
    let (ql, qh) = (
        e_ratio(&el, w, false).mul_pow2(1),
        e_ratio(&eh, w, true).mul_pow2(1),
    );
    Ok((one_minus(&qh, w, false), one_minus(&ql, w, true)))
}

pub fn tanh(x: &Num, prec: Prec) -> NumResult {
    monotone(x, prec, ("tanh", 0), tanh_point)
}

/// σ(x) = 1/(1 + e^(−x)): for x > 0 as 1 − σ(−x) with σ(−x) = E/(1 + E), E = e^(−x)
/// (strictly below 1); for x < 0 as E/(1 + E) with E = e^x (relative precision, strictly
/// positive; an error below −2^21, like exp).
fn sigmoid_point(x: &BigRational, bits: u32) -> Result<Bounds, NumError> {
    if x.is_zero() {
        let half = Dy::pow2(-1);
        return Ok((half.clone(), half));
    }
    let w = bits as u64 + GUARD;
    if x.is_positive() {
        // 1 − σ(x) < e^(−x) < 2^-(w+2) once x > w + 2.
        if x > &int(w as i64 + 2) {
            return Ok(saturated(w));
        }
        let (el, eh) = exp_point(&-x, w as u32)?;
        return Ok((
            one_minus(&e_ratio(&eh, w, true), w, false),
            one_minus(&e_ratio(&el, w, false), w, true),
        ));
    }
    let (el, eh) = exp_point(x, w as u32)?;
    Ok((e_ratio(&el, w, false), e_ratio(&eh, w, true)))
}

pub fn sigmoid(x: &Num, prec: Prec) -> NumResult {
    monotone(x, prec, ("sigmoid", 0), sigmoid_point)
}

/// The standard normal density φ(x) = e^(−x²/2)/√(2π) (for derivatives of Φ). Not monotone:
/// x² of an interval is formed by interval arithmetic first (tight through 0).
pub fn normal_density(x: &Num, prec: Prec) -> NumResult {
    let half_sq = x.powi(2, prec)?.div(&Num::from_int(-2), prec)?;
    exp(&half_sq, prec)?.mul(&inv_sqrt_two_pi(prec), prec)
}

// ---------------------------------------------------------------- sin, cos

/// Largest |x| accepted by sin and cos: the reduction carries about log2 |x| extra bits of π,
/// and beyond 2^40 an argument is no rotary angle but a mistake.
pub const TRIG_LIMIT: i64 = 1 << 40;

/// Bounds of sin y·2^f and cos y·2^f at the exact point y = m·2^-f, |y| <= 1: the Taylor
/// series Σ (−1)^j y^(2j+1)/(2j+1)! and Σ (−1)^j y^(2j)/(2j)! on |y|, lower terms rounded
/// down and upper terms up (a positive term adds its lower bound to the lower sum, a negative
/// one subtracts its upper bound). The ratio of consecutive terms |y|/(n+1) is at most 1, so
/// both series alternate with decreasing terms from the start: once the next term t_n is at
/// most 1 (·2^-f), each remainder is below t_n (the first omitted term of either series is
/// t_n or t_(n+1) <= t_n), and both sums are widened by it on both sides.
fn sin_cos_fixed(m: &BigInt, f: u64) -> (Fix, Fix) {
    let a = m.abs();
    let one = BigInt::one() << f;
    let (mut tl, mut th) = (one.clone(), one);
    let (mut sl, mut sh) = (BigInt::zero(), BigInt::zero());
    let (mut cl, mut ch) = (BigInt::zero(), BigInt::zero());
    let mut n = 0u64;
    loop {
        match n % 4 {
            0 => {
                cl += &tl;
                ch += &th;
            }
            1 => {
                sl += &tl;
                sh += &th;
            }
            2 => {
                cl -= &th;
                ch -= &tl;
            }
            _ => {
                sl -= &th;
                sh -= &tl;
            }
        }
        n += 1;
        tl = term_down(tl, &a, f, n);
        th = term_up(th, &a, f, n);
        if th.bits() <= 1 {
            sl -= &th;
            sh += &th;
            cl -= &th;
            ch += &th;
            break;
        }
    }
    // sin is odd, cos even.
    let sin = if m.is_negative() {
        (-sh, -sl)
    } else {
        (sl, sh)
    };
    (sin, (cl, ch))
}

/// [lo, hi] ∩ [−1, 1] (both functions' range: a bound past it is only rounding).
fn clamp_unit((lo, hi): Bounds) -> Bounds {
    (lo.max(Dy::one().neg()), hi.min(Dy::one()))
}

/// sin x and cos x for rational x, |x| <= 2^40.
///
/// Range reduction x = q·π/2 + r with q = round(x/(π/2)) from a float (exact, an integer)
/// and |r| <= π/4 + 2^-10: π is taken to f + e bits, e = 4 + bits of |q|, so q·π/2 is
/// within a unit at f bits and r's enclosure [rl, rh] is a few units wide. sin and cos are
/// 1-Lipschitz: both are evaluated by the series at the exact midpoint m of [rl, rh] and
/// widened by the radius. The quadrant q mod 4 maps (sin r, cos r) to (sin x, cos x). Every
/// step is symmetric, so sin(−x) and cos(−x) are exactly −sin x and cos x as enclosures.
fn sin_cos_point(x: &BigRational, bits: u32) -> Result<(Bounds, Bounds), NumError> {
    if x.is_zero() {
        return Ok(((Dy::zero(), Dy::zero()), (Dy::one(), Dy::one())));
    }
    // |x| >= 2^(numer bits − denom bits − 1): the bit lengths settle most cases at once.
    let beyond = x.numer().bits() > x.denom().bits() + 41 || x.abs() > int(TRIG_LIMIT);
    if beyond {
        return Err(NumError::TooLarge(format!(
            "sin/cos of an argument of magnitude above 2^40 ({:e})",
            x.to_f64().unwrap_or(f64::INFINITY)
        )));
    }
    let w = bits as u64 + GUARD;
    // Each computed term is off by less than 3 units (the error e_n < e_(n−1)·|r|/n + 1 + 1/n
    // of two nested roundings stays below 2.3 for |r| < 0.8), and there are fewer than f
    // terms (t_n <= 1/n!): with the tail and r's radius, the width is below 8f units, which
    // f = w + 8 + log2 w keeps below 2^-(w+2).
    let f = w + 8 + (64 - w.leading_zeros() as u64);
    let q = (x.to_f64().unwrap_or(0.0) / std::f64::consts::FRAC_PI_2).round() as i64;
    let (xl, xh) = fixed(x, f);
    let (rl, rh) = if q == 0 {
        (xl, xh)
    } else {
        // |q| < 2^40, so |q|·(the width of π/2 at f + e bits) <= 2^-4 units at f bits.
        let e = 4 + (64 - q.unsigned_abs().leading_zeros() as u64);
        // π/2·2^(f+e) = π·2^(f+e−1).
        let (pl, ph) = pi_fixed(f + e - 1);
        let qq = BigInt::from(q);
        // The bounds of q·π/2 are q·[pl, ph] for q > 0, q·[ph, pl] for q < 0.
        let (kl, kh) = if q > 0 {
            (&qq * &pl, &qq * &ph)
        } else {
            (&qq * &ph, &qq * &pl)
        };
        (xl - shr_ceil(&kh, e), xh - shr_floor(&kl, e))
    };
    // q from a float: |x/(π/2) − q| <= 1/2 + 2^-11 for |x| <= 2^40, so |r| < 0.79; the
    // series' tail bound needs |r| <= 1. Checked, since a wrong q would make it unsound.
    let one = BigInt::one() << f;
    assert!(
        rl.abs() < one && rh.abs() < one,
        "sin/cos: range reduction left |r| >= 1"
    );
    // At f + 1 bits the midpoint of [rl, rh] is the integer m = rl + rh and the radius
    // rad = rh − rl, both exact (and odd in x: −x gives −m and the same radius).
    let m: BigInt = &rl + &rh;
    let rad = &rh - &rl;
    let f = f + 1;
    let ((sl, sh), (cl, ch)) = sin_cos_fixed(&m, f);
    let (sl, sh, cl, ch) = (sl - &rad, sh + &rad, cl - &rad, ch + &rad);
    let (s, c) = match q.rem_euclid(4) {
        0 => ((sl, sh), (cl, ch)),
        // sin(r + π/2) = cos r, cos(r + π/2) = −sin r.
        1 => ((cl, ch), (-sh, -sl)),
        2 => ((-sh, -sl), (-ch, -cl)),
        // sin(r + 3π/2) = −cos r, cos(r + 3π/2) = sin r.
        _ => ((-ch, -cl), (sl, sh)),
    };
    Ok((clamp_unit(to_dy(s, f)), clamp_unit(to_dy(c, f))))
}

fn sin_point(x: &BigRational, bits: u32) -> Result<Bounds, NumError> {
    Ok(sin_cos_point(x, bits)?.0)
}

fn cos_point(x: &BigRational, bits: u32) -> Result<Bounds, NumError> {
    Ok(sin_cos_point(x, bits)?.1)
}

/// A 1-Lipschitz function with values in [−1, 1] (sin, cos) applied to a number. A point is
/// exact only at 0 (sin 0 = 0, cos 0 = 1: any other rational has a transcendental sine and
/// cosine). An interval [lo, hi] maps to the point enclosure at its midpoint m widened by its
/// radius r = (hi − lo)/2 (|f(y) − f(m)| <= |y − m| <= r), clamped to [−1, 1]; from r >= 2
/// that is all of [−1, 1], given without evaluating f at all (so a wide interval of huge
/// magnitude is no error). Endpoints are rounded outward to `bits + 2` significant bits, so
/// a rational's enclosure, whose unrounded width is below 2^-(bits+8), stays narrower than
/// 2^-bits after rounding (at `bits` bits the two roundings near ±1 alone could double it).
fn lipschitz_unit(
    x: &Num,
    prec: Prec,
    id: FuncId,
    at_zero: i64,
    f: fn(&BigRational, u32) -> Result<Bounds, NumError>,
) -> NumResult {
    let out = Prec::new(prec.bits + 2);
    match x {
        Num::NegInf => Err(NumError::NegInfinity(id.0)),
        Num::Exact(a) if a.is_zero() => Ok(Num::from_int(at_zero)),
        Num::Exact(a) => {
            let (lo, hi) = remembered(id, a, prec.bits, &f)?;
            Ok(Num::range_dy(lo, hi, out))
        }
        Num::Range { lo, hi } => {
            let r = hi.add(&lo.neg()).mul_pow2(-1);
            if r >= Dy::from_int(2.into()) {
                return Ok(Num::range_dy(Dy::one().neg(), Dy::one(), out));
            }
            let m = lo.add(hi).mul_pow2(-1);
            let (l, h) = remembered(id, &m.to_rational(), prec.bits, &f)?;
            let (l, h) = clamp_unit((l.add(&r.neg()), h.add(&r)));
            Ok(Num::range_dy(l, h, out))
        }
    }
}

/// sin x, certified: exact 0 at 0, else an enclosure within [−1, 1] narrower than 2^-bits
/// for a rational x (plus the interval's width for an interval). |x| > 2^40
/// ([`TRIG_LIMIT`]) is refused with [`NumError::TooLarge`], −∞ with
/// [`NumError::NegInfinity`].
pub fn sin(x: &Num, prec: Prec) -> NumResult {
    lipschitz_unit(x, prec, ("sin", 0), 0, sin_point)
}

/// cos x, certified: exact 1 at 0, else as [`sin`].
pub fn cos(x: &Num, prec: Prec) -> NumResult {
    lipschitz_unit(x, prec, ("cos", 0), 1, cos_point)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    fn parse(s: &str) -> BigRational {
        match s.strip_prefix('-') {
            Some(rest) => -parse(rest),
            None => crate::decimal::parse_decimal(s).expect("a decimal"),
        }
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

    /// The enclosure contains `digits` up to its last digit (relative 1e-60), and is
    /// narrower than 2^-(bits−4) relative to the value.
    #[track_caller]
    fn contains_rel(n: &Num, digits: &str, bits: u32) {
        let v = parse(digits);
        let slack = v.abs() * parse("1e-60");
        let (lo, hi) = n.bounds().unwrap();
        assert!(
            lo <= &v + &slack && &v - &slack <= hi,
            "{n:?} does not contain {digits}"
        );
        let width = &hi - &lo;
        assert!(
            width <= v.abs() / int(2).pow(bits as i32 - 4),
            "{n:?} is wider than 2^-{bits} of {digits}"
        );
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
        contains(
            &two_over_sqrt_pi(P),
            "1.12837916709551257389615890312154517168810125865799",
        );
        contains(
            &sqrt_two_over_pi(P),
            "0.79788456080286535587989211986876373695171726232986",
        );
        contains(
            &inv_sqrt_two_pi(P),
            "0.39894228040143267793994605993438186847585863116493",
        );
    }

    /// Points on both sides of every switch (series or continued fraction, small or large
    /// argument), against 70-digit references, at the checker's range of precisions.
    #[test]
    fn reference_values_at_every_precision() {
        let cases: &[(&str, &str, &str)] = &[
            ("erf", "3/2", "0.9661051464753107270669762616459478586814104792576367804499678464421329"),
            ("erf", "9/2", "0.9999999998033839558457112523720839632335667339422329400388353024318814"),
            ("erf", "5", "0.9999999999984625402055719651498116565146166211098819496852766200693121"),
            ("erf", "-7/3", "-0.9990325715497522541260363354086670041548132574654671715483539952955602"),
            ("erf", "1/1000", "0.001128378790969236379948477656904812599246863212646642138797562381177285"),
            ("erf", "21/4", "0.9999999999998868968673311284611721319520088814074200230930580854036243"),
            ("erf", "8", "0.9999999999999999999999999999887757028270170729200321115568297209065681"),
            ("phi", "-3", "0.001349898031630094526651814767594977377829368158380649364221985355805721"),
            ("phi", "4", "0.9999683287581668800787462292432778487015561666245197234914506682779214"),
            ("phi", "-7", "0.000000000001279812543885835004383623690780832998032844154198717929022204325228526"),
            ("phi", "-1/3", "0.3694413401817636382727922820695735833282543699575503593950003584658024"),
            ("phi", "9", "0.9999999999999999998871411594046159352264497924031252742019958099181835"),
            ("phi", "-12", "1.776482112077678997696171001845557092392666434178953185038661173349444e-33"),
            ("phi", "5/2", "0.9937903346742238648330218954258077788721022530769072317314371452966698"),
            ("tanh", "1/8", "0.1243530017715962080546472758058927076759187925153387504146699908722562"),
            ("tanh", "1/4", "0.24491866240370912927780113149101695750655873061782032611887432531709"),
            ("tanh", "3", "0.9950547536867304513318801852554884750978138547002824918238788151306647"),
            ("tanh", "-2/7", "-0.2781854903257024404718000872414661067796944945515440594503463377701806"),
            ("tanh", "30", "0.9999999999999999999999999824869784746069593230225345518746294013257777"),
            ("sigmoid", "-20", "0.000000002061153618190203581430862129474592690752490018869299652281599059550617"),
            ("sigmoid", "7/2", "0.9706877692486436811347104418858184161058178702016199487234252298457515"),
            ("sigmoid", "-1/3", "0.4174297935376853231336053860387704409471534895507395305267671310446676"),
            ("sigmoid", "60", "0.9999999999999999999999999912434892373034796615112672759373147006628888"),
            ("exp", "-745/3", "1.413200103899524101661332266335852102332598198978798338873616541561597e-108"),
            ("exp", "1/3", "1.395612425086089528628125319602586837597906515199406982617516706031739"),
            ("exp", "-1/1024", "0.9990239141819756622347117896103294303192020807785251855101678865957983"),
            ("exp", "700", "1.014232054735004509455329595231267615204679572243073348780536281249352e304"),
            ("exp", "-9", "0.0001234098040866795494976366907300338260721528322889390525344820451451763"),
            ("log", "1/3", "-1.098612288668109691395245236922525704647490557822749451734694333637494"),
            ("log", "1000001/1000000", "0.0000009999995000003333330833335333331666668095236845239206348206350115439282"),
            ("log", "7", "1.94591014905531330510535274344317972963708472958186118845939014993758"),
            ("log", "2/3", "-0.4054651081081643819780131154643491365719904234624941976140143241441007"),
            ("log", "4/3", "0.287682072451780927439219005993827431503509710897761056506665685349293"),
            ("log", "3/1000000000000", "-26.53240882726043851682065221928984478656572730572252626066524047797338"),
        ];
        for bits in [24, 64, 132, 200] {
            let p = Prec::new(bits);
            for (f, x, value) in cases {
                let (n, d) = x.split_once('/').unwrap_or((x, "1"));
                let x = Num::exact(rat(n.parse().unwrap(), d.parse().unwrap()));
                let y = match *f {
                    "erf" => erf(&x, p),
                    "phi" => phi(&x, p),
                    "tanh" => tanh(&x, p),
                    "sigmoid" => sigmoid(&x, p),
                    "exp" => exp(&x, p),
                    _ => log(&x, p),
                }
                .unwrap();
                contains_rel(&y, value, bits);
            }
        }
    }

    #[test]
    fn exact_where_exact() {
        assert_eq!(
            sqrt(&Num::exact(rat(9, 4)), P).unwrap(),
            Num::exact(rat(3, 2))
        );
        assert_eq!(
            sqrt(&Num::exact(rat(4, 9)), P).unwrap(),
            Num::exact(rat(2, 3))
        );
        assert_eq!(
            root(&Num::exact(rat(-27, 8)), 3, P).unwrap(),
            Num::exact(rat(-3, 2))
        );
        assert_eq!(exp(&Num::from_int(0), P).unwrap(), Num::from_int(1));
        assert_eq!(log(&Num::from_int(1), P).unwrap(), Num::from_int(0));
        assert_eq!(
            pow(&Num::exact(rat(8, 27)), &rat(2, 3), P).unwrap(),
            Num::exact(rat(4, 9))
        );
        assert_eq!(exp(&Num::NegInf, P).unwrap(), Num::from_int(0));
        for f in [erf, tanh] {
            assert_eq!(f(&Num::from_int(0), P).unwrap(), Num::from_int(0));
        }
        for f in [phi, sigmoid] {
            assert_eq!(f(&Num::from_int(0), P).unwrap(), Num::exact(rat(1, 2)));
        }
    }

    #[test]
    fn enclosures_shrink_as_precision_rises() {
        for f in [erf, phi, tanh, sigmoid, exp] {
            for x in [rat(3, 7), rat(-9, 2), rat(11, 1)] {
                let mut last: Option<BigRational> = None;
                for bits in [32, 64, 128, 256] {
                    let w = f(&Num::exact(x.clone()), Prec::new(bits)).unwrap().width();
                    if let Some(prev) = last {
                        assert!(
                            w < prev,
                            "width did not shrink at {bits} bits for {x}: {} {}",
                            w,
                            prev
                        );
                    }
                    last = Some(w);
                }
            }
        }
    }

    #[test]
    fn small_arguments_keep_relative_accuracy() {
        let x = Num::exact(BigRational::new(BigInt::one(), BigInt::one() << 1000));
        let t = tanh(&x, P).unwrap();
        assert_eq!(t.sign(), Some(Ordering::Greater));
        let (lo, hi) = t.bounds().unwrap();
        assert!(&hi - &lo < BigRational::new(BigInt::one(), BigInt::one() << 1100));
        let tiny = BigRational::new(BigInt::one(), BigInt::one() << 300);
        let l = log(&Num::exact(int(1) + &tiny), P).unwrap();
        let (lo, _) = l.bounds().unwrap();
        assert!(lo > int(0), "log(1 + 2^-300) must be certainly positive");
        let e = erf(&Num::exact(tiny.clone()), P).unwrap();
        assert!(e.is_tight(P.bits - 2) && e.width() < &tiny / int(2).pow(150));
        // A large root goes through exp/log, quickly.
        let r = pow(&Num::exact(rat(3, 7)), &rat(1, 100_000), P).unwrap();
        assert!(!r.contains(&int(1)) && r.compare(&Num::from_int(1)) == Some(Ordering::Less));
    }

    #[test]
    fn domain_errors() {
        assert_eq!(log(&Num::from_int(0), P), Err(NumError::LogOfNonPositive));
        assert_eq!(sqrt(&Num::from_int(-1), P), Err(NumError::SqrtOfNegative));
        assert!(matches!(
            root(&Num::from_int(-16), 4, P),
            Err(NumError::BadPower(_))
        ));
        // Beyond 2^21 on either side: a clear error at once, never an allocation the size
        // of the answer (e^(−10^30) would have 10^30 bits of exponent).
        for x in [1i64 << 22, -(1 << 22), (1 << 21) + 1, -(1 << 21) - 1] {
            assert!(matches!(
                exp(&Num::from_int(x), P),
                Err(NumError::TooLarge(_))
            ));
        }
        let huge = parse("1e30");
        assert!(matches!(
            exp(&Num::exact(-huge.clone()), P),
            Err(NumError::TooLarge(_))
        ));
        assert!(matches!(
            sigmoid(&Num::exact(-huge.clone()), P),
            Err(NumError::TooLarge(_))
        ));
        // Saturating the other way is no error: tanh, erf, σ and Φ of a huge argument.
        for f in [tanh, erf, sigmoid, phi] {
            let y = f(&Num::exact(huge.clone()), P).unwrap();
            assert!(y.contains(&int(1)) && y.is_tight(P.bits - 2));
        }
    }

    /// The gap to the limit is certified: erf(10), tanh(50), σ(100) lie 1e-44..1e-45 below 1
    /// (≈ 2^-148), Φ(−15) 3.7e-51 above 0. Each enclosure contains the true gap and, once
    /// the precision exceeds the gap, excludes the limit; Φ(−15) and the lower tails have
    /// relative precision at any precision.
    #[test]
    fn saturation_stays_strictly_inside() {
        type F = fn(&Num, Prec) -> NumResult;
        let upper: [(F, i64, &str); 4] = [
            (
                erf,
                10,
                "2.088487583762544757000786294957788611560818119321163727012213713938175e-45",
            ),
            (
                tanh,
                50,
                "7.44015195204167192591939160772623667471778430797425858689372162359029e-44",
            ),
            (
                sigmoid,
                100,
                "3.720075976020835962959695803863118337358892153987129293446860811795145e-44",
            ),
            (
                phi,
                15,
                "3.670966199312750885786089655334743486416251628040157474659379870556429e-51",
            ),
        ];
        for bits in [100u32, 200, 256, 400] {
            let p = Prec::new(bits);
            for (f, x, gap) in upper {
                // The reference has 70 digits: [gl, gh] contains the true gap.
                let gap = parse(gap);
                let ulp = &gap * parse("1e-69");
                let (gl, gh) = (&gap - &ulp, &gap + &ulp);
                let y = f(&Num::from_int(x), p).unwrap();
                let (lo, hi) = y.bounds().unwrap();
                assert!(
                    lo <= int(1) - &gl && int(1) - &gh <= hi,
                    "{x} at {bits}: {y:?}"
                );
                if bits >= 200 {
                    assert!(hi < int(1), "{x} at {bits} bits: the enclosure reaches 1");
                }
                // The mirror image: above −1 for the odd erf and tanh (once the precision
                // shows the gap), above 0 for σ and Φ with relative precision at any precision.
                let y = f(&Num::from_int(-x), p).unwrap();
                let (lo, hi) = y.bounds().unwrap();
                let odd = lo.is_negative();
                let floor = if odd { int(-1) } else { int(0) };
                let d = (&lo - &floor, &hi - &floor);
                assert!(d.0 <= gh && gl <= d.1, "-{x} at {bits} bits: {y:?}");
                if !odd || bits >= 200 {
                    assert!(d.0 > int(0), "-{x} at {bits} bits reaches the limit: {y:?}");
                }
                if !odd {
                    let rel = BigRational::new(BigInt::one(), BigInt::one() << (bits - 4));
                    assert!(&d.1 - &d.0 <= &gap * rel, "-{x} at {bits} bits: too wide");
                }
            }
        }
    }

    /// exp is fast whatever the argument (2^k is an exponent), positive, and certain: the
    /// round trip through log comes back to the argument.
    #[test]
    fn exp_of_large_arguments() {
        let p = Prec::new(128);
        for x in [
            -2_097_152i64,
            -1_048_577,
            -1_000_000,
            -300_000,
            1000,
            2_097_152,
        ] {
            let t = std::time::Instant::now();
            let y = exp(&Num::from_int(x), p).unwrap();
            assert_eq!(y.sign(), Some(Ordering::Greater));
            assert!(y.is_tight(120));
            let back = log(&y, p).unwrap();
            assert!(
                back.contains(&int(x)) && back.is_tight(100),
                "{x}: {back:?}"
            );
            // Generous: the release build takes well under a millisecond.
            assert!(t.elapsed().as_secs() < 2, "exp({x}) took {:?}", t.elapsed());
        }
        // A non-integer argument just inside the limit: separated from 0 at once.
        let y = exp(&Num::exact(rat(-4_194_303, 2)), p).unwrap();
        assert_eq!(y.compare(&Num::from_int(0)), Some(Ordering::Greater));
        // An interval argument maps endpoint-wise.
        let r = Num::range(int(-300_001), int(-300_000), p);
        let y = exp(&r, p).unwrap();
        let a = exp(&Num::from_int(-300_001), p).unwrap();
        let b = exp(&Num::from_int(-300_000), p).unwrap();
        let (lo, hi) = y.bounds().unwrap();
        assert!(lo <= a.bounds().unwrap().0 && b.bounds().unwrap().1 <= hi);
    }

    /// The series and the continued fraction agree where both are valid: two independent
    /// computations of erf and Φ must overlap.
    #[test]
    fn series_and_fraction_agree() {
        for x in [rat(3, 2), rat(3, 1), rat(17, 4), rat(6, 1)] {
            let w = 200;
            let u = &x * &x;
            let s = gauss_series(&x, &u, w).unwrap();
            let c = constant_dy("2/sqrt(pi)", w + 8, two_over_sqrt_pi_fix);
            let (sl, sh) = mul_bounds(&c, &s, w + 8);
            let (cl, ch) = erfc_tail(&x, w).unwrap();
            let (fl, fh) = (one_minus(&ch, w, false), one_minus(&cl, w, true));
            assert!(
                sl <= fh && fl <= sh,
                "erf({x}): series and fraction disjoint"
            );
            let t = &u / int(2);
            let s = gauss_series(&x, &t, w).unwrap();
            let c = constant_dy("1/sqrt(2pi)", w + 8, inv_sqrt_2pi_fix);
            let (dl, dh) = mul_bounds(&c, &s, w + 8);
            let (ql, qh) = normal_tail(&x, w).unwrap();
            // Φ(x) − 1/2 = 1/2 − (1 − Φ(x)).
            let half = Dy::pow2(-1);
            assert!(
                dl <= half.add(&ql.neg()) && half.add(&qh.neg()) <= dh,
                "Φ({x})"
            );
        }
    }

    /// Identities between independently computed functions, over a grid that crosses every
    /// switch (series, continued fraction, saturation): the enclosures must overlap.
    #[test]
    fn identities_hold_across_regimes() {
        let overlap =
            |a: &Num, b: &Num| !matches!(a.compare(b), Some(Ordering::Less | Ordering::Greater));
        for bits in [60u32, 200] {
            let p = Prec::new(bits);
            let inv_sqrt2 = sqrt(&Num::exact(rat(1, 2)), p).unwrap();
            for n in -60i64..=60 {
                for d in [1i64, 3, 4] {
                    let x = Num::exact(rat(n, d));
                    // Φ(x) = (1 + erf(x/√2))/2: a continued fraction in x against erf at an
                    // irrational interval.
                    let via_erf = erf(&x.mul(&inv_sqrt2, p).unwrap(), p).unwrap();
                    let via_erf = Num::from_int(1)
                        .add(&via_erf, p)
                        .unwrap()
                        .div(&Num::from_int(2), p)
                        .unwrap();
                    let ph = phi(&x, p).unwrap();
                    assert!(
                        overlap(&ph, &via_erf),
                        "Φ({n}/{d}) at {bits}: {ph} {via_erf}"
                    );
                    // tanh x = 2σ(2x) − 1.
                    let two_x = x.mul(&Num::from_int(2), p).unwrap();
                    let s = sigmoid(&two_x, p).unwrap();
                    let t = s.mul(&Num::from_int(2), p).unwrap();
                    let t = t.sub(&Num::from_int(1), p).unwrap();
                    let th = tanh(&x, p).unwrap();
                    assert!(overlap(&th, &t), "tanh({n}/{d}) at {bits}: {th} {t}");
                    // σ(x) + σ(−x) = 1 and e^x·e^(−x) = 1, log e^x = x.
                    let neg = x.neg().unwrap();
                    let sum = sigmoid(&x, p)
                        .unwrap()
                        .add(&sigmoid(&neg, p).unwrap(), p)
                        .unwrap();
                    assert!(sum.contains(&int(1)), "σ({n}/{d}) at {bits}");
                    let e = exp(&x, p).unwrap();
                    let prod = e.mul(&exp(&neg, p).unwrap(), p).unwrap();
                    assert!(prod.contains(&int(1)), "e^({n}/{d}) at {bits}");
                    let back = log(&e, p).unwrap();
                    assert!(back.contains(&rat(n, d)), "log e^({n}/{d}) at {bits}");
                }
            }
        }
    }

    #[test]
    fn interval_arguments_map_endpoint_wise() {
        let p = Prec::new(100);
        let (a, b) = (rat(-13, 4), rat(7, 4));
        let r = Num::range(a.clone(), b.clone(), p);
        for f in [erf, phi, tanh, sigmoid, exp] {
            let y = f(&r, p).unwrap();
            let (lo, hi) = y.bounds().unwrap();
            let fa = f(&Num::exact(a.clone()), p).unwrap().bounds().unwrap();
            let fb = f(&Num::exact(b.clone()), p).unwrap().bounds().unwrap();
            assert!(lo <= fa.0 && fb.1 <= hi && fa.1 < fb.0);
        }
    }

    /// Low-precision enclosures, where every margin (the series' tail, the reduced
    /// interval's radius, π's width times q) is a sizeable part of the width, contain the
    /// enclosures computed at 200 bits, over arguments of every size and both signs; and the
    /// series alone, at the point y = m·2^-f, contains its own value at f + 100 bits.
    #[test]
    fn low_precision_sin_cos_contain_high_precision() {
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: u64| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) % m
        };
        let inside = |a: &Bounds, b: &Bounds| a.0 <= b.0 && b.1 <= a.1;
        for _ in 0..3000 {
            let scale = [1u64, 7, 1000, 1 << 20, 1 << 40][next(5) as usize];
            let n = next(2 * scale + 1) as i64 - scale as i64;
            let d = next(1000) as i64 + 1;
            let x = rat(n, d);
            if x.abs() > int(TRIG_LIMIT) {
                continue;
            }
            let bits = next(40) as u32;
            let (sl, cl) = sin_cos_point(&x, bits).unwrap();
            let (sh, ch) = sin_cos_point(&x, 200).unwrap();
            assert!(inside(&sl, &sh), "sin({x}) at {bits} bits: {sl:?} {sh:?}");
            assert!(inside(&cl, &ch), "cos({x}) at {bits} bits: {cl:?} {ch:?}");
        }
        for _ in 0..3000 {
            let f = next(30) + 4;
            let m = BigInt::from(next((1 << f) + 1) as i64) * if next(2) == 0 { 1 } else { -1 };
            let (s_lo, c_lo) = sin_cos_fixed(&m, f);
            let (s_hi, c_hi) = sin_cos_fixed(&(&m << 100u32), f + 100);
            for (lo, hi) in [(s_lo, s_hi), (c_lo, c_hi)] {
                assert!(
                    inside(&to_dy(lo, f), &to_dy(hi, f + 100)),
                    "series at {m}·2^-{f}"
                );
            }
        }
    }
}
