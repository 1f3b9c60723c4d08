//! The person's claims and derivation steps in the document: each numbered, with the author's
//! comment from the lines above it, in math, with its verdict and what the verdict rests on
//! (the short proof, a derived gradient written out inside a term printed by its name; or the
//! counterexample, at the document's own numeric point when it is there, 1-based, and a
//! diagnosis with why the mistake is wrong).
//!
//! Invariant: computes nothing; every term, number and verdict is `Solution`'s.

use super::math::{bar, TexPrinter};
use super::text::prose;
use super::{diagnosis, forward_names, math, numbers, text};
use crate::ir::{NodeId, Op, Program};
use crate::solution::Solution;
use crate::verify::claims::Finding;
use crate::verify::Verdict;
use std::collections::HashMap;
use std::fmt::Write;

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Proved => "\\textbf{proved}",
        Verdict::Verified => "\\textbf{verified}",
        Verdict::Refuted => "\\textbf{refuted}",
        Verdict::Undecided => "\\textbf{undecided}",
        Verdict::Error => "\\textbf{error}",
    }
}

/// A claim's or step's two sides, a step's justification (its comment), and the span of
/// the line (for the author's comment above it).
type Sides = (NodeId, NodeId, Option<String>, crate::source::Span);

/// The author's words for the line at `span`: the comment lines just above it (a test
/// directive such as `# diagnosis:` left out), joined.
fn author_comment(program: &Program, span: crate::source::Span) -> Option<String> {
    let file = program.sources.file(span.file);
    let line = program.sources.line(span);
    let mut said: Vec<&str> = Vec::new();
    let mut k = line;
    while k > 1 {
        k -= 1;
        let Some(text) = file.line_text(k).trim().strip_prefix('#') else {
            break;
        };
        let text = text.trim();
        if text.is_empty() || text.starts_with("diagnosis:") || text.starts_with('─') {
            if text.starts_with('─') || text.is_empty() {
                break;
            }
            continue;
        }
        said.push(text);
    }
    said.reverse();
    (!said.is_empty()).then(|| said.join(" "))
}

/// The section of the file's claims and derivation steps.
pub(super) fn section(out: &mut String, s: &Solution) {
    if s.checks.is_empty() {
        return;
    }
    let program = s.checked();
    out.push_str("\\section{Your claims and derivations, checked}\n\n");
    out.push_str(
        "Each claim and each step of a derivation gets the strongest verdict that holds: \
         \\emph{proved} (equal for every size of the dims, by the rewrites shown), \
         \\emph{verified} (equal, exactly, at random rational points of several sizes), \
         \\emph{refuted} (a certified counterexample), \\emph{undecided} or \\emph{error}. \
         A claim marked $\\neq$ in the file is a deliberate mistake: it passes when it is \
         refuted. A proof substitutes the derived gradient for each $\\bar{X}$ in the left \
         side (its first line) and rewrites it, one rule at a time (named under each line), \
         into the right side.\n\n",
    );
    // The sides of each claim and step (by line and step), and a step's justification.
    let mut sides: HashMap<(usize, Option<usize>), Sides> = HashMap::new();
    for c in &program.claims {
        if let (Some(l), Some(r)) = (c.lhs, c.rhs) {
            sides.insert((program.sources.line(c.span), None), (l, r, None, c.span));
        }
    }
    for d in &program.derivations {
        for k in 1..d.steps.len() {
            if let (Some(l), Some(r)) = (d.steps[k - 1].node, d.steps[k].node) {
                let line = program.sources.line(d.steps[k].span);
                let span = if k == 1 { d.span } else { d.steps[k].span };
                sides.insert((line, Some(k)), (l, r, d.steps[k].note.clone(), span));
            }
        }
    }
    let names = forward_names(program, &program.graph);
    let printer = TexPrinter {
        graph: &program.graph,
        dims: &program.dims,
        names: &names,
    };
    let example_point = s
        .example
        .as_ref()
        .ok()
        .map(|e| (e.program.base_sizes(), e.seed));
    let mut claim_no = 0;
    for r in &s.checks {
        let at = match r.step {
            Some(k) => format!("Line {}, step {k} of a derivation", r.line),
            None => {
                claim_no += 1;
                format!("Claim {claim_no} (line {})", r.line)
            }
        };
        let said = match (r.expect, r.passes()) {
            (crate::verify::Expect::Equal, _) => "",
            (crate::verify::Expect::Different, true) => " (a deliberate mistake, as the file says)",
            (crate::verify::Expect::Different, false) => " (the file says the sides differ)",
        };
        let _ = writeln!(
            out,
            "\\paragraph{{{}: {}{said}.}}",
            prose(&at),
            verdict_word(r.verdict)
        );
        match sides.get(&(r.line, r.step)) {
            Some((l, rhs, note, span)) => {
                let words = note.clone().or_else(|| {
                    // A step's own comment, else the words above the claim or derivation.
                    (r.step.is_none_or(|k| k == 1))
                        .then(|| author_comment(program, *span))
                        .flatten()
                });
                if let Some(words) = words {
                    let _ = writeln!(out, "\\emph{{``{}''}}", prose(&words));
                }
                let lhs = printer.expr(*l);
                let lhs = if math::width(&lhs) > math::LINE_WIDTH / 2.0 {
                    // A long left side (a derivation's previous line): named, not repeated.
                    "(\\text{previous line})".to_string()
                } else {
                    lhs
                };
                let rel = match r.expect {
                    crate::verify::Expect::Equal => "=",
                    crate::verify::Expect::Different => "\\neq",
                };
                out.push_str(&math::display_rel(&lhs, rel, &printer.expr_terms(*rhs)));
            }
            None => {
                let _ = writeln!(out, "{{\\raggedright {}\\par}}\n", text::code(&r.claim));
            }
        }
        match &r.finding {
            Finding::Proved(proof) => proof_chain(out, program, proof),
            Finding::Refuted(c) => {
                let entry: Vec<String> = c.entry.iter().map(|i| (i + 1).to_string()).collect();
                let entry = if entry.is_empty() {
                    "the value".to_string()
                } else {
                    format!("entry $({})$", entry.join(", "))
                };
                let own = example_point
                    .as_ref()
                    .is_some_and(|(sizes, seed)| *sizes == c.sizes && *seed == c.seed);
                let point = if own {
                    "At the point of the numeric example below".to_string()
                } else {
                    format!(
                        "At the random point {} shows",
                        text::code(&crate::render::reproduce_at(
                            program, &s.file, &c.sizes, c.seed
                        ))
                    )
                };
                let _ = writeln!(
                    out,
                    "{point}, {entry} is ${}$ on the left side and ${}$ on the right.\n",
                    numbers::entry(&c.lhs),
                    numbers::entry(&c.rhs),
                );
                match &c.diagnosis {
                    Some(d) => {
                        let _ = writeln!(
                            out,
                            "\\emph{{Diagnosis:}} {} {}\n",
                            diagnosis::sentence(program, d),
                            diagnosis::why(program, d)
                        );
                    }
                    None => out.push_str("No common mistake fits this refutation.\n\n"),
                }
            }
            Finding::Verified { .. }
            | Finding::Undefined(_)
            | Finding::Undecided(_)
            | Finding::Error(_) => {
                let detail =
                    crate::render::check::detail(program, r, crate::render::proof::Steps::Short);
                let _ = writeln!(out, "{}\n", prose(detail.lines().next().unwrap_or("")));
            }
        }
    }
}

