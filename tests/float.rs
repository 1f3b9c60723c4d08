//! Float against exact: rounding into f32, bf16 and f16; a program run op by op in IEEE
//! arithmetic as PyTorch would, measured against the exact values (overflow of a naive
//! softmax, bf16's coarser products, cancellation), and every example in every format.

mod common;

use common::{examples, load, program, Failures};
use handtrace::exact::inputs::{leaf_values, parse_inputs, upstream};
use handtrace::exact::num::Num;
use handtrace::exact::run::{gradient_values, trace as exact_trace};
use handtrace::exact::tensor::Tensor;
use handtrace::float::{self, compare, eval_nodes, Format, Report, Row};
use handtrace::ir::{Program, TargetKind, TensorId};
use std::collections::HashMap;

fn exact_values(
    p: &Program,
    leaves: &HashMap<TensorId, Tensor<Num>>,
) -> Vec<(TensorId, Tensor<Num>)> {
    exact_trace(p, leaves.clone(), 128)
        .unwrap_or_else(|e| panic!("{}", e.message(p)))
        .values
}

/// The report of `src` at the given inputs, in `format`.
fn report(src: &str, inputs: &str, format: Format) -> (Program, Report) {
    let p = program(src);
    let given = parse_inputs(&p, inputs).unwrap();
    let leaves = leaf_values(&p, 0, &given.leaves);
    let exact = exact_values(&p, &leaves);
    let floats = float::trace(&p, &leaves, format).unwrap_or_else(|e| panic!("{}", e.message(&p)));
    let r = compare(&p, &exact, &floats, format);
    (p, r)
}

fn row<'a>(p: &Program, r: &'a Report, name: &str) -> &'a Row {
    r.row(p.tensor_by_name(name).unwrap()).unwrap()
}

fn pow2(k: i32) -> f64 {
    2f64.powi(k)
}

#[test]
fn rounding_into_each_format() {
    assert_eq!(Format::F32.round(0.1), 0.1f32 as f64);
    assert_eq!(Format::BF16.round(1.0 / 3.0), 0.333984375);
    assert_eq!(Format::F16.round(1.0 / 3.0), 0.333251953125);
    // f16's largest finite number is 65504; 65520 is the tie with 65536 and rounds to even,
    // which is past the end: overflow.
    assert_eq!(Format::F16.max(), 65504.0);
    assert_eq!(Format::F16.round(65519.0), 65504.0);
    assert_eq!(Format::F16.round(65520.0), f64::INFINITY);
    assert_eq!(Format::F16.round(-70000.0), f64::NEG_INFINITY);
    assert_eq!(Format::F32.max(), f32::MAX as f64);
    assert_eq!(Format::BF16.max(), half::bf16::MAX.to_f64());
    // Subnormals: f16's spacing below 2^-14 is 2^-24; half of it ties to even (0).
    assert_eq!(Format::F16.min_subnormal(), pow2(-24));
    assert_eq!(Format::F16.round(pow2(-25)), 0.0);
    assert_eq!(Format::F16.round(3.0 * pow2(-26)), pow2(-24));
    assert_eq!(Format::F16.round(5.0 * pow2(-25)), 2.0 * pow2(-24));
    assert_eq!(Format::F32.round(pow2(-150)), 0.0);
    assert_eq!(Format::F32.round(1.5 * pow2(-149)), 2.0 * pow2(-149));
    // Ties to even in the normal range.
    assert_eq!(Format::BF16.round(1.0 + pow2(-8)), 1.0);
    assert_eq!(Format::BF16.round(1.0 + 3.0 * pow2(-8)), 1.0 + pow2(-6));
    // Just above a tie rounds up: half's from_f64 drops the low 32 bits and gets this wrong.
    assert_eq!(
        Format::BF16.round(1.0 + pow2(-8) + pow2(-40)),
        1.0 + pow2(-7)
    );
    assert_eq!(
        Format::F16.round(1.0 + pow2(-11) + pow2(-45)),
        1.0 + pow2(-10)
    );
    // The spacing of each format.
    assert_eq!(Format::F32.ulp(1.0), pow2(-23));
    assert_eq!(Format::F32.ulp(1.5), pow2(-23));
    assert_eq!(Format::BF16.ulp(1.0), pow2(-7));
    assert_eq!(Format::F16.ulp(1.0), pow2(-10));
    assert_eq!(Format::F16.ulp(1000.0), 0.5);
    assert_eq!(Format::F16.ulp(0.0), pow2(-24));
    assert_eq!(Format::F16.ulp(1e-6), pow2(-24));
    assert_eq!(Format::F32.ulp(-3e-40), pow2(-149));
    assert_eq!("bf16".parse::<Format>().unwrap(), Format::BF16);
    assert_eq!("F16".parse::<Format>().unwrap(), Format::F16);
    assert!("f8".parse::<Format>().is_err());
    assert_eq!(Format::F32.name(), "f32");
}

