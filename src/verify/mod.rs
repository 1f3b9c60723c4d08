//! Checking claims and derivations.
//!
//! Owns the list of results `handtrace check` reports: one per claim and one per derivation
//! step, with the strongest verdict that holds (see [`claims`]): proved (with the rewrites),
//! verified (equal at random exact points), refuted (a certified counterexample), undecided,
//! or error (with the diagnostic); a refutation carries the common mistake that fits, if one
//! does (see [`diagnose`]). Every result is data; no module here renders text (a test holds
//! every module below `render` to that).

pub mod claims;
pub mod diagnose;
pub mod diagnosis;
pub mod gradients;
pub mod mutations;
pub mod points;
pub mod sizes;

use crate::ir::{NodeId, Program};
use claims::{ClaimError, Finding};
use points::Points;
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
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Proved => "proved",
            Verdict::Verified => "verified",
            Verdict::Refuted => "refuted",
            Verdict::Undecided => "undecided",
            Verdict::Error => "error",
        }
    }

    /// Every verdict, strongest first (the order a summary counts them in).
    pub const ALL: [Verdict; 5] = [
        Verdict::Proved,
        Verdict::Verified,
        Verdict::Refuted,
        Verdict::Undecided,
        Verdict::Error,
    ];
}

/// What a claim or step says of its two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Equal,
    Different,
}

impl Finding {
    pub fn verdict(&self) -> Verdict {
        match self {
            Finding::Proved(_) => Verdict::Proved,
            Finding::Verified { .. } => Verdict::Verified,
            Finding::Refuted(_) | Finding::Undefined(_) => Verdict::Refuted,
            Finding::Undecided(_) => Verdict::Undecided,
            Finding::Error(_) => Verdict::Error,
        }
    }
}

/// One line of `check`'s report: where the claim or step is, what it says, and what checking
/// it found (data: `render::check` words it as text, JSON or LaTeX).
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub file: String,
    pub line: usize,
    /// The step number within a derivation (1 for the first `=` line); `None` for a claim.
    pub step: Option<usize>,
    /// The claim as written (comments dropped, spaces collapsed).
    pub claim: String,
    pub verdict: Verdict,
    /// What the file says of the sides: `equal` (`=`), or `different` (`!=`, a deliberate
    /// mistake, which passes when it is refuted).
    pub expect: Expect,
    /// What the verdict rests on: the proof, the points, the counterexample and its
    /// diagnosis, the overlap, or why it could not be checked.
    pub finding: Finding,
    /// A side reads `grad(...)` (so a proof replaces it by the derived gradient).
    pub uses_gradients: bool,
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

/// Options of `check`.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Random points for verification (at least 1).
    pub points: usize,
    /// Seed of the first random point (`--seed`).
    pub seed: u64,
    /// Assignments of sizes to the dims a claim is checked at (the sizes in use first).
    pub assignments: usize,
    pub limits: crate::simplify::Limits,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            points: 4,
            seed: 0,
            assignments: 3,
            limits: crate::simplify::Limits::default(),
        }
    }
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
    let mut out = Vec::new();
    check_each(program, file, options, &mut |r| out.push(r));
    out.sort_by_key(|r| (r.line, r.step));
    out
}

