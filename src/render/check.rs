//! `handtrace check` output: one line per claim or step, `FILE:LINE: VERDICT  CLAIM`, then the
//! detail indented; or the JSON of the reference (`docs/json.md`).
//!
//! Owns the words of a check: [`detail`] (what a verdict rests on), [`diagnosis`] (the
//! mistake that fits, in the language's syntax), the summary line. Everything printed is
//! read from `verify`'s data; nothing is computed here.

use super::expr::Printer;
use crate::ir::{Graph, NodeId, Program};
use crate::verify::claims::{ClaimError, Finding};
use crate::verify::diagnosis::{Diagnosis, FactorName, Fix, Mistake, Reference};
use crate::verify::{CheckResult, Expect, Verdict};
use serde_json::json;
use std::collections::HashMap;

/// What was tried when no common mistake fits.
const TRIED: &str = "a flipped sign, a transpose, a constant factor, a transpose on one factor, a mean for a sum, a term's sign, a stray or missing term, factors swapped, rows of an input summing to 1";

/// The verdict as the text report shows it: a `!=` says whether it is what the file expects.
pub fn verdict_text(r: &CheckResult) -> String {
    match (r.expect, r.passes()) {
        (Expect::Equal, _) => r.verdict.as_str().to_string(),
        (Expect::Different, true) => format!("{} as claimed", r.verdict.as_str()),
        (Expect::Different, false) => {
            format!("{}, though the file says they differ", r.verdict.as_str())
        }
    }
}

/// One result: its header line and its detail, indented.
pub fn result_text(program: &Program, r: &CheckResult) -> String {
    let step = r.step.map(|k| format!(" step {k}")).unwrap_or_default();
    let mut out = format!(
        "{}:{}:{} {}  {}\n",
        r.file,
        r.line,
        step,
        verdict_text(r),
        r.claim
    );
    for line in detail(program, r).lines() {
        out.push_str(&format!("    {line}\n"));
    }
    out
}

/// Every result of one program.
pub fn text(program: &Program, results: &[CheckResult]) -> String {
    results.iter().map(|r| result_text(program, r)).collect()
}

/// `2 of 2 files checked; 14 claims and steps: 13 proved, 1 verified`.
pub fn summary(files: usize, checked: usize, results: &[Verdict]) -> String {
    let count = |v: Verdict| results.iter().filter(|r| **r == v).count();
    let tally: Vec<String> = Verdict::ALL
        .into_iter()
        .filter(|v| count(*v) > 0)
        .map(|v| format!("{} {}", count(v), v.as_str()))
        .collect();
    let s = |n: usize| if n == 1 { "" } else { "s" };
    format!(
        "{checked} of {files} file{} checked; {} claim{} and step{}{}\n",
        s(files),
        results.len(),
        s(results.len()),
        s(results.len()),
        if tally.is_empty() {
            String::new()
        } else {
            format!(": {}", tally.join(", "))
        }
    )
}

/// One result as JSON (the reference's shape: `file`, `line`, `step`, `claim`, `verdict`,
/// `detail`, plus `diagnosis` and `expect`).
pub fn result_json(program: &Program, r: &CheckResult) -> serde_json::Value {
    let diagnosis = match &r.finding {
        Finding::Refuted(c) => c.diagnosis.as_ref().map(|d| diagnosis(program, d)),
        _ => None,
    };
    json!({
        "file": r.file,
        "line": r.line,
        "step": r.step,
        "claim": r.claim,
        "verdict": r.verdict,
        "detail": detail(program, r),
        "diagnosis": diagnosis,
        "expect": r.expect,
    })
}

/// The whole report: `{"results": [...]}`.
pub fn json(results: Vec<serde_json::Value>) -> String {
    serde_json::to_string_pretty(&json!({ "results": results })).expect("results serialise") + "\n"
}

/// What a verdict rests on, in words.
pub fn detail(program: &Program, r: &CheckResult) -> String {
    let sizes = super::sizes_text(program);
    match &r.finding {
        Finding::Proved(proof) if proof.steps.is_empty() => format!(
            "identical once {}:\n{}",
            if r.uses_gradients {
                "grad(...) is the derived gradient"
            } else {
                "names are their definitions and constants are folded"
            },
            super::proof::text(program, proof, true).trim_end()
        ),
        Finding::Proved(proof) => format!(
            "equal for every size of the dims, by these rewrites:\n{}",
            super::proof::text(program, proof, true).trim_end()
        ),
        Finding::Verified { points } => format!(
            "equal, exactly, at {points} random rational point{} ({sizes}); the e-graph found no proof within its limits",
            if *points == 1 { "" } else { "s" },
        ),
        Finding::Refuted(c) => {
            let head = format!(
                "counterexample at the random point of seed {} ({sizes}; `{}` shows it), entry {:?}: left side {}, right side {}",
                c.seed,
                super::reproduce(program, &r.file, c.seed),
                c.entry,
                super::trace::entry_text(&c.lhs),
                super::trace::entry_text(&c.rhs)
            );
            match &c.diagnosis {
                Some(d) => format!("{head}\ndiagnosis: {}", diagnosis(program, d)),
                None => format!("{head}\nno common mistake fits (tried: {TRIED})"),
            }
        }
        Finding::Undecided(o) => format!(
            "entry {:?} at point seed {}: the enclosures {} and {} overlap but are not narrow enough to call equal",
            o.entry,
            o.seed,
            super::trace::entry_text(&o.lhs),
            super::trace::entry_text(&o.rhs)
        ),
        Finding::Error(e) => error_text(program, e),
    }
}

