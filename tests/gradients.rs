//! Reverse-mode gradients: every example's gradients agree exactly with forward mode;
//! hand-computed gradients of small cases.

mod common;

use common::{program, Failures};
use handtrace::diff::derive;
use handtrace::exact::eval::{eval_graph, Env};
use handtrace::exact::inputs::parse_inputs;
use handtrace::exact::num::{Num, Prec};
use handtrace::exact::tensor;
use handtrace::ir::{Program, TensorId};
use handtrace::verify::gradients::{check_gradients, Outcome};

/// Every gradient of every tensor of `p` that has one agrees with forward mode.
#[track_caller]
fn all_verified(p: &Program, label: &str) {
    let grads = derive(p).unwrap_or_else(|d| panic!("{label}: {}", d.message));
    let wrt: Vec<TensorId> = (0..p.tensors.len() as u32)
        .map(TensorId)
        .filter(|&t| grads.of(p, t).is_some())
        .collect();
    assert!(!wrt.is_empty());
    for c in check_gradients(p, &grads, &wrt, 2, 11) {
        assert_eq!(
            c.outcome,
            Outcome::Verified { points: 2 },
            "{label}: gradient of {}",
            p.tensor(c.tensor).name
        );
    }
}

#[test]
fn every_example_gradient_matches_forward_mode() {
    let mut failures = Failures::new();
    for path in common::examples() {
        let name = path.display().to_string();
        let Some(p) = failures.attempt(&name, || common::load(&path)) else {
            continue;
        };
        if p.target.is_none() {
            continue;
        }
        // Leaves and top-level statements (the locals of inlined fns are covered through them).
        let grads = match derive(&p) {
            Ok(grads) => grads,
            Err(d) => {
                failures.push(format!("{}: {}", path.display(), d.message));
                continue;
            }
        };
        let wrt: Vec<TensorId> = (0..p.tensors.len() as u32)
            .map(TensorId)
            .filter(|&t| {
                grads.of(&p, t).is_some() && p.tensor(t).kind != handtrace::ir::TensorKind::Local
            })
            .collect();
        for c in check_gradients(&p, &grads, &wrt, 2, 11) {
            failures.check(c.outcome == Outcome::Verified { points: 2 }, || {
                format!(
                    "{}: gradient of {}: {:?}",
                    path.display(),
                    p.tensor(c.tensor).name,
                    c.outcome
                )
            });
        }
    }
    failures.finish();
}

#[test]
fn every_op_rule_matches_forward_mode() {
    let cases = [
        "dim n = 3\ninput A : [n, n]\ninput x : [n]\ny = A @ x\nz = x @ A\nw = x @ x\nloss L = sum(y * z) + w\n",
        "dim b = 2\ndim n = 3\ninput A : [b, n, n]\ninput B : [n, n]\nC = A @ B\nloss L = sum(C ** 2)\n",
        "dim n = 3\ninput x : [n, n]\ny = exp(x / 4) + tanh(x) + sigmoid(x) + erf(x / 3) + gelu(x) + gelu_tanh(x) + silu(x) + Phi(x) + relu(x)\nloss L = sum(y * y)\n",
        "dim n = 3\ninput x : [n, n]\ny = log(x ** 2 + 1) + sqrt(x ** 2 + 2) + x ** (1/3) * 0 + (x ** 2 + 1) ** (-1/2)\nloss L = sum(y * x)\n",
        "dim n = 3\ndim m = 2\ninput x : [m, n]\ns = softmax(x, axis=0)\nl = logsoftmax(x, axis=-1)\nM = max(x, axis=-1, keepdims=true)\nq = min(x, axis=0)\nloss L = sum(s * x) + sum(l * x) + sum(M) + sum(q * q)\n",
        "dim n = 3\ninput S : [n, n]\nP = softmax(causal(S), axis=-1)\noutput P\n",
        "dim a = 2\ndim b = 3\ninput X : [a, b]\nR = reshape(X, [b, a])\nP = permute(reshape(X, [a, b, 1]), [2, 1, 0])\nT = transpose(X, 0, 1)\nE = einsum(\"ij,kj->ik\", X, X)\nF = einsum(\"ij->j\", X)\nloss L = sum(R * R) + sum(P) * sum(T) + sum(E * E) + sum(F * F)\n",
        "dim n = 3\ninput A : [n, n]\nt = trace(A @ A)\nm = mean(A, axis=[0, 1])\nloss L = t * m + trace(A * 2) + sum(mean(A, axis=0) ** 2)\n",
        "dim n = 2\ndim d = 4\ninput x : [n, d]\nparam g : [d]\nparam b : [d]\ny = layernorm(x, g, b, 1/100) + rmsnorm(x, g, 1/100)\noutput y\n",
        "dim n = 2\ndim d = 3\ninput x : [n, d]\nparam b : [d]\nparam c : []\ny = x + b + c\nz = y * x - y / (c * c + 1) + x @ eye(d) @ x.T @ x\noutput z\n",
    ];
    for (i, src) in cases.iter().enumerate() {
        all_verified(&program(src), &format!("case {i}:\n{src}"));
    }
}