/// Check every claim and derivation step of `program`, handing each result to `report` as
/// soon as it is known, in file order. The gradient
/// graph is derived once, and each random point's exact backward pass is computed once.
pub fn check_each(
    program: &Program,
    file: &Path,
    options: &CheckOptions,
    report: &mut dyn FnMut(CheckResult),
) {
    let file = file.display().to_string();
    let alternates = sizes::alternates(program, options.assignments);
    let points: Vec<Points> = std::iter::once(program)
        .chain(alternates.iter())
        .map(|p| Points::new(p, options.seed))
        .collect();
    // The same claim or step in each program (the programs differ only in their sizes, so
    // their claims and derivations correspond one to one).
    let sides_of = |side: &dyn Fn(&Program) -> Option<(NodeId, NodeId)>| -> Vec<claims::AtSizes> {
        points
            .iter()
            .filter_map(|pts| {
                side(pts.program).map(|(lhs, rhs)| claims::AtSizes {
                    points: pts,
                    lhs,
                    rhs,
                })
            })
            .collect()
    };
    let judge = |error: Option<&crate::diag::Diagnostic>, at: Vec<claims::AtSizes>| match (
        error,
        at.is_empty(),
    ) {
        (Some(d), _) => Finding::Error(ClaimError::Input(Box::new(d.clone()))),
        (None, false) => claims::check_pair(&at, options.points, &options.limits),
        (None, true) => Finding::Error(ClaimError::Input(Box::new(
            crate::diag::Diagnostic::global(
                crate::diag::Code::Misplaced,
                "a side could not be lowered",
            ),
        ))),
    };
    let expect = |differ: bool| {
        if differ {
            Expect::Different
        } else {
            Expect::Equal
        }
    };
    // In file order (a claim and a derivation are ordered by where they start).
    let mut order: Vec<(usize, Result<usize, usize>)> = program
        .claims
        .iter()
        .enumerate()
        .map(|(i, c)| (c.span.start, Ok(i)))
        .chain(
            program
                .derivations
                .iter()
                .enumerate()
                .map(|(i, d)| (d.span.start, Err(i))),
        )
        .collect();
    order.sort();
    for (_, item) in order {
        match item {
            Ok(i) => {
                let c = &program.claims[i];
                let at = sides_of(&|p: &Program| {
                    let c = p.claims.get(i)?;
                    c.lhs.zip(c.rhs)
                });
                let finding = judge(c.error.as_ref(), at);
                report(CheckResult {
                    file: file.clone(),
                    line: program.sources.line(c.span),
                    step: None,
                    claim: c.text.clone(),
                    verdict: finding.verdict(),
                    expect: expect(c.differ),
                    finding,
                    uses_gradients: reads_gradients(program, [c.lhs, c.rhs]),
                });
            }
            Err(i) => {
                let d = &program.derivations[i];
                let steps: Vec<Vec<claims::AtSizes>> = (0..d.steps.len())
                    .map(|k| {
                        sides_of(&|p: &Program| {
                            let steps = &p.derivations.get(i)?.steps;
                            let before = steps.get(k.checked_sub(1)?)?.node?;
                            Some((before, steps.get(k)?.node?))
                        })
                    })
                    .collect();
                derivation(program, d, steps, &file, &judge, report)
            }
        }
    }
}

/// Does either side read `grad(...)`?
fn reads_gradients(program: &Program, sides: [Option<NodeId>; 2]) -> bool {
    sides.into_iter().flatten().any(|n| {
        program
            .graph
            .depends_on(n, |x| matches!(x.op, crate::ir::Op::GradOf(_)))
    })
}

/// Judges one claim or step: its lowering error, or its two sides at every assignment of
/// sizes.
type Judge<'a> = dyn Fn(Option<&crate::diag::Diagnostic>, Vec<claims::AtSizes>) -> Finding + 'a;

/// Report a derivation's steps (and its first line, if that is broken).
fn derivation(
    program: &Program,
    d: &crate::ir::Derivation,
    mut steps_at: Vec<Vec<claims::AtSizes>>,
    file: &str,
    judge: &Judge,
    report: &mut dyn FnMut(CheckResult),
) {
    let expect = |differ: bool| {
        if differ {
            Expect::Different
        } else {
            Expect::Equal
        }
    };
    // The first line is what the steps start from; it is reported only if it is broken.
    let first = &d.steps[0];
    if let Some(e) = &first.error {
        report(CheckResult {
            file: file.to_string(),
            line: program.sources.line(first.span),
            step: Some(0),
            claim: first.text.clone(),
            verdict: Verdict::Error,
            expect: Expect::Equal,
            finding: Finding::Error(ClaimError::Input(Box::new(e.clone()))),
            uses_gradients: false,
        });
    }
    for (k, step) in d.steps.iter().enumerate().skip(1) {
        let at = std::mem::take(&mut steps_at[k]);
        let finding = judge(step.error.as_ref(), at);
        report(CheckResult {
            file: file.to_string(),
            line: program.sources.line(step.span),
            step: Some(k),
            claim: format!(
                "{} {} {}",
                d.steps[k - 1].text,
                if step.differ { "!=" } else { "=" },
                step.text
            ),
            verdict: finding.verdict(),
            expect: expect(step.differ),
            finding,
            uses_gradients: reads_gradients(program, [d.steps[k - 1].node, step.node]),
        });
    }
}
