//! The e-graph simplifier's proofs: every rule is used by a proof of the corpus in
//! `tests/data/`, every step of every proof is re-checked with the exact evaluator (so an
//! unsound rule cannot hide behind a proof), the named identities' explanations are
//! snapshotted, and false claims are not proved.

mod common;

use common::{data, program, Failures};
use handtrace::diff::derive;
use handtrace::exact::eval::{eval_graph, Env};
use handtrace::exact::inputs::{concrete_shape, leaf_values, Rng};
use handtrace::exact::num::{Num, NumError};
use handtrace::exact::run::raising;
use handtrace::exact::tensor::{self, Tensor};
use handtrace::ir::shape::{same_shape, show_shape};
use handtrace::ir::{Claim, Graph, Node, NodeId, Op, Program, TensorId};
use handtrace::simplify::{prove, rules, Limits, Proof, ProofOutcome};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;

/// The corpus: every claim in these files is an identity the simplifier must prove.
const CORPUS: [&str; 11] = [
    "elementwise.ht",
    "matrix.ht",
    "rows.ht",
    "named.ht",
    "masked.ht",
    "masked_twice.ht",
    "masked_sum.ht",
    "attention.ht",
    "moves.ht",
    "reductions.ht",
    "select.ht",
];

/// Enclosures must be this tight (relative) to count as equal when they overlap.
const BITS: u32 = 128;
/// Points each proof step is checked at.
const POINTS: usize = 3;
/// Seeds tried to find `POINTS` points where both terms of a step are defined.
const SEEDS: u64 = 12;

/// Load a file of `tests/data/`.
fn load(file: &str) -> Program {
    common::load(data(file))
}

/// The two sides of a claim as nodes of `program.graph`. A `grad(X)` of a tensor other than
/// the output is the derived gradient ∂L/∂X (from `diff::derive`), substituted into the
/// claim; `grad(O)` of the output stays the free upstream gradient. For such a claim the
/// program is loaded again and its graph replaced by the gradient graph with the substituted
/// sides appended (`prove` reads definitions from `program.graph`, see `prove_claim`).
struct Sides {
    program: Rc<Program>,
    lhs: NodeId,
    rhs: NodeId,
}

fn sides(p: &Rc<Program>, claim: &Claim, reload: impl Fn() -> Program) -> Sides {
    let (lhs, rhs) = (
        claim.lhs.expect("the claim lowered"),
        claim.rhs.expect("the claim lowered"),
    );
    let output = p.target.as_ref().map(|t| t.tensor);
    let derived = |n: &Node| matches!(n.op, Op::GradOf(t) if Some(t) != output);
    if !p.graph.depends_on(lhs, derived) && !p.graph.depends_on(rhs, derived) {
        return Sides {
            program: p.clone(),
            lhs,
            rhs,
        };
    }
    let grads = derive(p).unwrap_or_else(|d| panic!("{}: {}", claim.text, d.message));
    let map: HashMap<TensorId, NodeId> = (0..p.tensors.len() as u32)
        .map(TensorId)
        .filter_map(|t| grads.of(p, t).map(|g| (t, g)))
        .collect();
    let mut graph = grads.graph;
    let lhs = substitute(&mut graph, lhs, &map);
    let rhs = substitute(&mut graph, rhs, &map);
    let mut program = reload();
    program.graph = graph;
    Sides {
        program: Rc::new(program),
        lhs,
        rhs,
    }
}

/// `root` with every `grad(X)` in `map` replaced by its node (new nodes appended).
fn substitute(graph: &mut Graph, root: NodeId, map: &HashMap<TensorId, NodeId>) -> NodeId {
    let mut needed = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if needed.insert(n) {
            stack.extend(graph.node(n).args.iter().copied());
        }
    }
    let mut new: HashMap<NodeId, NodeId> = HashMap::new();
    for n in needed {
        let node = graph.node(n).clone();
        if let Op::GradOf(t) = node.op {
            if let Some(&g) = map.get(&t) {
                new.insert(n, g);
                continue;
            }
        }
        let args: Vec<NodeId> = node
            .args
            .iter()
            .map(|a| new.get(a).copied().unwrap_or(*a))
            .collect();
        if args != node.args {
            let id = graph.add(Node { args, ..node });
            new.insert(n, id);
        }
    }
    new.get(&root).copied().unwrap_or(root)
}

