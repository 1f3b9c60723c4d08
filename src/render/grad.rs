//! `handtrace grad`: the gradient program, one line per gradient, in the forward pass's names.
//!
//! Owns naming and ordering: the gradient of a named tensor `X` is `dX` (`d_X` if `dX` is
//! taken); lines run from the output back to the leaves, so each uses only names defined
//! above it, like a backward pass written by hand. Intermediate gradients that a requested
//! gradient uses get their own line and are reused (dS feeds dQ and dK).

use super::expr::Printer;
use crate::diff::Gradients;
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

/// The gradient program for `wrt` (every input and param when empty).
pub fn program_lines(program: &Program, grads: &Gradients, wrt: &[TensorId]) -> Vec<GradLine> {
    let wrt: Vec<TensorId> = if wrt.is_empty() {
        program.differentiable_leaves().collect()
    } else {
        wrt.to_vec()
    };
    let forward: HashSet<String> = program.tensors.iter().map(|t| t.name.clone()).collect();
    let grad_name = |name: &str| {
        let plain = format!("d{name}");
        if forward.contains(&plain) {
            format!("d_{name}")
        } else {
            plain
        }
    };
    // Names of forward nodes: the first tensor to name each node.
    let mut names: HashMap<NodeId, String> = HashMap::new();
    for t in &program.tensors {
        names.entry(t.node).or_insert_with(|| t.name.clone());
    }
    // Candidate gradient lines: every named, differentiable tensor with a gradient, newest first.
    let mut candidates: Vec<(TensorId, NodeId)> = Vec::new();
    let mut seen_nodes: HashSet<NodeId> = HashSet::new();
    for i in (0..program.tensors.len()).rev() {
        let t = TensorId(i as u32);
        if !program.tensor(t).differentiable() {
            continue;
        }
        if let Some(g) = grads.of(program, t) {
            if seen_nodes.insert(program.tensor(t).node) {
                candidates.push((t, g));
            }
        }
    }
    let mut grad_names: HashMap<NodeId, String> = HashMap::new();
    if let Some(target) = &program.target {
        if target.kind == TargetKind::Output {
            grad_names.insert(grads.seed, grad_name(&program.tensor(target.tensor).name));
        }
    }
    for &(t, g) in &candidates {
        grad_names
            .entry(g)
            .or_insert_with(|| grad_name(&program.tensor(t).name));
    }
    // Which lines are needed: the requested ones and every named gradient they reach.
    let mut needed: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = wrt.iter().filter_map(|&t| grads.of(program, t)).collect();
    let mut visited: HashSet<NodeId> = HashSet::new();
    while let Some(n) = stack.pop() {
        if (n.0 as usize) < grads.forward_len || !visited.insert(n) {
            continue;
        }
        if grad_names.contains_key(&n) {
            needed.insert(n);
        }
        stack.extend(grads.graph.node(n).args.iter().copied());
    }
    for &t in &wrt {
        if let Some(g) = grads.of(program, t) {
            needed.insert(g);
        }
    }
    let mut all_names = names.clone();
    for (n, name) in &grad_names {
        if needed.contains(n) || *n == grads.seed {
            all_names.insert(*n, name.clone());
        }
    }
    let printer = Printer::new(&grads.graph, &program.dims, &all_names);
    let mut lines = Vec::new();
    let mut printed: HashSet<NodeId> = HashSet::new();
    for &(t, g) in &candidates {
        let wanted = wrt.contains(&t)
            || (needed.contains(&g)
                && grad_names.get(&g).map(|s| s.as_str())
                    == Some(grad_name(&program.tensor(t).name).as_str()));
        if !wanted {
            continue;
        }
        let name = grad_name(&program.tensor(t).name);
        // A gradient equal to one already printed is written as that name (dh = dy).
        let expr = if printed.contains(&g)
            || (g == grads.seed && program.target.as_ref().is_some_and(|x| x.tensor != t))
        {
            all_names.get(&g).cloned().unwrap_or_default()
        } else if matches!(grads.graph.node(g).op, Op::GradOf(_)) {
            format!("grad({})", program.tensor(t).name)
        } else {
            printer.definition(g)
        };
        printed.insert(g);
        for (name, node, expr) in printer.take_temps() {
            let shape = grads.graph.shape(node).clone();
            lines.push(GradLine {
                tensor: None,
                name,
                node,
                expr,
                shape: show_shape(&program.dims, &shape),
                shape_dims: shape.iter().map(|d| program.dims.show(d)).collect(),
            });
        }
        let shape = grads.graph.shape(g).clone();
        lines.push(GradLine {
            tensor: Some(t),
            name,
            node: g,
            expr,
            shape: show_shape(&program.dims, &shape),
            shape_dims: shape.iter().map(|d| program.dims.show(d)).collect(),
        });
    }
    lines
}

/// Text: `dV = P.T @ dO   # [T, d]`.
pub fn text(program: &Program, lines: &[GradLine]) -> String {
    let mut out = String::new();
    if let Some(target) = &program.target {
        let name = &program.tensor(target.tensor).name;
        match target.kind {
            TargetKind::Output => out.push_str(&format!("# gradients of the output {name}; d{name} = grad({name}) is the upstream gradient\n")),
            TargetKind::Loss => out.push_str(&format!("# gradients of the loss {name} (dX means ∂{name}/∂X)\n")),
        }
    }
    for l in lines {
        let text = format!("{} = {}", l.name, l.expr);
        let width = text.chars().count();
        let pad = if width < 44 { 44 - width } else { 2 };
        out.push_str(&format!("{text}{}# {}\n", " ".repeat(pad), l.shape));
    }
    out
}

/// JSON per DESIGN.md: `{"gradients": [{"name", "shape", "expr"}]}`.
pub fn json(program: &Program, lines: &[GradLine]) -> String {
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
    serde_json::to_string_pretty(&json!({ "gradients": gradients })).expect("serialises") + "\n"
}
