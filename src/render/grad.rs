//! `handtrace grad`: the gradient program, one line per gradient, in the forward pass's names.
//!
//! Owns naming and ordering: the gradient of a named tensor `X` is `dX` (`d_X` if `dX` is
//! taken); lines run from the output back to the leaves, so each uses only names defined
//! above it, like a backward pass written by hand. Intermediate gradients that a requested
//! gradient uses get their own line and are reused (dS feeds dQ and dK).

use super::expr::Printer;
use crate::diff::Gradients;
use crate::ir::op::Text;
use crate::ir::shape::show_shape;
use crate::ir::{NodeId, Op, Program, TargetKind, TensorId};
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// One line of the gradient program.
#[derive(Debug, Clone)]
pub struct GradLine {
    /// The forward tensor (`None` for a temporary `t1 = ...` line).
    pub tensor: Option<TensorId>,
    /// `dX`
    pub name: String,
    pub node: NodeId,
    pub expr: String,
    pub shape: String,
    /// Shape as dim names, for JSON.
    pub shape_dims: Vec<String>,
}

/// `dX` for a tensor `X`; `d(h.S)` for the local `S` of an inlined call `h`; `d_X` when `dX`
/// is already a forward name.
fn grad_name(forward: &HashSet<String>, name: &str) -> String {
    if name.contains('.') || name.contains('#') {
        return format!("d({name})");
    }
    let plain = format!("d{name}");
    if forward.contains(&plain) {
        format!("d_{name}")
    } else {
        plain
    }
}

