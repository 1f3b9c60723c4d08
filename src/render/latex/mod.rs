//! `handtrace latex`: a worked solution as a complete LaTeX document.
//!
//! Owns [`document`]: the conventions, the problem (the layer in math notation), a table of
//! every tensor's shape, the forward pass, the backward pass one gradient at a time with the
//! rule that gives it (and the index-form reasoning for matrix products and the softmax), the
//! result, a tiny numeric example with exact values, and the person's own claims and
//! derivations with their verdicts, proofs, counterexamples and diagnoses.
//!
//! Invariants: the document uses only amsmath, amssymb, mathtools and bm (plus geometry for
//! the margins); every number in it comes from the exact evaluator (see `crate::solution`);
//! long equations break between top-level terms (see [`math::display`]).

mod diagnosis;
pub mod math;
pub mod numbers;
pub mod text;

use crate::exact::num::Num;
use crate::exact::tensor::Tensor;
use crate::ir::{Graph, NodeId, Op, Program, TargetKind, TensorId, TensorKind};
use crate::solution::{NoExample, Solution};
use crate::syntax::ast::LeafKind;
use crate::verify::claims::Finding;
use crate::verify::Verdict;
use math::{bar, display, name, TexPrinter};
use std::collections::HashMap;
use std::fmt::Write;
use text::prose;

/// Names of a graph's nodes in math: named forward tensors, and `grad(X)` as `\bar{X}`.
pub(super) fn forward_names(program: &Program, graph: &Graph) -> HashMap<NodeId, String> {
    let mut names = HashMap::new();
    for t in &program.tensors {
        names.entry(t.node).or_insert_with(|| name(&t.name));
    }
    for (id, node) in graph.nodes() {
        if let Op::GradOf(t) = node.op {
            names.insert(id, bar(&program.tensor(t).name));
        }
    }
    names
}

fn kind_text(kind: &TensorKind) -> &'static str {
    match kind {
        TensorKind::Leaf(LeafKind::Input) => "input",
        TensorKind::Leaf(LeafKind::Param) => "parameter",
        TensorKind::Leaf(LeafKind::Data) => "data",
        TensorKind::Const => "constant",
        TensorKind::Statement | TensorKind::Local => "computed",
    }
}

fn preamble(out: &mut String, title: &str) {
    out.push_str(
        "\\documentclass[11pt]{article}\n\
         \\usepackage[margin=2.2cm]{geometry}\n\
         \\usepackage{amsmath,amssymb,mathtools,bm,graphicx}\n\
         % A display line wider than the text (one long product cannot break) is shrunk to fit.\n\
         \\newsavebox{\\fitbox}\n\
         \\newcommand{\\fitline}[1]{\\sbox{\\fitbox}{$\\displaystyle #1$}%\n\
         \\ifdim\\wd\\fitbox>\\dimexpr\\linewidth-3em\\relax\n\
         \\resizebox{\\dimexpr\\linewidth-3em\\relax}{!}{\\usebox{\\fitbox}}%\n\
         \\else\\usebox{\\fitbox}\\fi}\n\
         \\allowdisplaybreaks\n\
         \\setlength{\\emergencystretch}{3em}\n\
         \\setlength{\\parindent}{0pt}\n\
         \\setlength{\\parskip}{0.6em}\n",
    );
    let _ = writeln!(out, "\\title{{Worked solution: {}}}", prose(title));
    out.push_str("\\author{handtrace}\n\\date{}\n\\begin{document}\n\\maketitle\n\n");
}

