//! The exact evaluator: hand-computable values asserted as rationals, masks, errors that name
//! the statement, and forward-mode derivatives checked against exact difference quotients.

mod common;

use common::{program, Failures};
use handtrace::exact::inputs::{leaf_values, parse_inputs};
use handtrace::exact::num::{Num, NumError, Prec};
use handtrace::exact::run::{directional_derivative, trace, Trace};
use handtrace::exact::tensor::{self, Tensor};
use handtrace::ir::{Program, TensorId};
use num_rational::BigRational;
use std::collections::HashMap;

fn run(p: &Program, inputs: &str) -> Trace {
    let given = parse_inputs(p, inputs).unwrap();
    trace(p, leaf_values(p, 0, &given.leaves), 128).unwrap_or_else(|e| panic!("{}", e.message(p)))
}

fn value<'a>(p: &Program, t: &'a Trace, name: &str) -> &'a Tensor<Num> {
    let id = p.tensor_by_name(name).unwrap();
    &t.values.iter().find(|(i, _)| *i == id).unwrap().1
}

fn r(text: &str) -> BigRational {
    handtrace::exact::inputs::parse_entry(text).unwrap()
}

/// Every entry is exact and equals the expected fractions (row-major).
#[track_caller]
fn exact(t: &Tensor<Num>, expected: &[&str]) {
    let got: Vec<Num> = tensor::entries(t);
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(expected) {
        assert_eq!(g, &Num::exact(r(e)), "expected {e}, got {g}");
    }
}

#[test]
fn matrix_products_means_and_broadcasts_are_exact() {
    let p = program(
        "dim m = 2\ndim n = 3\ninput A : [m, n]\ninput B : [n, m]\ninput b : [n]\n\
         C = A @ B\nmu = mean(A, axis=-1, keepdims=true)\nD = A - mu\nE = A + b\ns = sum(A)\nt = trace(C)\nv = A @ b\n",
    );
    let t = run(
        &p,
        r#"{"A": [[1, 2, 3], [4, 5, 6]], "B": [["1/2", 0], [0, "1/3"], [1, -1]], "b": [1, "1/2", "-1/4"]}"#,
    );
    exact(value(&p, &t, "C"), &["7/2", "-7/3", "8", "-13/3"]);
    exact(value(&p, &t, "mu"), &["2", "5"]);
    exact(value(&p, &t, "D"), &["-1", "0", "1", "-1", "0", "1"]);
    exact(
        value(&p, &t, "E"),
        &["2", "5/2", "11/4", "5", "11/2", "23/4"],
    );
    exact(value(&p, &t, "s"), &["21"]);
    exact(value(&p, &t, "t"), &["-5/6"]);
    exact(value(&p, &t, "v"), &["5/4", "5"]);
}