/// The gradient program for `wrt` (every input and param when empty).
pub fn program_lines(program: &Program, grads: &Gradients, wrt: &[TensorId]) -> Vec<GradLine> {
    let wrt: Vec<TensorId> = if wrt.is_empty() {
        program.differentiable_leaves().collect()
    } else {
        wrt.to_vec()
    };
    let forward: HashSet<String> = program.tensors.iter().map(|t| t.name.clone()).collect();
    // Names of forward nodes: the first tensor to name each node.
    let mut names: HashMap<NodeId, String> = HashMap::new();
    for t in &program.tensors {
        names.entry(t.node).or_insert_with(|| t.name.clone());
    }
    // Which forward node each gradient node is the adjoint of.
    let mut adjoint_of: HashMap<NodeId, NodeId> = HashMap::new();
    for (i, a) in grads.adjoint.iter().enumerate() {
        if let Some(a) = a {
            adjoint_of.entry(*a).or_insert(NodeId(i as u32));
        }
    }
    // Named gradients: one per named, differentiable tensor.
    let mut grad_names: HashMap<NodeId, String> = HashMap::new();
    let mut owner: HashMap<NodeId, TensorId> = HashMap::new();
    if let Some(target) = &program.target {
        if target.kind == TargetKind::Output {
            grad_names.insert(
                grads.seed,
                grad_name(&forward, &program.tensor(target.tensor).name),
            );
            owner.insert(grads.seed, target.tensor);
        }
    }
    for i in 0..program.tensors.len() {
        let t = TensorId(i as u32);
        if !program.tensor(t).differentiable() {
            continue;
        }
        if let Some(g) = grads.of(program, t) {
            if matches!(grads.graph.node(g).op, Op::Literal(_)) {
                continue; // the seed 1 of a loss stays a number
            }
            grad_names
                .entry(g)
                .or_insert_with(|| grad_name(&forward, &program.tensor(t).name));
            owner.entry(g).or_insert(t);
        }
    }
    // Walk the requested gradients: named ones they reach become lines; an unnamed adjoint
    // reached twice gets a name too (computed once, reused).
    let mut uses: HashMap<NodeId, usize> = HashMap::new();
    let mut needed: HashSet<NodeId> = HashSet::new();
    let roots: Vec<NodeId> = wrt.iter().filter_map(|&t| grads.of(program, t)).collect();
    let mut stack: Vec<(NodeId, bool)> = roots.iter().map(|&r| (r, true)).collect();
    let mut expanded: HashSet<NodeId> = HashSet::new();
    while let Some((n, root)) = stack.pop() {
        if (n.0 as usize) < grads.forward_len {
            continue;
        }
        if !root {
            *uses.entry(n).or_insert(0) += 1;
        }
        if grad_names.contains_key(&n) || root {
            needed.insert(n);
        }
        if !expanded.insert(n) {
            continue;
        }
        stack.extend(grads.graph.node(n).args.iter().map(|&a| (a, false)));
    }
    let mut order: Vec<NodeId> = needed.iter().copied().collect();
    for (&n, &count) in &uses {
        // Numbers and moves of data read as well inline as under a name.
        let spec = grads.graph.node(n).op.spec();
        let trivial = spec.moves || matches!(spec.text, Text::Value | Text::Prefix);
        let scalar = grads.graph.shape(n).is_empty();
        if count >= 2 && !grad_names.contains_key(&n) && !trivial && !scalar {
            order.push(n);
        }
    }
    // Node ids are topological, and gradient nodes are made in backward order: each line
    // uses only names defined above it.
    order.sort();
    order.dedup();
    // Shared unnamed gradients are g1, g2, ... skipping names the program already uses.
    let mut taken: HashSet<String> = forward.clone();
    taken.extend(grad_names.values().cloned());
    let mut shared = 0;
    for n in &order {
        if !grad_names.contains_key(n) {
            let name = loop {
                shared += 1;
                let candidate = format!("g{shared}");
                if !taken.contains(&candidate) {
                    break candidate;
                }
            };
            taken.insert(name.clone());
            grad_names.insert(*n, name);
        }
    }
    let mut all_names = names.clone();
    for n in &order {
        all_names.insert(*n, grad_names[n].clone());
    }
    if let Some(name) = grad_names.get(&grads.seed) {
        all_names.insert(grads.seed, name.clone());
    }
    let printer = Printer::new(&grads.graph, &program.dims, &all_names);
    printer.reserved.borrow_mut().extend(taken.iter().cloned());
    let mut lines = Vec::new();
    let emit = |lines: &mut Vec<GradLine>,
                tensor: Option<TensorId>,
                name: String,
                g: NodeId,
                expr: String| {
        for (tname, node, texpr) in printer.take_temps() {
            let shape = grads.graph.shape(node).clone();
            lines.push(GradLine {
                tensor: None,
                name: tname,
                node,
                expr: texpr,
                shape: show_shape(&program.dims, &shape),
                shape_dims: shape.iter().map(|d| program.dims.show(d)).collect(),
            });
        }
        let shape = grads.graph.shape(g).clone();
        lines.push(GradLine {
            tensor,
            name,
            node: g,
            expr,
            shape: show_shape(&program.dims, &shape),
            shape_dims: shape.iter().map(|d| program.dims.show(d)).collect(),
        });
    };
    for &g in &order {
        let tensor = owner.get(&g).copied();
        let expr = match (&grads.graph.node(g).op, tensor) {
            (Op::GradOf(t), Some(x)) if *t == x => format!("grad({})", program.tensor(x).name),
            _ => printer.definition(g),
        };
        emit(&mut lines, tensor, grad_names[&g].clone(), g, expr);
    }
    // A requested tensor whose gradient is another's node (an alias, or `h` in
    // `y = h + ...` where only the residual path reaches it) still gets its own line.
    for &t in &wrt {
        let Some(g) = grads.of(program, t) else {
            continue;
        };
        if lines.iter().any(|l| l.tensor == Some(t)) {
            continue;
        }
        let expr = all_names
            .get(&g)
            .cloned()
            .unwrap_or_else(|| printer.definition(g));
        emit(
            &mut lines,
            Some(t),
            grad_name(&forward, &program.tensor(t).name),
            g,
            expr,
        );
    }
    lines
}

/// What `grad` prints besides the lines: the simplifier's report and the FLOP counts.
#[derive(Debug, Clone, Default)]
pub struct Extras<'a> {
    pub simplify: Option<&'a crate::simplify::Report>,
    pub cost: Option<crate::simplify::Cost>,
}

