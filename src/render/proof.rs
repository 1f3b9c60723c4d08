//! Printing an equivalence proof: one line per rewrite, in the language's syntax.
//!
//! Owns [`lines`]: the starting term, then `= TERM    by RULE` for each step. [`Steps::Full`]
//! prints every rewrite. [`Steps::Short`], the default, prints what a person would write:
//! steps that only reorder are folded into the next real step ("after reordering"); a run
//! of definitions and algebra is one step, or none when it comes back to the term it started
//! from; a step that prints the same term as the one before is dropped; a longer chain is
//! grouped into at most [`SHORT_STEPS`] steps; and a term longer than [`SHORT_TERM`]
//! characters is shortened in the middle (`…`).

use super::expr::Printer;
use crate::ir::{NodeId, Program};
use crate::simplify::Proof;

/// One printed line of a proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofLine {
    pub term: String,
    /// The term's node in the proof's graph (a grouped line: the last step of its group).
    pub node: NodeId,
    /// `None` for the first line.
    pub why: Option<String>,
}

/// How much of a proof to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Steps {
    /// What a person would write (see the module doc).
    #[default]
    Short,
    /// Every rewrite, every term in full.
    Full,
}

/// Most steps a short proof shows.
pub const SHORT_STEPS: usize = 8;

/// Longest term a short proof prints whole (in characters).
pub const SHORT_TERM: usize = 200;

/// The proof's lines.
pub fn lines(program: &Program, proof: &Proof, steps: Steps) -> Vec<ProofLine> {
    let names = super::code_names(program, &proof.graph);
    let printer = Printer::new(&proof.graph, &program.dims, &names);
    let print = |n: NodeId| match names.get(&n) {
        Some(name) => name.clone(),
        None => printer.definition(n),
    };
    let fold = steps == Steps::Short;
    let mut out = vec![ProofLine {
        term: print(proof.start),
        node: proof.start,
        why: None,
    }];
    let mut reordered = false;
    for (i, step) in proof.steps.iter().enumerate() {
        let last = i + 1 == proof.steps.len();
        if fold && step.bookkeeping && !last {
            reordered = true;
            continue;
        }
        let mut why = if fold && step.bookkeeping {
            "by reordering terms".to_string()
        } else {
            format!("by {}", step.rule)
        };
        if step.reversed && !step.bookkeeping && !step.rule.starts_with("definition") {
            why.push_str(" (right to left)");
        } else if step.reversed && step.rule.starts_with("definition") {
            why = format!("by {} (folded back into the name)", step.rule);
        }
        if reordered && !step.bookkeeping {
            why.push_str(", after reordering");
        }
        reordered = false;
        out.push(ProofLine {
            term: print(step.term),
            node: step.term,
            why: Some(why),
        });
    }
    if fold {
        // A derived gradient written out inside a term reads as its name.
        let mut named: Vec<(String, &str)> = proof
            .names
            .iter()
            .map(|(n, name)| (print(*n), name.as_str()))
            .filter(|(text, _)| text.chars().count() >= 16)
            .collect();
        named.sort_by_key(|(text, _)| std::cmp::Reverse(text.len()));
        for line in out.iter_mut().skip(1) {
            line.term = with_names(&line.term, &named);
        }
        if let Some(first) = out.first_mut() {
            first.term = with_names(&first.term, &named);
        }
        shorten(&mut out, proof);
    }
    out
}

/// `term` with each occurrence of a named text that is certainly a whole subterm (in
/// brackets, or a whole argument of a call) written as the name. Elsewhere the text may cut
/// across an operator's grouping (`x - a - b` does not contain the subterm `a - b`), so it
/// stays. A line that is one gradient stays written out.
fn with_names(term: &str, named: &[(String, &str)]) -> String {
    let mut out = term.to_string();
    for (text, name) in named {
        if out == *text {
            continue;
        }
        out = out
            .replace(&format!("({text})"), name)
            .replace(&format!("({text}, "), &format!("({name}, "))
            .replace(&format!(", {text})"), &format!(", {name})"));
    }
    out
}

/// What a step rests on, for grouping: a rule of matrix calculus, or bookkeeping a reader
/// takes in at a glance (a definition used or folded back, algebra, reordering).
fn is_minor(rule: &str) -> bool {
    rule.starts_with("definition")
        || rule == crate::simplify::ALGEBRA
        || rule.starts_with("commute")
}

