//! The command line contract: exit codes, stderr diagnostics, JSON shapes.

mod common;

use common::{run, scratch, stderr, stdout, Failures};

#[test]
fn bad_input_exits_2_with_file_line_column_on_stderr() {
    let path = scratch("bad.ht", "dim T = 4\ninput X : [T, T]\nY = X @ Wq\n");
    for cmd in ["show", "check"] {
        let out = run(&[cmd, path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        let first = err.lines().next().unwrap();
        assert!(
            first.ends_with("bad.ht:3:9: error[unknown-name]: unknown name `Wq`"),
            "{first}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["show"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    let path = scratch("ok.ht", "dim T = 4\ninput X : [T]\n");
    assert_eq!(
        run(&["show", path.to_str().unwrap(), "--dims", "T"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["show", path.to_str().unwrap(), "--dims", "Q=3"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["show", path.to_str().unwrap(), "--dims", "T=3"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn check_json_follows_the_design_schema() {
    let src = "dim T = 2\ninput X : [T, T]\nY = X @ X\noutput Y\nclaim grad(X) = grad(Y) @ X.T + X.T @ grad(Y)\nclaim X = X @ X @ X.T\n\nderive grad(Y)\n  = grad(Y) * 1   # times one\n  = 1 * grad(Y)\n";
    let path = scratch("claims.ht", src);
    let out = run(&["check", path.to_str().unwrap(), "--format", "json"]);
    // `X = X @ X @ X.T` is false: refuted, exit status 1.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let first = &results[0];
    let mut keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    // DESIGN's keys, and two extensions: `diagnosis` (a refutation's, else null) and `expect`
    // (`equal` for `=`, `different` for a deliberate mistake written `!=`).
    assert_eq!(
        keys,
        [
            "claim",
            "detail",
            "diagnosis",
            "expect",
            "file",
            "line",
            "step",
            "verdict"
        ]
    );
    assert_eq!(first["diagnosis"], serde_json::Value::Null);
    assert_eq!(first["expect"], "equal");
    assert_eq!(first["line"], 5);
    assert_eq!(first["step"], serde_json::Value::Null);
    assert_eq!(first["claim"], "grad(X) = grad(Y) @ X.T + X.T @ grad(Y)");
    assert_eq!(first["verdict"], "proved");
    assert_eq!(results[1]["verdict"], "refuted");
    assert!(results[1]["detail"]
        .as_str()
        .unwrap()
        .contains("counterexample"));
    // X @ X @ X.T is not X with one common mistake: no diagnosis, and the detail says so.
    assert_eq!(results[1]["diagnosis"], serde_json::Value::Null);
    assert!(results[1]["detail"]
        .as_str()
        .unwrap()
        .contains("no common mistake fits"));
    assert_eq!(results[2]["verdict"], "proved");
    assert_eq!(results[3]["verdict"], "proved");
    assert_eq!(results[2]["step"], 1);
    assert_eq!(results[2]["line"], 9);
    assert_eq!(results[3]["claim"], "grad(Y) * 1 = 1 * grad(Y)");
}

#[test]
fn check_reports_a_claim_error_and_continues() {
    let src = "dim T = 2\ndim d = 3\ninput X : [T, d]\nclaim X = X.T\nclaim X = X + 0\n";
    let path = scratch("claim_error.ht", src);
    let out = run(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("claim_error.ht:4: error  X = X.T"), "{text}");
    assert!(
        text.contains("claim_error.ht:5: proved  X = X + 0"),
        "{text}"
    );
    assert!(stderr(&out)
        .contains("the two sides of the claim have different shapes: [T, d] and [d, T]"));
}

#[test]
fn check_takes_several_files_and_tallies_the_verdicts() {
    let a = scratch("a.ht", "dim n = 2\ninput A : [n, n]\nclaim A.T.T = A\n");
    let b = scratch(
        "b.ht",
        "dim n = 2\ninput B : [n]\nclaim B * B = B ** 2\nclaim exp(log(B * B + 1)) = B * B + 1\n",
    );
    let out = run(&["check", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        // exp(log(u)) = u needs u > 0, which the e-graph cannot see for B * B + 1: verified.
        text.contains("2 of 2 files checked; 3 claims and steps: 2 proved, 1 verified"),
        "{text}"
    );
}

#[test]
fn check_refutes_with_a_counterexample_and_exits_1() {
    let a = scratch("wrong.ht", "dim m = 2\ndim n = 3\ninput A : [m, n]\ninput B : [n, m]\nclaim trace(A @ B) = trace(B @ A) + 1\nclaim sum(A) = sum(A.T)\n");
    let out = run(&["check", a.to_str().unwrap(), "--points", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("wrong.ht:5: refuted  trace(A @ B) = trace(B @ A) + 1"),
        "{text}"
    );
    assert!(
        text.contains("counterexample at the random point of seed 0"),
        "{text}"
    );
    assert!(text.contains("1 refuted"), "{text}");
    // trace(B A) + 1 differs from trace(A B) by the stray term 1.
    assert!(
        text.contains("diagnosis: it holds without the term `1`"),
        "{text}"
    );
}

#[test]
fn check_says_when_a_claim_is_undefined_everywhere() {
    let a = scratch(
        "undef.ht",
        "dim n = 2\ninput A : [n]\nclaim A / (A - A) = A\n",
    );
    let out = run(&["check", a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("undefined at every one of"), "{text}");
}

#[test]
fn trace_json_follows_the_design_schema() {
    let src = "dim T = 2\ninput X : [T, T]\nparam w : [T]\nY = X @ w\nZ = exp(Y)\nM = causal(X)\nP = softmax(M, axis=-1)\noutput Z\n";
    let path = scratch("trace.ht", src);
    let inputs = scratch(
        "inputs.json",
        r#"{"X": [[1, "1/2"], ["-3/4", 0]], "w": [0, 0]}"#,
    );
    let out = run(&[
        "trace",
        path.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["dims", "values", "grads"]);
    assert_eq!(v["dims"], serde_json::json!({"T": 2}));
    let names: Vec<&str> = v["values"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(names, ["X", "w", "Y", "Z", "M", "P"]);
    assert_eq!(
        v["values"]["X"],
        serde_json::json!({"shape": [2, 2], "data": ["1", "1/2", "-3/4", "0"]})
    );
    // exp(0) = 1 exactly; the masked entry is −∞ and its probability exactly 0.
    assert_eq!(v["values"]["Z"]["data"], serde_json::json!(["1", "1"]));
    assert_eq!(v["values"]["M"]["data"][1], "-inf");
    assert_eq!(v["values"]["P"]["data"][0], "1");
    assert_eq!(v["values"]["P"]["data"][1], "0");
    // A non-rational entry is an enclosure {"lo", "hi"} with lo < hi.
    let p2 = &v["values"]["P"]["data"][2];
    let lo = handtrace::exact::inputs::parse_entry(p2["lo"].as_str().unwrap()).unwrap();
    let hi = handtrace::exact::inputs::parse_entry(p2["hi"].as_str().unwrap()).unwrap();
    assert!(lo < hi);
    assert_eq!(v["grads"], serde_json::json!({}));
}

#[test]
fn trace_text_shows_fractions_and_certified_digits() {
    let path = scratch("trace_text.ht", "input x : []\ny = sigmoid(x)\nz = x / 3\n");
    let inputs = scratch("trace_text.json", r#"{"x": 2}"#);
    let out = run(&[
        "trace",
        path.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    // Truncated: sigmoid(2) = 0.88079707797788…, so the twelfth digit is 7, not 8.
    assert!(
        text.contains("\ny  []  line 2\n    0.880797077977…\n"),
        "{text}"
    );
    assert!(text.contains("\nz  []  line 3\n    2/3\n"), "{text}");
}

#[test]
fn trace_errors_exit_2_and_name_the_statement() {
    let path = scratch(
        "trace_err.ht",
        "dim n = 2\ninput x : [n]\ny = 1 / (x - x)\n",
    );
    let out = run(&["trace", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("trace_err.ht:3:1: error[evaluation]: division by zero in `y` (line 3)"),
        "{err}"
    );
    let bad = scratch("bad_inputs.json", r#"{"x": [1, 2, 3]}"#);
    let out = run(&[
        "trace",
        path.to_str().unwrap(),
        "--inputs",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("error[inputs]: \"x\" has shape [3], but the program needs [2]"));
}

#[test]
fn trace_works_on_every_example_with_a_fixed_seed() {
    let mut failures = Failures::new();
    for f in common::examples() {
        let args = [
            "trace",
            f.to_str().unwrap(),
            "--seed",
            "1",
            "--format",
            "json",
        ];
        let a = run(&args);
        if a.status.code() != Some(0) {
            failures.push(format!(
                "{}: exit status {:?}\n{}",
                f.display(),
                a.status.code(),
                stderr(&a)
            ));
            continue;
        }
        let b = run(&args);
        failures.check(a.stdout == b.stdout, || {
            format!("{}: the same seed gives different traces", f.display())
        });
    }
    failures.finish();
}

#[test]
fn grad_prints_the_backward_pass_and_checks_it() {
    let out = run(&["grad", "examples/attention.ht", "--check", "--points", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("dV = P.T @ dO"), "{text}");
    // Simplified by default: FlashAttention's form.
    assert!(text.contains("dS = P * (dP - rowsum(dO * O))"), "{text}");
    // Every printed line is checked, and the results follow the program on stdout.
    let named = text.lines().filter(|l| l.starts_with('d')).count();
    assert_eq!(named, 10, "{text}");
    assert_eq!(
        text.matches("verified against forward mode at 2 random points")
            .count(),
        named,
        "{text}"
    );
}

#[test]
fn grad_raw_shows_the_rules_output_and_checks_it() {
    let out = run(&[
        "grad",
        "examples/attention.ht",
        "--raw",
        "--check",
        "--points",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("dS = tril(P * (dP - rowsum(dP * P)))"),
        "{text}"
    );
    assert!(!text.contains("simplified"), "{text}");
}

#[test]
fn grad_cost_reports_forward_and_backward_flops() {
    let out = run(&[
        "grad",
        "examples/attention.ht",
        "--cost",
        "--dims",
        "T=1024,d=64",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.ends_with("# cost at T=1024, d=64: forward 295698433 FLOPs, backward 589561857 FLOPs (1.99× the forward)\n"),
        "{text}"
    );
    let out = run(&[
        "grad",
        "examples/attention.ht",
        "--cost",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cost = &v["cost"];
    assert!(cost["forward_flops"].as_u64().unwrap() > 0);
    assert!(cost["backward_flops"].as_u64().unwrap() > cost["forward_flops"].as_u64().unwrap());
    assert_eq!(cost["dims"], serde_json::json!({"T": 8, "d": 4}));
    // Without --cost there is no cost field; the simplifier's report is always there.
    let out = run(&["grad", "examples/attention.ht", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.get("cost").is_none());
    assert!(v["simplify"]["enodes"].as_u64().unwrap() > 0);
}

#[test]
fn grad_json_follows_the_design_schema() {
    let out = run(&[
        "grad",
        "examples/attention.ht",
        "--wrt",
        "V",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let g = v["gradients"].as_array().unwrap();
    let dv = g.iter().find(|x| x["name"] == "V").unwrap();
    assert_eq!(dv["shape"], serde_json::json!(["T", "d"]));
    assert_eq!(dv["expr"], "P.T @ dO");
    // --wrt V needs only dO and dV.
    assert_eq!(g.len(), 2, "{v}");
}

#[test]
fn grad_usage_errors_exit_2() {
    let out = run(&["grad", "examples/attention.ht", "--wrt", "Nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no tensor is named `Nope`"));
    let out = run(&["grad", "examples/xent.ht", "--wrt", "Y"]);
    assert_eq!(out.status.code(), Some(2));
    let path = scratch("no_target.ht", "dim n = 2\ninput x : [n]\ny = x * 2\n");
    let out = run(&["grad", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("error[missing-target]"));
}

#[test]
fn trace_grad_gives_every_gradient() {
    let path = scratch("tg.ht", "dim n = 2\ninput x : [n]\ny = x * x\noutput y\n");
    let inputs = scratch("tg.json", r#"{"x": [3, "1/2"], "grad(y)": [1, 2]}"#);
    let out = run(&[
        "trace",
        path.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--grad",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // dy is the upstream; dx = 2 x dy.
    assert_eq!(v["grads"]["y"]["data"], serde_json::json!(["1", "2"]));
    assert_eq!(v["grads"]["x"]["data"], serde_json::json!(["6", "2"]));
}

#[test]
fn latex_writes_a_document_to_a_file_or_stdout() {
    let src = "dim n = 2\ninput X : [n, n]\nparam W : [n, n]\nY = X @ W\noutput Y\nclaim grad(W) = X.T @ grad(Y)\n";
    let path = scratch("latex.ht", src);
    let out = run(&["latex", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let tex = stdout(&out);
    assert!(tex.starts_with("\\documentclass"));
    assert!(tex.trim_end().ends_with("\\end{document}"));
    // The claim is shown in math with its verdict.
    assert!(tex.contains("\\textbf{proved}"), "{tex}");
    assert!(tex.contains("\\bar{W} = {X}^{\\top}\\,\\bar{Y}"), "{tex}");
    let file = path.with_extension("tex");
    let out = run(&[
        "latex",
        path.to_str().unwrap(),
        "--wrt",
        "W",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("\\section{The result}"));
}

#[test]
fn latex_rejects_bad_input_with_exit_2() {
    let path = scratch(
        "latex_bad.ht",
        "dim n = 2\ninput X : [n, n]\nY = X @ Z\noutput Y\n",
    );
    let out = run(&["latex", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Z"));
    let ok = scratch(
        "latex_wrt.ht",
        "dim n = 2\ninput X : [n, n]\nY = X @ X\noutput Y\n",
    );
    let out = run(&["latex", ok.to_str().unwrap(), "--wrt", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no tensor is named `nope`"));
}

#[test]
fn a_deliberate_mistake_passes_when_refuted_and_fails_when_it_holds() {
    let src = "dim n = 2\ninput A : [n, n]\ninput B : [n, n]\nclaim (A @ B).T != A.T @ B.T\n";
    let path = scratch("differ.ht", src);
    let out = run(&["check", path.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("refuted as claimed  (A @ B).T != A.T @ B.T"),
        "{text}"
    );
    // A `!=` whose sides are equal is a failure, and says why.
    let path = scratch("same.ht", "dim n = 2\ninput A : [n, n]\nclaim A.T.T != A\n");
    let out = run(&["check", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["results"][0]["verdict"], "proved");
    assert_eq!(v["results"][0]["expect"], "different");
}

/// `check --quiet` prints one verdict line per claim and the summary; `--steps full` prints
/// every rewrite, and the default short proofs stay within their bound on every proof file.
#[test]
fn check_quiet_and_steps_show_as_much_as_asked() {
    let quiet = stdout(&run(&["check", "proofs/attention.ht", "--quiet"]));
    let lines: Vec<&str> = quiet.lines().collect();
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l.starts_with("proofs/attention.ht:")),
        "{quiet}"
    );
    assert!(lines.last().unwrap().contains("13 proved"), "{quiet}");
    let short = stdout(&run(&["check", "proofs/block.ht"]));
    let full = stdout(&run(&["check", "proofs/block.ht", "--steps", "full"]));
    assert!(full.lines().count() > short.lines().count(), "{short}");
    // A derived gradient inside a term prints as its name in a short proof only.
    let first_term = |text: &str| {
        let at = text
            .find("proved  grad(Wo) = Oa.T @ grad(h)")
            .expect("the claim of grad(Wo)");
        text[at..].lines().nth(2).unwrap().trim().to_string()
    };
    assert_eq!(
        first_term(&short),
        "(attention.P @ attention.V).T @ grad(h)"
    );
    assert!(
        !first_term(&full).contains("grad(h)"),
        "{}",
        first_term(&full)
    );
    let mut failures = Failures::new();
    for entry in std::fs::read_dir("proofs").unwrap() {
        let path = entry.unwrap().path();
        let text = stdout(&run(&["check", path.to_str().unwrap()]));
        // A proof's lines: the first term, then `  = ...` lines, at most 8 of them.
        let mut run_of_steps = 0;
        for line in text.lines() {
            if line.starts_with("      = ") {
                run_of_steps += 1;
                failures.check(run_of_steps <= 8, || {
                    format!("{}: a proof longer than 8 steps:\n{text}", path.display())
                });
            } else {
                run_of_steps = 0;
            }
            failures.check(line.chars().count() <= 520, || {
                format!(
                    "{}: a line of {} characters",
                    path.display(),
                    line.chars().count()
                )
            });
        }
    }
    failures.finish();
}