/// `T=4, d=8`
fn sizes_text(program: &Program) -> String {
    program
        .dims
        .declared()
        .filter_map(|(_, d)| d.size.map(|s| format!("{}={s}", d.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One comment line on how the simplifier ended, when the reader should know.
fn simplify_note(report: &crate::simplify::Report) -> Option<String> {
    if let Some(why) = &report.kept_raw {
        return Some(format!(
            "# the e-graph found no cheaper program ({why}); these are the rules' gradients"
        ));
    }
    report.stop.hit_limit().then(|| {
        format!(
            "# simplified by the e-graph, which {}: a simpler form may exist",
            report.stop.describe()
        )
    })
}

/// Text: `dV = P.T @ dO   # [T, d]`.
pub fn text(program: &Program, lines: &[GradLine], extras: &Extras) -> String {
    let mut out = String::new();
    if let Some(target) = &program.target {
        let name = &program.tensor(target.tensor).name;
        match target.kind {
            TargetKind::Output => out.push_str(&format!("# gradients of the output {name}; d{name} = grad({name}) is the upstream gradient\n")),
            TargetKind::Loss => out.push_str(&format!("# gradients of the loss {name} (dX means ∂{name}/∂X)\n")),
        }
    }
    if let Some(note) = extras.simplify.and_then(simplify_note) {
        out.push_str(&note);
        out.push('\n');
    }
    for l in lines {
        let text = format!("{} = {}", l.name, l.expr);
        let width = text.chars().count();
        let pad = if width < 44 { 44 - width } else { 2 };
        out.push_str(&format!("{text}{}# {}\n", " ".repeat(pad), l.shape));
    }
    if let Some(c) = extras.cost {
        let ratio = if c.forward == 0 {
            String::new()
        } else {
            format!(
                " ({:.2}× the forward)",
                c.backward as f64 / c.forward as f64
            )
        };
        out.push_str(&format!(
            "# cost at {}: forward {} FLOPs, backward {} FLOPs{ratio}\n",
            sizes_text(program),
            c.forward,
            c.backward
        ));
    }
    out
}

/// JSON per DESIGN.md: `{"gradients": [{"name", "shape", "expr"}], "cost": {...}}`, and
/// `"simplify"` with the e-graph's report when it ran.
pub fn json(program: &Program, lines: &[GradLine], extras: &Extras) -> String {
    let gradients: Vec<_> = lines
        .iter()
        .map(|l| {
            let name = l
                .tensor
                .map(|t| program.tensor(t).name.clone())
                .unwrap_or_else(|| l.name.clone());
            json!({"name": name, "grad": l.name, "shape": l.shape_dims, "expr": l.expr})
        })
        .collect();
    let mut doc = serde_json::Map::new();
    doc.insert("gradients".into(), json!(gradients));
    if let Some(c) = extras.cost {
        doc.insert(
            "cost".into(),
            json!({
                "forward_flops": c.forward,
                "backward_flops": c.backward,
                "dims": super::trace::dims_json(program),
            }),
        );
    }
    if let Some(r) = extras.simplify {
        doc.insert(
            "simplify".into(),
            json!({
                "stop": r.stop.describe(),
                "hit_limit": r.stop.hit_limit(),
                "iterations": r.iterations,
                "enodes": r.enodes,
                "raw_backward_flops": r.raw_flops,
                "backward_flops": r.flops,
                "kept_raw": r.kept_raw,
            }),
        );
    }
    serde_json::to_string_pretty(&serde_json::Value::Object(doc)).expect("serialises") + "\n"
}

/// `--check` results, one line per gradient; and whether every one was verified.
pub fn check_report(
    program: &Program,
    results: &[crate::verify::gradients::GradCheck],
) -> (String, bool) {
    use crate::verify::gradients::{ops_on_path, Outcome};
    let mut out = String::new();
    let mut all = true;
    for r in results {
        let name = &program.tensor(r.tensor).name;
        let line = match &r.outcome {
            Outcome::Verified { points } => {
                format!("check: d{name} verified against forward mode at {points} random points")
            }
            Outcome::Mismatch {
                reverse,
                forward,
                point_seed,
                culprit,
            } => {
                let blame = culprit.clone().unwrap_or_else(|| {
                    format!(
                        "a rule on its path (ops: {})",
                        ops_on_path(program, r.tensor).join(", ")
                    )
                });
                format!("check: d{name} MISMATCH at point seed {point_seed}: <grad, V> = {reverse}, forward mode gives {forward}; wrong: {blame}")
            }
            Outcome::Undecided(why) => format!("check: d{name} undecided: {why}"),
            Outcome::Error(why) => format!("check: d{name} could not be checked: {why}"),
        };
        all &= matches!(r.outcome, Outcome::Verified { .. });
        out.push_str(&line);
        out.push('\n');
    }
    (out, all)
}
