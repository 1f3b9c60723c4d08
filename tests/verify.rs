//! `check`: claims and derivation steps get the strongest verdict that holds.

mod common;

use common::{check, detail, diagnosis, proofs, Failures};
use handtrace::ir::{LowerOptions, Program};
use handtrace::verify::claims::Finding;
use handtrace::verify::{check_program, CheckResult, Verdict};
use std::path::{Path, PathBuf};

/// `(line, step, verdict)` of every result.
fn verdicts(results: &[CheckResult]) -> Vec<(usize, Option<usize>, Verdict)> {
    results
        .iter()
        .map(|r| (r.line, r.step, r.verdict))
        .collect()
}

#[test]
fn every_proof_file_checks_without_errors_and_proofs_carry_explanations() {
    let mut failures = Failures::new();
    for path in proofs() {
        let (p, results) = check(&path);
        failures.check(!results.is_empty(), || {
            format!("{}: no results", path.display())
        });
        for r in &results {
            let why = || format!("{}:{}: {:?}\n{}", r.file, r.line, r.verdict, detail(&p, r));
            failures.check(r.verdict != Verdict::Error, why);
            failures.check(r.verdict != Verdict::Undecided, why);
            if r.verdict == Verdict::Proved {
                // An explanation: the rewrites, or the identity once gradients are derived.
                let d = detail(&p, r);
                failures.check(d.contains(" by ") || d.starts_with("identical"), why);
            }
        }
        // The expected verdicts (and diagnoses) of every claim and step.
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let table = verdict_table(&p, &results);
        let name = stem.clone();
        failures.run(&name, move || {
            insta::assert_snapshot!(format!("verdicts_{stem}"), table);
        });
    }
    failures.finish();
}

/// One line per claim or step (`LINE[.STEP] VERDICT CLAIM`), a refutation's diagnosis under it.
fn verdict_table(p: &Program, results: &[CheckResult]) -> String {
    let mut out = String::new();
    for r in results {
        let at = match r.step {
            Some(k) => format!("{}.{k}", r.line),
            None => r.line.to_string(),
        };
        out.push_str(&format!("{at:>6} {:<9} {}\n", r.verdict.as_str(), r.claim));
        if let Some(d) = diagnosis(p, r) {
            out.push_str(&format!("         diagnosis: {d}\n"));
        }
    }
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
    out.push_str(&format!(
        "{} proved, {} verified, {} refuted\n",
        count(Verdict::Proved),
        count(Verdict::Verified),
        count(Verdict::Refuted)
    ));
    out
}

/// Every rewrite of every proof `check` finds in proofs/ re-checks exactly: each step's term
/// equals the first at two random points (every `grad(X)` the true gradient there).
#[test]
fn every_step_of_every_proof_of_a_right_claim_rechecks_exactly() {
    use handtrace::exact::eval::eval_graph;
    use handtrace::exact::num::Prec;
    use handtrace::verify::claims::{check_pair, Finding};
    use handtrace::verify::points::Points;
    use std::cmp::Ordering;
    let mut steps = 0;
    for file in [
        "proofs/attention.ht",
        "proofs/cookbook.ht",
        "proofs/layernorm.ht",
        "proofs/softmax.ht",
        "proofs/xent.ht",
        "proofs/gelu.ht",
    ] {
        let p = common::load(file);
        let points = Points::new(&p, 0);
        let with_grads = points.gradients().is_some();
        for claim in &p.claims {
            let (Some(l), Some(r)) = (claim.lhs, claim.rhs) else {
                continue;
            };
            let limits = handtrace::simplify::Limits::default();
            let at = [handtrace::verify::claims::AtSizes {
                points: &points,
                lhs: l,
                rhs: r,
            }];
            let Finding::Proved(proof) = check_pair(&at, 3, &limits) else {
                continue;
            };
            let mut terms = vec![proof.start];
            terms.extend(proof.steps.iter().map(|s| s.term));
            for seed in [0, 1] {
                let env = points.env(seed, with_grads, 128).unwrap().unwrap();
                let values = eval_graph(&p, &proof.graph, &env, &terms, Prec::new(160)).unwrap();
                let first = values[proof.start.0 as usize].as_ref().unwrap();
                for t in &terms[1..] {
                    let v = values[t.0 as usize].as_ref().unwrap();
                    // Broadcasting aside, entry for entry: equal, or overlapping tight enclosures.
                    let (a, b): (Vec<_>, Vec<_>) = (first.iter().collect(), v.iter().collect());
                    assert!(
                        a.len() == b.len() || a.len() == 1 || b.len() == 1,
                        "{file}: {}",
                        claim.text
                    );
                    for i in 0..a.len().max(b.len()) {
                        let (x, y) = (a[i % a.len()], b[i % b.len()]);
                        let equal = match x.compare(y) {
                            Some(Ordering::Equal) => true,
                            Some(_) => false,
                            None => x.is_tight(100) && y.is_tight(100),
                        };
                        assert!(
                            equal,
                            "{file}: {}: a proof step changed entry {i}",
                            claim.text
                        );
                    }
                    steps += 1;
                }
            }
        }
    }
    assert!(steps > 100, "only {steps} steps re-checked");
}