fn conventions(out: &mut String, program: &Program) {
    out.push_str("\\section*{Conventions}\n\n");
    out.push_str(
        "Matrices multiply by juxtaposition ($A\\,B$); $\\odot$ is the entrywise (Hadamard) \
         product, and entrywise operations broadcast like numpy. $A^{\\top}$ swaps the last \
         two axes. $\\operatorname{rowsum}(A)$ sums each row (the last axis) and keeps it as a \
         column; $\\operatorname{sum}_{k}$ and $\\operatorname{mean}_{k}$ reduce axis $k$ \
         ($-1$ is the last). ",
    );
    if let Some(t) = &program.target {
        let o = &program.tensor(t.tensor).name;
        match t.kind {
            TargetKind::Output => {
                let _ = write!(
                    out,
                    "The output is ${}$; its upstream gradient $\\bar{{{}}}$ is given, and for \
                     every tensor $X$ we write $\\bar{{X}} = \\partial L / \\partial X$, the \
                     gradient of $L = \\langle {}, {} \\rangle$ (the sum of the entrywise \
                     product), which has the shape of $X$. ",
                    name(o),
                    name(o),
                    bar(o),
                    name(o)
                );
            }
            TargetKind::Loss => {
                let _ = write!(
                    out,
                    "The loss is the scalar ${}$, and for every tensor $X$ we write \
                     $\\bar{{X}} = \\partial {} / \\partial X$, which has the shape of $X$. ",
                    name(o),
                    name(o)
                );
            }
        }
    }
    let uses_mask = program
        .graph
        .nodes()
        .any(|(_, n)| matches!(n.op, Op::Causal));
    if uses_mask {
        out.push_str(
            "The causal mask is the matrix $M$ with $M_{ij} = 0$ for $j \\le i$ and \
             $M_{ij} = -\\infty$ for $j > i$: $\\operatorname{softmax}(S + M)$ gives the \
             future positions probability exactly $0$. ",
        );
    }
    out.push_str("\n\n");
}

fn shapes_table(out: &mut String, program: &Program) {
    out.push_str("\\section{The problem and its shapes}\n\n");
    let dims: Vec<String> = program
        .dims
        .declared()
        .map(|(_, d)| match (&d.def, d.size) {
            (crate::ir::DimDef::Derived(p), Some(s)) => {
                format!(
                    "${} = {} = {s}$",
                    name(&d.name),
                    math::dim(&program.dims, p)
                )
            }
            (_, Some(s)) => format!("${} = {s}$", name(&d.name)),
            (_, None) => format!("${}$", name(&d.name)),
        })
        .collect();
    if !dims.is_empty() {
        let _ = writeln!(out, "Sizes: {}.\n", dims.join(", "));
    }
    out.push_str(
        "\\begin{center}\n\\begin{tabular}{llll}\n\\hline\ntensor & in the file & kind & shape \\\\\n\\hline\n",
    );
    for (i, t) in program.tensors.iter().enumerate() {
        let onehot = program.onehot.contains(&crate::ir::TensorId(i as u32));
        let _ = writeln!(
            out,
            "${}$ & {} & {}{} & ${}$ \\\\",
            name(&t.name),
            text::code(&t.name),
            kind_text(&t.kind),
            if onehot { ", one-hot rows" } else { "" },
            math::shape(&program.dims, program.graph.shape(t.node))
        );
    }
    out.push_str("\\hline\n\\end{tabular}\n\\end{center}\n\n");
    for &t in &program.onehot {
        let _ = writeln!(
            out,
            "${}$ is one-hot: each row (along its last axis) is 0 but for a single 1, so it sums to 1; the derivation uses this.\n",
            name(&program.tensor(t).name)
        );
    }
}

fn forward(out: &mut String, program: &Program) {
    out.push_str("\\section{The forward pass}\n\n");
    let names = forward_names(program, &program.graph);
    let printer = TexPrinter {
        graph: &program.graph,
        dims: &program.dims,
        names: &names,
    };
    let mut any = false;
    for t in &program.tensors {
        if !matches!(
            t.kind,
            TensorKind::Statement | TensorKind::Local | TensorKind::Const
        ) {
            continue;
        }
        any = true;
        out.push_str(&display(&name(&t.name), &printer.terms(t.node)));
    }
    if !any {
        out.push_str("The file computes nothing: it states identities about its inputs.\n\n");
    }
}

/// Moves of entries and the mask: a gradient passes through them unchanged in value.
fn passes_through(op: &Op) -> bool {
    op.spec().moves || *op == Op::Causal
}

/// `A^{\top}` of math `a` (a transpose undone rather than doubled).
fn transposed(a: &str) -> String {
    match a.strip_suffix("^{\\top}") {
        Some(inner) => inner
            .strip_prefix('{')
            .and_then(|i| i.strip_suffix('}'))
            .or_else(|| inner.strip_prefix('(').and_then(|i| i.strip_suffix(')')))
            .unwrap_or(inner)
            .to_string(),
        // A base with a superscript of its own gets parentheses (no double superscript).
        None if a.contains('^') => format!("({a})^{{\\top}}"),
        None => format!("{{{a}}}^{{\\top}}"),
    }
}