#[test]
fn reshape_permute_einsum_and_batched_matmul() {
    let p = program(
        "dim a = 2\ndim b = 3\ninput X : [a, b]\n\
         R = reshape(X, [b, a])\nP = permute(X, [1, 0])\nE = einsum(\"ij,kj->ik\", X, X)\n\
         G = reshape(X, [a, b, 1]) @ reshape(X, [a, 1, b])\nT = X.T\n",
    );
    let t = run(&p, r#"{"X": [[1, 2, 3], [4, 5, 6]]}"#);
    exact(value(&p, &t, "R"), &["1", "2", "3", "4", "5", "6"]);
    exact(value(&p, &t, "P"), &["1", "4", "2", "5", "3", "6"]);
    exact(value(&p, &t, "T"), &["1", "4", "2", "5", "3", "6"]);
    exact(value(&p, &t, "E"), &["14", "32", "32", "77"]);
    exact(
        value(&p, &t, "G"),
        &[
            "1", "2", "3", "2", "4", "6", "3", "6", "9", "16", "20", "24", "20", "25", "30", "24",
            "30", "36",
        ],
    );
}

#[test]
fn causal_masks_give_exact_zeros_and_minus_infinity() {
    let p = program("dim T = 3\ninput S : [T, T]\nM = causal(S)\nP = softmax(M, axis=-1)\nm = max(M, axis=-1, keepdims=true)\n");
    let t = run(&p, r#"{"S": [[0, 1, 2], [0, 0, 5], [1, 1, 1]]}"#);
    let m = tensor::entries(value(&p, &t, "M"));
    assert!(m[1].is_neg_inf() && m[2].is_neg_inf() && m[5].is_neg_inf());
    let probs = tensor::entries(value(&p, &t, "P"));
    // Row 0 is [1, 0, 0]; row 1 is [1/2, 1/2, 0]; row 2 is uniform: all exact.
    let expected = ["1", "0", "0", "1/2", "1/2", "0", "1/3", "1/3", "1/3"];
    for (g, e) in probs.iter().zip(expected) {
        assert_eq!(g, &Num::exact(r(e)));
    }
    exact(value(&p, &t, "m"), &["0", "0", "1"]);
}

#[test]
fn softmax_rows_sum_to_one_within_the_enclosure() {
    let p = program("dim T = 3\ninput S : [T, T]\nP = softmax(S, axis=-1)\nr = rowsum(P)\n");
    let t = run(&p, r#"{"S": [[0, 1, 2], ["1/2", -3, 5], [1, 2, "-7/4"]]}"#);
    for x in tensor::entries(value(&p, &t, "r")) {
        assert!(x.contains(&r("1")) && x.is_tight(120), "{x:?}");
    }
}

#[test]
fn enclosures_contain_known_values() {
    let p = program("input x : []\ny = gelu(x)\nz = gelu_tanh(x)\nw = silu(x)\n");
    let t = run(&p, r#"{"x": "1"}"#);
    // gelu(1) = Φ(1), gelu_tanh(1) and silu(1) = σ(1) to 40 digits.
    let known = [
        ("y", "0.8413447460685429485852325456320379224779"),
        ("z", "0.8411919906082767047819957770451838608258"),
        ("w", "0.7310585786300048792511592418218362743651"),
    ];
    for (name, digits) in known {
        let v = &tensor::entries(value(&p, &t, name))[0];
        let (lo, hi) = v.bounds().unwrap();
        let target = r(digits);
        let slack = r("1e-39");
        assert!(
            lo <= &target + &slack && &target - &slack <= hi,
            "{name}: {v}"
        );
    }
}

#[test]
fn failures_name_the_statement() {
    let p = program("dim n = 2\ninput x : [n]\ny = x + 1\nz = 1 / y\nw = log(x)\n");
    let given = parse_inputs(&p, r#"{"x": [-1, 2]}"#).unwrap();
    let e = trace(&p, leaf_values(&p, 0, &given.leaves), 128).unwrap_err();
    assert_eq!(e.error, NumError::DivisionByZero);
    assert!(
        e.message(&p).contains("in `z` (line 4): z = 1 / y"),
        "{}",
        e.message(&p)
    );
    let given = parse_inputs(&p, r#"{"x": [3, 2]}"#).unwrap();
    assert!(trace(&p, leaf_values(&p, 0, &given.leaves), 128).is_ok());
    let given = parse_inputs(&p, r#"{"x": [3, 0]}"#).unwrap();
    let e = trace(&p, leaf_values(&p, 0, &given.leaves), 128).unwrap_err();
    assert_eq!(e.error, NumError::LogOfNonPositive);
    assert!(e.message(&p).contains("`w`"));
}

#[test]
fn minus_infinity_outside_softmax_is_an_error() {
    let p = program("dim T = 2\ninput S : [T, T]\nM = causal(S) * 2\n");
    let e = trace(&p, leaf_values(&p, 0, &HashMap::new()), 128).unwrap_err();
    assert!(matches!(e.error, NumError::NegInfinity(_)));
    assert!(e.message(&p).contains("`M`"));
}

#[test]
fn bad_inputs_are_reported() {
    let p = program("dim n = 2\ninput x : [n]\ndata y : [n]\nz = x * y\noutput z\n");
    use handtrace::exact::inputs::{EntryError, InputsError};
    let e = parse_inputs(&p, r#"{"q": [1, 2]}"#).unwrap_err();
    assert!(matches!(&e, InputsError::NotALeaf { key, .. } if key == "q"));
    assert!(e.to_string().contains("not an input, param or data leaf"));
    let e = parse_inputs(&p, r#"{"x": [1, 2, 3]}"#).unwrap_err();
    assert!(matches!(e, InputsError::Shape { ref found, .. } if found == &[3]));
    assert!(e.to_string().contains("has shape [3]"));
    assert!(matches!(
        parse_inputs(&p, r#"{"x": [[1], 2]}"#),
        Err(InputsError::Entry {
            error: EntryError::Ragged,
            ..
        })
    ));
    let e = parse_inputs(&p, r#"{"x": [1, true]}"#).unwrap_err();
    assert!(matches!(
        e,
        InputsError::Entry {
            error: EntryError::NotANumber(_),
            ..
        }
    ));
    assert!(e.to_string().contains("not a number"));
    assert_eq!(
        parse_inputs(&p, r#"[1]"#).unwrap_err(),
        InputsError::NotObject
    );
    let g = parse_inputs(&p, r#"{"x": ["1/2", 0.25], "grad(z)": [1, 0]}"#).unwrap();
    assert!(g.upstream.is_some());
    assert_eq!(
        tensor::entries(&g.leaves[&p.tensor_by_name("x").unwrap()])[1],
        Num::exact(r("1/4"))
    );
}

/// The first entries drawn from seed 42 (SplitMix64, n/d with n in −9..=9, d in 1..=4),
/// computed independently with a Python transcription of the generator.
/// Seed 42 is in the near-zero regime (42 mod 4 = 2).
const SEED_42: [&str; 4] = ["-1/1500", "1/3000", "1/1000", "-1/1000"];

#[test]
fn seeded_inputs_are_reproducible() {
    let p = program("dim n = 3\ninput x : [n, n]\nparam w : [n]\n");
    let a = leaf_values(&p, 42, &HashMap::new());
    let b = leaf_values(&p, 42, &HashMap::new());
    let c = leaf_values(&p, 43, &HashMap::new());
    let x = p.tensor_by_name("x").unwrap();
    assert_eq!(a[&x], b[&x]);
    assert_ne!(a[&x], c[&x]);
    // The stream is fixed by the seed alone: this is the first entry for seed 42 everywhere.
    let first: Vec<String> = tensor::entries(&a[&x])
        .iter()
        .take(4)
        .map(|n| n.to_string())
        .collect();
    assert_eq!(first, SEED_42);
}

/// Forward mode against exact difference quotients: for f rational in t along V,
/// D(h) = (f(x + hV) − f(x − hV)) / 2h differs from f'(x)·V by O(h²).
#[test]
fn forward_mode_matches_difference_quotients() {
    let src = "dim n = 3\ninput X : [n, n]\nparam W : [n, n]\n\
               A = X @ W\nB = A * A / (1 + A * A)\nC = B @ X.T - mean(B, axis=0, keepdims=true)\nL = sum(C * C) / n\n";
    let p = program(src);
    let leaves = leaf_values(&p, 5, &HashMap::new());
    let mut rng = handtrace::exact::inputs::Rng::new(99);
    let x = p.tensor_by_name("X").unwrap();
    let w = p.tensor_by_name("W").unwrap();
    let direction: HashMap<TensorId, Tensor<Num>> =
        [(x, rng.tensor(&[3, 3])), (w, rng.tensor(&[3, 3]))].into();
    let l = p.tensor(p.tensor_by_name("L").unwrap()).node;
    let d = directional_derivative(&p, &leaves, &direction, l, 128).unwrap();
    let exact_d = match &tensor::entries(&d)[0] {
        Num::Exact(v) => v.clone(),
        other => panic!("a rational function has an exact derivative, got {other:?}"),
    };
    let at = |h: &BigRational| -> BigRational {
        let moved: HashMap<TensorId, Tensor<Num>> = leaves
            .iter()
            .map(|(id, v)| {
                let shifted = match direction.get(id) {
                    Some(dir) => tensor::zip(v, dir, |a, b| {
                        a.add(
                            &b.mul(&Num::exact(h.clone()), Prec::DEFAULT)?,
                            Prec::DEFAULT,
                        )
                    })
                    .unwrap(),
                    None => v.clone(),
                };
                (*id, shifted)
            })
            .collect();
        let t = trace(&p, moved, 128).unwrap();
        match &tensor::entries(value(&p, &t, "L"))[0] {
            Num::Exact(v) => v.clone(),
            other => panic!("{other:?}"),
        }
    };
    let mut last_err: Option<BigRational> = None;
    for k in [3, 6, 9] {
        let h = r(&format!("1e-{k}"));
        let quotient = (at(&h) - at(&-h.clone())) / (r("2") * &h);
        let err = num_traits::Signed::abs(&(quotient - &exact_d));
        if let Some(prev) = &last_err {
            // The error falls like h²: by at least 10^5 when h falls by 10^3.
            assert!(
                &err * r("100000") <= *prev,
                "error {err} did not shrink from {prev}"
            );
        }
        last_err = Some(err);
    }
}

#[test]
fn forward_mode_through_every_example_is_tight() {
    let mut failures = Failures::new();
    for path in common::examples() {
        let name = path.display().to_string();
        let Some(p) = failures.attempt(&name, || common::load(&path)) else {
            continue;
        };
        let Some(target) = &p.target else { continue };
        let leaves = leaf_values(&p, 1, &HashMap::new());
        let mut rng = handtrace::exact::inputs::Rng::new(2);
        let dir: HashMap<TensorId, Tensor<Num>> = p
            .differentiable_leaves()
            .map(|id| {
                (
                    id,
                    rng.tensor(&handtrace::exact::inputs::concrete_shape(&p, id)),
                )
            })
            .collect();
        let out = p.tensor(target.tensor).node;
        match directional_derivative(&p, &leaves, &dir, out, 100) {
            Ok(d) => failures.check(tensor::entries(&d).iter().all(|x| x.is_tight(100)), || {
                format!("{name}: not tight")
            }),
            Err(e) => failures.push(format!("{name}: {}", e.message(&p))),
        }
    }
    failures.finish();
}

#[test]
fn a_remembering_env_gives_the_values_a_fresh_one_does() {
    use handtrace::exact::eval::{eval, Env};
    let p = program(
        "dim T = 3\ninput S : [T, T]\nP = softmax(S, axis=-1)\nG = gelu(P @ S)\nr = rowsum(G)\n",
    );
    let leaves = leaf_values(&p, 4, &HashMap::new());
    let node = |name: &str| p.tensor(p.tensor_by_name(name).unwrap()).node;
    let prec = Prec::new(140);
    let fresh = eval(&p, &Env::new(leaves.clone()), &[node("r")], prec).unwrap();
    let remembering = Env::new(leaves.clone()).remembering(p.graph.len());
    // First G alone (remembered), then r, which reads G from the memory.
    eval(&p, &remembering, &[node("G")], prec).unwrap();
    let again = eval(&p, &remembering, &[node("r")], prec).unwrap();
    let at = |v: &Vec<Option<Tensor<Num>>>, n: &str| v[node(n).0 as usize].clone().unwrap();
    assert_eq!(at(&fresh, "r"), at(&again, "r"));
    // An override is never answered from the memory: a perturbed P changes r.
    let mut perturbed = Env::new(leaves).remembering(p.graph.len());
    eval(&p, &perturbed, &[node("r")], prec).unwrap();
    let zero = Tensor::from_elem(ndarray::IxDyn(&[3, 3]), Num::from_int(0));
    perturbed.overrides.insert(node("P"), zero);
    let changed = eval(&p, &perturbed, &[node("r")], prec).unwrap();
    // gelu(0) = 0 in every entry, so each row sums to exactly 0.
    for x in tensor::entries(&at(&changed, "r")) {
        assert_eq!(x, Num::from_int(0));
    }
}

#[test]
fn direct_phi_and_sigmoid_enclose_what_the_composed_forms_do() {
    use handtrace::exact::scalar::{Dual, Scalar};
    let prec = Prec::new(120);
    for x in ["-15", "-3/2", "0", "1/3", "2", "40"] {
        let v = Num::exact(r(x));
        let dual = Dual::new(v.clone(), Num::from_int(0));
        for (direct, composed) in [
            (v.phi(prec).unwrap(), dual.phi(prec).unwrap()),
            (v.sigmoid(prec).unwrap(), dual.sigmoid(prec).unwrap()),
        ] {
            // Two enclosures of one number overlap; the direct one is at least as tight.
            let (a, b) = (direct.bounds().unwrap(), composed.value().bounds().unwrap());
            assert!(a.0 <= b.1 && b.0 <= a.1, "{x}: {direct} vs {composed:?}");
            assert!(direct.is_tight(100), "{x}: {direct}");
        }
    }
}

#[test]
fn forward_mode_from_a_remembered_forward_pass_is_the_same() {
    use handtrace::exact::eval::Env;
    use handtrace::exact::run::directional_derivative_in;
    let src = "dim n = 3\ninput X : [n, n]\nparam W : [n, n]\n\
               A = X @ W\nB = tanh(A) * A\nC = softmax(B, axis=-1) @ X.T\nL = sum(C * C) / n\n";
    let p = program(src);
    let leaves = leaf_values(&p, 3, &HashMap::new());
    let mut rng = handtrace::exact::inputs::Rng::new(7);
    let l = p.tensor(p.tensor_by_name("L").unwrap()).node;
    let remembered = Env::new(leaves.clone()).remembering(p.graph.len());
    // Directions on a leaf, on an intermediate, and on the loss itself.
    for name in ["W", "B", "C", "L"] {
        let t = p.tensor_by_name(name).unwrap();
        let shape = handtrace::exact::inputs::concrete_shape(&p, t);
        let direction: HashMap<TensorId, Tensor<Num>> = [(t, rng.tensor(&shape))].into();
        let fresh = directional_derivative(&p, &leaves, &direction, l, 128).unwrap();
        let again = directional_derivative_in(&p, &remembered, &direction, l, 128).unwrap();
        let twice = directional_derivative_in(&p, &remembered, &direction, l, 128).unwrap();
        assert_eq!(fresh, again, "{name}");
        assert_eq!(again, twice, "{name}");
        // A direction on the loss itself is its own tangent, exactly.
        if name == "L" {
            assert_eq!(fresh, direction[&t], "{name}");
        }
    }
}
