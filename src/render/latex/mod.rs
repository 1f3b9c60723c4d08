//! `handtrace latex`: a worked solution as a complete LaTeX document.
//!
//! Owns [`document`]: the conventions, a table of every tensor's shape, the forward pass, the
//! backward pass one gradient at a time in teaching order (each with its shape and the rules
//! of its tensor's uses in the file's names, with the index form for matrix products and the
//! softmax), the result in textbook form (each requested gradient boxed with its shape), the
//! person's own claims and derivations (numbered, with their author's words, verdicts, short
//! proofs, counterexamples at the document's own point and diagnoses with a why), and a tiny
//! numeric example with exact values and one entry worked by hand. A file of the person's own
//! work (a derivation, or deliberate mistakes) skips the step-by-step backward pass.
//!
//! Invariants: the document uses only amsmath, amssymb, mathtools and bm (plus geometry for
//! the margins); every number in it comes from the exact evaluator (see `crate::solution`);
//! long equations break between top-level terms (see [`math::display`]).

mod claims;
mod diagnosis;
pub mod math;
pub mod numbers;
pub mod text;
mod worked;

use crate::ir::{Graph, NodeId, Op, Program, TargetKind, TensorId, TensorKind};
use crate::solution::{NoExample, Solution};
use crate::syntax::ast::LeafKind;
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
        TensorKind::Leaf(LeafKind::Tokens) => "token ids",
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

/// Does a node reachable from `roots` (through arguments) satisfy `pick`?
fn any_node(g: &Graph, roots: Vec<NodeId>, mut pick: impl FnMut(NodeId) -> bool) -> bool {
    let mut stack = roots;
    let mut seen = std::collections::HashSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        if pick(n) {
            return true;
        }
        stack.extend(g.node(n).args.iter().copied());
    }
    false
}

/// The nodes of the expression of the line at `root`, not counting what it reads through
/// another line's name (that node itself is included, not its expression).
fn own_expression(g: &Graph, names: &HashMap<NodeId, String>, root: NodeId) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    let mut seen = std::collections::HashSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        out.push(n);
        if n == root || !names.contains_key(&n) {
            stack.extend(g.node(n).args.iter().copied());
        }
    }
    out
}

/// Does a printed gradient (the step-by-step one or the result) use an op of `pick`?
fn gradients_use(s: &Solution, pick: impl Fn(&Op) -> bool) -> bool {
    let programs = [
        s.gradients.as_ref().map(|g| (g, &s.lines)),
        s.textbook.as_ref().map(|t| (&t.gradients, &t.lines)),
    ];
    programs.into_iter().flatten().any(|(g, lines)| {
        let roots = lines.iter().map(|l| l.node).collect();
        any_node(&g.graph, roots, |n| pick(&g.graph.node(n).op))
    })
}

