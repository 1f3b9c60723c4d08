//! Printing an equivalence proof: one line per rewrite, in the language's syntax.
//!
//! Owns [`lines`]: the starting term, then `= TERM    by RULE` for each step. Steps that only
//! reorder (commutativity, associativity) are folded into the next real step when asked
//! ("by RULE, after reordering"), since a reader does not need them spelled out.

use super::expr::Printer;
use crate::ir::{NodeId, Program};
use crate::simplify::Proof;

/// One printed line of a proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofLine {
    pub term: String,
    /// `None` for the first line.
    pub why: Option<String>,
}

/// The proof's lines; with `fold`, reordering steps are folded into the next real one.
pub fn lines(program: &Program, proof: &Proof, fold: bool) -> Vec<ProofLine> {
    let names = super::code_names(program, &proof.graph);
    let printer = Printer::new(&proof.graph, &program.dims, &names);
    let print = |n: NodeId| match names.get(&n) {
        Some(name) => name.clone(),
        None => printer.definition(n),
    };
    let mut out = vec![ProofLine {
        term: print(proof.start),
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
            why: Some(why),
        });
    }
    out
}

/// The proof as text: `    TERM` then `  = TERM    by RULE`.
pub fn text(program: &Program, proof: &Proof, fold: bool) -> String {
    let mut s = String::new();
    for (i, l) in lines(program, proof, fold).iter().enumerate() {
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