/// [`Steps::Short`] from the folded lines (`proof` gives each step's rule).
fn shorten(out: &mut Vec<ProofLine>, proof: &Proof) {
    // The rule of each line after the first: the steps `lines` kept (reordering folded).
    let last = proof.steps.len().saturating_sub(1);
    let rules: Vec<String> = proof
        .steps
        .iter()
        .enumerate()
        .filter(|(i, s)| !s.bookkeeping || *i == last)
        .map(|(_, s)| s.rule.clone())
        .collect();
    let first = out[0].clone();
    let mut steps: Vec<(ProofLine, Vec<String>)> = out
        .drain(1..)
        .zip(rules)
        .map(|(l, r)| (l, vec![r]))
        .collect();
    // A step that prints the term before it changes nothing a reader sees.
    let mut kept: Vec<(ProofLine, Vec<String>)> = Vec::new();
    for (line, rules) in steps.drain(..) {
        let before = kept.last().map(|(l, _)| &l.term).unwrap_or(&first.term);
        if *before == line.term {
            continue;
        }
        kept.push((line, rules));
    }
    // A run of definitions and algebra is one step; a run that comes back to where it
    // started (unfold, then fold) is none.
    let mut grouped: Vec<(ProofLine, Vec<String>)> = Vec::new();
    let mut i = 0;
    while i < kept.len() {
        if !kept[i].1.iter().all(|r| is_minor(r)) {
            grouped.push(kept[i].clone());
            i += 1;
            continue;
        }
        let start = i;
        while i < kept.len() && kept[i].1.iter().all(|r| is_minor(r)) {
            i += 1;
        }
        let before = grouped
            .last()
            .map(|(l, _)| l.term.clone())
            .unwrap_or(first.term.clone());
        let (last, _) = kept[i - 1].clone();
        if last.term == before {
            continue;
        }
        let rules: Vec<String> = kept[start..i].iter().flat_map(|(_, r)| r.clone()).collect();
        grouped.push((last, rules));
    }
    // At most SHORT_STEPS steps: consecutive steps grouped evenly.
    let per = grouped.len().div_ceil(SHORT_STEPS).max(1);
    let chunks: Vec<(ProofLine, Vec<String>)> = grouped
        .chunks(per)
        .map(|chunk| {
            let rules: Vec<String> = chunk.iter().flat_map(|(_, r)| r.clone()).collect();
            (chunk[chunk.len() - 1].0.clone(), rules)
        })
        .collect();
    out[0].term = abridged(&first.term);
    // Shortened terms that read the same are one step.
    let mut pending: Vec<String> = Vec::new();
    for (line, rules) in chunks {
        pending.extend(rules);
        let term = abridged(&line.term);
        if out.last().is_some_and(|l| l.term == term) {
            continue;
        }
        let why = if pending.len() == 1 {
            line.why.clone().unwrap_or_default()
        } else {
            format!("by {}", reasons(&pending))
        };
        pending.clear();
        out.push(ProofLine {
            term,
            node: line.node,
            why: Some(why),
        });
    }
}

/// The rules of a group of steps, each once, in order, the definitions named together:
/// `algebra and the definitions of P, S and Q` (past four names, `and 5 more`).
fn reasons(rules: &[String]) -> String {
    let mut named: Vec<&str> = Vec::new();
    let mut others: Vec<&str> = Vec::new();
    for r in rules {
        if let Some(name) = r.strip_prefix("definition of ") {
            if !named.contains(&name) {
                named.push(name);
            }
            continue;
        }
        let r = if r.starts_with("commute") {
            "reordering"
        } else {
            r.as_str()
        };
        if !others.contains(&r) {
            others.push(r);
        }
    }
    let definitions = match named.as_slice() {
        [] => None,
        [one] => Some(format!("the definition of {one}")),
        many if many.len() <= 4 => Some(format!(
            "the definitions of {} and {}",
            many[..many.len() - 1].join(", "),
            many[many.len() - 1]
        )),
        many => Some(format!(
            "the definitions of {} and {} more",
            many[..3].join(", "),
            many.len() - 3
        )),
    };
    let mut parts: Vec<String> = others.iter().map(|s| s.to_string()).collect();
    parts.extend(definitions);
    match parts.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        _ => format!(
            "{} and {}",
            parts[..parts.len() - 1].join(", "),
            parts[parts.len() - 1]
        ),
    }
}

/// A term shortened in the middle past [`SHORT_TERM`] characters.
fn abridged(term: &str) -> String {
    let chars: Vec<char> = term.chars().collect();
    if chars.len() <= SHORT_TERM {
        return term.to_string();
    }
    let half = SHORT_TERM / 2 - 2;
    let head: String = chars[..half].iter().collect();
    let tail: String = chars[chars.len() - half..].iter().collect();
    format!("{head} … {tail}")
}

/// The proof as text: `    TERM` then `  = TERM    by RULE`.
pub fn text(program: &Program, proof: &Proof, steps: Steps) -> String {
    let mut s = String::new();
    for (i, l) in lines(program, proof, steps).iter().enumerate() {
        match &l.why {
            None => s.push_str(&format!("    {}\n", l.term)),
            Some(why) => {
                let line = format!("  = {}", l.term);
                let pad = 48usize.saturating_sub(line.chars().count()).max(2);
                s.push_str(&format!("{line}{}{why}\n", " ".repeat(pad)));
            }
        }
        let _ = i;
    }
    s
}
