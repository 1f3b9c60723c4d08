//! Checking claims and derivations.
//!
//! Owns the list of results `handtrace check` reports: one per claim and one per derivation
//! step, with the strongest verdict that holds (see [`claims`]): proved (with the rewrites),
//! verified (equal at random exact points), refuted (a certified counterexample), undecided,
//! or error (with the diagnostic); a refutation carries the common mistake that fits, if one
//! does (see [`diagnose`]).

pub mod claims;
pub mod diagnose;
pub mod gradients;
pub mod mutations;

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
    /// Parsed and shape-checked, not verified (kept for callers that only parse).
    Unchecked,
}

/// What a claim or step says of its two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Equal,
    Different,
}

impl CheckResult {
    /// Does the verdict agree with what the file says? An equality must be proved or
    /// verified; a `!=` must be refuted. Errors and undecided results never pass.
    pub fn passes(&self) -> bool {
        match self.expect {
            Expect::Equal => matches!(self.verdict, Verdict::Proved | Verdict::Verified),
            Expect::Different => self.verdict == Verdict::Refuted,
        }
    }
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
    /// A refutation's diagnosis (also the detail's `diagnosis:` line); JSON `null` otherwise.
    pub diagnosis: Option<String>,
    /// What the file says of the sides: `equal` (`=`), or `different` (`!=`, a deliberate
    /// mistake, which passes when it is refuted). An extension of DESIGN's JSON.
    pub expect: Expect,
    /// What the verdict rests on, for renderers that show more than the detail text (LaTeX):
    /// the proof of a proved claim, the counterexample of a refuted one.
    #[serde(skip)]
    pub finding: Option<claims::Finding>,
}

/// Options of `check`.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Random points for verification (at least 1).
    pub points: usize,
    pub limits: crate::simplify::Limits,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            points: 3,
            limits: crate::simplify::Limits::default(),
        }
    }
}

/// `T=8, d=4`
fn sizes(program: &Program) -> String {
    program
        .dims
        .declared()
        .filter_map(|(_, d)| d.size.map(|s| format!("{}={s}", d.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verdict and detail text of one pair of sides.
fn judge(
    program: &Program,
    gradients: Option<&crate::diff::Gradients>,
    lhs: crate::ir::NodeId,
    rhs: crate::ir::NodeId,
    options: &CheckOptions,
    points: &claims::Points,
) -> (Verdict, String, Option<String>, Option<claims::Finding>) {
    use claims::Finding;
    let finding = claims::check_pair(
        program,
        gradients,
        lhs,
        rhs,
        options.points,
        &options.limits,
        points,
    );
    let (verdict, detail, diagnosis) = match finding.clone() {
        Finding::Proved(proof) if proof.steps.is_empty() => (
            Verdict::Proved,
            format!(
                "identical once grad(...) is the derived gradient:\n{}",
                crate::render::proof::text(program, &proof, true)
            ),
            None,
        ),
        Finding::Proved(proof) => {
            let steps = crate::render::proof::text(program, &proof, true);
            (
                Verdict::Proved,
                format!("equal for every size of the dims, by these rewrites:\n{steps}"),
                None,
            )
        }
        Finding::Verified { points } => (
            Verdict::Verified,
            format!(
                "equal, exactly, at {points} random rational point{} ({}); the e-graph found no proof within its limits",
                if points == 1 { "" } else { "s" },
                sizes(program)
            ),
            None,
        ),
        Finding::Refuted(c) => (
            Verdict::Refuted,
            format!(
                "counterexample at the random point of seed {} ({}; `handtrace trace --seed {}` shows it), entry {:?}: left side {}, right side {}",
                c.seed,
                sizes(program),
                c.seed,
                c.entry,
                crate::render::trace::entry_text(&c.lhs),
                crate::render::trace::entry_text(&c.rhs)
            ) + &match &c.diagnosis {
                Some(d) => format!("\ndiagnosis: {d}"),
                None => "\nno common mistake fits (tried: a flipped sign, a transpose, a constant factor, a transpose on one factor, a mean for a sum, a term's sign, a stray or missing term, factors swapped, rows of an input summing to 1)".into(),
            },
            c.diagnosis,
        ),
        Finding::Undecided(why) => (Verdict::Undecided, why, None),
        Finding::Error(why) => (Verdict::Error, why, None),
    };
    (verdict, detail, diagnosis, Some(finding))
}

/// The results for every claim and derivation step of `program`'s root file.
pub fn check_program(program: &Program, file: &Path) -> Vec<CheckResult> {
    check_program_with(program, file, &CheckOptions::default())
}

/// [`check_program`] with options.
pub fn check_program_with(
    program: &Program,
    file: &Path,
    options: &CheckOptions,
) -> Vec<CheckResult> {
    let file = file.display().to_string();
    let mut out = Vec::new();
    let gradients = program
        .target
        .as_ref()
        .and_then(|_| crate::diff::derive(program).ok());
    let points = claims::Points::new(program);
    let detail =
        |error: Option<&crate::diag::Diagnostic>,
         sides: Option<(crate::ir::NodeId, crate::ir::NodeId)>| match (error, sides) {
            (Some(d), _) => (Verdict::Error, diag_text(program, d), None, None),
            (None, Some((l, r))) => judge(program, gradients.as_ref(), l, r, options, &points),
            (None, None) => (
                Verdict::Error,
                "a side could not be lowered".to_string(),
                None,
                None,
            ),
        };
    for c in &program.claims {
        let (verdict, detail, diagnosis, finding) = detail(c.error.as_ref(), c.lhs.zip(c.rhs));
        out.push(CheckResult {
            file: file.clone(),
            line: program.sources.line(c.span),
            step: None,
            claim: c.text.clone(),
            verdict,
            detail,
            diagnosis,
            expect: if c.differ {
                Expect::Different
            } else {
                Expect::Equal
            },
            finding,
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
                diagnosis: None,
                expect: Expect::Equal,
                finding: None,
            });
        }
        for (k, step) in d.steps.iter().enumerate().skip(1) {
            let (verdict, detail, diagnosis, finding) =
                detail(step.error.as_ref(), d.steps[k - 1].node.zip(step.node));
            out.push(CheckResult {
                file: file.clone(),
                line: program.sources.line(step.span),
                step: Some(k),
                claim: format!(
                    "{} {} {}",
                    d.steps[k - 1].text,
                    if step.differ { "!=" } else { "=" },
                    step.text
                ),
                verdict,
                detail,
                diagnosis,
                expect: if step.differ {
                    Expect::Different
                } else {
                    Expect::Equal
                },
                finding,
            });
        }
    }
    out.sort_by_key(|r| (r.line, r.step));
    out
}
