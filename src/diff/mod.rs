//! Reverse-mode differentiation: the gradient graph.
//!
//! Owns [`derive`]: from a program with an `output` or `loss`, a graph holding the forward
//! nodes (reused as saved activations) followed by gradient nodes, and for every forward
//! node the target depends on, its adjoint ∂L/∂node. For `output O` the seed is the free
//! symbol `grad(O)` (an `Op::GradOf` node); for `loss L` it is 1. Contributions to a node used
//! several times (residual connections) are summed. `data` and `const` tensors get none.
//!
//! Invariants: forward node ids are unchanged (the forward graph is a prefix of the
//! gradient graph); every adjoint has exactly its node's shape.

pub mod builder;
pub mod program;
pub mod rules;

use crate::diag::{Code, Diagnostic};
use crate::ir::{Graph, NodeId, Op, Program, TargetKind, TensorId};
use builder::Builder;

/// The gradients of a program.
#[derive(Debug, Clone)]
pub struct Gradients {
    /// Forward nodes `0..forward_len`, then the gradient nodes.
    pub graph: Graph,
    pub forward_len: usize,
    /// The adjoint of each forward node (`None`: the target does not depend on it).
    pub adjoint: Vec<Option<NodeId>>,
    /// The seed: `grad(O)` for an output, the literal 1 for a loss.
    pub seed: NodeId,
}

impl Gradients {
    /// ∂L/∂t for a named tensor (`None` if the target does not depend on it, or it is data
    /// or a const).
    pub fn of(&self, program: &Program, t: TensorId) -> Option<NodeId> {
        let tensor = program.tensor(t);
        if !tensor.differentiable() {
            return None;
        }
        self.adjoint.get(tensor.node.0 as usize).copied().flatten()
    }
}

/// Differentiate `program`'s output or loss with respect to every node it depends on.
pub fn derive(program: &Program) -> Result<Gradients, Diagnostic> {
    let Some(target) = &program.target else {
        return Err(Diagnostic::new(
            Code::MissingTarget,
            crate::source::Span::new(program.root, 0, 0),
            "nothing to differentiate: the file declares no `output` and no `loss`",
        )
        .with_help("add `output NAME` (a tensor output) or `loss NAME = EXPR` (a scalar loss)"));
    };
    let mut graph = program.graph.clone();
    let forward_len = graph.len();
    let target_node = program.tensor(target.tensor).node;
    let target_span = program.tensor(target.tensor).span;
    let mut adjoint: Vec<Option<NodeId>> = vec![None; forward_len];
    let seed = {
        let shape = graph.shape(target_node).clone();
        let op = match target.kind {
            TargetKind::Output => Op::GradOf(target.tensor),
            TargetKind::Loss => Op::Literal(num_rational::BigRational::from_integer(1.into())),
        };
        graph.add(crate::ir::Node {
            op,
            args: vec![],
            shape,
            span: target_span,
        })
    };
    adjoint[target_node.0 as usize] = Some(seed);
    // Only nodes that vary (depend on a leaf) have gradients; constants get none.
    let mut varies = vec![false; forward_len];
    for (id, node) in program.graph.nodes() {
        varies[id.0 as usize] = matches!(node.op, Op::Leaf(_) | Op::GradOf(_))
            || node.args.iter().any(|a| varies[a.0 as usize]);
    }
    // Each node's contributions, summed once all have arrived (every use of node i is a
    // later node, processed before it), so the sum can be built as a whole.
    let mut pending: Vec<Vec<NodeId>> = vec![Vec::new(); forward_len];
    for i in (0..=target_node.0 as usize).rev() {
        let n = NodeId(i as u32);
        let span = program.graph.node(n).span;
        let mut b = Builder {
            graph: &mut graph,
            dims: &program.dims,
            span,
        };
        let terms = std::mem::take(&mut pending[i]);
        if !terms.is_empty() {
            adjoint[i] = Some(b.sum_all(terms).map_err(|why| {
                Diagnostic::new(
                    Code::ShapeMismatch,
                    span,
                    format!(
                        "internal: accumulating a gradient: {}",
                        why.message(&program.dims)
                    ),
                )
            })?);
        }
        let Some(g) = adjoint[i] else { continue };
        let contributions = rules::vjp(&mut b, n, g).map_err(|why| {
            Diagnostic::new(
                Code::Misplaced,
                span,
                format!("cannot differentiate this: {}", why.message(&program.dims)),
            )
            .with_label("here")
        })?;
        for (arg, c) in program
            .graph
            .node(n)
            .args
            .clone()
            .into_iter()
            .zip(contributions)
        {
            let Some(c) = c else { continue };
            if varies[arg.0 as usize] {
                pending[arg.0 as usize].push(c);
            }
        }
    }
    Ok(Gradients {
        graph,
        forward_len,
        adjoint,
        seed,
    })
}
