//! "Verified" means verified: false claims that an earlier version passed, and files that
//! crashed, hung or exhausted memory (tests/data/adversarial/). Each false claim is refuted
//! (or not passed), each crash is a clear, located error or a result, within a time and
//! memory bound.

mod common;

use common::{detail, run_bounded, stderr, stdout};
use handtrace::verify::claims::{Agreement, Finding};
use handtrace::verify::{check_program, CheckResult, Verdict};
use std::path::Path;

fn data(name: &str) -> String {
    format!("tests/data/adversarial/{name}")
}

fn check(name: &str) -> (handtrace::ir::Program, Vec<CheckResult>) {
    common::check(data(name))
}

/// The verdict of the claim on `line`, with its detail for messages.
fn verdict_at(
    p: &handtrace::ir::Program,
    results: &[CheckResult],
    line: usize,
) -> (Verdict, String) {
    let r = results
        .iter()
        .find(|r| r.line == line)
        .unwrap_or_else(|| panic!("no result on line {line}"));
    (r.verdict, detail(p, r))
}

#[test]
fn a_mistake_that_holds_only_at_the_declared_sizes_is_refuted() {
    // 2/(N·K) equals 1/N when K = 2: only another size of K shows the mistake.
    let (p, results) = check("mlp_mse.ht");
    let (v, d) = verdict_at(&p, &results, 13);
    assert_eq!(v, Verdict::Refuted, "{d}");
    assert!(d.contains("off by a constant factor K/2"), "{d}");
    let (p, results) = check("sizes.ht");
    for line in [5, 6] {
        let (v, d) = verdict_at(&p, &results, line);
        assert_eq!(v, Verdict::Refuted, "line {line}: {d}");
    }
}

#[test]
fn claims_that_differ_only_far_from_the_usual_box_are_refuted() {
    // relu(x - 10) needs x > 10; the other pair differs only for 0 < |x| < 1/10.
    let (p, results) = check("regimes.ht");
    for line in [4, 5] {
        let (v, d) = verdict_at(&p, &results, line);
        assert_eq!(v, Verdict::Refuted, "line {line}: {d}");
    }
}

#[test]
fn overlapping_enclosures_are_not_equality() {
    let (p, results) = check("transcendental.ht");
    // Every equality there is false by 1e-40 or less, and `sigmoid(100) != 1` is true.
    for r in &results {
        assert_eq!(
            r.verdict,
            Verdict::Refuted,
            "{}: {}",
            r.claim,
            detail(&p, r)
        );
        assert!(r.passes() == (r.line == 12), "{}", r.claim);
    }
    // The counterexample shows two different numbers.
    let d = detail(&p, results.iter().find(|r| r.line == 10).unwrap());
    let sides: Vec<&str> = d
        .split("left side ")
        .nth(1)
        .unwrap()
        .split(", right side ")
        .collect();
    assert_ne!(sides[0], sides[1].lines().next().unwrap(), "{d}");
}

#[test]
fn verified_says_how_it_was_obtained() {
    let p = common::program(
        "dim n = 2\ninput B : [n]\nclaim exp(log(B * B + 1)) = B * B + 1\nclaim (B + 1) * (B + 1) - B * B = 2 * B + 1 + 0 * exp(B)\n",
    );
    let results = check_program(&p, Path::new("t.ht"));
    let Finding::Verified {
        agreement, sizes, ..
    } = &results[0].finding
    else {
        panic!("{}", detail(&p, &results[0]));
    };
    assert_eq!(*agreement, Agreement::Enclosures { bits: 256 });
    assert_eq!(sizes.len(), 3, "three assignments of sizes");
    let d = detail(&p, &results[0]);
    assert!(d.contains("agree to 2^-256 at "), "{d}");
    assert!(d.contains("n=2; n=3; n=5"), "{d}");
}

#[test]
fn a_step_undefined_where_the_step_before_is_defined_does_not_pass() {
    let (p, results) = check("undefined_step.ht");
    let (v, d) = verdict_at(&p, &results, 8);
    assert_eq!(v, Verdict::Refuted, "{d}");
    assert!(
        d.contains("the right side is undefined") && d.contains("square root of a negative"),
        "{d}"
    );
    assert!(
        results.iter().any(|r| !r.passes()),
        "the chain does not pass"
    );
}