#[test]
fn rounding_agrees_with_the_hardware_and_with_half_on_f32_values() {
    // A SplitMix64 stream of f64 values of every magnitude.
    let mut state = 0x1234_5678_u64;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for _ in 0..200_000 {
        let bits = next();
        // Exponents around every format's range: 2^-160 .. 2^140.
        let exp = (bits >> 52) % 300;
        let x = f64::from_bits((bits & 0x800F_FFFF_FFFF_FFFF) | ((exp + 1023 - 160) << 52));
        assert_eq!(Format::F32.round(x), (x as f32) as f64, "f32 of {x:e}");
        // half's conversions from f32 are correctly rounded; an f32 value goes through both.
        let y = x as f32;
        assert_eq!(
            Format::BF16.round(y as f64),
            half::bf16::from_f32(y).to_f64(),
            "bf16 of {y:e}"
        );
        assert_eq!(
            Format::F16.round(y as f64),
            half::f16::from_f32(y).to_f64(),
            "f16 of {y:e}"
        );
        // The exact sum of two values rounded once.
        let z = f64::from_bits(next() & 0x3FFF_FFFF_FFFF_FFFF);
        let s = Format::F32.round_sum(y as f64, z);
        assert!(s.is_infinite() || (s - (y as f64 + z)).abs() <= Format::F32.ulp(s) / 2.0);
    }
}

const NAIVE: &str = "dim T = 2\ninput S : [T, T]\nE = exp(S)\nP = E / rowsum(E)\noutput P\n";
const SHIFTED: &str = "dim T = 2\ninput S : [T, T]\nM = S - max(S, axis=-1, keepdims=true)\nE = exp(M)\nP = E / rowsum(E)\noutput P\n";
const BUILTIN: &str = "dim T = 2\ninput S : [T, T]\nP = softmax(S, axis=-1)\noutput P\n";
const LARGE: &str = r#"{"S": [[100, 101], [99, "201/2"]]}"#;

#[test]
fn a_naive_softmax_overflows_in_f32_where_the_shifted_and_builtin_ones_do_not() {
    let (p, r) = report(NAIVE, LARGE, Format::F32);
    let (e, pr) = (row(&p, &r, "E"), row(&p, &r, "P"));
    assert_eq!(e.overflow, 4, "{e:?}");
    assert_eq!(e.first_overflow, Some(vec![0, 0]));
    assert_eq!(pr.overflow, 4, "{pr:?}");
    assert_eq!(r.first_overflow, p.tensor_by_name("E"));
    assert_eq!(row(&p, &r, "S").overflow, 0);
    let text = handtrace::render::float::text(&p, &r);
    assert!(
        text.contains("OVERFLOW 4 entries (first at [0, 0])"),
        "{text}"
    );
    assert!(
        text.contains("first overflow: `E` (line 3): exp(S) overflows f32 above 88.72"),
        "{text}"
    );
    let json = handtrace::render::float::json(&p, &r);
    assert_eq!(json["first_overflow"], "E");
    assert_eq!(json["format"], "f32");
    assert_eq!(json["tensors"][1]["overflow"], 4);

    let (p, r) = report(SHIFTED, LARGE, Format::F32);
    assert_eq!(
        r.first_overflow,
        None,
        "{}",
        handtrace::render::float::text(&p, &r)
    );
    let pr = row(&p, &r, "P");
    assert_eq!(pr.overflow, 0);
    assert!(pr.max_ulps < 4.0, "{pr:?}");
    assert!(pr.max_ulps > 0.0, "{pr:?}");

    let (p, r) = report(BUILTIN, LARGE, Format::F32);
    assert_eq!(r.first_overflow, None);
    assert!(row(&p, &r, "P").max_ulps < 4.0, "{:?}", row(&p, &r, "P"));
    // In f16 even S fits, but its exp does not (above 11.09).
    let (p, r) = report(NAIVE, r#"{"S": [[10, 12], [9, 11]]}"#, Format::F16);
    assert_eq!(r.first_overflow, p.tensor_by_name("E"));
    let text = handtrace::render::float::text(&p, &r);
    assert!(text.contains("overflows f16 above 11.09"), "{text}");
}

#[test]
fn bf16_products_are_coarser_than_f32_ones() {
    let src = "dim n = 3\ninput A : [n, n]\ninput B : [n, n]\nC = A @ B\n";
    let inputs = r#"{"A": [["1/3", "2/7", "5/11"], ["1/9", "-3/13", "4/17"], ["1/5", "1/6", "-1/7"]],
                     "B": [["2/3", "1/7", "-5/9"], ["1/3", "3/11", "2/13"], ["-1/19", "1/23", "7/29"]]}"#;
    let (p, f32r) = report(src, inputs, Format::F32);
    let (_, bf16r) = report(src, inputs, Format::BF16);
    let (c32, c16) = (row(&p, &f32r, "C"), row(&p, &bf16r, "C"));
    assert!(c32.max_rel < 1e-6, "{c32:?}");
    assert!(c16.max_rel > 1e-3, "{c16:?}");
    // The leaves themselves are rounded on entry: within half an ulp.
    assert!(row(&p, &bf16r, "A").max_ulps <= 0.5);
    assert!(row(&p, &f32r, "A").max_ulps <= 0.5);
}