fn conventions(out: &mut String, s: &Solution) {
    let program = &s.program;
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
    // The mask's gradient is `tril` (in proofs too).
    if uses_mask || gradients_use(s, |op| *op == Op::Tril) {
        out.push_str(
            "$\\operatorname{tril}(A)$ keeps the entries of $A$ on and below the diagonal and \
             sets those above it to $0$: it is how a gradient passes back through the mask. ",
        );
    }
    if gradients_use(s, |op| *op == Op::Eq) {
        out.push_str(
            "$[A = B]$ is $1$ where the entries are equal and $0$ elsewhere (where a max or \
             min sends its gradient). ",
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
    let mut transposed_back = false;
    let mut reshaped = false;
    let mut masked = false;
    for k in 0..path.len() {
        let node = g.node(path[k]);
        if passes_through(&node.op) {
            transposed_back |= matches!(node.op, Op::SwapAxes(..));
            reshaped |= matches!(node.op, Op::Reshape(_) | Op::Permute(_));
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
    let mut text = match (parts.is_empty(), transposed_back, reshaped) {
        (true, _, true) => "a reshape and permute: undo them on the gradient".to_string(),
        (true, true, false) => "a transpose: transpose the gradient back".to_string(),
        (true, false, false) => "a move of entries: the gradient moves back the same way".into(),
        (false, _, true) => format!(
            "{}, then undo the reshape and permute",
            parts.join(", then ")
        ),
        (false, true, false) => format!("{}, then transpose back", parts.join(", then ")),
        (false, false, false) => parts.join(", then "),
    };
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
        // Scaling by a constant: its factor, not the quotient or product rule.
        Op::Div if pos == 0 && math::is_number(g, node.args[1]) => {
            format!("a constant factor $1/{}$", printer.expr(node.args[1]))
        }
        Op::Mul if math::is_number(g, node.args[1 - pos]) => {
            format!("a constant factor ${}$", printer.expr(node.args[1 - pos]))
        }
        Op::Mul | Op::Add | Op::Sub | Op::Div => format!("{}{broadcast}", node.op.spec().rule),
        Op::Pow(p) => {
            let x = printer.expr(node.args[0]);
            let x = if x.chars().count() <= 2 {
                x
            } else {
                "x".into()
            };
            let (coef, _) = math::rational(p);
            let less = p - num_rational::BigRational::from_integer(1.into());
            let derivative = if less == num_rational::BigRational::from_integer(1.into()) {
                format!("{coef}\\,{x}")
            } else {
                format!("{coef}\\,{{{x}}}^{{{}}}", math::rational(&less).0)
            };
            format!(
                "the power rule ($\\partial {{{x}}}^{{{}}}/\\partial {x} = {derivative}$)",
                math::rational(p).0
            )
        }
        Op::Reduce {
            kind: crate::ir::ReduceKind::Mean,
            axes,
            ..
        } => {
            let arg = g.shape(node.args[0]);
            let n = axes
                .iter()
                .filter_map(|&a| arg.get(a))
                .map(|d| math::dim(printer.dims, d))
                .collect::<Vec<_>>()
                .join("\\,");
            format!("the broadcast rule: a mean over ${n}$ entries sends $1/{n}$ of its gradient back to each of them")
        }
        Op::Softmax { .. } => {
            let (p, pb) = (name(user), bar(user));
            // The softmax's input in the file's names (the mask only adds constants).
            let mut z = node.args[0];
            while g.node(z).op == Op::Causal {
                z = g.node(z).args[0];
            }
            let z = printer.expr(z);
            format!(
                "the softmax Jacobian: row by row, $\\partial {} / \\partial {} = {} (\\delta_{{jl}} - {})$, so the gradient is ${p} \\odot ({pb} - \\operatorname{{rowsum}}({pb} \\odot {p}))$",
                idx(&p, "ij"),
                idx(&z, "il"),
                idx(&p, "ij"),
                idx(&p, "il"),
            )
        }
        Op::LogSoftmax { .. } => {
            let z = printer.expr(node.args[0]);
            // A bar over a letter, a line over anything longer.
            let zb = if z.contains([' ', '^', '(']) || z.contains("\\mathit") {
                format!("\\overline{{{z}}}")
            } else {
                format!("\\bar{{{z}}}")
            };
            let yb = bar(user);
            format!(
                "the log-softmax Jacobian: ${zb} = {yb} - \\operatorname{{softmax}}({z}) \\odot \\operatorname{{rowsum}}({yb})$"
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

/// The math name of every backward line (`\bar{X}`, or `G_{k}` for a shared subexpression
/// that is too long to write inline; a short one gets no name and is printed where it is
/// used), and the printer's names for the gradient graph.
struct LineNames {
    /// Per line: its left side, or `None` for a helper printed inline.
    lhs: Vec<Option<String>>,
    names: HashMap<NodeId, String>,
}

/// A helper line shorter than this (in [`math::width`] units) is printed where it is used.
const INLINE_HELPER: f64 = math::LINE_WIDTH / 4.0;

fn line_names(
    program: &Program,
    grads: &crate::diff::Gradients,
    lines: &[crate::diff::program::GradLine],
) -> LineNames {
    let mut names = forward_names(program, &grads.graph);
    // An output's upstream gradient is a free symbol; a loss's is the number 1 (a node that
    // other constants 1 may share, so it keeps printing as 1).
    if let Some(target) = program
        .target
        .as_ref()
        .filter(|t| t.kind == TargetKind::Output)
    {
        names.insert(grads.seed, bar(&program.tensor(target.tensor).name));
    }
    let mut lhs: Vec<Option<String>> = Vec::with_capacity(lines.len());
    for line in lines {
        let own = line.tensor.map(|t| bar(&program.tensor(t).name));
        if let (Some(n), false) = (&own, line.alias) {
            names.entry(line.node).or_insert_with(|| n.clone());
        }
        lhs.push(own);
    }
    let mut temp = 0;
    for (k, line) in lines.iter().enumerate() {
        if line.tensor.is_some() || names.contains_key(&line.node) {
            continue;
        }
        let printer = TexPrinter {
            graph: &grads.graph,
            dims: &program.dims,
            names: &names,
        };
        if math::width(&printer.definition(line.node)) < INLINE_HELPER {
            continue;
        }
        temp += 1;
        let n = format!("G_{{{temp}}}");
        names.insert(line.node, n.clone());
        lhs[k] = Some(n);
    }
    LineNames { lhs, names }
}

/// A gradient's shape in math (`T \times d`), as the document states it next to the gradient.
fn in_shape(program: &Program, graph: &Graph, node: NodeId) -> String {
    math::shape(&program.dims, graph.shape(node))
}

/// The backward pass one gradient at a time, each with the rules of its tensor's uses.
fn backward(out: &mut String, s: &Solution) {
    let program = &s.program;
    let Some(grads) = &s.gradients else {
        return;
    };
    out.push_str("\\section{The backward pass}\n\n");
    out.push_str(
        "We go from the output back to the inputs. Each gradient is the sum, over the uses of \
         its tensor, of what the rule of that use sends back; each is simplified by \
         handtrace's e-graph, and a parameter's gradient comes as soon as its upstream \
         gradient is known.\n\n",
    );
    let LineNames { lhs, names } = line_names(program, grads, &s.lines);
    let printer = TexPrinter {
        graph: &grads.graph,
        dims: &program.dims,
        names: &names,
    };
    if let Some(target) = &program.target {
        let o = &program.tensor(target.tensor).name;
        match target.kind {
            TargetKind::Output => {
                let _ = writeln!(
                    out,
                    "The upstream gradient ${}$ is given; it has the shape of ${}$.\n",
                    bar(o),
                    name(o)
                );
            }
            TargetKind::Loss => {
                let _ = writeln!(
                    out,
                    "The loss is its own starting point: $\\partial {} / \\partial {} = 1$.\n",
                    name(o),
                    name(o)
                );
            }
        }
    }
    for (k, line) in s.lines.iter().enumerate() {
        let Some(left) = &lhs[k] else { continue };
        if line.node == grads.seed {
            continue;
        }
        let shape = in_shape(program, &grads.graph, line.node);
        match line.tensor {
            Some(t) => {
                let x = &program.tensor(t).name;
                let mut why: Vec<String> = Vec::new();
                // Through a softmax's row sums (where one-hot rows simplify).
                let mut row_sums = false;
                for (user, path, pos) in uses(program, t) {
                    row_sums |= path.iter().any(|&n| {
                        matches!(
                            program.graph.node(n).op,
                            Op::Softmax { .. } | Op::LogSoftmax { .. }
                        )
                    });
                    let u = &program.tensor(user).name;
                    why.push(format!(
                        "${}$ (through {})",
                        name(u),
                        rule(program, &path, pos, u)
                    ));
                }
                why.dedup();
                // Ragged right: the rules' index forms are long inline formulas.
                let _ = write!(out, "{{\\raggedright\\paragraph{{${left}$ (${shape}$).}}");
                if !why.is_empty() {
                    let _ = write!(out, " ${}$ is used by {}.", name(x), why.join("; and by "));
                }
                if let Some(note) = rowsum_note(program, grads, &s.lines, &printer, line.node) {
                    let _ = write!(out, " {note}");
                }
                for &y in program.onehot.iter().filter(|_| row_sums) {
                    let leaf = program.tensor(y).node;
                    // Read by this line's own expression (not through another line's name).
                    if own_expression(&grads.graph, &names, line.node).contains(&leaf) {
                        let y = name(&program.tensor(y).name);
                        let _ = write!(
                            out,
                            " It uses that ${y}$ is one-hot: $\\operatorname{{rowsum}}({y}) = 1$."
                        );
                    }
                }
                out.push_str("\\par}\n");
            }
            None => {
                let _ = writeln!(
                    out,
                    "\\paragraph{{${left}$ (${shape}$).}} A subexpression the gradients below share, computed once."
                );
            }
        }
        if line.alias {
            let same = names.get(&line.node).cloned().unwrap_or_default();
            out.push_str(&display(left, &[(false, same)]));
        } else {
            out.push_str(&display(left, &printer.terms(line.node)));
        }
        out.push('\n');
    }
}

/// Where a softmax's gradient reads `rowsum(\bar{O} \odot O)` for `rowsum(\bar{P} \odot P)`
/// (`O = P V`), the reason, in the file's names.
fn rowsum_note(
    program: &Program,
    grads: &crate::diff::Gradients,
    lines: &[crate::diff::program::GradLine],
    printer: &TexPrinter,
    node: NodeId,
) -> Option<String> {
    let g = &grads.graph;
    // The gradient a node is: `grad(O)` itself, or the line that computes Ō.
    let gradient_of = |n: NodeId| match g.node(n).op {
        Op::GradOf(t) => Some(t),
        _ => lines
            .iter()
            .find(|l| l.node == n && !l.alias)
            .and_then(|l| l.tensor),
    };
    // Find rowsum(Ō ⊙ O) in the line's expression (not through other lines).
    for n in own_expression(g, printer.names, node) {
        let nd = g.node(n);
        if let Op::Reduce {
            kind: crate::ir::ReduceKind::Sum,
            ..
        } = nd.op
        {
            let arg = g.node(nd.args[0]);
            if arg.op == Op::Mul {
                for (a, b) in [(arg.args[0], arg.args[1]), (arg.args[1], arg.args[0])] {
                    let (Some(ot), Some(o)) = (gradient_of(a), tensor_of(program, b)) else {
                        continue;
                    };
                    if ot != o {
                        continue;
                    }
                    // O = P V: the softmax output P and the values V.
                    let def = program.graph.node(program.tensor(o).node);
                    if def.op != Op::MatMul {
                        continue;
                    }
                    let (p, v) = (printer.expr(def.args[0]), printer.expr(def.args[1]));
                    let (ob, on) = (printer.expr(a), printer.expr(b));
                    let pb = bar(&program.tensor(tensor_of(program, def.args[0])?).name);
                    return Some(format!(
                        "The row term is written $\\operatorname{{rowsum}}({ob} \\odot {on})$, \
                         which equals $\\operatorname{{rowsum}}({pb} \\odot {p})$: since \
                         ${pb} = {ob}\\,{vt}$ and ${on} = {p}\\,{v}$, \
                         $\\sum_{{j}} {pbij} {pij} = \\sum_{{j}} \\sum_{{c}} {obic} {vjc} {pij} \
                         = \\sum_{{c}} {obic} {onic}$. The right side sums over the columns of \
                         ${on}$ instead of those of ${p}$, which is cheaper when they are fewer \
                         (the FlashAttention backward).",
                        vt = transposed(&v),
                        pbij = idx(&pb, "ij"),
                        pij = idx(&p, "ij"),
                        obic = idx(&ob, "ic"),
                        vjc = idx(&v, "jc"),
                        onic = idx(&on, "ic"),
                    ));
                }
            }
        }
    }
    None
}

/// The named forward tensor whose node `n` is.
fn tensor_of(program: &Program, n: NodeId) -> Option<TensorId> {
    program
        .tensors
        .iter()
        .position(|t| t.node == n)
        .map(|i| TensorId(i as u32))
}

/// The result in textbook form (the program `grad` prints): each requested gradient boxed
/// with its shape, after the intermediate gradients it reads; and, for data read through its
/// row sums but not declared one-hot, the same result with one-hot rows.
fn result(out: &mut String, s: &Solution) {
    let program = &s.program;
    let Some(tb) = &s.textbook else {
        return;
    };
    out.push_str("\\section{The result}\n\n");
    let _ = write!(
        out,
        "Collected and simplified, the gradients with respect to {} are the following \
         (the program \\texttt{{handtrace grad}} prints; each is checked exactly against \
         forward-mode derivatives by \\texttt{{handtrace grad --check}}).",
        s.wrt
            .iter()
            .map(|&t| format!("${}$", name(&program.tensor(t).name)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let onehot = names_of(program, &program.onehot);
    if !onehot.is_empty() {
        let _ = write!(
            out,
            " They use that {} {} one-hot: every row sums to $1$.",
            onehot.join(", "),
            if onehot.len() == 1 { "is" } else { "are" }
        );
    }
    out.push_str("\n\n");
    result_lines(out, program, tb, &s.wrt);
    if let Some(r) = &s.onehot_result {
        let data = names_of(program, &r.data);
        let _ = writeln!(
            out,
            "{} {} not declared one-hot, so {} row sums stay in the result. With one-hot \
             rows (declared \\texttt{{onehot}}: each row is $0$ but for a single $1$, so it \
             sums to $1$) they drop out, and the result becomes the form courses teach:\n",
            data.join(", "),
            if data.len() == 1 { "is" } else { "are" },
            if data.len() == 1 { "its" } else { "their" },
        );
        result_lines(out, &r.program, &r.textbook, &s.wrt);
    }
}

/// `$X$, $Y$` for tensors of `program`.
fn names_of(program: &Program, tensors: &[TensorId]) -> Vec<String> {
    tensors
        .iter()
        .map(|&t| format!("${}$", name(&program.tensor(t).name)))
        .collect()
}

/// A result's lines: the intermediate gradients first, introduced together with their shapes,
/// then each requested gradient boxed with its shape (the program's order puts every line
/// after what it reads).
fn result_lines(
    out: &mut String,
    program: &Program,
    tb: &crate::solution::Textbook,
    wrt: &[TensorId],
) {
    let LineNames { lhs, names } = line_names(program, &tb.gradients, &tb.lines);
    let printer = TexPrinter {
        graph: &tb.gradients.graph,
        dims: &program.dims,
        names: &names,
    };
    let shown: Vec<(usize, &String)> = tb
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.node != tb.gradients.seed)
        .filter_map(|(k, _)| lhs[k].as_ref().map(|n| (k, n)))
        .collect();
    let is_final = |k: usize| tb.lines[k].tensor.is_some_and(|t| wrt.contains(&t));
    let intermediate: Vec<String> = shown
        .iter()
        .filter(|(k, _)| !is_final(*k))
        .map(|(k, n)| {
            format!(
                "${n}$ (${}$)",
                in_shape(program, &tb.gradients.graph, tb.lines[*k].node)
            )
        })
        .collect();
    if !intermediate.is_empty() {
        let _ = writeln!(
            out,
            "They read {} {}:\n",
            if intermediate.len() == 1 {
                "the intermediate gradient"
            } else {
                "the intermediate gradients"
            },
            intermediate.join(", ")
        );
    }
    for (k, left) in shown {
        let line = &tb.lines[k];
        let terms = if line.alias {
            vec![(false, names.get(&line.node).cloned().unwrap_or_default())]
        } else {
            printer.terms(line.node)
        };
        if is_final(k) {
            let shape = in_shape(program, &tb.gradients.graph, line.node);
            out.push_str(&math::boxed(left, &terms, &shape));
        } else {
            out.push_str(&display(left, &terms));
        }
    }
}

/// Where the example's inputs come from, in math.
fn regime(r: crate::exact::inputs::Regime) -> &'static str {
    use crate::exact::inputs::Regime;
    match r {
        Regime::Gentle => "nonzero multiples of $\\tfrac{1}{4}$ in $[-1, 1]$",
        Regime::Small => "small rationals $n/d$ with $1 \\le |n| \\le 9$ and $1 \\le d \\le 4$",
        Regime::NearZero => "values near zero, $n/(1000\\,d)$",
        Regime::Large => "whole numbers from $10$ to $99$ of both signs",
    }
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
    let onehot: Vec<String> = p
        .onehot
        .iter()
        .map(|&t| format!("${}$", name(&p.tensor(t).name)))
        .collect();
    let sizes = if sizes.is_empty() {
        "the declared sizes".to_string()
    } else {
        format!("the sizes {}", sizes.join(", "))
    };
    let _ = write!(
        out,
        "At {} and the random point of seed {} ({} shows it; the inputs are {}{}), every \
         value below is exact: a fraction is the value itself, and a number ending in \
         $\\ldots$ shows only digits the certified enclosure guarantees. Indices count from \
         $1$.",
        sizes,
        e.seed,
        text::code(&crate::render::reproduce(p, &s.file, e.seed)),
        regime(crate::exact::inputs::Regime::of_seed(e.seed)),
        if onehot.is_empty() {
            String::new()
        } else {
            format!(", and {} has one-hot rows", onehot.join(", "))
        }
    );
    if let Some(r) = &s.onehot_result {
        let data = names_of(&s.program, &r.data);
        let _ = write!(
            out,
            " {} {} not declared one-hot, so {} values here are the point's, not one-hot \
             rows: the values check the general result above.",
            data.join(", "),
            if data.len() == 1 { "is" } else { "are" },
            if data.len() == 1 { "its" } else { "their" },
        );
    }
    out.push_str("\n\n\\paragraph{Forward values.}\n");
    for (t, v) in &e.values {
        if v.ndim() > 3 {
            continue;
        }
        out.push_str(&numbers::equation(&name(&p.tensor(*t).name), v));
    }
    if e.gradients.is_empty() {
        return;
    }
    out.push_str("\\paragraph{Gradients,} in the order of the backward pass.\n");
    // The backward pass's order (the lines name tensors of the program at the declared sizes;
    // the example's program declares the same tensors).
    let by_name: HashMap<&str, TensorId> = (0..p.tensors.len() as u32)
        .map(|i| (p.tensor(TensorId(i)).name.as_str(), TensorId(i)))
        .collect();
    let mut order: Vec<TensorId> = Vec::new();
    if let Some(target) = &p.target {
        order.push(target.tensor);
    }
    for l in &s.lines {
        if let Some(t) = l
            .tensor
            .and_then(|t| by_name.get(s.program.tensor(t).name.as_str()))
        {
            if !order.contains(t) {
                order.push(*t);
            }
        }
    }
    let mut rest: Vec<TensorId> = e
        .gradients
        .keys()
        .copied()
        .filter(|t| !order.contains(t))
        .collect();
    rest.sort_by_key(|t| std::cmp::Reverse(t.0));
    order.extend(rest);
    for t in order {
        let Some(v) = e.gradients.get(&t) else {
            continue;
        };
        if v.ndim() > 3 {
            continue;
        }
        out.push_str(&numbers::equation(&bar(&p.tensor(t).name), v));
    }
    if let Some(entry) = worked::entry(e) {
        out.push_str(&entry);
    }
}

/// Is the file a person's own work to be checked (a derivation, or deliberate mistakes)? Its
/// document then checks that work and states the result, without repeating the layer's
/// step-by-step solution (the layer's own file has it).
fn checks_own_work(s: &Solution) -> bool {
    let p = s.checked();
    !p.derivations.is_empty() || p.claims.iter().any(|c| c.differ)
}

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
    conventions(&mut out, s);
    shapes_table(&mut out, &s.program);
    forward(&mut out, &s.program);
    if !checks_own_work(s) {
        backward(&mut out, s);
    }
    result(&mut out, s);
    claims::section(&mut out, s);
    example(&mut out, s);
    out.push_str("\\end{document}\n");
    out
}