/// Why a claim could not be checked.
pub fn error_text(program: &Program, e: &ClaimError) -> String {
    match e {
        ClaimError::Input(d) => super::diag_text(program, d),
        ClaimError::NoGradients(d) => format!("`grad(...)` has no value here: {}", d.message),
        ClaimError::UndefinedEverywhere { points } => format!(
            "a side is undefined at every one of the {points} random points tried (division by zero, log or root of a negative number)"
        ),
        ClaimError::Evaluation(e) => format!("a side could not be evaluated: {e}"),
    }
}

/// `n` in the language's syntax (a named node prints as its name).
fn code(program: &Program, graph: &Graph, names: &HashMap<NodeId, String>, n: NodeId) -> String {
    match names.get(&n) {
        Some(name) => name.clone(),
        None => Printer::new(graph, &program.dims, names).definition(n),
    }
}

/// `√d`, `1/d`, `2`.
pub fn factor_name(f: &FactorName) -> String {
    match f {
        FactorName::Size(d) => d.clone(),
        FactorName::Root(d) => format!("√{d}"),
        FactorName::InverseSize(d) => format!("1/{d}"),
        FactorName::InverseRoot(d) => format!("1/√{d}"),
        FactorName::Number(n, 1) => n.to_string(),
        FactorName::Number(n, d) => format!("{n}/{d}"),
    }
}

/// What a factor's name suggests the mistake was.
fn factor_hint(f: &FactorName) -> String {
    match f {
        FactorName::InverseRoot(d) => format!(" (a division by √{d} where none belongs?)"),
        FactorName::InverseSize(d) => {
            format!(" (a mean where the truth sums, or an extra division by {d}?)")
        }
        FactorName::Root(d) => format!(" (a missing division by √{d}?)"),
        FactorName::Size(d) => {
            format!(" (a sum where the truth takes the mean, or a missing division by {d}?)")
        }
        FactorName::Number(..) => String::new(),
    }
}

fn whose(r: Reference) -> &'static str {
    match r {
        Reference::TrueGradient => "the true gradient",
        Reference::LeftSide => "the left side",
    }
}

/// The mistake that fits, in words, with expressions in the language's syntax.
pub fn diagnosis(program: &Program, d: &Diagnosis) -> String {
    let names = super::code_names(program, &d.graph);
    let code = |n: NodeId| code(program, &d.graph, &names, n);
    match &d.mistake {
        Mistake::SignFlipped => "the sign is flipped: the right side is minus the left side".into(),
        Mistake::Transposed => {
            "off by a transpose: the right side is the transpose of the left side".into()
        }
        Mistake::ConstantFactor { value, names } => match names.split_first() {
            Some((first, others)) => {
                let name = factor_name(first);
                let also = if others.is_empty() {
                    String::new()
                } else {
                    let others: Vec<String> = others.iter().map(factor_name).collect();
                    format!(" (equal to {} at these sizes)", others.join(" and to "))
                };
                format!(
                    "off by a constant factor {name}{also}: the right side is {name} × the left side{}",
                    factor_hint(first)
                )
            }
            None => format!(
                "off by a constant factor: the right side is {} × the left side",
                super::trace::entry_text(value)
            ),
        },
        Mistake::Correction {
            spot,
            corrected,
            fix,
        } => {
            let (spot, corrected) = (code(*spot), code(*corrected));
            match fix {
                Fix::TransposeTooMany => format!(
                    "it holds with `{corrected}` in place of `{spot}`: that transpose does not belong"
                ),
                Fix::TransposeMissing { factor } => format!(
                    "it holds with `{corrected}` in place of `{}` in `{spot}`: a transpose is missing",
                    code(*factor)
                ),
                Fix::FactorsSwapped => format!(
                    "it holds with `{corrected}` in place of `{spot}`: the factors are in the wrong order"
                ),
                Fix::SumForMean => format!(
                    "it holds with `{corrected}` in place of `{spot}`: a sum where the truth takes the mean"
                ),
                Fix::MeanForSum => format!(
                    "it holds with `{corrected}` in place of `{spot}`: a mean where the truth sums"
                ),
                Fix::TermSign { term } => format!(
                    "it holds with `{corrected}` in place of `{spot}`: the sign of `{}` is wrong",
                    code(*term)
                ),
                Fix::StrayTerm { term } => format!(
                    "it holds without the term `{}` in `{spot}`: that term does not belong",
                    code(*term)
                ),
                Fix::StrayScale { scale, division } => format!(
                    "it holds without the {} `{}` in `{spot}`: that scale does not belong there",
                    if *division { "division by" } else { "factor" },
                    code(*scale)
                ),
            }
        }
        Mistake::Term {
            term,
            negative,
            wrong_sign,
            whose: w,
        } => {
            let sign = if *negative { "-" } else { "" };
            let term = format!("{sign}{}", code(*term));
            if *wrong_sign {
                format!("the term `{term}` of {} has the wrong sign", whose(*w))
            } else {
                format!("it matches {} without the term `{term}`", whose(*w))
            }
        }
        Mistake::Factor {
            factor,
            division,
            whose: w,
        } => format!(
            "it matches {} but for the {} `{}`, which is missing",
            whose(*w),
            if *division { "division by" } else { "factor" },
            code(*factor)
        ),
        Mistake::RowsSumToOne { input } => format!(
            "correct only when each row of `{}` sums to 1: it holds at points where they do, not in general",
            program.tensor(*input).name
        ),
    }
}
