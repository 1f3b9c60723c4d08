//! Bad or extreme input never panics: property tests over the parser and shape checker,
//! deep nesting at the limit, and very long expressions.

mod common;

use handtrace::diag::Code;
use handtrace::ir::LowerOptions;
use handtrace::load_program_text;
use proptest::prelude::*;
use std::path::Path;

const HEAD: &str = "dim T = 3\ndim d = 2\ninput X : [T, d]\ninput v : [d]\nparam W : [d, d]\nparam A : [T, T]\nconst c = 1/2\n";

/// Load `src`; any outcome is fine except a panic (the proptest harness turns one into a failure).
fn load(src: &str) -> Result<handtrace::ir::Program, handtrace::LoadError> {
    load_program_text(Path::new("fuzz.ht"), src, &LowerOptions::default())
}

/// Everything that renders must render without panicking too.
fn load_and_render(src: &str) {
    match load(src) {
        Ok(p) => {
            let _ = handtrace::render::show::show(&p);
            let _ = handtrace::verify::check_program(&p, Path::new("fuzz.ht"));
        }
        Err(e) => {
            assert!(!e.diagnostics.is_empty());
            let _ = e.render(false);
        }
    }
}

const TOKENS: &[&str] = &[
    "dim ",
    "input ",
    "param ",
    "data ",
    "const ",
    "output ",
    "loss ",
    "fn ",
    "return ",
    "use ",
    "claim ",
    "derive ",
    "X",
    "W",
    "v",
    "A",
    "c",
    "T",
    "d",
    "x",
    "y",
    "Y",
    "=",
    "+",
    "-",
    "*",
    "/",
    "@",
    "**",
    ".T",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "->",
    "\n",
    "\n",
    " ",
    "1",
    "0",
    "2.5",
    "1e-3",
    "-1",
    "\"ij,jk->ik\"",
    "\"",
    "#",
    "# note\n",
    "softmax",
    "sum",
    "mean",
    "rowsum",
    "causal",
    "reshape",
    "permute",
    "einsum",
    "trace",
    "eye",
    "layernorm",
    "grad",
    "axis=",
    "keepdims=",
    "true",
    "exp",
    "sqrt",
    "max",
    "transpose",
    "slice",
    "pad",
    "concat",
    ";",
    "γ",
    "\t",
    "\r\n",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.concat())
}

/// Random well-shaped expressions of shape [T, d] over the header's tensors.
fn td_expr() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "X",
        "(A @ X)",
        "(X @ W)",
        "(X * v)",
        "c",
        "2",
        "rowsum(X)",
    ])
    .prop_map(str::to_string);
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            (
                prop::sample::select(vec!["exp", "tanh", "-"]),
                inner.clone()
            )
                .prop_map(|(f, a)| format!("{f}({a})")),
            inner.clone().prop_map(|a| format!("(A @ ({a} + X))")),
            inner
                .clone()
                .prop_map(|a| format!("slice(concat(X, {a}), d, 2*d)")),
            inner
                .clone()
                .prop_map(|a| format!("slice(pad({a}, 1, 2), 1, d + 1)")),
            inner.prop_map(|a| format!("(({a} + X) @ W.T)")),
        ]
    })
}

