//! Certified transcendental functions (src/exact/funcs.rs): sin and cos against 70-digit
//! references and certified identities (run with `cargo test --release --test funcs`), and
//! timings of the point functions at the checker's precisions (run with `cargo test
//! --release --test funcs -- --ignored --nocapture`).

use handtrace::exact::funcs;
use handtrace::exact::num::{Num, NumError, Prec};
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive};
use proptest::prelude::*;
use std::cmp::Ordering;
use std::time::Instant;

/// 100 rationals n/d with n in −9..=9 and d in 1..=4, drawn by a fixed LCG.
fn sample() -> Vec<Num> {
    let mut s: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |m: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) % m
    };
    (0..100)
        .map(|_| {
            let n = next(19) as i64 - 9;
            let d = next(4) as i64 + 1;
            Num::exact(BigRational::new(n.into(), d.into()))
        })
        .collect()
}

fn time(name: &str, f: impl Fn(&Num) -> Num) {
    time_on(name, &sample(), f)
}

fn time_on(name: &str, xs: &[Num], f: impl Fn(&Num) -> Num) {
    let t = Instant::now();
    for x in xs {
        std::hint::black_box(f(x));
    }
    println!(
        "{name:>12}: {:>9.3} ms / 100",
        t.elapsed().as_secs_f64() * 1e3
    );
}

#[test]
#[ignore]
fn timings() {
    let p = Prec::new(132);
    time("exp", |x| funcs::exp(x, p).unwrap());
    time("log", |x| {
        funcs::log(&funcs::exp(x, p).unwrap(), p).unwrap()
    });
    time("erf", |x| funcs::erf(x, p).unwrap());
    time("phi", |x| funcs::phi(x, p).unwrap());
    time("tanh", |x| funcs::tanh(x, p).unwrap());
    time("sigmoid", |x| funcs::sigmoid(x, p).unwrap());
    // Interval arguments, as the evaluator passes them (dyadic endpoints of ~130 bits).
    let eps = BigRational::new(1.into(), BigInt::from(3) << 100u32);
    let ranges: Vec<Num> = sample()
        .iter()
        .map(|x| {
            let (lo, hi) = x.bounds().unwrap();
            Num::range(lo - &eps, hi + &eps, p)
        })
        .collect();
    time_on("erf(range)", &ranges, |x| funcs::erf(x, p).unwrap());
    time_on("exp(range)", &ranges, |x| funcs::exp(x, p).unwrap());
    let p = Prec::new(230);
    time("erf@230", |x| funcs::erf(x, p).unwrap());
    time("exp@230", |x| funcs::exp(x, p).unwrap());
    let p = Prec::new(128);
    let big = |n: i64, d: i64| Num::exact(BigRational::new(n.into(), d.into()));
    let cases = [
        ("-300000", big(-300_000, 1)),
        ("-1000000", big(-1_000_000, 1)),
        ("1000", big(1000, 1)),
        ("-1048577", big(-1_048_577, 1)),
        ("-300000/7", big(-300_000, 7)),
        ("-1000001/3", big(-1_000_001, 3)),
        (
            "[-300001,-300000]",
            Num::range(
                big(-300_001, 1).bounds().unwrap().0,
                big(-300_000, 1).bounds().unwrap().0,
                p,
            ),
        ),
    ];
    let skip = std::env::var("SKIP").unwrap_or_default();
    for (name, x) in cases {
        if skip.split(',').any(|s| s == name) {
            continue;
        }
        let t = Instant::now();
        let _first = funcs::exp(&x, p);
        let first = t.elapsed();
        let t = Instant::now();
        let r = funcs::exp(&x, p);
        let elapsed = t.elapsed();
        let pos = r
            .as_ref()
            .map(|v| v.sign() == Some(std::cmp::Ordering::Greater));
        println!(
            "exp({name}) @128: {:.3} ms, again {:.3} ms (positive: {pos:?})",
            first.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e3
        );
    }
}