/// A run that must end within bounds with a result or a clear error (exit 0, 1 or 2, never
/// a crash), and stderr that says `expect` when it is an error.
fn bounded(args: &[&str], seconds: u64, expect: &str) -> String {
    let (out, _) = run_bounded(args, seconds, 3000);
    let code = out.status.code();
    let err = stderr(&out);
    assert!(
        matches!(code, Some(0..=2)),
        "{args:?}: status {code:?}\n{err}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(
        err.contains(expect),
        "{args:?}: wanted {expect:?} in:\n{err}"
    );
    err
}

#[test]
fn extreme_values_are_results_or_clear_errors() {
    let f = data("huge_exponent.ht");
    let (out, _) = run_bounded(&["check", &f], 20, 3000);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("could not be evaluated at any of") && text.contains("above 2^21 (-1e30)"),
        "{text}"
    );
    // softmax shifts by the row's max, so the far terms are tiny enclosures, not an error.
    let (out, _) = run_bounded(&["trace", &f], 20, 3000);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("[0.000e0, "), "{}", stdout(&out));
    let f = data("decimal_range.ht");
    bounded(
        &["show", &f],
        10,
        "error[too-large]: the number 1e200000 is out of range",
    );
    let err = bounded(&["show", &f], 10, "1e99999999999999999999 is out of range");
    assert_eq!(err.matches("error[").count(), 2, "{err}");
    // Entries around 1e6 in --inputs for attention: a result or a clear error.
    let inputs = common::scratch("big_inputs.json", r#"{"X": [["1e6", 2], [3, "-1e6"]]}"#);
    bounded(
        &[
            "trace",
            "examples/attention.ht",
            "--dims",
            "T=2,d=2",
            "--inputs",
            inputs.to_str().unwrap(),
        ],
        20,
        "",
    );
}

#[test]
fn valid_files_that_panicked_now_work() {
    let (out, _) = run_bounded(&["show", &data("const_in_fn.ht")], 10, 2000);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("b.c = b * b"));
    // A `use` after the calls of its fns: a located error, not a panic.
    bounded(
        &["check", &data("block_use_last.ht")],
        20,
        "`layer_norm` is expanded where it is called",
    );
}

#[test]
fn what_grows_is_budgeted_and_the_budget_is_named() {
    // A DAG whose tree is exponential: checked in bounded time and memory.
    let (out, _) = run_bounded(&["check", &data("doubling_chain.ht")], 30, 2000);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    // Fns that call the previous fn twice: a located error, fast.
    bounded(
        &["show", &data("doubling_fns.ht")],
        20,
        "error[too-large]: the program grows past",
    );
    // A thousand negations: fast.
    let (out, _) = run_bounded(&["check", &data("many_negations.ht")], 30, 2000);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A product too large to evaluate exactly: the statement is named.
    bounded(&["trace", &data("big_product.ht")], 10, "error[too-large]");
    // A dim beyond 2^40, and one given with --dims.
    bounded(
        &["show", &data("huge_dim.ht")],
        10,
        "larger than the largest size",
    );
    bounded(
        &["show", "examples/attention.ht", "--dims", "T=2000000000000"],
        10,
        "larger than the largest size",
    );
    // A size past 2^64 on the command line: a clear error, not an overflow.
    bounded(
        &[
            "show",
            "examples/attention.ht",
            "--dims",
            "T=18446744073709551617",
        ],
        10,
        "larger than the largest size",
    );
    // A precision beyond what is offered: refused up front.
    bounded(
        &["trace", "examples/attention.ht", "--precision", "100000"],
        10,
        "not in 8..=10000",
    );
    // A device or a huge file is not read.
    bounded(&["show", &data("use_device.ht")], 10, "not a regular file");
    // High precision does not overflow the stack.
    let (out, _) = run_bounded(
        &[
            "trace",
            "examples/attention.ht",
            "--dims",
            "T=2,d=2",
            "--precision",
            "10000",
        ],
        60,
        3000,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