/// d tr(A X B)/dX = Aᵀ Bᵀ, at integer matrices.
#[test]
fn trace_gradient_by_hand() {
    let p = program("dim m = 2\ndim n = 3\ndata A : [n, m]\ninput X : [m, n]\ndata B : [n, n]\nloss L = trace(A @ X @ B)\n");
    let grads = derive(&p).unwrap();
    let given = parse_inputs(&p, r#"{"A": [[1, 2], [3, 4], [5, 6]], "X": [[1, 0, 0], [0, 1, 0]], "B": [[1, 0, 2], [0, 1, 0], [-1, 0, 1]]}"#).unwrap();
    let x = p.tensor_by_name("X").unwrap();
    let g = grads.of(&p, x).unwrap();
    let env = Env::new(given.leaves);
    let values = eval_graph(&p, &grads.graph, &env, &[g], Prec::DEFAULT).unwrap();
    let got: Vec<Num> = tensor::entries(values[g.0 as usize].as_ref().unwrap());
    // Aᵀ Bᵀ = [[1,3,5],[2,4,6]] @ [[1,0,-1],[0,1,0],[2,0,1]]
    let want = ["11", "3", "4", "14", "4", "4"];
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.to_string(), w);
    }
}

/// Evaluate the gradient of `name` at the given inputs, as strings.
fn gradient_values(p: &Program, inputs: &str, name: &str) -> Vec<String> {
    let grads = derive(p).unwrap();
    let given = parse_inputs(p, inputs).unwrap();
    let mut env = Env::new(given.leaves);
    if let Some(up) = given.upstream {
        env.grads.insert(p.target.as_ref().unwrap().tensor, up);
    }
    let g = grads.of(p, p.tensor_by_name(name).unwrap()).unwrap();
    let values = eval_graph(p, &grads.graph, &env, &[g], Prec::DEFAULT).unwrap();
    tensor::entries(values[g.0 as usize].as_ref().unwrap())
        .iter()
        .map(|n| n.to_string())
        .collect()
}

