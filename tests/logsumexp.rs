//! `logsumexp(x, axis=k, keepdims=...)`: the op added through the op table (its row, its
//! gradient rule, its evaluation). It evaluates exactly where it can and is certified where it
//! cannot, prints back in the form it is written, and its gradient matches forward mode.

mod common;

use handtrace::exact::num::Num;
use handtrace::verify::gradients::{check_gradients, Outcome};
use handtrace::verify::Verdict;

const FILE: &str = "tests/data/logsumexp.ht";

#[test]
fn its_gradient_matches_forward_mode_exactly() {
    let p = common::load(FILE);
    let grads = handtrace::diff::derive(&p).unwrap();
    let z = p.tensor_by_name("Z").unwrap();
    for c in check_gradients(&p, &grads, &[z], 3, 0) {
        assert_eq!(c.outcome, Outcome::Verified { points: 3 });
    }
    // Raw and simplified gradients alike.
    let s = handtrace::simplify::simplify(&p, &grads, &[z], &Default::default()).unwrap();
    for c in check_gradients(&p, &s.gradients, &[z], 2, 7) {
        assert_eq!(c.outcome, Outcome::Verified { points: 2 });
    }
}

#[test]
fn its_definitions_hold_and_a_wrong_one_is_refuted() {
    let (p, results) = common::check(FILE);
    assert_eq!(results.len(), 5);
    for r in &results {
        assert!(
            matches!(r.verdict, Verdict::Proved | Verdict::Verified),
            "{}: {}",
            r.claim,
            common::detail(&p, r)
        );
    }
    let wrong = common::program(
        "dim n = 3\ninput x : [n]\nclaim logsumexp(x) = log(sum(exp(x))) + 1/1000\n",
    );
    let r = &handtrace::verify::check_program(&wrong, std::path::Path::new("t.ht"))[0];
    assert_eq!(r.verdict, Verdict::Refuted, "{}", common::detail(&wrong, r));
}

#[test]
fn it_prints_back_as_written() {
    let out = common::run(&["show", FILE]);
    let text = common::stdout(&out);
    for line in [
        "lse = logsumexp(Z, axis=-1, keepdims=true)  # [N, 1] = [3, 1]",
        "all = logsumexp(Z)                          # []",
        "both = logsumexp(Z, axis=[0, 1], keepdims=true)  # [1, 1]",
        "cols = logsumexp(causal(Z @ Z.T), axis=0)   # [N] = [3]",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    // The gradient program prints and its text parses back.
    let out = common::run(&["grad", FILE, "--check", "--points", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains("check: dZ verified"));
}

#[test]
fn masked_entries_add_nothing_and_values_are_certified() {
    let p = common::program(
        "dim n = 2\ninput S : [n, n]\nm = logsumexp(causal(S), axis=-1)\nz = logsumexp(S - S)\n",
    );
    let leaves = handtrace::exact::inputs::leaf_values(&p, 0, &Default::default());
    let trace = handtrace::exact::run::trace(&p, leaves.clone(), 64).unwrap();
    let value = |name: &str| {
        let t = p.tensor_by_name(name).unwrap();
        trace
            .values
            .iter()
            .find(|(id, _)| *id == t)
            .unwrap()
            .1
            .clone()
    };
    // Row 0 of causal(S) is [S00, -inf]: its logsumexp is exactly S00.
    let s00 = leaves[&p.tensor_by_name("S").unwrap()][[0, 0]].clone();
    assert_eq!(value("m")[[0]], s00);
    // logsumexp of four zeros is log 4: an enclosure around 1.386294361..., not exact.
    match &value("z")[[]] {
        Num::Range { lo, hi } => {
            let (lo, hi) = (lo.to_rational(), hi.to_rational());
            let bound = |n: i64, d: i64| num_rational::BigRational::new(n.into(), d.into());
            assert!(lo > bound(1_386_294_361, 1_000_000_000));
            assert!(hi < bound(1_386_294_362, 1_000_000_000));
        }
        other => panic!("log 4 is not rational: {other:?}"),
    }
}
