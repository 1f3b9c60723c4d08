//! The FLOP cost model, at the dims' sizes.
//!
//! Owns [`op_flops`]: a matrix product `[m,k] @ [k,n]` costs `2mkn` (times any batch); a
//! reduction one per entry it reads; moving data (`.T`, swaps, permutes, reshapes, broadcasts)
//! and naming a value cost nothing (no arithmetic is done: a transposed operand is a GEMM
//! flag); every other op one per entry it writes, except a scalar factor on a matrix product
//! that nothing else uses (GEMM's α: `dS @ K / sqrt(d)` costs the product alone), a scalar
//! factor on a tensor that only products and sums use (the α of each product, a scaling of
//! each sum's result: `dZ = G / N` read by `X.T @ dZ` and `dZ @ W.T` is free), and the
//! negation of a scaling that nothing else uses (the sign goes into the scalar). [`program_flops`] prices a set of nodes of an IR graph as a DAG: a node shared by
//! several uses is paid once, and nodes marked free (the forward pass's saved activations)
//! cost nothing in a backward program.
//!
//! Invariant: costs are exact integers (saturating at `u128::MAX`), never estimates in floats.

use crate::ir::op::Cost;
use crate::ir::{Dims, Graph, NodeId, Op, ReduceKind};
use std::collections::HashSet;

/// Entries of a tensor of `shape` at the dims' sizes (1 for a scalar; saturating).
pub fn entries(dims: &Dims, shape: &[crate::ir::DimPoly]) -> u128 {
    match dims.sizes(shape) {
        Some(sizes) => sizes
            .iter()
            .fold(1u128, |acc, &s| acc.saturating_mul(s as u128)),
        None => 1,
    }
}

/// What kind of work an op does, for pricing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// No arithmetic: names, numbers, layout changes.
    Free,
    /// `2 × output entries × inner size`.
    MatMul { inner: u128 },
    /// One per entry read.
    Read,
    /// One per entry written.
    Write,
    /// Einsum: `operands × product of every index's size`.
    Einsum { product: u128, operands: u128 },
}

/// The FLOPs of one op, given the entries it writes, what it reads and the kind of work.
pub fn op_flops(work: Work, out_entries: u128, in_entries: u128) -> u128 {
    match work {
        Work::Free => 0,
        Work::MatMul { inner } => 2u128.saturating_mul(out_entries).saturating_mul(inner),
        Work::Read => in_entries,
        Work::Write => out_entries,
        Work::Einsum { product, operands } => product.saturating_mul(operands.max(1)),
    }
}

/// The kind of work of an IR node: its op table row's cost class, priced at its shapes.
pub fn ir_work(dims: &Dims, graph: &Graph, n: NodeId) -> Work {
    let node = graph.node(n);
    match node.op.spec().cost {
        Cost::Free => Work::Free,
        Cost::MatMul => {
            let a = graph.shape(node.args[0]);
            let inner = a
                .last()
                .map(|k| entries(dims, std::slice::from_ref(k)))
                .unwrap_or(1);
            Work::MatMul { inner }
        }
        Cost::Read => Work::Read,
        Cost::Write => Work::Write,
        Cost::Einsum => {
            let Op::Einsum(spec) = &node.op else {
                return Work::Write;
            };
            let mut sizes = std::collections::BTreeMap::new();
            for (letters, a) in spec.inputs.iter().zip(&node.args) {
                for (c, d) in letters.iter().zip(graph.shape(*a)) {
                    sizes.insert(*c, entries(dims, std::slice::from_ref(d)));
                }
            }
            Work::Einsum {
                product: sizes.values().fold(1u128, |a, &s| a.saturating_mul(s)),
                operands: spec.inputs.len() as u128,
            }
        }
    }
}

/// The FLOPs of IR node `n` alone.
pub fn ir_node_flops(dims: &Dims, graph: &Graph, n: NodeId) -> u128 {
    let node = graph.node(n);
    let out = entries(dims, &node.shape);
    let read = node
        .args
        .first()
        .map(|a| entries(dims, graph.shape(*a)))
        .unwrap_or(0);
    op_flops(ir_work(dims, graph, n), out, read)
}