/// `a` indexed: `Q_{ik}` for a name, `(X\,W)_{ik}` for an expression.
fn idx(a: &str, i: &str) -> String {
    // A bare symbol; a subscripted or transposed one gets parentheses (W_{q} then _{ik}).
    let simple = !a.contains([' ', '+', '-', '_', '^']) && !a.contains("\\,");
    if simple {
        format!("{{{a}}}_{{{i}}}")
    } else {
        format!("({a})_{{{i}}}")
    }
}

/// The rule through which the use at the end of `path` (the node reading the tensor first,
/// then its consumers up to the user's root; `pos` the argument read) sends a gradient back.
fn rule(program: &Program, path: &[NodeId], pos: usize, user: &str) -> String {
    let g = &program.graph;
    let names = forward_names(program, g);
    let printer = TexPrinter {
        graph: g,
        dims: &program.dims,
        names: &names,
    };
    // Every operation on the way from the tensor up to the user's result, moves and the mask
    // aside: the chain rule through each, the first in full (with its index form).
    let mut parts: Vec<String> = Vec::new();
    let mut moved = false;
    let mut masked = false;
    for k in 0..path.len() {
        let node = g.node(path[k]);
        if passes_through(&node.op) {
            moved |= !matches!(node.op, Op::Causal | Op::Expand(_));
            masked |= matches!(node.op, Op::Causal);
            continue;
        }
        let here = if k == 0 {
            pos
        } else {
            node.args
                .iter()
                .position(|&a| a == path[k - 1])
                .unwrap_or(0)
        };
        let part = describe(g, &printer, path[k], here, user, parts.is_empty());
        if parts.last() != Some(&part) {
            parts.push(part);
        }
    }
    let mut text = if parts.is_empty() {
        "a move of entries: the gradient moves back the same way".to_string()
    } else {
        parts.join(", then ")
    };
    if moved {
        text.push_str(", after moving the entries back");
    }
    if masked {
        text.push_str("; the mask only adds constants, so the masked entries (where the softmax is exactly $0$) get no gradient");
    }
    text
}

/// The rule of one operation `parent` for its argument `pos` (`full`: with its index form).
fn describe(
    g: &Graph,
    printer: &TexPrinter,
    parent: NodeId,
    pos: usize,
    user: &str,
    full: bool,
) -> String {
    let node = g.node(parent);
    let other = |i: usize| printer.expr(node.args[i]);
    let smaller = g.shape(node.args[pos]) != &node.shape;
    let broadcast = if smaller && matches!(node.op, Op::Add | Op::Sub | Op::Mul | Op::Div) {
        ", summed over the axes it was broadcast along"
    } else {
        ""
    };
    match &node.op {
        Op::MatMul if !full => "the matrix product rule".into(),
        Op::Softmax { .. } if !full => "the softmax Jacobian".into(),
        Op::MatMul if g.shape(node.args[0]).len() == 2 && g.shape(node.args[1]).len() == 2 => {
            let (a, b) = (other(0), other(1));
            if pos == 0 {
                format!(
                    "the matrix product rule: $({a}\\,{b})_{{ij}} = \\sum_{{k}} {} {}$, so $\\partial ({a}\\,{b})_{{ij}} / \\partial {} = \\delta_{{ik}} {}$: the upstream gradient times ${}$ on the right",
                    idx(&a, "ik"),
                    idx(&b, "kj"),
                    idx(&a, "kl"),
                    idx(&b, "lj"),
                    transposed(&b)
                )
            } else {
                format!(
                    "the matrix product rule: $\\partial ({a}\\,{b})_{{ij}} / \\partial {} = {}\\, \\delta_{{lj}}$: ${}$ times the upstream gradient on the left",
                    idx(&b, "kl"),
                    idx(&a, "ik"),
                    transposed(&a)
                )
            }
        }
        Op::MatMul => "the (batched) matrix product rule".into(),
        Op::Mul | Op::Add | Op::Sub | Op::Div => format!("{}{broadcast}", node.op.spec().rule),
        Op::Pow(p) => {
            format!("the power rule ($\\partial x^{{{p}}}/\\partial x = {p}\\,x^{{{p} - 1}}$)")
        }
        Op::Softmax { .. } => {
            let (p, pb) = (name(user), bar(user));
            format!(
                "the softmax Jacobian: row by row, $\\partial {} / \\partial z_{{il}} = {} (\\delta_{{jl}} - {})$, so the gradient is ${p} \\odot ({pb} - \\operatorname{{rowsum}}({pb} \\odot {p}))$",
                idx(&p, "ij"),
                idx(&p, "ij"),
                idx(&p, "il"),
            )
        }
        // Every other op: the rule its row of the op table names.
        other => other.spec().rule.into(),
    }
}