#[test]
fn cancellation_loses_the_precision_and_is_named() {
    let src = "dim n = 1\ninput x : [n]\na = x + 1073741824\ny = a - 1073741824\n";
    let (p, r) = report(src, r#"{"x": ["1/3"]}"#, Format::F32);
    let (a, y) = (row(&p, &r, "a"), row(&p, &r, "y"));
    assert!(a.max_rel < 1e-9, "{a:?}");
    assert!(y.max_rel > 0.5, "{y:?}");
    assert_eq!(r.largest_loss, p.tensor_by_name("y"));
    let text = handtrace::render::float::text(&p, &r);
    assert!(
        text.contains("largest precision loss: `y` (line 4)"),
        "{text}"
    );
    assert_eq!(handtrace::render::float::json(&p, &r)["largest_loss"], "y");
}

#[test]
fn underflow_and_masks() {
    // exp(-20) is below f16's smallest subnormal: it flushes to 0 (IEEE underflow); the
    // masked entries of causal are −∞ in both runs and are not errors.
    let src = "dim T = 2\ninput S : [T, T]\nE = exp(S)\nC = causal(S)\nP = softmax(C, axis=-1)\n";
    let (p, r) = report(src, r#"{"S": [[-20, 1], [2, 3]]}"#, Format::F16);
    assert_eq!(row(&p, &r, "E").underflow, 1, "{:?}", row(&p, &r, "E"));
    let c = row(&p, &r, "C");
    assert_eq!((c.overflow, c.max_ulps), (0, 0.0), "{c:?}");
    assert_eq!(row(&p, &r, "P").overflow, 0);
    assert_eq!(r.first_overflow, None);
}

/// Every example, in every format, with the default random leaves: no error, no panic; the
/// exact comparison renders.
#[test]
fn every_example_runs_in_every_format() {
    let mut failures = Failures::new();
    for path in examples() {
        let shown = path.display().to_string();
        let p = load(&path);
        let leaves = leaf_values(&p, 0, &Default::default());
        let exact = exact_trace(&p, leaves.clone(), 128).ok().map(|t| t.values);
        for format in Format::ALL {
            let run = std::panic::catch_unwind(|| float::trace(&p, &leaves, format));
            match run {
                Err(_) => failures.push(format!("{shown} {format}: panicked")),
                Ok(Err(e)) => failures.push(format!("{shown} {format}: {}", e.message(&p))),
                Ok(Ok(values)) => {
                    if let Some(exact) = &exact {
                        let r = compare(&p, exact, &values, format);
                        let text = handtrace::render::float::text(&p, &r);
                        failures.check(r.rows.len() == p.tensors.len(), || {
                            format!("{shown} {format}: {} rows", r.rows.len())
                        });
                        failures.check(text.starts_with("float"), || text.clone());
                        let _ = handtrace::render::float::json(&p, &r);
                    }
                }
            }
        }
    }
    failures.finish();
}

#[test]
fn attention_in_f32_is_accurate_everywhere() {
    let p = load("examples/attention.ht");
    let leaves = leaf_values(&p, 0, &Default::default());
    let exact = exact_values(&p, &leaves);
    let floats = float::trace(&p, &leaves, Format::F32).unwrap();
    let r = compare(&p, &exact, &floats, Format::F32);
    let text = handtrace::render::float::text(&p, &r);
    for row in &r.rows {
        assert!(row.max_rel < 1e-5, "{text}");
        assert_eq!(row.overflow, 0, "{text}");
    }
    assert_eq!(r.first_overflow, None);
    // The masked entries of causal(S) match; softmax's are exactly 0.
    assert!(text.contains("no overflow in f32"), "{text}");
}

/// The backward pass (a derived gradient graph, extending the forward graph) runs in f32 and
/// agrees with the exact gradients.
#[test]
fn a_gradient_graph_runs_in_f32() {
    let p = load("examples/attention.ht");
    let leaves = leaf_values(&p, 0, &Default::default());
    let grads = handtrace::diff::derive(&p).unwrap();
    let exact = gradient_values(&p, &grads, &leaves, None, 0, 128).unwrap();
    let target = p.target.as_ref().unwrap();
    assert_eq!(target.kind, TargetKind::Output);
    let up: HashMap<TensorId, Tensor<Num>> =
        HashMap::from([(target.tensor, upstream(&p, target.tensor, 0))]);
    let roots: Vec<_> = exact
        .iter()
        .map(|(t, _)| grads.of(&p, *t).unwrap())
        .collect();
    let values = eval_nodes(&p, &grads.graph, &leaves, &up, Format::F32, &roots).unwrap();
    let floats: Vec<_> = exact
        .iter()
        .zip(&roots)
        .map(|((t, _), n)| (*t, values[n.0 as usize].clone().unwrap()))
        .collect();
    let r = compare(&p, &exact, &floats, Format::F32);
    for row in &r.rows {
        assert!(
            row.max_rel < 1e-4 && row.overflow == 0,
            "{}: {row:?}",
            p.tensor(row.tensor).name
        );
    }
    // Without the upstream gradient, the error names it.
    let e = eval_nodes(
        &p,
        &grads.graph,
        &leaves,
        &HashMap::new(),
        Format::F32,
        &roots,
    )
    .unwrap_err();
    assert!(e.message(&p).contains("grad(O)"), "{}", e.message(&p));
}

#[test]
fn a_missing_leaf_is_an_error_naming_it() {
    let p = program("dim T = 2\ninput S : [T, T]\nE = exp(S)\n");
    let e = float::trace(&p, &HashMap::new(), Format::F32).unwrap_err();
    assert!(matches!(e.kind, float::FloatErrorKind::MissingLeaf(_)));
    assert!(e.message(&p).contains("`S`"), "{}", e.message(&p));
}

#[test]
fn token_ids_out_of_range_are_errors_naming_the_tensor() {
    let p = program(
        "dim T = 2\ndim V = 3\ndim d = 2\ntokens ids : [T] in V\nparam E : [V, d]\nX = embedding(E, ids)\nY = onehot(ids, V)\n",
    );
    let mut leaves = leaf_values(&p, 0, &Default::default());
    let ids = p.tensor_by_name("ids").unwrap();
    let good = float::trace(&p, &leaves, Format::BF16).unwrap();
    let x = &good[p.tensor_by_name("X").unwrap().0 as usize].1;
    assert_eq!(x.shape(), &[2, 2]);
    leaves.insert(
        ids,
        Tensor::from_shape_vec(vec![2], vec![Num::from_int(0), Num::from_int(7)]).unwrap(),
    );
    let e = float::trace(&p, &leaves, Format::BF16).unwrap_err();
    assert_eq!(
        e.kind,
        float::FloatErrorKind::BadToken {
            value: 7.0,
            range: 3
        }
    );
    assert!(e.message(&p).contains("`X` (line 6)"), "{}", e.message(&p));
}

#[test]
fn erf_and_erfc_in_f64_are_accurate() {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-13 * b.abs();
    for (x, erf, erfc) in [
        (0.5, 0.5204998778130465, 0.4795001221869535),
        (1.0, 0.8427007929497149, 0.15729920705028513),
        (2.0, 0.9953222650189527, 0.004677734981047266),
        (3.0, 0.9999779095030014, 2.209049699858544e-5),
        (5.0, 0.9999999999984626, 1.537_459_794_428_035e-12),
        (10.0, 1.0, 2.088487583762545e-45),
    ] {
        assert!(close(float::erf(x), erf), "erf({x}) = {}", float::erf(x));
        assert!(close(float::erf(-x), -erf), "erf(-{x})");
        assert!(
            close(float::erfc(x), erfc),
            "erfc({x}) = {:e}",
            float::erfc(x)
        );
    }
}