#[test]
fn the_attention_derivation_is_proved_line_by_line() {
    use Verdict::Proved;
    let (p, results) = check("proofs/attention.ht");
    assert_eq!(
        verdicts(&results),
        [
            (10, None, Proved),
            (11, None, Proved),
            (15, None, Proved),
            (19, None, Proved),
            (23, Some(1), Proved),
            (24, Some(2), Proved),
            (25, Some(3), Proved),
            (28, Some(1), Proved),
            (29, Some(2), Proved),
            (32, None, Proved),
            (33, None, Proved),
            (34, None, Proved),
            (35, None, Proved),
        ]
    );
    // The FlashAttention step names its identity.
    let flash = detail(&p, results.iter().find(|r| r.line == 19).unwrap());
    assert!(flash.contains("row sum of A ∘ (B Cᵀ)"), "{flash}");
}

#[test]
fn the_mistakes_are_refuted_with_certified_counterexamples() {
    use Verdict::{Proved, Refuted};
    let (p, results) = check("proofs/mistakes.ht");
    assert_eq!(
        verdicts(&results),
        [
            (11, None, Refuted),
            (15, None, Refuted),
            (19, None, Refuted),
            (23, None, Refuted),
            (27, None, Refuted),
            (32, Some(1), Proved),
            (33, Some(2), Refuted),
        ]
    );
    for r in results.iter().filter(|r| r.verdict == Refuted) {
        let d = detail(&p, r);
        assert!(
            d.starts_with("counterexample at the random point of seed"),
            "{d}"
        );
        // The counterexample names the command that shows its point, exactly.
        assert!(
            d.contains("`handtrace trace proofs/mistakes.ht --dims T=8,d=4 --seed "),
            "{d}"
        );
        assert!(d.contains(" --grad` shows it"), "{d}");
    }
}

/// The `# diagnosis:` expectations of a file: for each annotated statement (the next `claim`
/// or `derive` after the annotation), its lines (a claim's, or every step's) and the text.
fn expected_diagnoses(path: &Path) -> Vec<(Vec<usize>, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: Vec<(Vec<usize>, String)> = Vec::new();
    let mut pending: Option<String> = None;
    let mut in_derive = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(d) = t.strip_prefix("# diagnosis:") {
            pending = Some(d.trim().to_string());
        } else if t.starts_with("claim ") || t.starts_with("derive ") {
            in_derive = false;
            if let Some(want) = pending.take() {
                let lines = if t.starts_with("claim ") {
                    vec![i + 1]
                } else {
                    vec![]
                };
                in_derive = t.starts_with("derive ");
                out.push((lines, want));
            }
        } else if (t.starts_with('=') || t.starts_with("!=")) && in_derive {
            out.last_mut().unwrap().0.push(i + 1);
        } else if !t.starts_with('#') && !t.is_empty() {
            in_derive = false;
        }
    }
    out
}