/// Random expressions over the header's tensors; shapes may or may not fit.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec!["X", "v", "W", "A", "c", "d", "T", "2", "pi", "(1/3)"])
        .prop_map(str::to_string);
    leaf.prop_recursive(6, 64, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/", "@"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            (
                prop::sample::select(vec![
                    "exp", "log", "sqrt", "tanh", "gelu", "Phi", "relu", "causal", "trace",
                    "rowsum"
                ]),
                inner.clone()
            )
                .prop_map(|(f, a)| format!("{f}({a})")),
            (
                prop::sample::select(vec!["sum", "mean", "max", "softmax", "logsoftmax"]),
                inner.clone(),
                -3i32..3
            )
                .prop_map(|(f, a, k)| format!("{f}({a}, axis={k})")),
            (inner.clone(), any::<bool>())
                .prop_map(|(a, k)| format!("sum({a}, axis=0, keepdims={k})")),
            inner.clone().prop_map(|a| format!("{a}.T")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("{a} ** 2")),
            inner.clone().prop_map(|a| format!("reshape({a}, [T, d])")),
            inner.clone().prop_map(|a| format!("permute({a}, [1, 0])")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("einsum(\"ij,jk->ik\", {a}, {b})")),
            inner.prop_map(|a| format!("transpose({a}, 0, 1)")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        load_and_render(&src);
    }

    #[test]
    fn token_soup_never_panics(src in token_soup()) {
        load_and_render(&src);
        load_and_render(&format!("{HEAD}{src}"));
    }

    #[test]
    fn random_expressions_are_shape_checked_without_panics(e in expr(), f in expr()) {
        load_and_render(&format!("{HEAD}Y = {e}\nZ = {f}\nclaim {e} = {f}\n"));
    }

    /// Whatever shape-checks can be differentiated and printed, without panics.
    #[test]
    fn random_programs_differentiate_without_panics(e in expr()) {
        if let Ok(p) = load(&format!("{HEAD}Y = {e}\nloss L = sum(Y * Y)\n")) {
            let grads = handtrace::diff::derive(&p).unwrap();
            let lines = handtrace::render::grad::program_lines(&p, &grads, &[]);
            let _ = handtrace::render::grad::text(&p, &lines, &Default::default());
        }
    }

    #[test]
    fn mutated_examples_never_panic(
        which in 0usize..64,
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(TOKENS), any::<bool>()), 1..6),
    ) {
        let files = common::examples();
        let mut src = std::fs::read_to_string(&files[which % files.len()]).unwrap();
        for (at, token, delete) in edits {
            let mut i = at.index(src.len() + 1);
            while !src.is_char_boundary(i) { i -= 1; }
            if delete {
                let mut j = (i + token.len()).min(src.len());
                while !src.is_char_boundary(j) { j -= 1; }
                src.replace_range(i..j, "");
            } else {
                src.insert_str(i, token);
            }
        }
        // Relative `use` paths resolve against examples/.
        let _ = load_program_text(Path::new("examples/mutated.ht"), &src, &LowerOptions::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// The evaluator never panics on random programs, and every gradient it can check agrees
    /// with forward mode: the rules compose soundly, not only on the examples.
    #[test]
    fn random_programs_evaluate_and_their_gradients_check(e in expr(), seed in 0u64..1000) {
        let Ok(p) = load(&format!("{HEAD}Y = {e}\nloss L = sum(Y * Y) / 64\n")) else { return Ok(()) };
        let leaves = handtrace::exact::inputs::leaf_values(&p, seed, &Default::default());
        let _ = handtrace::exact::run::trace(&p, leaves, 64);
        let grads = handtrace::diff::derive(&p).unwrap();
        let wrt: Vec<_> = p.differentiable_leaves().collect();
        for c in handtrace::verify::gradients::check_gradients(&p, &grads, &wrt, 1, seed) {
            let bad = matches!(c.outcome, handtrace::verify::gradients::Outcome::Mismatch { .. });
            prop_assert!(!bad, "{e}: gradient of {}: {:?}", p.tensor(c.tensor).name, c.outcome);
        }
    }
}

#[test]
fn nesting_at_the_limit_works() {
    let n = handtrace::syntax::lexical::MAX_NESTING;
    let cases = [
        format!("{HEAD}Y = {}X{}\n", "(".repeat(n), ")".repeat(n)),
        format!("{HEAD}Y = {}X{}\n", "exp(".repeat(n), ")".repeat(n)),
        format!("{HEAD}Y = {}X{}\n", "-(".repeat(n), ")".repeat(n)),
        format!(
            "{HEAD}Y = {}X{}\n",
            "softmax(".repeat(n),
            ", axis=-1)".repeat(n)
        ),
    ];
    for src in cases {
        // Run on a thread with the default 2 MiB test stack, like any library user's thread.
        let p = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                load(&src)
                    .map(|p| p.graph.len())
                    .map_err(|e| e.render(false))
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert!(p.is_ok(), "{p:?}");
    }
}

#[test]
fn deeper_nesting_is_an_error_not_a_crash() {
    let src = format!("{HEAD}Y = {}X{}\n", "[(".repeat(5000), ")]".repeat(5000));
    let e = load(&src).unwrap_err();
    assert_eq!(e.diagnostics[0].code, Code::TooDeep);
}

#[test]
fn thousands_of_terms_work() {
    for op in ["+", "*", "-", "/"] {
        let terms = vec!["X"; 5000].join(&format!(" {op} "));
        let p = load(&format!("{HEAD}Y = {terms}\n")).unwrap();
        let y = p.tensor_by_name("Y").unwrap();
        assert_eq!(handtrace::render::show::show(&p).lines().count(), 8);
        assert_eq!(p.shape_of(y).len(), 2);
    }
    // A long chain of matrix products, unary minus signs and transposes.
    let chain = vec!["A"; 3000].join(" @ ");
    let minus = "-".repeat(3000);
    let transposes = ".T".repeat(3000);
    let p = load(&format!("{HEAD}Y = {chain} @ {minus}X{transposes}\n")).unwrap();
    assert!(p.graph.len() > 9000);
    // A long expression split across lines inside brackets.
    let lines = vec!["X"; 2000].join(" +\n   ");
    load(&format!("{HEAD}Y = ({lines})\n")).unwrap();
}

#[test]
fn fn_calls_nested_past_the_limit_are_an_error() {
    let chain = |n: usize| {
        let mut src =
            String::from("dim T = 2\ninput X : [T]\nfn f0(x: [N]) -> [N] {\n  return x\n}\n");
        for i in 1..=n {
            src.push_str(&format!(
                "fn f{i}(x: [N]) -> [N] {{\n  return f{}(x)\n}}\n",
                i - 1
            ));
        }
        format!("{src}Y = f{n}(X)\n")
    };
    let e = load(&chain(40)).unwrap_err();
    assert_eq!(e.diagnostics[0].code, Code::TooDeep);
    if let Err(e) = load(&chain(20)) {
        panic!("{}", e.render(false));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Simplifying random programs' gradients keeps them right (checked exactly against
    /// forward mode) and never merges classes of different shapes.
    #[test]
    fn simplified_random_gradients_still_check(e in expr(), seed in 0u64..1000) {
        let Ok(p) = load(&format!("{HEAD}Y = {e}\nloss L = sum(Y * Y) / 64\n")) else { return Ok(()) };
        let grads = handtrace::diff::derive(&p).unwrap();
        let limits = handtrace::simplify::Limits { iterations: 6, nodes: 4000, ..Default::default() };
        let s = handtrace::simplify::simplify(&p, &grads, &[], &limits).unwrap();
        let conflict = matches!(
            s.report.kept_raw,
            Some(handtrace::simplify::SimplifyError::Conflict(_))
        );
        prop_assert!(!conflict, "{e}: {:?}", s.report.kept_raw);
        prop_assert!(s.report.flops <= s.report.raw_flops);
        let wrt: Vec<_> = p.differentiable_leaves().collect();
        for c in handtrace::verify::gradients::check_gradients(&p, &s.gradients, &wrt, 1, seed) {
            let bad = matches!(c.outcome, handtrace::verify::gradients::Outcome::Mismatch { .. });
            prop_assert!(!bad, "{e}: simplified gradient of {}: {:?}", p.tensor(c.tensor).name, c.outcome);
        }
    }

    /// A claim is proved only if its sides agree wherever both are defined.
    #[test]
    fn random_claims_are_proved_only_when_true(e in td_expr(), f in td_expr(), seed in 0u64..1000) {
        let src = format!(
            "{HEAD}claim {e} = {f}\nclaim ({e}) * 2 = ({e}) + ({e})\nclaim (A @ ({e})).T = ({e}).T @ A.T\n\
             claim ({e}) + ({f}) = ({f}) + ({e})\nclaim ({e}) * ({f}) - ({f}) = (({e}) - 1) * ({f})\n"
        );
        let p = load(&src).unwrap_or_else(|err| panic!("{src}\n{}", err.render(false)));
        let limits = handtrace::simplify::Limits { iterations: 6, nodes: 4000, ..Default::default() };
        for (k, claim) in p.claims.iter().enumerate() {
            let (Some(l), Some(r)) = (claim.lhs, claim.rhs) else { continue };
            prop_assert!(claim.error.is_none(), "{}", claim.text);
            let outcome = handtrace::simplify::prove(&p, &p.graph, l, r, &limits);
            prop_assert!(outcome.is_ok(), "{}: {:?}", claim.text, outcome.err());
            let proved = matches!(outcome.unwrap(), handtrace::simplify::ProofOutcome::Proved(_));
            // Claims 1 to 3 are one rule away (x + x, transpose of a product, commute +).
            prop_assert!(proved || !(1..=3).contains(&k), "not proved: {}", claim.text);
            if !proved {
                continue;
            }
            let leaves = handtrace::exact::inputs::leaf_values(&p, seed, &Default::default());
            let env = handtrace::exact::eval::Env::new(leaves);
            let prec = handtrace::exact::num::Prec::new(160);
            let Ok(values) = handtrace::exact::eval::eval(&p, &env, &[l, r], prec) else { continue };
            let (a, b) = (values[l.0 as usize].as_ref().unwrap(), values[r.0 as usize].as_ref().unwrap());
            // Same shape after broadcasting a scalar side; entries never certainly differ.
            let (a, b) = (handtrace::exact::tensor::entries(a), handtrace::exact::tensor::entries(b));
            for i in 0..a.len().max(b.len()) {
                let (x, y) = (&a[i % a.len()], &b[i % b.len()]);
                let differ = matches!(x.compare(y), Some(std::cmp::Ordering::Less | std::cmp::Ordering::Greater));
                prop_assert!(!differ, "{} proved but entry {i} differs: {x:?} vs {y:?}", claim.text);
            }
        }
    }
}