#[test]
#[ignore]
fn display_of_tiny_exp() {
    let p = Prec::new(128);
    for x in [-1000i64, -30_000, -300_000] {
        let y = funcs::exp(&Num::from_int(x), p).unwrap();
        let t = Instant::now();
        let s = y.to_string();
        println!(
            "exp({x}) = {s} shown in {:.3} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}

#[test]
#[ignore]
fn erf_by_argument() {
    let p = Prec::new(132);
    for (n, d) in [
        (1i64, 2i64),
        (2, 1),
        (3, 1),
        (4, 1),
        (9, 2),
        (5, 1),
        (7, 1),
        (9, 1),
    ] {
        let x = Num::exact(BigRational::new(n.into(), d.into()));
        let _ = funcs::erf(&x, p);
        let t = Instant::now();
        for _ in 0..100 {
            std::hint::black_box(funcs::erf(&x, p).unwrap());
        }
        let e = t.elapsed().as_secs_f64() * 1e4;
        let t = Instant::now();
        let x2 = Num::exact(-BigRational::new((n * n).into(), (d * d).into()));
        for _ in 0..100 {
            std::hint::black_box(funcs::exp(&x2, p).unwrap());
        }
        println!(
            "erf({n}/{d}): {e:.1} µs (exp(-x²): {:.1} µs)",
            t.elapsed().as_secs_f64() * 1e4
        );
    }
}

// ---------------------------------------------------------------- sin, cos

fn q(n: i64, d: i64) -> BigRational {
    BigRational::new(n.into(), d.into())
}

fn point(n: i64, d: i64) -> Num {
    Num::exact(q(n, d))
}

fn parse(s: &str) -> BigRational {
    match s.strip_prefix('-') {
        Some(rest) => -parse(rest),
        None => handtrace::decimal::parse_decimal(s).expect("a decimal"),
    }
}

fn parse_ratio(s: &str) -> BigRational {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    BigRational::new(n.parse().unwrap(), d.parse().unwrap())
}

/// The enclosures certainly overlap or touch (neither is certainly below the other).
fn overlap(a: &Num, b: &Num) -> bool {
    !matches!(a.compare(b), Some(Ordering::Less | Ordering::Greater))
}

/// A `Range` within [−1, 1] narrower than 2^-bits in absolute terms.
#[track_caller]
fn unit_and_narrow(y: &Num, bits: u32, what: &str) {
    let Num::Range { .. } = y else {
        panic!("{what} at {bits} bits: not an enclosure: {y:?}")
    };
    let (lo, hi) = y.bounds().unwrap();
    assert!(
        lo >= q(-1, 1) && hi <= q(1, 1),
        "{what} at {bits} bits: outside [-1, 1]: {y:?}"
    );
    let ulp = BigRational::new(1.into(), BigInt::from(1) << bits);
    assert!(
        y.width() < ulp,
        "{what} at {bits} bits: width {} is not below 2^-{bits}",
        y.width().to_f64().unwrap()
    );
}

/// Every endpoint within `tol` of the float value.
#[track_caller]
fn near_f64(y: &Num, v: f64, tol: f64, what: &str) {
    let (lo, hi) = y.bounds().unwrap();
    let (lo, hi) = (lo.to_f64().unwrap(), hi.to_f64().unwrap());
    assert!(
        (lo - v).abs() <= tol && (hi - v).abs() <= tol,
        "{what}: [{lo}, {hi}] is not within {tol:e} of the float {v}"
    );
}

/// sin²x + cos²x ∋ 1 and sin 2x ∩ 2·sin x·cos x ≠ ∅, from the enclosures alone.
#[track_caller]
fn identities(x: &BigRational, p: Prec) {
    let xn = Num::exact(x.clone());
    let s = funcs::sin(&xn, p).unwrap();
    let c = funcs::cos(&xn, p).unwrap();
    let one = s
        .mul(&s, p)
        .unwrap()
        .add(&c.mul(&c, p).unwrap(), p)
        .unwrap();
    assert!(
        one.contains(&q(1, 1)),
        "sin² + cos² of {x} at {}: {one:?}",
        p.bits
    );
    let two_x = Num::exact(x * q(2, 1));
    let s2 = funcs::sin(&two_x, p).unwrap();
    let prod = Num::from_int(2).mul(&s, p).unwrap().mul(&c, p).unwrap();
    assert!(
        overlap(&s2, &prod),
        "sin 2x and 2 sin x cos x disjoint at {x}, {} bits: {s2:?} {prod:?}",
        p.bits
    );
    // cos 2x = 1 − 2 sin²x, too.
    let c2 = funcs::cos(&two_x, p).unwrap();
    let via = Num::from_int(1)
        .sub(&Num::from_int(2).mul(&s.mul(&s, p).unwrap(), p).unwrap(), p)
        .unwrap();
    assert!(
        overlap(&c2, &via),
        "cos 2x and 1 − 2 sin²x disjoint at {x}, {} bits",
        p.bits
    );
}

/// (x, sin x, cos x) to 70 significant digits (mpmath at 90 digits). Both signs, every
/// quadrant, points within 1e-7 and 6e-10 of π (355/113, 103993/33102), 710 = 226·(355/113)
/// within 6e-5 of 226π, and 2^40, the largest argument accepted.
const REFERENCES: &[(&str, &str, &str)] = &[
    (
        "1/2",
        "0.4794255386042030002732879352155713880818033679406006751886166131255350",
        "0.8775825618903727161162815826038296519916451971097440529976108683159508",
    ),
    (
        "1",
        "0.8414709848078965066525023216302989996225630607983710656727517099919104",
        "0.5403023058681397174009366074429766037323104206179222276700972553811004",
    ),
    (
        "3",
        "0.1411200080598672221007448028081102798469332642522655841518826412324220",
        "-0.9899924966004454572715727947312613023936790966155883288140859329283292",
    ),
    (
        "-7/3",
        "-0.7230858817383246167978879286163673263801434704086676930443758555181676",
        "-0.6907581397498762927279716947563487870100274864336181898199648430055743",
    ),
    (
        "100",
        "-0.5063656411097587936565576104597854320650327212906573234433924735943579",
        "0.8623188722876839341019385139508425355100840085355108292801621126927211",
    ),
    (
        "2047",
        "-0.9683193119086262560021665058553189503315332618934626985409146850736366",
        "0.2497152582138395840265715527335305976484558196703602420398900521243939",
    ),
    (
        "1000",
        "0.8268795405320025602558874291092181412127249678477883209081232758194929",
        "0.5623790762907029910782492266053959687558118217381969177028251858457336",
    ),
    (
        "-1000000/7",
        "-0.4793198266304577575657359953916098313998423165761096328450036610123937",
        "-0.8776403043382567433768332668432216671732446519024296791149247613134193",
    ),
    (
        "355/113",
        "-0.0000002667641890624191484063745288734688868221054266212710251192493875921745",
        "-0.9999999999999644184337169343129714252032324580791768112016078746425933",
    ),
    (
        "103993/33102",
        "0.0000000005778906343903818884736080400505255041211855975023379764470694439787679",
        "-0.9999999999999999998330212073419409848777293894448226198048350801970224",
    ),
    (
        "710",
        "0.00006028870669158526593348379992276719303406020523742197328854706550342864",
        "0.9999999981826359210765948913787312862733915498084329672121660079712949",
    ),
    (
        "-710",
        "-0.00006028870669158526593348379992276719303406020523742197328854706550342864",
        "0.9999999981826359210765948913787312862733915498084329672121660079712949",
    ),
    (
        "1099511627776",
        "-0.4057050115328287198206483025752853128929811481142627090939606742283374",
        "-0.9140040719915570022997218090496905660904052152116573326861167909441676",
    ),
    (
        "-1099511627775/2",
        "0.9579215790621734966562125125543119066734746662534093652462427777080422",
        "-0.2870300478469668701636678420422182871800387035726687881488484023835173",
    ),
    (
        "11/10000000000",
        "0.000000001099999999999999999778166666666666666680087583333333333332946683115079",
        "0.9999999999999999993950000000000000000610041666666666666642061652777778",
    ),
];

#[test]
fn sin_cos_of_zero_are_exact() {
    for bits in [16, 64, 160] {
        let p = Prec::new(bits);
        assert_eq!(funcs::sin(&Num::from_int(0), p).unwrap(), Num::from_int(0));
        assert_eq!(funcs::cos(&Num::from_int(0), p).unwrap(), Num::from_int(1));
    }
}

/// Each enclosure contains the 70-digit reference, lies in [−1, 1] and is narrower than
/// 2^-bits; the sign is certified wherever the precision shows it (sin(103993/33102) is
/// 5.8e-10 and cos of it −1 + 1.7e-19).
#[test]
fn sin_cos_contain_reference_values() {
    for bits in [16u32, 24, 64, 100, 160, 200, 300] {
        let p = Prec::new(bits);
        for (x, s, c) in REFERENCES {
            let xn = Num::exact(parse_ratio(x));
            for (name, y, v) in [
                ("sin", funcs::sin(&xn, p).unwrap(), parse(s)),
                ("cos", funcs::cos(&xn, p).unwrap(), parse(c)),
            ] {
                let slack = v.abs() * parse("1e-69");
                let (lo, hi) = y.bounds().unwrap();
                assert!(
                    lo <= &v + &slack && &v - &slack <= hi,
                    "{name}({x}) at {bits} bits: {y:?} does not contain {v}"
                );
                unit_and_narrow(&y, bits, &format!("{name}({x})"));
                // Once the width is below a quarter of |v|, the sign is certain.
                if y.width() * q(4, 1) < v.abs() {
                    let sign = if v.is_negative() {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                    assert_eq!(y.sign(), Some(sign), "{name}({x}) at {bits} bits");
                }
            }
        }
    }
    // cos(103993/33102) = −1 + 1.67e-19: at 100 bits the enclosure excludes −1.
    let c = funcs::cos(&point(103993, 33102), Prec::new(100)).unwrap();
    assert!(!c.contains(&q(-1, 1)), "{c:?}");
}

/// Loose sanity against libm (1e-12), at several precisions; and width below 2^-bits.
#[test]
fn sin_cos_agree_with_f64() {
    let xs = [
        (1, 2),
        (1, 1),
        (3, 1),
        (-7, 3),
        (100, 1),
        (2047, 1),
        (1000, 1),
        (-2048, 1),
        (-1, 1000),
        (22, 7),
        (-11, 7),
        (5, 1),
    ];
    for bits in [64u32, 160, 300] {
        let p = Prec::new(bits);
        for (n, d) in xs {
            let v = n as f64 / d as f64;
            let x = point(n, d);
            let s = funcs::sin(&x, p).unwrap();
            let c = funcs::cos(&x, p).unwrap();
            near_f64(&s, v.sin(), 1e-12, &format!("sin({n}/{d})"));
            near_f64(&c, v.cos(), 1e-12, &format!("cos({n}/{d})"));
            unit_and_narrow(&s, bits, &format!("sin({n}/{d})"));
            unit_and_narrow(&c, bits, &format!("cos({n}/{d})"));
            identities(&q(n, d), p);
        }
    }
}

/// Rotary angles: position × frequency with positions up to 2047 and frequencies
/// 10000^(−2i/64) (rational approximations): the identities hold at each.
#[test]
fn rotary_angles_satisfy_the_identities() {
    let p = Prec::new(160);
    for pos in [1i64, 17, 511, 1024, 2047] {
        for freq in [q(1, 1), q(1, 3), q(1, 10), q(1, 100), q(1, 10000)] {
            let x = q(pos, 1) * freq;
            identities(&x, p);
            identities(&-x, p);
        }
    }
}

/// sin is odd and cos even, exactly as enclosures (the reduction of −x mirrors that of x),
/// and the shifts by π/2 agree with the quadrant identities through a certified π.
#[test]
fn symmetries_hold() {
    let p = Prec::new(128);
    let half_pi = funcs::pi(p).mul(&Num::exact(q(1, 2)), p).unwrap();
    for (n, d) in [(1, 3), (5, 2), (-9, 4), (1000, 1), (-2047, 1)] {
        let x = point(n, d);
        let nx = point(-n, d);
        assert_eq!(
            funcs::sin(&nx, p).unwrap(),
            funcs::sin(&x, p).unwrap().neg().unwrap()
        );
        assert_eq!(funcs::cos(&nx, p).unwrap(), funcs::cos(&x, p).unwrap());
        // sin(x + π/2) = cos x, with x + π/2 an interval.
        let shifted = x.add(&half_pi, p).unwrap();
        let s = funcs::sin(&shifted, p).unwrap();
        assert!(overlap(&s, &funcs::cos(&x, p).unwrap()), "{n}/{d}");
        let c = funcs::cos(&shifted, p).unwrap();
        let ms = funcs::sin(&x, p).unwrap().neg().unwrap();
        assert!(overlap(&c, &ms), "{n}/{d}");
    }
}

/// An interval [a, b] gives an enclosure containing the point enclosures at a and b (and at
/// the extremum inside), within [−1, 1]; a wide interval gives [−1, 1] itself.
#[test]
fn interval_arguments_contain_their_endpoints() {
    let p = Prec::new(100);
    let cases = [
        (q(-13, 4), q(7, 4)),
        (
            q(1, 3),
            q(1, 3) + BigRational::new(1.into(), BigInt::from(1) << 90),
        ),
        (q(2046, 1), q(2047, 1)),
        (q(-1, 1000), q(1, 1000)),
        (q(3, 2), q(8, 5)),
    ];
    for (a, b) in cases {
        let r = Num::range(a.clone(), b.clone(), p);
        for (name, f) in [
            ("sin", funcs::sin as fn(&Num, Prec) -> Result<Num, NumError>),
            ("cos", funcs::cos),
        ] {
            let y = f(&r, p).unwrap();
            let (lo, hi) = y.bounds().unwrap();
            assert!(lo >= q(-1, 1) && hi <= q(1, 1), "{name} [{a}, {b}]: {y:?}");
            for e in [&a, &b] {
                let (el, eh) = f(&Num::exact(e.clone()), p).unwrap().bounds().unwrap();
                assert!(
                    lo <= el && eh <= hi,
                    "{name} [{a}, {b}] misses the endpoint {e}: {y:?}"
                );
            }
            // The width is at most the interval's plus a little.
            let slack = BigRational::new(1.into(), BigInt::from(1) << 90);
            assert!(y.width() <= (&b - &a) + slack, "{name} [{a}, {b}]: {y:?}");
        }
    }
    // sin's maximum at π/2 ∈ [3/2, 8/5]: the enclosure reaches 1 (clamped, not beyond).
    let y = funcs::sin(&Num::range(q(3, 2), q(8, 5), p), p).unwrap();
    assert_eq!(y.bounds().unwrap().1, q(1, 1));
    // A whole period or more: [−1, 1], even where a point would be refused.
    for (a, b) in [(q(0, 1), q(7, 1)), (q(1 << 50, 1), q((1 << 50) + 5, 1))] {
        let r = Num::range(a, b, p);
        for f in [funcs::sin, funcs::cos] {
            assert_eq!(f(&r, p).unwrap().bounds(), Some((q(-1, 1), q(1, 1))));
        }
    }
}

#[test]
fn sin_cos_errors() {
    let p = Prec::new(64);
    assert_eq!(
        funcs::sin(&Num::NegInf, p),
        Err(NumError::NegInfinity("sin"))
    );
    assert_eq!(
        funcs::cos(&Num::NegInf, p),
        Err(NumError::NegInfinity("cos"))
    );
    // 2^40 is accepted (a reference value above), anything beyond refused at once.
    let limit = funcs::TRIG_LIMIT;
    assert!(funcs::sin(&Num::from_int(limit), p).is_ok());
    for x in [
        Num::from_int(limit + 1),
        Num::from_int(-limit - 1),
        Num::exact(q(2 * limit + 1, 2)),
        Num::exact(BigRational::from_integer(BigInt::from(10).pow(30))),
        Num::exact(BigRational::new(-BigInt::from(10).pow(40), BigInt::from(3))),
    ] {
        let t = Instant::now();
        assert!(
            matches!(funcs::sin(&x, p), Err(NumError::TooLarge(_))),
            "{x:?}"
        );
        assert!(
            matches!(funcs::cos(&x, p), Err(NumError::TooLarge(_))),
            "{x:?}"
        );
        assert!(t.elapsed().as_secs() < 1);
    }
    // A narrow interval around a huge point is refused too.
    let r = Num::range(q(1 << 50, 1), q((1 << 50) + 1, 1), p);
    assert!(matches!(funcs::sin(&r, p), Err(NumError::TooLarge(_))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random rationals n/d, |n| <= 10^6, d <= 1000: sin² + cos² ∋ 1, sin 2x meets
    /// 2 sin x cos x, both within 1e-9 of libm (x itself is rounded to a float, off by up
    /// to 1e-10), in [−1, 1] and narrower than 2^-bits.
    #[test]
    fn sin_cos_of_random_rationals(n in -1_000_000i64..=1_000_000, d in 1i64..=1000, wide in any::<bool>()) {
        let bits = if wide { 200 } else { 64 };
        let p = Prec::new(bits);
        let x = q(n, d);
        let v = x.to_f64().unwrap();
        let s = funcs::sin(&Num::exact(x.clone()), p).unwrap();
        let c = funcs::cos(&Num::exact(x.clone()), p).unwrap();
        if n == 0 {
            prop_assert_eq!(s, Num::from_int(0));
            prop_assert_eq!(c, Num::from_int(1));
        } else {
            near_f64(&s, v.sin(), 1e-9, &format!("sin({x})"));
            near_f64(&c, v.cos(), 1e-9, &format!("cos({x})"));
            unit_and_narrow(&s, bits, &format!("sin({x})"));
            unit_and_narrow(&c, bits, &format!("cos({x})"));
            identities(&x, p);
        }
    }
}
