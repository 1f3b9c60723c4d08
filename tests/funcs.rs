//! Certified transcendental functions (src/exact/funcs.rs): timings of the point functions
//! at the checker's precisions (run with `cargo test --release --test funcs -- --ignored
//! --nocapture`).

use handtrace::exact::funcs;
use handtrace::exact::num::{Num, Prec};
use num_bigint::BigInt;
use num_rational::BigRational;
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