/// The FLOPs of computing `roots` in `graph`, each node once; nodes for which `free` holds
/// (and everything only they need) cost nothing. A scalar factor on a matrix product that
/// nothing else uses (`A @ B / sqrt(d)`) is GEMM's α and costs nothing.
pub fn program_flops(
    dims: &Dims,
    graph: &Graph,
    roots: &[NodeId],
    free: &dyn Fn(NodeId) -> bool,
) -> u128 {
    let mut seen = HashSet::new();
    let mut stack: Vec<NodeId> = roots.to_vec();
    let mut users: std::collections::HashMap<NodeId, u32> = Default::default();
    // What a scaling costs when its users take it (see `extract`): `None` once an op that
    // cannot (or the output) reads it.
    let mut epilogue: std::collections::HashMap<NodeId, Option<u128>> = Default::default();
    for r in roots {
        *users.entry(*r).or_insert(0) += 1;
        epilogue.insert(*r, None);
    }
    let mut order = Vec::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) || free(n) {
            continue;
        }
        order.push(n);
        for &a in &graph.node(n).args {
            *users.entry(a).or_insert(0) += 1;
            let user = match graph.node(n).op {
                Op::MatMul => ScalingUser::Product,
                Op::Reduce {
                    kind: ReduceKind::Sum | ReduceKind::Mean,
                    ..
                } => ScalingUser::Sum,
                _ => ScalingUser::Other,
            };
            let e = epilogue.entry(a).or_insert(Some(0));
            *e = user.takes(*e, entries(dims, graph.shape(n)));
            stack.push(a);
        }
    }
    let mut total: u128 = 0;
    for n in order {
        let fused = scaled_product(graph, n).is_some_and(|p| {
            users.get(&p) == Some(&1) && matches!(graph.node(p).op, Op::MatMul) && !free(p)
        }) || negated_scaling(graph, n).is_some_and(|p| {
            users.get(&p) == Some(&1) && scaled_product(graph, p).is_some() && !free(p)
        });
        let own = ir_node_flops(dims, graph, n);
        let cost = match epilogue.get(&n) {
            Some(&taken) if scaled_product(graph, n).is_some() => scaling_cost(own, taken),
            _ => own,
        };
        if !fused {
            total = total.saturating_add(cost);
        }
    }
    total
}

/// How a use of a scaled tensor takes the scaling over: a product in GEMM's α (free), a sum
/// or mean by scaling its result (its entries); any other op cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalingUser {
    Product,
    Sum,
    Other,
}

impl ScalingUser {
    /// What the users so far (`taken`, `None` once one cannot) pay with this one, whose
    /// result has `out` entries.
    pub fn takes(self, taken: Option<u128>, out: u128) -> Option<u128> {
        let mine = match self {
            ScalingUser::Product => Some(0),
            ScalingUser::Sum => Some(out),
            ScalingUser::Other => None,
        };
        taken.zip(mine).map(|(x, y)| x.saturating_add(y))
    }
}

/// A scaling's cost: its own, or what its users pay to take it over when they all can and
/// that is less.
pub fn scaling_cost(own: u128, taken: Option<u128>) -> u128 {
    taken.map_or(own, |t| own.min(t))
}

/// For `-p` of a tensor: `p` (free when `p` is a scaling used only here: the sign goes into
/// the scalar, `-(x / 2)` is `x * -1/2`).
fn negated_scaling(graph: &Graph, n: NodeId) -> Option<NodeId> {
    let node = graph.node(n);
    match (&node.op, node.args.as_slice()) {
        (Op::Neg, [a]) if !graph.shape(*a).is_empty() => Some(*a),
        _ => None,
    }
}

/// For `p * s`, `s * p` or `p / s` with `s` a scalar: `p`.
fn scaled_product(graph: &Graph, n: NodeId) -> Option<NodeId> {
    let node = graph.node(n);
    let scalar = |a: NodeId| graph.shape(a).is_empty();
    match (&node.op, node.args.as_slice()) {
        (Op::Mul, [a, b]) if scalar(*b) && !scalar(*a) => Some(*a),
        (Op::Mul, [a, b]) if scalar(*a) && !scalar(*b) => Some(*b),
        (Op::Div, [a, b]) if scalar(*b) && !scalar(*a) => Some(*a),
        _ => None,
    }
}