#[test]
fn every_deliberate_mistake_is_refuted_with_its_diagnosis() {
    let files: Vec<PathBuf> = proofs()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("mistakes")
        })
        .collect();
    assert!(files.len() >= 3);
    let mut failures = Failures::new();
    for path in files {
        let expected = expected_diagnoses(&path);
        let (p, results) = check(&path);
        for r in results.iter().filter(|r| r.verdict == Verdict::Refuted) {
            let Some((_, want)) = expected.iter().find(|(lines, _)| lines.contains(&r.line)) else {
                failures.push(format!("{}:{} has no `# diagnosis:` line", r.file, r.line));
                continue;
            };
            let got = diagnosis(&p, r).unwrap_or_default();
            failures.check(got.contains(want.as_str()), || {
                format!(
                    "{}:{}: wanted the diagnosis {want:?}, got:\n{}",
                    r.file,
                    r.line,
                    detail(&p, r)
                )
            });
        }
        for (lines, want) in &expected {
            failures.check(
                results
                    .iter()
                    .any(|r| lines.contains(&r.line) && r.verdict == Verdict::Refuted),
                || format!("{}:{lines:?} ({want}) was not refuted", path.display()),
            );
        }
    }
    failures.finish();
}

#[test]
fn a_true_claim_the_e_graph_cannot_prove_is_verified_and_says_where() {
    let src = "dim n = 2\ninput B : [n]\nclaim exp(log(B * B + 1)) = B * B + 1\n";
    let p = common::program(src);
    let r = &check_program(&p, Path::new("t.ht"))[0];
    let d = detail(&p, r);
    assert_eq!(r.verdict, Verdict::Verified, "{d}");
    // exp and log of rationals are enclosures: agreement to 256 bits, said as such, at
    // three assignments of sizes.
    assert!(d.starts_with("agree to 2^-256 at 12 random points"), "{d}");
    assert!(d.contains("at the sizes n=2; n=3; n=5"), "{d}");
}

#[test]
fn a_claim_undefined_everywhere_is_an_error_not_a_pass() {
    let src = "dim n = 2\ninput A : [n]\nclaim A / (A - A) = A\nclaim log(-(A * A) - 1) = A\n";
    let p = common::program(src);
    for r in check_program(&p, Path::new("t.ht")) {
        let d = detail(&p, &r);
        assert_eq!(r.verdict, Verdict::Error, "{d}");
        assert!(d.contains("undefined at every one of"), "{d}");
    }
}

#[test]
fn a_claim_needs_only_the_gradients_it_reads_to_be_defined() {
    // d/dx sqrt(x - x) divides by zero at every point, but grad(W) does not involve it:
    // a claim about grad(W) is decided (proved: sqrt(x - x) is sqrt(0) = 0, defined); one
    // about grad(x) is undefined everywhere.
    let src = "dim n = 3\ninput x : [n]\nparam W : [n]\nL = sum(W * sqrt(x - x) + W * W)\n\
               loss L\nclaim grad(W) = 2 * W\nclaim grad(W) = 3 * W\nclaim grad(x) = W\n";
    let p = common::program(src);
    let results = check_program(&p, Path::new("t.ht"));
    let verdicts: Vec<Verdict> = results.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        [Verdict::Proved, Verdict::Refuted, Verdict::Error],
        "{:?}",
        results.iter().map(|r| detail(&p, r)).collect::<Vec<_>>()
    );
    assert!(detail(&p, &results[2]).contains("undefined at every one of"));
}

#[test]
fn a_claim_that_reads_no_input_does_not_count_random_points() {
    let src = "dim d = 3\nclaim trace(eye(d)) * 1 = d\nclaim tanh(1/3) = (exp(2/3) - 1) / (exp(2/3) + 1)\n";
    let p = common::program(src);
    for r in check_program(&p, Path::new("t.ht")) {
        let d = detail(&p, &r);
        let Finding::Verified { points, random, .. } = r.finding else {
            panic!("{d}");
        };
        assert!(!random, "{d}");
        assert!(points <= 3, "one point per assignment of sizes: {d}");
        assert!(
            d.contains("the sides reading no input") && !d.contains("random"),
            "{d}"
        );
    }
}

