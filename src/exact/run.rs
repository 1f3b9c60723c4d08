//! Running the evaluator to a certified width: precision raising, and forward-mode
//! directional derivatives.
//!
//! Owns the precision policy. A run asks for `target` bits: every enclosure must be narrower
//! than 2^-target relative to its magnitude. The evaluator works with `target + 32` bits and,
//! when an enclosure is too wide or a comparison undecided, doubles the extra bits, up to
//! [`MAX_RAISES`] times; what still fails is reported, never passed off as exact.

use super::eval::{eval, eval_graph, Env, EvalError};
use super::num::{Num, NumError, Prec};
use super::scalar::{Dual, Scalar};
use super::tensor::{self, MapvRef, Tensor};
use crate::ir::{NodeId, Op, Program, TensorId};
use std::collections::HashMap;

/// Most entries one tensor may have to be evaluated exactly (each is a big rational).
pub const MAX_EXACT_ENTRIES: u64 = 1 << 20;

/// Most multiply-adds one matrix product or einsum may take in exact arithmetic.
pub const MAX_EXACT_WORK: u64 = 1 << 28;

/// Is every node of `graph` small enough to evaluate exactly at the sizes in use? The first
/// that is not is the error (a located `TooLarge`), before anything is allocated.
pub fn check_budget(program: &Program, graph: &crate::ir::Graph) -> Result<(), RunError> {
    let entries = |shape: &[crate::ir::DimPoly]| -> u64 {
        program
            .dims
            .sizes(shape)
            .map(|s| s.iter().fold(1u64, |a, &n| a.saturating_mul(n as u64)))
            .unwrap_or(0)
    };
    for (id, node) in graph.nodes() {
        let out = entries(&node.shape);
        let work = match &node.op {
            crate::ir::Op::MatMul => {
                let inner = graph
                    .shape(node.args[0])
                    .last()
                    .map(|d| entries(std::slice::from_ref(d)))
                    .unwrap_or(1);
                out.saturating_mul(inner)
            }
            crate::ir::Op::Einsum(spec) => {
                let mut sizes = std::collections::BTreeMap::new();
                for (letters, a) in spec.inputs.iter().zip(&node.args) {
                    for (c, d) in letters.iter().zip(graph.shape(*a)) {
                        sizes.insert(*c, entries(std::slice::from_ref(d)));
                    }
                }
                sizes.values().fold(1u64, |a, &s| a.saturating_mul(s))
            }
            _ => out,
        };
        let why = if out > MAX_EXACT_ENTRIES {
            Some(format!(
                "{out} entries at these sizes; exact evaluation takes at most {MAX_EXACT_ENTRIES} per tensor (use --dims with smaller sizes)"
            ))
        } else if work > MAX_EXACT_WORK {
            Some(format!(
                "{work} multiply-adds at these sizes; exact evaluation takes at most {MAX_EXACT_WORK} per product (use --dims with smaller sizes)"
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(RunError {
                node: id,
                error: NumError::TooLarge(why),
                tensor: owner(program, id),
            });
        }
    }
    Ok(())
}

/// How many times the working precision is raised before giving up.
pub const MAX_RAISES: u32 = 4;

/// Default requested width, in bits.
pub const DEFAULT_TARGET_BITS: u32 = 128;

/// The precision policy in one place: run `attempt` at `target_bits + 32` working bits,
/// doubling the extra bits while the result is not `tight` or a comparison is undecided, up
/// to [`MAX_RAISES`] times. Returns the last result and the precision it used; any other
/// error ends the run at once.
pub fn raising<T>(
    target_bits: u32,
    attempt: impl FnMut(Prec) -> Result<T, EvalError>,
    tight: impl Fn(&T) -> bool,
) -> Result<(T, Prec), EvalError> {
    raising_from(32, target_bits, attempt, tight)
}

/// [`raising`] starting with `extra` bits beyond the target.
fn raising_from<T>(
    mut extra: u32,
    target_bits: u32,
    mut attempt: impl FnMut(Prec) -> Result<T, EvalError>,
    tight: impl Fn(&T) -> bool,
) -> Result<(T, Prec), EvalError> {
    for round in 0..=MAX_RAISES {
        let prec = Prec::new(target_bits + extra);
        match attempt(prec) {
            Ok(v) if tight(&v) || round == MAX_RAISES => return Ok((v, prec)),
            Ok(_) => {}
            Err(e) if matches!(e.error, NumError::Undecided(_)) && round < MAX_RAISES => {}
            Err(e) => return Err(e),
        }
        extra *= 2;
    }
    unreachable!("the last round returns")
}

/// The values of every named tensor of the forward pass.
#[derive(Debug)]
pub struct Trace {
    /// In program order: every leaf, const, statement and inlined local.
    pub values: Vec<(TensorId, Tensor<Num>)>,
    /// Working precision of the run that succeeded.
    pub prec: Prec,
    /// Tensors with an entry wider than asked, even at the highest precision tried.
    pub too_wide: Vec<TensorId>,
}

/// A run that failed at a node.
#[derive(Debug, Clone)]
pub struct RunError {
    pub node: NodeId,
    pub error: NumError,
    /// The named tensor whose computation failed.
    pub tensor: Option<TensorId>,
}

impl RunError {
    pub fn message(&self, program: &Program) -> String {
        match self.tensor {
            Some(t) => {
                let tensor = program.tensor(t);
                let line = program.sources.line(tensor.span);
                format!(
                    "{} in `{}` (line {}): {}",
                    self.error,
                    tensor.name,
                    line,
                    crate::ir::normalize_text(program.sources.slice(tensor.span))
                )
            }
            None => self.error.to_string(),
        }
    }
}

/// The named tensor a node belongs to: the first one created at or after it.
pub fn owner(program: &Program, node: NodeId) -> Option<TensorId> {
    program
        .tensors
        .iter()
        .position(|t| t.node >= node)
        .map(|i| TensorId(i as u32))
}

fn wrap(program: &Program, e: EvalError) -> RunError {
    RunError {
        node: e.node,
        error: e.error,
        tensor: owner(program, e.node),
    }
}

/// Evaluate every named tensor to `target_bits`.
pub fn trace(
    program: &Program,
    leaves: HashMap<TensorId, Tensor<Num>>,
    target_bits: u32,
) -> Result<Trace, RunError> {
    let env = Env::new(leaves);
    let forward = named_nodes(program);
    let roots: Vec<NodeId> = forward.iter().map(|(_, n)| *n).collect();
    let all_tight = |values: &Vec<Option<Tensor<Num>>>| tight_at(values, &roots, target_bits);
    let (values, prec) = raising(
        target_bits,
        |prec| eval(program, &env, &roots, prec),
        all_tight,
    )
    .map_err(|e| wrap(program, e))?;
    Ok(Trace::of(values_at(&values, &forward), prec, target_bits))
}

impl Trace {
    /// The trace of `values` computed at `prec`, noting the tensors wider than asked.
    fn of(values: NamedValues, prec: Prec, target_bits: u32) -> Trace {
        let too_wide = values
            .iter()
            .filter(|(_, v)| v.iter().any(|x| !x.is_tight(target_bits)))
            .map(|(t, _)| *t)
            .collect();
        Trace {
            values,
            prec,
            too_wide,
        }
    }
}

/// Every named tensor with its node, in program order.
fn named_nodes(program: &Program) -> Vec<(TensorId, NodeId)> {
    (0..program.tensors.len() as u32)
        .map(|t| (TensorId(t), program.tensor(TensorId(t)).node))
        .collect()
}

/// Is every root's every entry narrower than `2^-bits` (relative)?
fn tight_at(values: &[Option<Tensor<Num>>], roots: &[NodeId], bits: u32) -> bool {
    roots.iter().all(|r| {
        values[r.0 as usize]
            .as_ref()
            .is_some_and(|v| v.iter().all(|x| x.is_tight(bits)))
    })
}

/// The values of `list`'s nodes, named (every one was a root of the evaluation).
fn values_at(values: &[Option<Tensor<Num>>], list: &[(TensorId, NodeId)]) -> NamedValues {
    list.iter()
        .map(|(t, n)| {
            (
                *t,
                values[n.0 as usize].clone().expect("roots are evaluated"),
            )
        })
        .collect()
}

/// The directional derivative of `root` at the point `leaves` along `direction`, computed in
/// forward mode on the primitive definitions of every op. The direction may name leaves and
/// intermediate tensors (an intermediate is perturbed directly, as an independent variable
/// downstream of it); tensors not named move with tangent 0. Raises precision like [`trace`].
pub fn directional_derivative(
    program: &Program,
    leaves: &HashMap<TensorId, Tensor<Num>>,
    direction: &HashMap<TensorId, Tensor<Num>>,
    root: NodeId,
    target_bits: u32,
) -> Result<Tensor<Num>, RunError> {
    directional_derivative_in(
        program,
        &Env::new(leaves.clone()),
        direction,
        root,
        target_bits,
    )
}

/// [`directional_derivative`] at the point whose leaves `forward` holds, reading from it the
/// values of the nodes the direction does not move (a remembering env shares them across
/// the directions checked at one point).
pub fn directional_derivative_in(
    program: &Program,
    forward: &Env<Num>,
    direction: &HashMap<TensorId, Tensor<Num>>,
    root: NodeId,
    target_bits: u32,
) -> Result<Tensor<Num>, RunError> {
    let leaves = &forward.leaves;
    let mut dual_leaves = HashMap::new();
    let mut moved_leaves = Vec::new();
    for (id, d) in direction {
        if let Some(value) = leaves.get(id) {
            dual_leaves.insert(
                *id,
                tensor::zip_into(value, d, |v, t| Dual::new(v.clone(), t.clone())),
            );
            moved_leaves.push(*id);
        }
    }
    let intermediates: Vec<(NodeId, &Tensor<Num>)> = direction
        .iter()
        .filter(|(id, _)| !leaves.contains_key(id))
        .map(|(id, d)| (program.tensor(*id).node, d))
        .collect();
    directional_derivative_at(
        program,
        dual_leaves,
        forward,
        &moved_leaves,
        &intermediates,
        root,
        target_bits,
    )
}

/// The directional derivative of `root` when the values of the forward nodes `perturbed`
/// move along the given directions (each node treated as an independent variable).
pub fn directional_derivative_of_nodes(
    program: &Program,
    leaves: &HashMap<TensorId, Tensor<Num>>,
    perturbed: &[(NodeId, &Tensor<Num>)],
    root: NodeId,
    target_bits: u32,
) -> Result<Tensor<Num>, RunError> {
    let forward = Env::new(leaves.clone());
    directional_derivative_at(
        program,
        HashMap::new(),
        &forward,
        &[],
        perturbed,
        root,
        target_bits,
    )
}

/// Forward mode only where the tangent can be nonzero: the nodes downstream of a moved leaf
/// or intermediate are evaluated on dual numbers; every other node `root` needs enters as a
/// constant, its value taken from `forward` (plain values, remembered when `forward` does).
fn directional_derivative_at(
    program: &Program,
    dual_leaves: HashMap<TensorId, Tensor<Dual>>,
    forward: &Env<Num>,
    moved_leaves: &[TensorId],
    intermediates: &[(NodeId, &Tensor<Num>)],
    root: NodeId,
    target_bits: u32,
) -> Result<Tensor<Num>, RunError> {
    let graph = &program.graph;
    let moved: Vec<NodeId> = intermediates.iter().map(|(n, _)| *n).collect();
    // Downstream of what moves.
    let mut down = vec![false; graph.len()];
    for (id, node) in graph.nodes() {
        down[id.0 as usize] = moved.contains(&id)
            || matches!(&node.op, Op::Leaf(t) if moved_leaves.contains(t))
            || node.args.iter().any(|a| down[a.0 as usize]);
    }
    // What the dual evaluation of `root` reads: downstream nodes, and at their edge the
    // nodes that do not move (constants), whose arguments are not needed.
    let mut needed = vec![false; graph.len()];
    needed[root.0 as usize] = true;
    for i in (0..graph.len()).rev() {
        let id = NodeId(i as u32);
        if needed[i] && down[i] && !moved.contains(&id) {
            for a in &graph.node(id).args {
                needed[a.0 as usize] = true;
            }
        }
    }
    let constants: Vec<NodeId> = (0..graph.len())
        .filter(|&i| needed[i] && !down[i])
        .map(|i| NodeId(i as u32))
        .collect();
    let mut env = Env::new(dual_leaves);
    let attempt = |prec: Prec| -> Result<Tensor<Num>, EvalError> {
        // Plain values of the constants and of the perturbed intermediates, then the duals.
        let mut plain = constants.clone();
        plain.extend(&moved);
        let values = eval(program, forward, &plain, prec)?;
        env.overrides.clear();
        for &c in &constants {
            let v = values[c.0 as usize].as_ref().expect("evaluated");
            env.overrides
                .insert(c, v.mapv_ref(|x| Dual::constant(x.clone())));
        }
        for (node, d) in intermediates {
            let v = values[node.0 as usize].as_ref().expect("evaluated");
            env.overrides.insert(
                *node,
                tensor::zip_into(v, d, |v, t| Dual::new(v.clone(), t.clone())),
            );
        }
        let values = eval(program, &env, &[root], prec)?;
        let v = values[root.0 as usize].clone().expect("root is evaluated");
        Ok(v.mapv_ref(|d| d.t.clone()))
    };
    raising(target_bits, attempt, |t| {
        t.iter().all(|x| x.is_tight(target_bits))
    })
    .map(|(t, _)| t)
    .map_err(|e| wrap(program, e))
}

/// Why the exact backward pass could not be computed.
#[derive(Debug, Clone)]
pub enum GradientError {
    /// The program has no gradient graph (no `output` or `loss`, or a rule failed).
    Derive(Box<crate::diag::Diagnostic>),
    /// Evaluating the gradient graph failed at a node.
    Run(RunError),
}

impl GradientError {
    pub fn message(&self, program: &Program) -> String {
        match self {
            GradientError::Derive(d) => d.message.clone(),
            GradientError::Run(e) => e.message(program),
        }
    }

    /// The arithmetic failure, when evaluation failed.
    pub fn num_error(&self) -> Option<&NumError> {
        match self {
            GradientError::Derive(_) => None,
            GradientError::Run(e) => Some(&e.error),
        }
    }
}

/// ∂L/∂NAME for every named tensor that has a gradient (leaves, intermediates, the output
/// itself), at the point `leaves`; for an output, the upstream gradient is `upstream` or
/// seeded random small rationals. Derives the gradient graph first; see [`gradient_values`]
/// to reuse one.
pub fn trace_gradients(
    program: &Program,
    leaves: &HashMap<TensorId, Tensor<Num>>,
    upstream: Option<Tensor<Num>>,
    seed: u64,
    target_bits: u32,
) -> Result<Vec<(TensorId, Tensor<Num>)>, GradientError> {
    let grads = crate::diff::derive(program).map_err(|d| GradientError::Derive(Box::new(d)))?;
    gradient_values(program, &grads, leaves, upstream, seed, target_bits)
        .map_err(GradientError::Run)
}

/// Values of named tensors (or of their gradients), in program order.
pub type NamedValues = Vec<(TensorId, Tensor<Num>)>;

/// The forward trace and every gradient from one evaluation of the gradient graph per
/// precision (it extends the forward graph, so the forward values come with it): what
/// `trace --grad` shows, without evaluating the forward pass twice.
pub fn trace_with_gradients(
    program: &Program,
    leaves: HashMap<TensorId, Tensor<Num>>,
    upstream: Option<Tensor<Num>>,
    seed: u64,
    target_bits: u32,
) -> Result<(Trace, NamedValues), GradientError> {
    let grads = crate::diff::derive(program).map_err(|d| GradientError::Derive(Box::new(d)))?;
    let env = backward_env(program, leaves, upstream, seed);
    let forward = named_nodes(program);
    let backward: Vec<(TensorId, NodeId)> = forward
        .iter()
        .filter_map(|&(t, _)| grads.of(program, t).map(|g| (t, g)))
        .collect();
    let roots: Vec<NodeId> = forward.iter().chain(&backward).map(|(_, n)| *n).collect();
    let attempt = |prec: Prec| eval_graph(program, &grads.graph, &env, &roots, prec);
    let all_tight = |values: &Vec<Option<Tensor<Num>>>| tight_at(values, &roots, target_bits);
    // Every op on a long chain widens the enclosures a little: a deep graph (two layers of a
    // model and their backward pass) misses the target at 32 extra bits and is evaluated
    // again and again, so it starts with a bit for every op of its longest chain (gpt2_tiny's
    // backward pass, 135 ops deep, went 161 → 194 → 260 bits before; now one run at 263).
    let extra = depth(&grads.graph, &roots).max(32);
    let (values, prec) = raising_from(extra, target_bits, attempt, all_tight)
        .map_err(|e| GradientError::Run(wrap(program, e)))?;
    Ok((
        Trace::of(values_at(&values, &forward), prec, target_bits),
        values_at(&values, &backward),
    ))
}

/// The longest chain of ops below `roots` (node ids are topologically ordered).
fn depth(graph: &crate::ir::Graph, roots: &[NodeId]) -> u32 {
    let mut level = vec![0u32; graph.len()];
    for i in 0..graph.len() {
        let node = graph.node(NodeId(i as u32));
        level[i] = node
            .args
            .iter()
            .map(|a| level[a.0 as usize] + 1)
            .max()
            .unwrap_or(0);
    }
    roots.iter().map(|r| level[r.0 as usize]).max().unwrap_or(0)
}

/// The env a gradient graph is evaluated in: the leaves, and for an output (not a loss) the
/// upstream gradient `grad(OUTPUT)` (`upstream`, or the one drawn from `seed`).
pub fn backward_env(
    program: &Program,
    leaves: HashMap<TensorId, Tensor<Num>>,
    upstream: Option<Tensor<Num>>,
    seed: u64,
) -> Env<Num> {
    let mut env = Env::new(leaves);
    if let Some(target) = &program.target {
        if target.kind == crate::ir::TargetKind::Output {
            let up =
                upstream.unwrap_or_else(|| super::inputs::upstream(program, target.tensor, seed));
            env.grads.insert(target.tensor, up);
        }
    }
    env
}

/// [`trace_gradients`] with the program's gradient graph already derived (a check draws many
/// points of one program).
pub fn gradient_values(
    program: &Program,
    grads: &crate::diff::Gradients,
    leaves: &HashMap<TensorId, Tensor<Num>>,
    upstream: Option<Tensor<Num>>,
    seed: u64,
    target_bits: u32,
) -> Result<Vec<(TensorId, Tensor<Num>)>, RunError> {
    let env = backward_env(program, leaves.clone(), upstream, seed);
    let named: Vec<(TensorId, NodeId)> = (0..program.tensors.len() as u32)
        .map(TensorId)
        .filter_map(|t| grads.of(program, t).map(|g| (t, g)))
        .collect();
    let roots: Vec<NodeId> = named.iter().map(|(_, g)| *g).collect();
    let attempt = |prec: Prec| eval_graph(program, &grads.graph, &env, &roots, prec);
    let all_tight = |values: &Vec<Option<Tensor<Num>>>| tight_at(values, &roots, target_bits);
    let (values, _) = raising(target_bits, attempt, all_tight).map_err(|e| wrap(program, e))?;
    Ok(values_at(&values, &named))
}
