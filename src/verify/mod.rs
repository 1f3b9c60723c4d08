//! Checking claims and derivations.
//!
//! Owns the list of results `handtrace check` reports: one per claim and one per derivation
//! step, with a verdict. In this version claims are parsed and shape-checked only, so a
//! well-formed claim gets the verdict [`Verdict::Unchecked`] and says so plainly; a claim
//! that cannot be checked gets [`Verdict::Error`]. Proofs, exact verification, refutation and
//! diagnosis arrive with the verifier.

pub mod gradients;

use crate::ir::Program;
use crate::render::diag_text;
use std::path::Path;

/// A claim's or step's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Proved,
    Verified,
    Refuted,
    Undecided,
    Error,
    /// Parsed and shape-checked, not verified (this version does not verify).
    Unchecked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Proved => "proved",
            Verdict::Verified => "verified",
            Verdict::Refuted => "refuted",
            Verdict::Undecided => "undecided",
            Verdict::Error => "error",
            Verdict::Unchecked => "unchecked",
        }
    }
}

/// One line of `check`'s report (the JSON shape of DESIGN.md).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckResult {
    pub file: String,
    pub line: usize,
    /// The step number within a derivation (1 for the first `=` line); `None` for a claim.
    pub step: Option<usize>,
    pub claim: String,
    pub verdict: Verdict,
    pub detail: String,
}

const NOT_VERIFIED: &str =
    "parsed and shape-checked; not verified: this version of handtrace does not verify claims yet";

/// The results for every claim and derivation step of `program`'s root file.
pub fn check_program(program: &Program, file: &Path) -> Vec<CheckResult> {
    let file = file.display().to_string();
    let mut out = Vec::new();
    let detail = |error: Option<&crate::diag::Diagnostic>| match error {
        Some(d) => (Verdict::Error, diag_text(program, d)),
        None => (Verdict::Unchecked, NOT_VERIFIED.to_string()),
    };
    for c in &program.claims {
        let (verdict, detail) = detail(c.error.as_ref());
        out.push(CheckResult {
            file: file.clone(),
            line: program.sources.line(c.span),
            step: None,
            claim: c.text.clone(),
            verdict,
            detail,
        });
    }
    for d in &program.derivations {
        // The first line is what the steps start from; it is reported only if it is broken.
        let first = &d.steps[0];
        if let Some(e) = &first.error {
            out.push(CheckResult {
                file: file.clone(),
                line: program.sources.line(first.span),
                step: Some(0),
                claim: first.text.clone(),
                verdict: Verdict::Error,
                detail: diag_text(program, e),
            });
        }
        for (k, step) in d.steps.iter().enumerate().skip(1) {
            let (verdict, detail) = detail(step.error.as_ref());
            out.push(CheckResult {
                file: file.clone(),
                line: program.sources.line(step.span),
                step: Some(k),
                claim: format!("{} = {}", d.steps[k - 1].text, step.text),
                verdict,
                detail,
            });
        }
    }
    out.sort_by_key(|r| (r.line, r.step));
    out
}