/// A proved claim of the corpus.
struct Proved {
    file: &'static str,
    text: String,
    sides: Sides,
    proof: Proof,
}

/// Prove a claim of `file`. `prove(program, graph, ..)` is called with
/// `graph == program.graph`: with a larger `graph`, `Loader::define` indexes
/// `program.graph` with the larger graph's node ids and panics (reported, not worked
/// around in src).
fn prove_claim(
    file: &str,
    p: &Rc<Program>,
    claim: &Claim,
) -> (
    Sides,
    Result<ProofOutcome, handtrace::simplify::SimplifyError>,
) {
    let s = sides(p, claim, || load(file));
    let q = &s.program;
    let outcome = prove(q, &q.graph, s.lhs, s.rhs, &Limits::default());
    (s, outcome)
}

/// Prove every claim of every corpus file; panics naming each claim that is not proved.
fn corpus() -> Vec<Proved> {
    let mut failures = Failures::new();
    let mut out = Vec::new();
    for file in CORPUS {
        let Some(p) = failures.attempt(file, || Rc::new(load(file))) else {
            continue;
        };
        failures.check(!p.claims.is_empty(), || format!("{file} has no claims"));
        for claim in &p.claims {
            if let Some(e) = &claim.error {
                failures.push(format!("{file}: {}: {}", claim.text, e.message));
                continue;
            }
            match prove_claim(file, &p, claim) {
                (sides, Ok(ProofOutcome::Proved(proof))) => out.push(Proved {
                    file,
                    text: claim.text.clone(),
                    sides,
                    proof,
                }),
                (_, Ok(ProofOutcome::NotProved(stop))) => failures.push(format!(
                    "{file}: {}: not proved ({})",
                    claim.text,
                    stop.describe()
                )),
                (_, Err(e)) => failures.push(format!("{file}: {}: error: {e}", claim.text)),
            }
        }
    }
    failures.finish();
    out
}

/// The seeds of the points: every regime of values but the large one (whose logits overflow
/// what exp takes exactly, which would make a point unusable, not a rule unsound).
fn seeds() -> impl Iterator<Item = u64> {
    (1..).filter(|s| s % 4 != 3).take(SEEDS as usize)
}

/// Values for every leaf and every `grad(NAME)` symbol at `seed`.
fn env(p: &Program, seed: u64) -> Env<Num> {
    let mut env = Env::new(leaf_values(p, seed, &HashMap::new()));
    let mut rng = Rng::new(seed ^ 0x6772_6164);
    for i in 0..p.tensors.len() as u32 {
        let t = TensorId(i);
        let shape = concrete_shape(p, t);
        env.grads.insert(t, rng.tensor(&shape));
    }
    env
}

/// Where a term has no value: a division by zero, a log or even root of a negative number,
/// −∞ where only finite numbers are allowed. Only such points are skipped; anything else
/// (an undecided comparison, say) fails the test.
fn undefined(e: &NumError) -> bool {
    matches!(
        e,
        NumError::DivisionByZero
            | NumError::LogOfNonPositive
            | NumError::SqrtOfNegative
            | NumError::BadPower(_)
            | NumError::NegInfinity(_)
    )
}

/// The value of `root`, raising precision until every entry is tight to `BITS`.
fn value(
    p: &Program,
    graph: &Graph,
    env: &Env<Num>,
    root: NodeId,
) -> Result<Tensor<Num>, NumError> {
    let attempt = |prec| eval_graph(p, graph, env, &[root], prec);
    let tight = |values: &Vec<Option<Tensor<Num>>>| {
        values[root.0 as usize]
            .as_ref()
            .is_some_and(|t| t.iter().all(|n| n.is_tight(BITS)))
    };
    let (mut values, _) = raising(BITS, attempt, tight).map_err(|e| e.error)?;
    Ok(values[root.0 as usize].take().expect("evaluated"))
}