#[test]
fn grad_without_an_output_or_loss_is_an_error() {
    let src = "dim n = 2\ninput A : [n]\nB = A * 2\nclaim grad(A) = A\n";
    let p = handtrace::load_program_text(Path::new("t.ht"), src, &LowerOptions::default());
    // Either lowering refuses it or the check reports an error; never a pass.
    if let Ok(p) = p {
        for r in check_program(&p, Path::new("t.ht")) {
            assert_eq!(r.verdict, Verdict::Error, "{}", detail(&p, &r));
        }
    }
}

#[test]
fn proofs_made_ahead_on_workers_are_the_proofs_made_in_line() {
    use handtrace::simplify::{Limits, ProofOutcome};
    use handtrace::verify::claims::attempt_proof;
    use handtrace::verify::pool::{ProofPool, Task};
    let p = common::load("proofs/attention.ht");
    let grads = handtrace::diff::derive(&p).ok();
    let tasks: Vec<Task> = p
        .claims
        .iter()
        .filter_map(|c| c.lhs.zip(c.rhs))
        .map(|(lhs, rhs)| Task { lhs, rhs })
        .collect();
    assert!(tasks.len() > 3);
    let limits = Limits::default();
    let kind = |o: &handtrace::verify::pool::Attempt| match o {
        Ok(ProofOutcome::Proved(proof)) => format!("proved in {} steps", proof.steps.len()),
        Ok(ProofOutcome::NotProved(_)) => "not proved".to_string(),
        Err(e) => format!("error {e:?}"),
    };
    let in_line: Vec<String> = tasks
        .iter()
        .map(|t| kind(&attempt_proof(&p, grads.as_ref(), t.lhs, t.rhs, &limits)))
        .collect();
    let pool = ProofPool::new(&p, grads.as_ref(), tasks.clone(), &limits);
    let ahead: Vec<String> = std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| pool.work());
        }
        // Every other task is needed; the rest are released unattempted.
        for i in (0..tasks.len()).step_by(2) {
            pool.ready(i);
        }
        pool.all_marked();
        let got = (0..tasks.len())
            .map(|i| {
                let a = kind(&pool.take(i));
                pool.release(i);
                a
            })
            .collect();
        pool.close();
        got
    });
    assert_eq!(in_line, ahead);
}

/// A fn call's locals are named through the call: `m.var` for the call bound to `m`, the
/// fn's name for a call inside an expression (`sq`, then `sq2`, ...), nested calls by path
/// (`B.inner.y2`); claims about them and their gradients are checked like any other.
#[test]
fn locals_of_fn_calls_are_named_through_their_calls() {
    let src = "dim T = 2\ndim d = 3\ninput X : [T, d]\n\
               fn sq(x: [T, d]) -> [T, d] {\n  y2 = x * x\n  return y2 + 1\n}\n\
               fn outer(x: [T, d]) -> [T, d] {\n  inner = sq(x)\n  return inner + sq(x)\n}\n\
               A = sq(X)\nC = sq(X) + sq(A)\nB = outer(X)\nloss L = sum(B * C)\n\
               claim A.y2 = X * X\n\
               claim sq.y2 = X * X\n\
               claim sq2.y2 = A * A\n\
               claim B.inner.y2 = X * X\n\
               claim B.sq.y2 = X * X\n\
               claim grad(sq2.y2) = grad(C)\n\
               claim grad(B.inner.y2) = grad(B)\n";
    let p = common::program(src);
    let names: Vec<&str> = p.tensors.iter().map(|t| t.name.as_str()).collect();
    for n in ["A.y2", "sq.y2", "sq2.y2", "B.inner.y2", "B.sq.y2"] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    let results = handtrace::verify::check_program(&p, std::path::Path::new("test.ht"));
    assert_eq!(results.len(), 7);
    for r in &results {
        assert!(
            matches!(r.finding, handtrace::verify::claims::Finding::Proved(_)),
            "{}: {:?}",
            r.claim,
            r.verdict
        );
    }
    // Their gradients print in their call's scope.
    let raw = handtrace::diff::derive(&p).unwrap();
    let lines = handtrace::render::grad::program_lines(&p, &raw, &[]);
    let text = handtrace::render::grad::text(&p, &lines, &Default::default());
    assert!(text.contains("\nA.dy2 = "), "{text}");
    assert!(!text.contains("d("), "{text}");
}