/// The forward uses of tensor `x`: the named tensor whose definition uses it, the path from
/// the node that reads it up to that definition's root, and which argument it is.
fn uses(program: &Program, x: TensorId) -> Vec<(TensorId, Vec<NodeId>, usize)> {
    let target = program.tensor(x).node;
    let named: std::collections::HashSet<NodeId> = program.tensors.iter().map(|t| t.node).collect();
    let mut out = Vec::new();
    for (i, t) in program.tensors.iter().enumerate() {
        if !matches!(t.kind, TensorKind::Statement | TensorKind::Local) || t.node == target {
            continue;
        }
        // Depth first with the path from the root (definitions are small trees over names).
        let mut stack: Vec<Vec<NodeId>> = vec![vec![t.node]];
        while let Some(path) = stack.pop() {
            let n = *path.last().expect("a path");
            for (pos, &a) in program.graph.node(n).args.iter().enumerate() {
                if a == target {
                    let mut up = path.clone();
                    up.reverse();
                    out.push((TensorId(i as u32), up, pos));
                } else if !named.contains(&a) && path.len() < 64 {
                    let mut longer = path.clone();
                    longer.push(a);
                    stack.push(longer);
                }
            }
        }
    }
    out
}

fn backward(out: &mut String, s: &Solution) {
    let program = &s.program;
    let Some(grads) = &s.gradients else {
        return;
    };
    out.push_str("\\section{The backward pass}\n\n");
    out.push_str(
        "We go from the output back to the inputs. Each gradient is the sum, over the uses of \
         its tensor, of what the rule of that use sends back; the equations below are already \
         simplified by handtrace's e-graph to the cheapest form it finds.\n\n",
    );
    let mut names = forward_names(program, &grads.graph);
    let mut temp = 0;
    for line in &s.lines {
        let n = match line.tensor {
            Some(t) => bar(&program.tensor(t).name),
            None => {
                temp += 1;
                format!("G_{{{temp}}}")
            }
        };
        names.insert(line.node, n);
    }
    if let Some(target) = &program.target {
        names.insert(grads.seed, bar(&program.tensor(target.tensor).name));
    }
    let printer = TexPrinter {
        graph: &grads.graph,
        dims: &program.dims,
        names: &names,
    };
    if let Some(target) = &program.target {
        let o = &program.tensor(target.tensor).name;
        match target.kind {
            TargetKind::Output => {
                let _ = writeln!(out, "The upstream gradient ${}$ is given.\n", bar(o));
            }
            TargetKind::Loss => {
                let _ = writeln!(out, "The loss's own gradient is ${} = 1$.\n", bar(o));
            }
        }
    }
    for line in &s.lines {
        if line.node == grads.seed {
            continue;
        }
        let lhs = names[&line.node].clone();
        match line.tensor {
            Some(t) => {
                let x = &program.tensor(t).name;
                let mut why: Vec<String> = Vec::new();
                for (user, path, pos) in uses(program, t) {
                    let u = &program.tensor(user).name;
                    why.push(format!(
                        "${}$ (through {})",
                        name(u),
                        rule(program, &path, pos, u)
                    ));
                }
                why.dedup();
                if why.is_empty() {
                    let _ = writeln!(out, "\\paragraph{{${lhs}$.}}");
                } else {
                    let _ = writeln!(
                        out,
                        "\\paragraph{{${lhs}$.}} ${}$ is used by {}.",
                        name(x),
                        why.join("; and by ")
                    );
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "\\paragraph{{${lhs}$.}} A subexpression the gradients below share, computed once."
                );
            }
        }
        out.push_str(&display(&lhs, &printer.terms(line.node)));
        out.push('\n');
    }
    out.push_str("\\section{The result}\n\n");
    let listed: Vec<&crate::diff::program::GradLine> = s
        .lines
        .iter()
        .filter(|l| l.tensor.is_some_and(|t| s.wrt.contains(&t)))
        .collect();
    let _ = writeln!(
        out,
        "The gradients with respect to {}, in the compact form:\n",
        s.wrt
            .iter()
            .map(|&t| format!("${}$", name(&program.tensor(t).name)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for l in listed {
        out.push_str(&display(&names[&l.node], &printer.terms(l.node)));
    }
    out.push_str(
        "with the intermediate gradients as above; each has the shape of its tensor \
         (\\texttt{handtrace grad --check} checks each exactly against forward-mode \
         derivatives at random points).\n\n",
    );
}

fn example(out: &mut String, s: &Solution) {
    out.push_str("\\section{A tiny numeric example}\n\n");
    let e = match &s.example {
        Ok(e) => e,
        Err(why) => {
            let why = match why {
                NoExample::Sizes(d) => d.first().map(|d| d.message.clone()).unwrap_or_default(),
                NoExample::Forward(e) => e.message(&s.program),
                NoExample::Backward(e) => e.message(&s.program),
            };
            let _ = writeln!(out, "No numeric example: {}\n", prose(&why));
            return;
        }
    };
    let p = &e.program;
    let sizes: Vec<String> = p
        .dims
        .declared()
        .filter_map(|(_, d)| d.size.map(|n| format!("${} = {n}$", name(&d.name))))
        .collect();
    let _ = writeln!(
        out,
        "At the sizes {} and the random point of seed 0 ({} shows it), every value below is \
         exact: a fraction is the value itself, and a number ending in $\\ldots$ shows only \
         digits the certified enclosure guarantees.\n",
        sizes.join(", "),
        text::code(&crate::render::reproduce(p, &s.file, 0))
    );
    let show = |out: &mut String, lhs: String, t: &Tensor<Num>| {
        // A stack of matrices: one per line.
        let env = if t.ndim() >= 3 {
            "gather*"
        } else {
            "equation*"
        };
        let (value, transposed) = numbers::tensor(t);
        let lhs = if transposed {
            format!("{}^{{\\top}}", math::script_base(&lhs))
        } else {
            lhs
        };
        let _ = writeln!(out, "\\begin{{{env}}}\n  {lhs} = {value}\n\\end{{{env}}}");
    };
    out.push_str("\\paragraph{Forward values.}\n");
    for (t, v) in &e.values {
        let tensor = p.tensor(*t);
        if v.ndim() > 3 {
            continue;
        }
        show(out, name(&tensor.name), v);
    }
    if !e.gradients.is_empty() {
        out.push_str("\\paragraph{Gradients.}\n");
        let mut order: Vec<TensorId> = e.gradients.keys().copied().collect();
        order.sort_by_key(|t| std::cmp::Reverse(t.0));
        for t in order {
            let v = &e.gradients[&t];
            if v.ndim() > 3 {
                continue;
            }
            show(out, bar(&p.tensor(t).name), v);
        }
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Proved => "\\textbf{proved}",
        Verdict::Verified => "\\textbf{verified}",
        Verdict::Refuted => "\\textbf{refuted}",
        Verdict::Undecided => "\\textbf{undecided}",
        Verdict::Error => "\\textbf{error}",
    }
}

/// A claim's or step's two sides, and a step's justification (its comment).
type Sides = (NodeId, NodeId, Option<String>);

fn claims(out: &mut String, s: &Solution) {
    if s.checks.is_empty() {
        return;
    }
    let program = &s.program;
    out.push_str("\\section{Your claims and derivations, checked}\n\n");
    out.push_str(
        "Each claim and each step of a derivation gets the strongest verdict that holds: \
         \\emph{proved} (equal for every size of the dims, by the rewrites shown), \
         \\emph{verified} (equal, exactly, at random rational points), \\emph{refuted} (a \
         certified counterexample), \\emph{undecided} or \\emph{error}.\n\n",
    );
    // The sides of each claim and step (by line and step), and a step's justification.
    let mut sides: HashMap<(usize, Option<usize>), Sides> = HashMap::new();
    for c in &program.claims {
        if let (Some(l), Some(r)) = (c.lhs, c.rhs) {
            sides.insert((program.sources.line(c.span), None), (l, r, None));
        }
    }
    for d in &program.derivations {
        for k in 1..d.steps.len() {
            if let (Some(l), Some(r)) = (d.steps[k - 1].node, d.steps[k].node) {
                let line = program.sources.line(d.steps[k].span);
                sides.insert((line, Some(k)), (l, r, d.steps[k].note.clone()));
            }
        }
    }
    let names = forward_names(program, &program.graph);
    let printer = TexPrinter {
        graph: &program.graph,
        dims: &program.dims,
        names: &names,
    };
    for r in &s.checks {
        let at = match r.step {
            Some(k) => format!("line {}, step {k}", r.line),
            None => format!("line {}", r.line),
        };
        let said = match (r.expect, r.passes()) {
            (crate::verify::Expect::Equal, _) => "",
            (crate::verify::Expect::Different, true) => " (as the file says: a deliberate mistake)",
            (crate::verify::Expect::Different, false) => " (the file says the sides differ)",
        };
        let _ = writeln!(
            out,
            "\\paragraph{{{}: {}{said}.}}",
            prose(&at),
            verdict_word(r.verdict)
        );
        match sides.get(&(r.line, r.step)) {
            Some((l, rhs, note)) => {
                if let Some(note) = note {
                    let _ = writeln!(out, "\\emph{{{}}}", prose(note));
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
            Finding::Proved(proof) => {
                let names = forward_names(program, &proof.graph);
                let printer = TexPrinter {
                    graph: &proof.graph,
                    dims: &program.dims,
                    names: &names,
                };
                out.push_str(
                    "With every $\\bar{X}$ the derived gradient, the two sides are equal:\n",
                );
                out.push_str("\\begin{align*}\n");
                let mut rows = vec![format!(
                    "  &\\fitline{{{}}}",
                    printer.definition(proof.start)
                )];
                let lines =
                    crate::render::proof::lines(program, proof, crate::render::proof::Steps::Short);
                // lines[0] is the start; the rest pair with the steps that were kept.
                let mut kept = proof
                    .steps
                    .iter()
                    .enumerate()
                    .filter(|(i, st)| !st.bookkeeping || i + 1 == proof.steps.len());
                for l in lines.iter().skip(1) {
                    let Some((_, step)) = kept.next() else { break };
                    let why = prose(&l.why.clone().unwrap_or_default());
                    let term = printer.definition(step.term);
                    // Far too long to read even shrunk: the step's rule still shows.
                    let term = if math::width(&term) > 3.0 * math::LINE_WIDTH {
                        "\\cdots".to_string()
                    } else {
                        term
                    };
                    rows.push(format!(
                        "  &= \\fitline{{{term}}} \\\\*\n  &\\qquad\\parbox[t]{{0.8\\linewidth}}{{\\raggedright\\footnotesize {why}}}"
                    ));
                }
                // The start alone may be very long: shown only if it is readable shrunk.
                if math::width(&rows[0]) > 3.0 * math::LINE_WIDTH {
                    rows[0] = "  &\\text{(the left side, with the derived gradients)}".into();
                }
                out.push_str(&rows.join(" \\\\\n"));
                out.push_str("\n\\end{align*}\n");
            }
            Finding::Refuted(c) => {
                let _ = writeln!(
                    out,
                    "At the random point of seed {}, entry $({})$: the left side is ${}$ and the right side ${}$ ({} shows the point).\n",
                    c.seed,
                    c.entry.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "),
                    numbers::entry(&c.lhs),
                    numbers::entry(&c.rhs),
                    text::code(&crate::render::reproduce_at(program, &s.file, &c.sizes, c.seed))
                );
                match &c.diagnosis {
                    Some(d) => {
                        let _ = writeln!(
                            out,
                            "\\emph{{Diagnosis:}} {}\n",
                            diagnosis::sentence(program, d)
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

/// The whole document.
/// The whole document; `command` is the command line that writes it (the document names
/// it, so a reader can reproduce it).
pub fn document(s: &Solution, command: &str) -> String {
    let mut out = String::new();
    let title = std::path::Path::new(&s.file)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| s.file.clone());
    preamble(&mut out, &title);
    let _ = writeln!(
        out,
        "{{\\small\\raggedright Written by {}; every number in it is exact or certified.\\par}}\n",
        text::code(command)
    );
    conventions(&mut out, &s.program);
    shapes_table(&mut out, &s.program);
    forward(&mut out, &s.program);
    backward(&mut out, s);
    claims(&mut out, s);
    example(&mut out, s);
    out.push_str("\\end{document}\n");
    out
}
