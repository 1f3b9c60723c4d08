//! `check`: claims and derivation steps get the strongest verdict that holds.

use handtrace::ir::LowerOptions;
use handtrace::verify::{check_program, CheckResult, Verdict};
use std::path::{Path, PathBuf};

fn check(path: &Path) -> Vec<CheckResult> {
    let p = handtrace::load_program(path, &LowerOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(false)));
    check_program(&p, path)
}

fn proof_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("proofs")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ht"))
        .collect();
    files.sort();
    files
}

/// `(line, step, verdict)` of every result.
fn verdicts(results: &[CheckResult]) -> Vec<(usize, Option<usize>, Verdict)> {
    results
        .iter()
        .map(|r| (r.line, r.step, r.verdict))
        .collect()
}

#[test]
fn every_proof_file_checks_without_errors_and_proofs_carry_explanations() {
    for path in proof_files() {
        let results = check(&path);
        assert!(!results.is_empty(), "{}", path.display());
        for r in &results {
            assert_ne!(
                r.verdict,
                Verdict::Error,
                "{}:{}: {}",
                r.file,
                r.line,
                r.detail
            );
            assert_ne!(r.verdict, Verdict::Unchecked);
            assert_ne!(
                r.verdict,
                Verdict::Undecided,
                "{}:{}: {}",
                r.file,
                r.line,
                r.detail
            );
            if r.verdict == Verdict::Proved {
                // An explanation: the rewrites, or the identity once gradients are derived.
                assert!(
                    r.detail.contains(" by ") || r.detail.starts_with("identical"),
                    "{}:{}: {}",
                    r.file,
                    r.line,
                    r.detail
                );
            }
        }
    }
}

#[test]
fn the_attention_derivation_is_proved_line_by_line() {
    use Verdict::Proved;
    let results = check(Path::new("proofs/attention.ht"));
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
    let flash = results.iter().find(|r| r.line == 19).unwrap();
    assert!(
        flash.detail.contains("row sum of A ∘ (B Cᵀ)"),
        "{}",
        flash.detail
    );
}

#[test]
fn the_mistakes_are_refuted_with_certified_counterexamples() {
    use Verdict::{Proved, Refuted};
    let results = check(Path::new("proofs/mistakes.ht"));
    assert_eq!(
        verdicts(&results),
        [
            (9, None, Refuted),
            (12, None, Refuted),
            (15, None, Refuted),
            (18, None, Refuted),
            (21, None, Refuted),
            (25, Some(1), Proved),
            (26, Some(2), Refuted),
        ]
    );
    for r in results.iter().filter(|r| r.verdict == Refuted) {
        assert!(
            r.detail
                .starts_with("counterexample at the random point of seed"),
            "{}",
            r.detail
        );
    }
}

#[test]
fn a_true_claim_the_e_graph_cannot_prove_is_verified_and_says_where() {
    let src = "dim n = 2\ninput B : [n]\nclaim exp(log(B * B + 1)) = B * B + 1\n";
    let p = handtrace::load_program_text(Path::new("t.ht"), src, &LowerOptions::default()).unwrap();
    let r = &check_program(&p, Path::new("t.ht"))[0];
    assert_eq!(r.verdict, Verdict::Verified, "{}", r.detail);
    assert!(
        r.detail.contains("at 3 random rational points (n=2)"),
        "{}",
        r.detail
    );
}

#[test]
fn a_claim_undefined_everywhere_is_an_error_not_a_pass() {
    let src = "dim n = 2\ninput A : [n]\nclaim A / (A - A) = A\nclaim log(-(A * A) - 1) = A\n";
    let p = handtrace::load_program_text(Path::new("t.ht"), src, &LowerOptions::default()).unwrap();
    for r in check_program(&p, Path::new("t.ht")) {
        assert_eq!(r.verdict, Verdict::Error, "{}", r.detail);
        assert!(
            r.detail.contains("undefined at every one of"),
            "{}",
            r.detail
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
            assert_eq!(r.verdict, Verdict::Error, "{}", r.detail);
        }
    }
}