/// Equal entry by entry: exact values equal, enclosures overlapping and tight.
fn equal(a: &Tensor<Num>, b: &Tensor<Num>) -> Result<(), String> {
    if a.shape() != b.shape() {
        return Err(format!("shapes {:?} and {:?}", a.shape(), b.shape()));
    }
    for (i, (x, y)) in tensor::entries(a)
        .iter()
        .zip(tensor::entries(b))
        .enumerate()
    {
        match x.compare(&y) {
            Some(std::cmp::Ordering::Equal) => {}
            None if x.is_tight(BITS) && y.is_tight(BITS) => {}
            None => return Err(format!("entry {i}: {x} and {y} are undecided")),
            Some(_) => return Err(format!("entry {i}: {x} ≠ {y}")),
        }
    }
    Ok(())
}

/// Check that `before` and `after` (nodes of `graph`) have the same symbolic shape and are
/// equal at `POINTS` points where both are defined. Returns the number of points checked.
fn check_step(
    p: &Program,
    graph: &Graph,
    before: NodeId,
    after: NodeId,
    envs: &[Env<Num>],
    cache: &mut HashMap<(usize, NodeId), Result<Tensor<Num>, NumError>>,
) -> Result<usize, String> {
    let (sa, sb) = (graph.shape(before), graph.shape(after));
    if !same_shape(&p.dims, sa, sb) {
        return Err(format!(
            "shapes {} and {}",
            show_shape(&p.dims, sa),
            show_shape(&p.dims, sb)
        ));
    }
    let mut checked = 0;
    for (i, env) in envs.iter().enumerate() {
        if checked == POINTS {
            break;
        }
        let mut get = |n: NodeId| {
            cache
                .entry((i, n))
                .or_insert_with(|| value(p, graph, env, n))
                .clone()
        };
        let (x, y) = (get(before), get(after));
        for e in [&x, &y].into_iter().filter_map(|v| v.as_ref().err()) {
            if !undefined(e) {
                return Err(format!("at seed {i}: cannot evaluate: {e}"));
            }
        }
        let (Ok(x), Ok(y)) = (x, y) else {
            continue;
        };
        equal(&x, &y).map_err(|e| format!("at seed {i}: {e}"))?;
        checked += 1;
    }
    Ok(checked)
}

/// Every step of every proof, and the ends (the claim's sides against the proof's first and
/// last terms), re-checked exactly: the soundness check of every rule a proof used.
#[test]
fn every_proof_step_is_exactly_equal() {
    let mut failures = Failures::new();
    let mut steps = 0;
    for c in corpus() {
        let p = &c.sides.program;
        let envs: Vec<Env<Num>> = seeds().map(|seed| env(p, seed)).collect();
        let graph = &c.proof.graph;
        let mut cache = HashMap::new();
        let mut chain = vec![(c.sides.lhs, "the left side".to_string())];
        chain.push((c.proof.start, "the proof's first term".to_string()));
        for s in &c.proof.steps {
            let dir = if s.reversed { " (reversed)" } else { "" };
            chain.push((s.term, format!("{}{dir}", s.rule)));
        }
        chain.push((c.sides.rhs, "the right side".to_string()));
        for pair in chain.windows(2) {
            let ((before, _), (after, why)) = (&pair[0], &pair[1]);
            match check_step(p, graph, *before, *after, &envs, &mut cache) {
                Ok(POINTS) => steps += 1,
                Ok(n) => failures.push(format!(
                    "{}: {}: step `{why}` was defined at only {n} of {SEEDS} points",
                    c.file, c.text
                )),
                Err(e) => failures.push(format!(
                    "{}: {}: step `{why}` is not an equality: {e}\n{}",
                    c.file,
                    c.text,
                    handtrace::render::proof::text(
                        p,
                        &c.proof,
                        handtrace::render::proof::Steps::Full
                    )
                )),
            }
        }
    }
    failures.finish();
    assert!(steps > 0);
}

