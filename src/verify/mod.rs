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
mod domain;
pub mod gradients;
pub mod mutations;
pub mod points;
pub mod pool;
pub mod sizes;

use crate::ir::{NodeId, Program};
use claims::{ClaimError, Finding};
use points::Points;
use std::collections::HashMap;
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

impl Expect {
    /// What `=` (`differ` false) or `!=` says.
    pub fn of(differ: bool) -> Expect {
        if differ {
            Expect::Different
        } else {
            Expect::Equal
        }
    }
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
    // The sides of claim `i` (step `Some(k)` of derivation `i`) in a program.
    let sides = |key: (usize, Option<usize>)| {
        move |p: &Program| -> Option<(NodeId, NodeId)> {
            match key {
                (i, None) => {
                    let c = p.claims.get(i)?;
                    c.lhs.zip(c.rhs)
                }
                (i, Some(k)) => {
                    let steps = &p.derivations.get(i)?.steps;
                    let before = steps.get(k.checked_sub(1)?)?.node?;
                    Some((before, steps.get(k)?.node?))
                }
            }
        }
    };
    // The proof attempts, in file order: every claim and step of the program in use with
    // both sides lowered (the first assignment of sizes is this program's).
    let mut tasks = Vec::new();
    let mut task_of: HashMap<(usize, Option<usize>), usize> = HashMap::new();
    for (_, item) in &order {
        let keys: Vec<((usize, Option<usize>), bool)> = match *item {
            Ok(i) => vec![((i, None), program.claims[i].error.is_some())],
            Err(i) => {
                let steps = &program.derivations[i].steps;
                (1..steps.len())
                    .map(|k| ((i, Some(k)), steps[k].error.is_some()))
                    .collect()
            }
        };
        for (key, error) in keys {
            if let (false, Some((lhs, rhs))) = (error, sides(key)(program)) {
                task_of.insert(key, tasks.len());
                tasks.push(pool::Task { lhs, rhs });
            }
        }
    }
    let proofs = pool::ProofPool::new(program, points[0].gradients(), tasks, &options.limits);
    // What each task's quick point decided, looked at first (see `pool`).
    let quick: std::cell::RefCell<HashMap<usize, Result<claims::QuickPass, Finding>>> =
        Default::default();
    let judge = |error: Option<&crate::diag::Diagnostic>,
                 at: Vec<claims::AtSizes>,
                 key: (usize, Option<usize>)| {
        // The pool's task is this claim in this program, whose points come first.
        let task = task_of.get(&key).copied().filter(|_| {
            at.first()
                .is_some_and(|a| std::ptr::eq(a.points, &points[0]))
        });
        let finding = match (error, at.is_empty()) {
            (Some(d), _) => Finding::Error(ClaimError::Input(Box::new(d.clone()))),
            // Its quick point was looked at already; its proof comes from the pool.
            (None, false) => match task {
                Some(t) => match quick.borrow_mut().remove(&t) {
                    Some(Err(decided)) => decided,
                    Some(Ok(pass)) => {
                        claims::check_after_quick(&at, options.points, pass, || proofs.take(t))
                    }
                    None => claims::check_pair_proving(&at, options.points, || proofs.take(t)),
                },
                None => claims::check_pair(&at, options.points, &options.limits),
            },
            (None, true) => Finding::Error(ClaimError::Input(Box::new(
                crate::diag::Diagnostic::global(
                    crate::diag::Code::Misplaced,
                    "a side could not be lowered",
                ),
            ))),
        };
        if let Some(t) = task {
            proofs.release(t);
        }
        finding
    };
    // Workers attempt proofs ahead while this thread evaluates, claim by claim.
    std::thread::scope(|scope| {
        for _ in 0..proofs.workers() {
            scope.spawn(|| proofs.work());
        }
        let _close = proofs.closer();
        // Every task's quick point, in file order: the claims that pass it are the proofs
        // workers may attempt.
        let mut keys: Vec<(&(usize, Option<usize>), &usize)> = task_of.iter().collect();
        keys.sort_by_key(|(_, t)| **t);
        for (&key, &t) in keys {
            let at = sides_of(&sides(key));
            if at
                .first()
                .is_some_and(|a| std::ptr::eq(a.points, &points[0]))
            {
                let looked = claims::quick_look(&at);
                if looked.is_ok() {
                    proofs.ready(t);
                }
                quick.borrow_mut().insert(t, looked);
            }
        }
        proofs.all_marked();
        for &(_, item) in &order {
            match item {
                Ok(i) => {
                    let c = &program.claims[i];
                    let at = sides_of(&sides((i, None)));
                    let finding = judge(c.error.as_ref(), at, (i, None));
                    report(CheckResult {
                        file: file.clone(),
                        line: program.sources.line(c.span),
                        step: None,
                        claim: c.text.clone(),
                        verdict: finding.verdict(),
                        expect: Expect::of(c.differ),
                        finding,
                        uses_gradients: reads_gradients(program, [c.lhs, c.rhs]),
                    });
                }
                Err(i) => {
                    let d = &program.derivations[i];
                    let steps: Vec<Vec<claims::AtSizes>> = (0..d.steps.len())
                        .map(|k| sides_of(&sides((i, Some(k)))))
                        .collect();
                    let judge_step =
                        |error: Option<&crate::diag::Diagnostic>,
                         at: Vec<claims::AtSizes>,
                         k: usize| { judge(error, at, (i, Some(k))) };
                    derivation(program, d, steps, &file, &judge_step, report)
                }
            }
        }
    });
}

/// Does either side read `grad(...)`?
fn reads_gradients(program: &Program, sides: [Option<NodeId>; 2]) -> bool {
    sides
        .into_iter()
        .flatten()
        .any(|n| claims::uses_gradients(&program.graph, n))
}

/// Judges one claim or step: its lowering error, or its two sides at every assignment of
/// sizes.
/// The step's index is given (it names the step's proof attempt).
type Judge<'a> =
    dyn Fn(Option<&crate::diag::Diagnostic>, Vec<claims::AtSizes>, usize) -> Finding + 'a;

/// Report a derivation's steps (and its first line, if that is broken).
fn derivation(
    program: &Program,
    d: &crate::ir::Derivation,
    mut steps_at: Vec<Vec<claims::AtSizes>>,
    file: &str,
    judge: &Judge,
    report: &mut dyn FnMut(CheckResult),
) {
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
        let finding = judge(step.error.as_ref(), at, k);
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
            expect: Expect::of(step.differ),
            finding,
            uses_gradients: reads_gradients(program, [d.steps[k - 1].node, step.node]),
        });
    }
}