#[test]
fn a_tensor_used_twice_accumulates() {
    // L = Σ x∘x + Σ x: every path adds up, dL/dx = 2x + 1.
    let p = program("dim n = 3\ninput x : [n]\ny = x * x\nloss L = sum(y) + sum(x)\n");
    assert_eq!(
        gradient_values(&p, r#"{"x": [1, "-1/2", 3]}"#, "x"),
        ["3", "0", "7"]
    );
}

#[test]
fn a_broadcast_bias_gets_column_sums() {
    // Y = X + b with b broadcast over rows: dL/db = Σ_rows dY.
    let p = program("dim n = 2\ndim d = 3\ninput X : [n, d]\nparam b : [d]\nY = X + b\noutput Y\n");
    let got = gradient_values(
        &p,
        r#"{"X": [[0, 0, 0], [0, 0, 0]], "b": [0, 0, 0], "grad(Y)": [[1, 2, 3], ["1/2", 0, -1]]}"#,
        "b",
    );
    assert_eq!(got, ["3/2", "2", "2"]);
}

#[test]
fn residual_connections_sum_both_paths() {
    // y = h + h W: dh = dy + dy Wᵀ; with dy = [1, −1], dy Wᵀ = [1 − 2, 3 − 4] = [−1, −1].
    let p = program("dim d = 2\ninput h : [1, d]\nparam W : [d, d]\ny = h + h @ W\noutput y\n");
    let got = gradient_values(
        &p,
        r#"{"h": [[1, 1]], "W": [[1, 2], [3, 4]], "grad(y)": [[1, -1]]}"#,
        "h",
    );
    assert_eq!(got, ["0", "-2"]);
    let got = gradient_values(
        &p,
        r#"{"h": [[1, 1]], "W": [[1, 2], [3, 4]], "grad(y)": [[1, 0]]}"#,
        "h",
    );
    assert_eq!(got, ["2", "3"]);
}

/// The backward program of every example with an output or a loss is its snapshot
/// `grad@FILE`; a file that fails to load or differentiate is reported once the others ran.
#[test]
fn gradient_program_snapshots() {
    let mut failures = Failures::new();
    insta::glob!("../examples", "*.ht", |path| {
        let path = common::relative(path);
        failures.run(&path.display().to_string(), || {
            let p = common::load(&path);
            if p.target.is_none() {
                return;
            }
            let grads = derive(&p).unwrap();
            let lines = handtrace::render::grad::program_lines(&p, &grads, &[]);
            insta::assert_snapshot!(
                "grad",
                handtrace::render::grad::text(&p, &lines, &Default::default())
            );
        });
    });
    failures.finish();
}

#[test]
fn no_target_is_a_diagnostic() {
    let p = program("dim n = 2\ninput x : [n]\ny = x * 2\n");
    assert_eq!(
        derive(&p).unwrap_err().code,
        handtrace::diag::Code::MissingTarget
    );
}

/// A planted wrong rule (dV = P @ dO, the transpose forgotten) is caught and located at the
/// matrix product that produced O.
#[test]
fn a_wrong_rule_is_caught_and_named() {
    let p = common::load("examples/attention.ht");
    let mut grads = derive(&p).unwrap();
    let v = p.tensor_by_name("V").unwrap();
    let dv = grads.of(&p, v).unwrap();
    let p_node = p.tensor(p.tensor_by_name("P").unwrap()).node;
    assert!(matches!(grads.graph.node(dv).op, handtrace::ir::Op::MatMul));
    grads.graph.node_mut(dv).args[0] = p_node;
    let wv = p.tensor_by_name("Wv").unwrap();
    let results = check_gradients(&p, &grads, &[wv, p.tensor_by_name("Wq").unwrap()], 2, 11);
    match &results[0].outcome {
        Outcome::Mismatch {
            culprit: Some(c), ..
        } => {
            // The consumer located is the matrix product that produced O.
            let o = p.tensor(p.tensor_by_name("O").unwrap());
            assert_eq!(c.consumers, [o.node]);
            assert!(matches!(p.graph.node(o.node).op, handtrace::ir::Op::MatMul));
            // The report names the op and where it is, and the command that shows the point.
            let at = p.sources.location(p.graph.node(o.node).span);
            let line =
                handtrace::render::grad::check_line(&p, "examples/attention.ht", &results[0]);
            assert!(line.contains(&format!("`@` at {at}")), "{line}");
            assert!(
                line.contains("`handtrace trace examples/attention.ht --dims T=8,d=4 --seed "),
                "{line}"
            );
        }
        other => panic!("expected a located mismatch, got {other:?}"),
    }
    // Wq's gradient does not pass through V: still verified.
    assert_eq!(results[1].outcome, Outcome::Verified { points: 2 });
}

/// A gradient is never named like a dim or a tensor: `dk` of `k` beside the dim `dk` (which
/// `sqrt(dk)` reads as a size) is `d_k`, and `dS` beside a tensor `dS` is `d_S`.
#[test]
fn gradient_names_avoid_dims_and_tensors() {
    let file = common::scratch(
        "names_dims.ht",
        "dim T = 3\ndim dk = 2\ninput q : [T, dk]\ninput k : [T, dk]\n\
         S = q @ k.T / sqrt(dk)\ndS = S * 2\nloss L = sum(softmax(dS) * S)\n",
    );
    let o = common::run(&["grad", file.to_str().unwrap()]);
    let out = common::stdout(&o);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(out.contains("\nd_k = "), "{out}");
    assert!(out.contains("\nd_S = "), "{out}");
    assert!(out.contains("/ sqrt(dk)"), "{out}");
    assert!(!out.contains("\ndk = "), "{out}");
    // The printed program reads back: each name means one thing.
    let o = common::run(&["grad", file.to_str().unwrap(), "--check"]);
    assert!(o.status.success(), "{}", common::stdout(&o));
}