/// A proof as a chain of equal terms, each with the rule that gives it (the short form: the
/// lines `render::proof` keeps, a derived gradient written out inside a term read as its
/// name).
fn proof_chain(out: &mut String, program: &Program, proof: &crate::simplify::prove::Proof) {
    let mut names = forward_names(program, &proof.graph);
    // Every copy of a derived gradient's expression (the terms are rebuilt, so copies are
    // found by structure) prints as its name `\bar{X}`.
    let g = &proof.graph;
    let mut interned: HashMap<(Op, Vec<u32>), u32> = HashMap::new();
    let keys: Vec<u32> = g
        .nodes()
        .map(|(_, node)| {
            // Node ids are topological: the arguments' keys are known.
            (
                node.op.clone(),
                node.args.iter().map(|a| a.0).collect::<Vec<_>>(),
            )
        })
        .collect::<Vec<_>>()
        .into_iter()
        .scan(Vec::<u32>::new(), |done, (op, args)| {
            let args: Vec<u32> = args.iter().map(|&a| done[a as usize]).collect();
            let next = interned.len() as u32;
            let key = *interned.entry((op, args)).or_insert(next);
            done.push(key);
            Some(key)
        })
        .collect();
    let derived: HashMap<u32, String> = proof
        .names
        .iter()
        .filter_map(|(n, code)| {
            let x = code.strip_prefix("grad(")?.strip_suffix(')')?;
            Some((keys[n.0 as usize], bar(x)))
        })
        .collect();
    for (id, _) in g.nodes() {
        if let Some(name) = derived.get(&keys[id.0 as usize]) {
            names.entry(id).or_insert_with(|| name.clone());
        }
    }
    let printer = TexPrinter {
        graph: g,
        dims: &program.dims,
        names: &names,
    };
    let term = |n: NodeId| printer.definition(n);
    let lines = crate::render::proof::lines(program, proof, crate::render::proof::Steps::Short);
    if lines.len() < 2 || lines.iter().all(|l| term(l.node) == term(proof.start)) {
        out.push_str(
            "With the derived gradients substituted, the two sides are the same expression.\n\n",
        );
        return;
    }
    out.push_str("\\begin{align*}\n");
    let mut rows = vec![format!("  &\\fitline{{{}}}", term(proof.start))];
    for l in lines.iter().skip(1) {
        let why = prose(&l.why.clone().unwrap_or_default());
        let t = term(l.node);
        // Far too long to read even shrunk: the step's rule still shows.
        let t = if math::width(&t) > 3.0 * math::LINE_WIDTH {
            "\\cdots".to_string()
        } else {
            t
        };
        rows.push(format!(
            "  &= \\fitline{{{t}}} \\\\*\n  &\\qquad\\parbox[t]{{0.8\\linewidth}}{{\\raggedright\\footnotesize {why}}}"
        ));
    }
    // The start alone may be very long: shown only if it is readable shrunk.
    if math::width(&rows[0]) > 3.0 * math::LINE_WIDTH {
        rows[0] = "  &\\text{(the left side, with the derived gradients)}".into();
    }
    out.push_str(&rows.join(" \\\\\n"));
    out.push_str("\n\\end{align*}\n");
}
