//! Property tests of interval arithmetic: on random expressions over random rationals, the
//! certified enclosure contains the result of the float computation it mirrors (up to the
//! float's own rounding), tighter precision gives a nested enclosure, and exact inputs to
//! rational operations stay exact.

use handtrace::exact::funcs;
use handtrace::exact::num::{Num, Prec};
use num_rational::BigRational;
use num_traits::FromPrimitive;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum E {
    Lit(i64, i64),
    Add(Box<E>, Box<E>),
    Sub(Box<E>, Box<E>),
    Mul(Box<E>, Box<E>),
    Div(Box<E>, Box<E>),
    Exp(Box<E>),
    Log(Box<E>),
    Sqrt(Box<E>),
    Tanh(Box<E>),
    Sigmoid(Box<E>),
    Pow(Box<E>, i64),
}

fn expr() -> impl Strategy<Value = E> {
    let leaf = (-20i64..20, 1i64..8).prop_map(|(n, d)| E::Lit(n, d));
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| E::Add(a.into(), b.into())),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| E::Sub(a.into(), b.into())),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| E::Mul(a.into(), b.into())),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| E::Div(a.into(), b.into())),
            inner.clone().prop_map(|a| E::Exp(a.into())),
            inner.clone().prop_map(|a| E::Log(a.into())),
            inner.clone().prop_map(|a| E::Sqrt(a.into())),
            inner.clone().prop_map(|a| E::Tanh(a.into())),
            inner.clone().prop_map(|a| E::Sigmoid(a.into())),
            (inner, -3i64..4).prop_map(|(a, k)| E::Pow(a.into(), k)),
        ]
    })
}

/// The float computation, or None where it leaves the range floats handle well.
fn float(e: &E) -> Option<f64> {
    let v = match e {
        E::Lit(n, d) => *n as f64 / *d as f64,
        E::Add(a, b) => float(a)? + float(b)?,
        E::Sub(a, b) => float(a)? - float(b)?,
        E::Mul(a, b) => float(a)? * float(b)?,
        E::Div(a, b) => {
            let d = float(b)?;
            if d.abs() < 1e-3 {
                return None;
            }
            float(a)? / d
        }
        E::Exp(a) => float(a)?.exp(),
        E::Log(a) => {
            let x = float(a)?;
            if x < 1e-3 {
                return None;
            }
            x.ln()
        }
        E::Sqrt(a) => {
            let x = float(a)?;
            if x < 1e-3 {
                return None;
            }
            x.sqrt()
        }
        E::Tanh(a) => float(a)?.tanh(),
        E::Sigmoid(a) => 1.0 / (1.0 + (-float(a)?).exp()),
        E::Pow(a, k) => {
            let x = float(a)?;
            if *k < 0 && x.abs() < 1e-3 {
                return None;
            }
            x.powi(*k as i32)
        }
    };
    (v.is_finite() && v.abs() < 1e8 && (v == 0.0 || v.abs() > 1e-8)).then_some(v)
}

fn interval(e: &E, p: Prec) -> Option<Num> {
    Some(match e {
        E::Lit(n, d) => Num::exact(BigRational::new((*n).into(), (*d).into())),
        E::Add(a, b) => interval(a, p)?.add(&interval(b, p)?, p).ok()?,
        E::Sub(a, b) => interval(a, p)?.sub(&interval(b, p)?, p).ok()?,
        E::Mul(a, b) => interval(a, p)?.mul(&interval(b, p)?, p).ok()?,
        E::Div(a, b) => interval(a, p)?.div(&interval(b, p)?, p).ok()?,
        E::Exp(a) => funcs::exp(&interval(a, p)?, p).ok()?,
        E::Log(a) => funcs::log(&interval(a, p)?, p).ok()?,
        E::Sqrt(a) => funcs::sqrt(&interval(a, p)?, p).ok()?,
        E::Tanh(a) => funcs::tanh(&interval(a, p)?, p).ok()?,
        E::Sigmoid(a) => funcs::sigmoid(&interval(a, p)?, p).ok()?,
        E::Pow(a, k) => interval(a, p)?.powi(*k, p).ok()?,
    })
}

fn rational_only(e: &E) -> bool {
    match e {
        E::Lit(..) => true,
        E::Add(a, b) | E::Sub(a, b) | E::Mul(a, b) | E::Div(a, b) => {
            rational_only(a) && rational_only(b)
        }
        E::Pow(a, _) => rational_only(a),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn enclosures_contain_the_float_result(e in expr()) {
        let Some(f) = float(&e) else { return Ok(()) };
        let Some(n) = interval(&e, Prec::new(96)) else { return Ok(()) };
        let (lo, hi) = n.bounds().unwrap();
        // The float result carries its own rounding error: allow 1e-9, relative and absolute
        // (a float can round tanh(20) to exactly 1, so log of it is 0 where the truth is −4e-18).
        let slack = BigRational::from_f64(f.abs() * 1e-9 + 1e-9).unwrap();
        let fv = BigRational::from_f64(f).unwrap();
        prop_assert!(lo <= &fv + &slack && &fv - &slack <= hi, "{e:?}: float {f} outside [{}, {}]", n, n);
        if rational_only(&e) {
            prop_assert!(n.is_exact(), "rational operations must stay exact: {e:?}");
        }
    }

    #[test]
    fn more_precision_gives_a_nested_enclosure(e in expr()) {
        let (Some(a), Some(b)) = (interval(&e, Prec::new(64)), interval(&e, Prec::new(256))) else { return Ok(()) };
        let (al, ah) = a.bounds().unwrap();
        let (bl, bh) = b.bounds().unwrap();
        // Both contain the true value, so they overlap; the finer one is no wider.
        prop_assert!(bl <= ah && al <= bh, "disjoint enclosures for {e:?}");
        prop_assert!(b.width() <= a.width() || b.is_exact(), "{e:?}");
    }

    /// Exact containment for the field operations on enclosures: for rationals a, b inside
    /// two random intervals (of every sign pattern), a + b, a · b and 1/a lie inside the
    /// results, with no float in sight.
    #[test]
    fn interval_arithmetic_contains_every_exact_result(
        a in (-50i64..50, -50i64..50, 1i64..40, 0i64..=8),
        b in (-50i64..50, -50i64..50, 1i64..40, 0i64..=8),
    ) {
        // An interval [min, max] of two rationals over a common denominator, and a point in
        // it at fraction t/8.
        let pick = |(x, y, d, t): (i64, i64, i64, i64)| {
            let (l, h) = (BigRational::new(x.min(y).into(), d.into()), BigRational::new(x.max(y).into(), d.into()));
            let point = &l + (&h - &l) * BigRational::new(t.into(), 8.into());
            let p = Prec::new(64);
            (Num::range(l.clone(), h.clone(), p), point)
        };
        let ((ia, pa), (ib, pb)) = (pick(a), pick(b));
        let p = Prec::new(64);
        prop_assert!(ia.add(&ib, p).unwrap().contains(&(&pa + &pb)));
        prop_assert!(ia.mul(&ib, p).unwrap().contains(&(&pa * &pb)));
        if let Ok(r) = ia.recip(p) {
            prop_assert!(!ia.contains(&BigRational::from_integer(0.into())));
            prop_assert!(r.contains(&pa.recip()), "1/{pa} outside {r}");
        }
        // An exact 0 times an enclosure is exactly 0; plus one gives the enclosure.
        let zero = Num::from_int(0);
        prop_assert_eq!(zero.mul(&ib, p).unwrap(), zero.clone());
        prop_assert!(zero.add(&ib, p).unwrap().contains(&pb));
    }
}