/// Together, the corpus's proofs use every rule.
#[test]
fn the_corpus_uses_every_rule() {
    let mut used: HashSet<String> = HashSet::new();
    for c in corpus() {
        used.extend(c.proof.steps.iter().map(|s| s.rule.clone()));
    }
    let missing: Vec<String> = rules::names()
        .into_iter()
        .filter(|r| !used.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "rules no proof of the corpus uses:\n  {}",
        missing.join("\n  ")
    );
}

/// The printed proof of the claim of `named.ht` whose text is `text`.
fn named_proof(text: &str) -> String {
    let p = Rc::new(load("named.ht"));
    let claim = p
        .claims
        .iter()
        .find(|c| c.text == text)
        .unwrap_or_else(|| panic!("no claim `{text}` in named.ht"));
    match prove_claim("named.ht", &p, claim).1 {
        Ok(ProofOutcome::Proved(proof)) => format!(
            "claim {text}\n{}",
            handtrace::render::proof::text(&p, &proof, handtrace::render::proof::Steps::Full)
        ),
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn trace_cyclicity_proof() {
    insta::assert_snapshot!(named_proof("trace(M @ N) = trace(N @ M)"));
}

#[test]
fn flash_attention_rowsum_proof() {
    insta::assert_snapshot!(named_proof("rowsum(P * (dO @ V.T)) = rowsum(dO * (P @ V))"));
}

#[test]
fn transpose_of_a_sum_proof() {
    insta::assert_snapshot!(named_proof("(A + B).T = A.T + B.T"));
}

/// False claims, each a common slip, are not proved (and proving them is not an error).
#[test]
fn false_claims_are_not_proved() {
    let p = program(
        "dim n = 3\ndim m = 2\ndim k = 4\n\
         input A : [n, n]\ninput B : [n, n]\ninput C : [n, n]\ninput s : []\n\
         input P : [m, m]\ninput dO : [m, k]\ninput V : [m, k]\ninput X : [m, k]\n\
         claim A @ B = B @ A\n\
         claim (A @ B).T = A.T @ B.T\n\
         claim rowsum(A * (B @ C.T)) = rowsum(A * (B @ C))\n\
         claim rowsum(A * (B @ C.T)) = rowsum(B * (A.T @ C))\n\
         claim rowsum(P * (dO @ V.T)) = rowsum(dO * (P.T @ V))\n\
         claim rowsum(P * (dO @ V.T)) = rowsum(P * (V @ dO.T))\n\
         claim rowsum(P * (dO @ V.T)) = rowsum(V * (P @ dO))\n\
         claim trace(A @ B @ C) = trace(B @ A @ C)\n\
         claim (A + B).T = A + B\n\
         claim (A * B).T = A.T @ B.T\n\
         claim A.T @ B = A @ B.T\n\
         claim trace(A.T @ B) = sum(A @ B)\n\
         claim sqrt(A * A) = A\n\
         claim log(exp(A) * exp(B)) = A * B\n\
         claim exp(A) * exp(B) = exp(A * B)\n\
         claim rowsum(X) / m = mean(X, axis=-1, keepdims=true)\n\
         claim rowsum(A * B) = rowsum(A) * rowsum(B)\n\
         claim (s * A) @ B = A @ B\n\
         claim -(A @ B) = (-A) @ (-B)\n\
         claim A - 0 * B = 0 * A\n\
         claim slice(concat(A, B), 0, n) = B\n\
         claim concat(A, B) = concat(B, A)\n\
         claim slice(pad(A, 1, 0), 0, n) = A\n\
         claim pad(A, 0, n) + pad(B, 1, n - 1) = concat(A, B)\n\
         claim concat(slice(A, 0, 1), slice(A, 2, n)) = slice(A, 0, n - 1)\n",
    );
    let mut proved = Vec::new();
    for claim in &p.claims {
        assert!(claim.error.is_none(), "{}", claim.text);
        let (l, r) = (claim.lhs.unwrap(), claim.rhs.unwrap());
        match prove(&p, &p.graph, l, r, &Limits::default()) {
            Ok(ProofOutcome::NotProved(_)) => {}
            Ok(ProofOutcome::Proved(proof)) => proved.push(format!(
                "{}\n{}",
                claim.text,
                handtrace::render::proof::text(&p, &proof, handtrace::render::proof::Steps::Full)
            )),
            Err(e) => panic!("{}: {e}", claim.text),
        }
    }
    assert!(
        proved.is_empty(),
        "false claims proved:\n{}",
        proved.join("\n")
    );
}

/// The softmax rule through the causal mask: the derived `grad(S)` is `tril(...)`, and the
/// explanation says why the mask can be dropped.
#[test]
fn the_softmax_rule_with_a_mask_is_proved() {
    let p = Rc::new(load("masked.ht"));
    let claim = &p.claims[0];
    match prove_claim("masked.ht", &p, claim) {
        (s, Ok(ProofOutcome::Proved(proof))) => {
            let text = handtrace::render::proof::text(
                &s.program,
                &proof,
                handtrace::render::proof::Steps::Short,
            );
            assert!(
                text.contains("by softmax of a masked row is lower triangular"),
                "{text}"
            );
        }
        (_, other) => panic!("{}: {other:?}", claim.text),
    }
}

/// The exact re-check is not vacuous: it tells a false step from a true one.
#[test]
fn the_exact_recheck_catches_a_false_step() {
    let p = program(
        "dim n = 3\ninput A : [n, n]\ninput B : [n, n]\n\
         claim (A @ B).T = A.T @ B.T\nclaim (A @ B).T = B.T @ A.T\n",
    );
    let envs: Vec<Env<Num>> = seeds().map(|seed| env(&p, seed)).collect();
    let (wrong, right) = (&p.claims[0], &p.claims[1]);
    let mut cache = HashMap::new();
    let check = |c: &Claim, cache: &mut _| {
        check_step(&p, &p.graph, c.lhs.unwrap(), c.rhs.unwrap(), &envs, cache)
    };
    let err = check(wrong, &mut cache).unwrap_err();
    assert!(err.contains('≠'), "{err}");
    assert_eq!(check(right, &mut cache), Ok(POINTS));
}

/// `prove`'s contract: `graph` may extend `program.graph` (a gradient graph, or a claim with
/// derived gradients substituted). Today this panics in `Loader::define`, which reads the
/// nodes of the sides from `program.graph`; the corpus works around it in `prove_claim`.
#[test]
fn prove_accepts_a_graph_that_extends_the_program() {
    let p = load("masked.ht");
    let grads = derive(&p).unwrap();
    let ds = grads.of(&p, p.tensor_by_name("S").unwrap()).unwrap();
    let rhs = p.claims[0].rhs.unwrap();
    assert!(matches!(
        prove(&p, &grads.graph, ds, rhs, &Limits::default()),
        Ok(ProofOutcome::Proved(_))
    ));
}

/// A scalar that is zero is the number 0 (`0 * s`, `s - s`, the sum of a zero tensor).
/// Proved before "times zero" gave way to the zero analysis, which only joins zeros of a
/// non-empty shape with their canonical zero.
#[test]
fn a_scalar_zero_is_the_number_zero() {
    let p = program(
        "dim m = 2\ndim n = 4\ninput A : [m, n]\ninput s : []\n\
         claim s - s = 0\nclaim 0 * s = 0\nclaim sum(A - A) = 0\n",
    );
    for c in &p.claims {
        let (l, r) = (c.lhs.unwrap(), c.rhs.unwrap());
        assert!(
            matches!(
                prove(&p, &p.graph, l, r, &Limits::default()),
                Ok(ProofOutcome::Proved(_))
            ),
            "{}",
            c.text
        );
    }
}
