//! The backward program: which gradients get a line, under which names, in which order.
//!
//! Owns [`backward_program`]: the gradient of a named tensor `X` is `dX` (`d_X` if `dX` is
//! taken by a tensor or a dim, whose name an expression may use as its size; `h.dS` for the
//! local `S` of the call `h`); lines run from the output back to the leaves, so each
//! uses only names defined above it, like a backward pass written by hand; an intermediate
//! gradient that two lines use gets a line of its own (`g1`, `g2`, ..., or another letter
//! when the program itself has names of that family) and is reused.
//! This is data: `render::grad` prints the lines' expressions, `render::latex` sets them.

use super::Gradients;
use crate::ir::op::Text;
use crate::ir::{NodeId, Op, Program, TargetKind, TensorId};
use std::collections::{HashMap, HashSet};

/// One line of the backward program: `name = node`.
#[derive(Debug, Clone)]
pub struct GradLine {
    /// The forward tensor (`None` for a shared gradient `g1 = ...`).
    pub tensor: Option<TensorId>,
    /// `dX`
    pub name: String,
    pub node: NodeId,
    /// The node is another line's (an alias): the line reads that line's name.
    pub alias: bool,
}

/// The lines, and the name of every node that has one (forward tensors, gradient lines).
#[derive(Debug, Clone, Default)]
pub struct BackwardProgram {
    pub lines: Vec<GradLine>,
    pub names: HashMap<NodeId, String>,
    /// Every name in use (forward and backward): a printer's temporaries must avoid them.
    pub taken: HashSet<String>,
    /// Requested tensors the target does not depend on: their gradient is zero.
    pub independent: Vec<TensorId>,
}

/// The names a gradient's name must not take: every tensor's and every dim's (`sqrt(dk)`
/// reads the dim `dk`, so the gradient of a tensor `k` cannot be called `dk` beside it).
pub fn names_in_use(program: &Program) -> HashSet<String> {
    program
        .tensors
        .iter()
        .map(|t| t.name.clone())
        .chain(program.dims.declared().map(|(_, d)| d.name.clone()))
        .collect()
}

/// `dX` for a tensor `X`; `h.dS` for the local `S` of an inlined call `h` (the `d` goes on
/// the local, in its call's scope); `d_X` (`h.d_S`) when `dX` is already a name in use
/// ([`names_in_use`]).
pub fn grad_name(forward: &HashSet<String>, name: &str) -> String {
    let (call, local) = match name.rsplit_once('.') {
        Some((call, local)) => (format!("{call}."), local),
        None => (String::new(), name),
    };
    let plain = format!("{call}d{local}");
    if forward.contains(&plain) {
        format!("{call}d_{local}")
    } else {
        plain
    }
}

/// The backward program for `wrt` (every input and param when empty).
pub fn backward_program(program: &Program, grads: &Gradients, wrt: &[TensorId]) -> BackwardProgram {
    let wrt: Vec<TensorId> = if wrt.is_empty() {
        program.differentiable_leaves().collect()
    } else {
        wrt.to_vec()
    };
    let forward = names_in_use(program);
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
        // Numbers and moves of data read as well inline as under a name, unless what is
        // moved is itself computed here (`reshape(permute(dS.T @ Qh, ...))` used twice would
        // print its product twice).
        let node = grads.graph.node(n);
        let spec = node.op.spec();
        let moves_computed = spec.moves
            && node.args.first().is_some_and(|&a| {
                (a.0 as usize) >= grads.forward_len && !grad_names.contains_key(&a)
            });
        let trivial =
            (spec.moves && !moves_computed) || matches!(spec.text, Text::Value | Text::Prefix);
        let scalar = grads.graph.shape(n).is_empty();
        if count >= 2 && !grad_names.contains_key(&n) && !trivial && !scalar {
            order.push(n);
        }
    }
    // Node ids are topological, and gradient nodes are made in backward order: each line
    // uses only names defined above it.
    order.sort();
    order.dedup();
    // Shared unnamed gradients are g1, g2, ... skipping names the program already uses; if
    // the program has names of that family itself (params `g1`, `g2`), another letter, so
    // that a generated `g14` never sits beside the user's `g1`.
    let mut taken: HashSet<String> = forward.clone();
    taken.extend(grad_names.values().cloned());
    let family = |letter: &str| {
        taken.iter().any(|n| {
            n.strip_prefix(letter)
                .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
        })
    };
    let letter = ["g", "s", "u", "v", "w", "k"]
        .into_iter()
        .find(|l| !family(l))
        .unwrap_or("g");
    let mut shared = 0;
    for n in &order {
        if !grad_names.contains_key(n) {
            let name = loop {
                shared += 1;
                let candidate = format!("{letter}{shared}");
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
    let mut lines: Vec<GradLine> = order
        .iter()
        .map(|&g| GradLine {
            tensor: owner.get(&g).copied(),
            name: grad_names[&g].clone(),
            node: g,
            alias: false,
        })
        .collect();
    // A requested tensor whose gradient is another's node (an alias, or `h` in
    // `y = h + ...` where only the residual path reaches it) still gets its own line.
    let mut independent = Vec::new();
    for &t in &wrt {
        let Some(g) = grads.of(program, t) else {
            if program.tensor(t).differentiable() {
                independent.push(t);
            }
            continue;
        };
        if lines.iter().any(|l| l.tensor == Some(t)) {
            continue;
        }
        lines.push(GradLine {
            tensor: Some(t),
            name: grad_name(&forward, &program.tensor(t).name),
            node: g,
            alias: all_names.contains_key(&g),
        });
    }
    BackwardProgram {
        lines,
        names: all_names,
        taken,
        independent,
    }
}
