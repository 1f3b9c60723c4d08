//! `handtrace check` output: one line per claim or step, `FILE:LINE: VERDICT  CLAIM`, then the
//! detail indented; or the JSON of the reference (`docs/json.md`).
//!
//! Owns the words of a check: [`detail`] (what a verdict rests on), [`diagnosis`] (the
//! mistake that fits, in the language's syntax), the summary line. Everything printed is
//! read from `verify`'s data; nothing is computed here.

use super::expr::Printer;
pub use super::proof::Steps;
use crate::exact::num::NumError;
use crate::ir::{Graph, NodeId, Program};
use crate::verify::claims::{Agreement, ClaimError, Finding};
use crate::verify::diagnosis::{
    product_parts, Diagnosis, FactorName, Fix, Mistake, Part, Reference,
};
use crate::verify::{CheckResult, Expect, Verdict};
use serde_json::json;
use std::collections::HashMap;

/// What was tried when no common mistake fits.
const TRIED: &str = "a flipped sign, a transpose, a constant factor, a transpose on one factor, a mean for a sum, a term's sign, a stray or missing term, factors swapped, parts of a concat swapped, rows of an input summing to 1";

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
pub fn result_text(program: &Program, r: &CheckResult, view: View) -> String {
    let step = r.step.map(|k| format!(" step {k}")).unwrap_or_default();
    let mut out = format!(
        "{}:{}:{} {}  {}\n",
        r.file,
        r.line,
        step,
        verdict_text(r),
        r.claim
    );
    if let View::Detail(steps) = view {
        for line in detail(program, r, steps).lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

/// How much `check` prints of each result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The verdict line only (`check --quiet`).
    Quiet,
    /// The verdict and what it rests on, proofs shown this way.
    Detail(Steps),
}

impl Default for View {
    fn default() -> View {
        View::Detail(Steps::Short)
    }
}

/// Every result of one program.
pub fn text(program: &Program, results: &[CheckResult]) -> String {
    results
        .iter()
        .map(|r| result_text(program, r, View::default()))
        .collect()
}

/// `2 of 2 files checked; 14 claims and steps: 13 proved, 1 verified`.
/// A result as the summary counts it: its verdict, and for a verified one how it was
/// verified (agreement of enclosures is counted apart from exact equality).
pub fn tally_of(r: &CheckResult) -> (Verdict, Option<Agreement>) {
    match &r.finding {
        Finding::Verified { agreement, .. } => (r.verdict, Some(*agreement)),
        _ => (r.verdict, None),
    }
}

pub fn summary(files: usize, checked: usize, results: &[(Verdict, Option<Agreement>)]) -> String {
    let count = |v: Verdict| results.iter().filter(|(r, _)| *r == v).count();
    let mut tally: Vec<String> = Vec::new();
    for v in Verdict::ALL {
        if v == Verdict::Verified {
            let exact = results
                .iter()
                .filter(|(_, a)| *a == Some(Agreement::Exact))
                .count();
            let close = count(v) - exact;
            if exact > 0 {
                tally.push(format!("{exact} verified exactly"));
            }
            if close > 0 {
                tally.push(format!("{close} verified to certified precision only"));
            }
        } else if count(v) > 0 {
            tally.push(format!("{} {}", count(v), v.as_str()));
        }
    }
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
pub fn result_json(program: &Program, r: &CheckResult, steps: Steps) -> serde_json::Value {
    let diagnosis = match &r.finding {
        Finding::Refuted(c) => c.diagnosis.as_ref().map(|d| diagnosis(program, d)),
        _ => None,
    };
    let mut v = json!({
        "file": r.file,
        "line": r.line,
        "step": r.step,
        "claim": r.claim,
        "verdict": r.verdict,
        "detail": detail(program, r, steps),
        "diagnosis": diagnosis,
        "expect": r.expect,
    });
    if let Finding::Verified {
        points,
        sizes,
        agreement,
        unusable,
        random,
    } = &r.finding
    {
        let (by, bits) = match agreement {
            Agreement::Exact => ("exact", None),
            Agreement::Enclosures { bits } => ("enclosures", Some(*bits)),
        };
        let sizes: Vec<serde_json::Value> = sizes
            .iter()
            .map(|a| {
                serde_json::Value::Object(a.iter().map(|(n, s)| (n.clone(), json!(s))).collect())
            })
            .collect();
        let fields = v.as_object_mut().expect("an object");
        fields.insert("verified_by".into(), json!(by));
        fields.insert("bits".into(), json!(bits));
        fields.insert("points".into(), json!(points));
        fields.insert("unusable".into(), json!(unusable));
        fields.insert("sizes".into(), json!(sizes));
        fields.insert("reads_inputs".into(), json!(random));
    }
    v
}

/// The whole report: `{"results": [...]}`.
pub fn json(results: Vec<serde_json::Value>) -> String {
    serde_json::to_string_pretty(&json!({ "results": results })).expect("results serialise") + "\n"
}

/// What a verdict rests on, in words.
pub fn detail(program: &Program, r: &CheckResult, steps: Steps) -> String {
    match &r.finding {
        Finding::Proved(proof) if proof.steps.is_empty() => format!(
            "identical once {}:\n{}",
            if r.uses_gradients {
                "grad(...) is the derived gradient"
            } else {
                "names are their definitions and constants are folded"
            },
            super::proof::text(program, proof, steps).trim_end()
        ),
        Finding::Proved(proof) => format!(
            "equal for every size of the dims, by these rewrites:\n{}",
            super::proof::text(program, proof, steps).trim_end()
        ),
        Finding::Verified {
            points,
            sizes: at,
            agreement,
            unusable,
            random,
        } => {
            let s = if *points == 1 { "" } else { "s" };
            // Sides that read no input are evaluated once per assignment of sizes.
            let (exact_at, close_at) = if *random {
                (
                    format!(", at {points} random rational point{s}"),
                    format!(" at {points} random point{s}"),
                )
            } else {
                let none = ", the sides reading no input".to_string();
                (none.clone(), none)
            };
            let how = match agreement {
                Agreement::Exact => format!("equal, exactly{exact_at}"),
                Agreement::Enclosures { bits } => format!(
                    "agree to 2^-{bits}{close_at} (certified enclosures that still overlap at {bits} bits: agreement to that precision, not exact equality)"
                ),
            };
            let at: Vec<String> = at.iter().map(|a| super::sizes_words(a)).collect();
            let skipped = if *unusable > 0 {
                format!(
                    "; {unusable} point{} skipped (the left side undefined there, or too large to evaluate exactly)",
                    if *unusable == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            };
            // A claim without dims has one assignment, of nothing: no sizes to name.
            let sizes = if at.iter().all(|a| a == "no dims") {
                String::new()
            } else {
                format!(", at the sizes {}", at.join("; "))
            };
            format!("{how}{sizes}{skipped}; the e-graph found no proof within its limits")
        }
        Finding::Undefined(u) => format!(
            "the right side is undefined at the random point of seed {} ({}; `{}` shows it), where the left side is defined: {}",
            u.seed,
            super::sizes_words(&u.sizes),
            super::reproduce_at(program, &r.file, &u.sizes, u.seed),
            u.reason
        ),
        Finding::Refuted(c) => {
            let (left, right) = super::trace::pair_text(&c.lhs, &c.rhs);
            let head = format!(
                "counterexample at the random point of seed {} ({}; `{}` shows it), entry {:?}: left side {left}, right side {right}",
                c.seed,
                super::sizes_words(&c.sizes),
                super::reproduce_at(program, &r.file, &c.sizes, c.seed),
                c.entry,
            );
            match &c.diagnosis {
                Some(d) => format!("{head}\ndiagnosis: {}", diagnosis(program, d)),
                None => format!("{head}\nno common mistake fits (tried: {TRIED})"),
            }
        }
        Finding::Undecided(o) => format!(
            "entry {:?} at the random point of seed {} ({}): the enclosures {} and {} overlap but stay too wide to call equal even at {} bits",
            o.entry,
            o.seed,
            super::sizes_words(&o.sizes),
            super::trace::entry_text(&o.lhs),
            super::trace::entry_text(&o.rhs),
            crate::verify::points::BITS_LADDER[crate::verify::points::BITS_LADDER.len() - 1]
        ),
        Finding::Error(e) => error_text(program, e),
    }
}

/// Why a claim could not be checked.
pub fn error_text(program: &Program, e: &ClaimError) -> String {
    match e {
        ClaimError::Input(d) => super::diag_text(program, d),
        ClaimError::NoGradients(d) => format!("`grad(...)` has no value here: {}", d.message),
        ClaimError::UndefinedEverywhere { points, last } => match last {
            Some(why @ NumError::TooLarge(_)) => format!(
                "a side could not be evaluated at any of the {points} random points tried (at the last: {why})"
            ),
            Some(why) => format!(
                "a side is undefined at every one of the {points} random points tried (at the last: {why})"
            ),
            None => format!(
                "a side is undefined at every one of the {points} random points tried (division by zero, log or root of a negative number)"
            ),
        },
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
        FactorName::Product {
            coefficient,
            up,
            down,
        } => {
            let text = |parts: Vec<Part>| -> Vec<String> {
                parts
                    .into_iter()
                    .map(|p| match p {
                        Part::Number(n) => n.to_string(),
                        Part::Dim(d) => d.to_string(),
                    })
                    .collect()
            };
            let (top, bottom) = product_parts(*coefficient, up, down);
            let (top, bottom) = (text(top).join("*"), text(bottom));
            match bottom.len() {
                0 => top,
                1 => format!("{top}/{}", bottom[0]),
                _ => format!("{top}/({})", bottom.join("*")),
            }
        }
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
        FactorName::Number(..) | FactorName::Product { .. } => String::new(),
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
                Fix::PartsSwapped => format!(
                    "it holds with `{corrected}` in place of `{spot}`: the parts are in the wrong order"
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
