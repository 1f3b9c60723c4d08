//! The e-graph simplifier: gradients in the compact form a paper prints, and proofs.
//!
//! Owns [`simplify`]: the forward pass and the raw gradient graph go into one e-graph (each
//! named tensor joined to its definition, so `P @ V` is known to be `O`); the rules of
//! [`rules`] run under explicit [`Limits`]; then one term per class is extracted for the
//! whole gradient program by FLOPs at the dims' sizes, with the forward pass's values free
//! (saved activations) and shared subterms paid once. The result is a [`Gradients`] again, so
//! the exact checker verifies the simplified program exactly as it verified the raw one.
//! [`prove`] answers whether two expressions are equal for every size of the dims, with the
//! chain of rewrites.
//!
//! Invariants: the simplified program never costs more than the raw one (if extraction does
//! not improve on it, the raw program is kept and the report says so); a run that hit a limit
//! says which; classes are only merged at equal shapes (a conflict is an unsound rule: the
//! raw program is kept and the conflict reported).

mod analysis;
mod applier;
pub mod cost;
mod einsum_rule;
pub mod error;
mod extract;
mod lang;
mod layout_rules;
mod normal;
pub mod prove;
pub mod rules;
mod select_rules;
mod translate;

use crate::diag::{Code, Diagnostic};
use crate::diff::Gradients;
use crate::ir::{Graph, NodeId, Op, Program, TensorId};
use analysis::{ShapeInfo, EG};
use egg::{Id, Runner, StopReason};
pub use error::SimplifyError;
use extract::Pick;
pub use normal::ALGEBRA;
pub use prove::{prove, prove_with_atoms, Proof, ProofOutcome, ProofStep};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

/// Bounds on saturation. Results are reproducible when iterations or nodes stop a run; the
/// time limit is a safety net only (where it cuts depends on the machine).
#[derive(Debug, Clone)]
pub struct Limits {
    pub iterations: usize,
    pub nodes: usize,
    pub time: Duration,
    /// Matches a rule may make in one iteration before the scheduler rests it (egg's
    /// `BackoffScheduler`): keeps commutativity and associativity from flooding the graph.
    pub match_limit: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            iterations: 12,
            nodes: 30_000,
            time: Duration::from_secs(30),
            match_limit: 5_000,
        }
    }
}

impl Limits {
    /// A runner over `eg` with these limits.
    /// A runner over `eg` with these limits and a normal-form pass before every iteration.
    fn runner(
        &self,
        eg: EG,
        normaliser: &Rc<RefCell<normal::Normaliser>>,
    ) -> Runner<lang::ENode, ShapeInfo> {
        let normaliser = normaliser.clone();
        Runner::<lang::ENode, ShapeInfo>::new(ShapeInfo::default())
            .with_egraph(eg)
            .with_iter_limit(self.iterations)
            .with_node_limit(self.nodes)
            .with_time_limit(self.time)
            .with_scheduler(
                egg::BackoffScheduler::default().with_initial_match_limit(self.match_limit),
            )
            .with_hook(move |runner| {
                normaliser.borrow_mut().pass(&mut runner.egraph);
                Ok(())
            })
    }

    /// Run the rules over `eg` within these limits, with the normal-form pass before every
    /// iteration and once after the last (so the classes the last rules made are merged).
    /// Simplifying keeps the user's names: its normal forms stop at named tensors.
    /// `opaque`: the classes printed under names of their own (see `normal::Normaliser`).
    fn run(&self, eg: EG, opaque: Vec<Id>, onehot: Vec<String>) -> Runner<lang::ENode, ShapeInfo> {
        let normaliser = Rc::new(RefCell::new(
            normal::Normaliser::new(false)
                .with_opaque(opaque)
                .with_onehot(onehot),
        ));
        let mut runner = rules::with_rules(|r| self.runner(eg, &normaliser).run(r));
        normaliser.borrow_mut().pass(&mut runner.egraph);
        runner
    }
}

/// How a saturation run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Saturated,
    IterationLimit(usize),
    NodeLimit(usize),
    TimeLimit,
    Other(String),
}

impl Stop {
    fn from_egg(reason: Option<&StopReason>) -> Stop {
        match reason {
            Some(StopReason::Saturated) | None => Stop::Saturated,
            Some(StopReason::IterationLimit(n)) => Stop::IterationLimit(*n),
            Some(StopReason::NodeLimit(n)) => Stop::NodeLimit(*n),
            Some(StopReason::TimeLimit(_)) => Stop::TimeLimit,
            Some(StopReason::Other(s)) => Stop::Other(s.clone()),
        }
    }

    /// Did a limit (rather than saturation or reaching a goal) end the run?
    pub fn hit_limit(&self) -> bool {
        matches!(
            self,
            Stop::IterationLimit(_) | Stop::NodeLimit(_) | Stop::TimeLimit
        )
    }

    pub fn describe(&self) -> String {
        match self {
            Stop::Saturated => "saturated (no rule applies any more)".into(),
            Stop::IterationLimit(n) => format!("stopped at the iteration limit ({n})"),
            Stop::NodeLimit(n) => format!("stopped at the node limit ({n} e-nodes)"),
            Stop::TimeLimit => "stopped at the time limit".into(),
            Stop::Other(s) => s.clone(),
        }
    }
}

/// What a simplification run did.
#[derive(Debug, Clone)]
pub struct Report {
    pub stop: Stop,
    pub iterations: usize,
    pub enodes: usize,
    pub classes: usize,
    /// Backward FLOPs of the raw and of the returned program (forward values free).
    pub raw_flops: u128,
    pub flops: u128,
    /// Why the raw program was kept, if it was.
    pub kept_raw: Option<SimplifyError>,
}

/// The simplified gradients and the report of the run.
#[derive(Debug, Clone)]
pub struct Simplified {
    pub gradients: Gradients,
    pub report: Report,
}

/// The names of the leaves declared `onehot` (their rows sum to one).
fn onehot_names(program: &Program) -> Vec<String> {
    program
        .onehot
        .iter()
        .map(|&t| program.tensor(t).name.clone())
        .collect()
}

/// The forward nodes the target depends on (the saved activations).
fn forward_nodes(program: &Program) -> Vec<NodeId> {
    let Some(target) = &program.target else {
        return vec![];
    };
    let root = program.tensor(target.tensor).node;
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if seen.insert(n) {
            stack.extend(program.graph.node(n).args.iter().copied());
        }
    }
    let mut v: Vec<NodeId> = seen.into_iter().collect();
    v.sort();
    v
}

/// The adjoints the gradient program is made of: the seed and the gradients asked for
/// (every input and param when `wrt` is empty), later forward tensors first. Intermediate
/// gradients (dS, dP) are not roots: they appear when a requested gradient uses them.
fn gradient_roots(program: &Program, grads: &Gradients, wrt: &[TensorId]) -> Vec<NodeId> {
    let wrt: Vec<TensorId> = if wrt.is_empty() {
        program.differentiable_leaves().collect()
    } else {
        wrt.to_vec()
    };
    let mut roots: Vec<(u32, NodeId)> = wrt
        .iter()
        .filter_map(|&t| {
            let node = program.tensor(t).node;
            grads.of(program, t).map(|g| (node.0, g))
        })
        .collect();
    roots.sort_by_key(|(f, g)| (std::cmp::Reverse(*f), g.0));
    let mut out = vec![grads.seed];
    for (_, g) in roots {
        if !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

/// The backward FLOPs of a gradient program: the nodes `roots` need, where the forward
/// pass's named tensors (leaves, consts, statements) are free: they are saved. An unnamed
/// forward subexpression that a gradient uses is paid for, as it is printed.
pub fn backward_flops(program: &Program, grads: &Gradients, roots: &[NodeId]) -> u128 {
    let forward = grads.forward_len;
    let named: HashSet<NodeId> = program.tensors.iter().map(|t| t.node).collect();
    cost::program_flops(&program.dims, &grads.graph, roots, &|n| {
        (n.0 as usize) < forward && named.contains(&n)
    })
}

/// Forward and backward FLOPs of a gradient program at the dims' sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub forward: u128,
    pub backward: u128,
}

/// The cost of the gradients of `wrt` (every input and param when empty) in `grads`.
pub fn cost(program: &Program, grads: &Gradients, wrt: &[TensorId]) -> Cost {
    let roots = gradient_roots(program, grads, wrt);
    Cost {
        forward: forward_flops(program),
        backward: backward_flops(program, grads, &roots),
    }
}

/// The forward FLOPs: everything the output or loss needs.
pub fn forward_flops(program: &Program) -> u128 {
    let roots: Vec<NodeId> = program
        .target
        .iter()
        .map(|t| program.tensor(t.tensor).node)
        .collect();
    cost::program_flops(&program.dims, &program.graph, &roots, &|_| false)
}

fn internal(program: &Program, why: SimplifyError) -> Diagnostic {
    Diagnostic::new(
        Code::Misplaced,
        crate::source::Span::new(program.root, 0, 0),
        format!("internal: simplifying the gradients: {why}"),
    )
}

/// Simplify `grads` (the raw gradients of `program`) with the e-graph.
pub fn simplify(
    program: &Program,
    grads: &Gradients,
    wrt: &[TensorId],
    limits: &Limits,
) -> Result<Simplified, Diagnostic> {
    let forward = forward_nodes(program);
    let roots = gradient_roots(program, grads, wrt);
    let raw_flops = backward_flops(program, grads, &roots);
    let mut eg: EG = EG::new(ShapeInfo::new(program.dims.clone()));
    let mut loader = translate::Loader::new(program, false);
    loader.declare_names(&mut eg);
    for &n in &forward {
        loader
            .add(&program.graph, &mut eg, n)
            .map_err(|e| internal(program, e))?;
    }
    loader
        .define(&mut eg, &forward)
        .map_err(|e| internal(program, e))?;
    for &r in &roots {
        loader
            .add(&grads.graph, &mut eg, r)
            .map_err(|e| internal(program, e))?;
    }
    eg.rebuild();
    let loaded = eg.nodes().len();
    // The gradients of named tensors are printed as `dNAME` lines.
    let opaque: Vec<Id> = program
        .tensors
        .iter()
        .filter_map(|t| grads.adjoint.get(t.node.0 as usize).copied().flatten())
        .filter_map(|a| loader.class_of.get(&a).copied())
        .collect();
    let runner = limits.run(eg, opaque.clone(), onehot_names(program));
    let stop = Stop::from_egg(runner.stop_reason.as_ref());
    let eg = runner.egraph;
    let mut report = Report {
        stop,
        iterations: runner.iterations.len(),
        enodes: eg.total_number_of_nodes(),
        classes: eg.number_of_classes(),
        raw_flops,
        flops: raw_flops,
        kept_raw: None,
    };
    let keep_raw = |mut report: Report, why: SimplifyError| {
        report.kept_raw = Some(why);
        Ok(Simplified {
            gradients: grads.clone(),
            report,
        })
    };
    if let Some(conflict) = eg.analysis.conflicts.first() {
        return keep_raw(report, SimplifyError::Conflict(conflict.clone()));
    }
    // Saved classes and the forward node each is printed as (a named one if any).
    let mut saved: HashMap<Id, NodeId> = HashMap::new();
    let named: HashSet<NodeId> = program.tensors.iter().map(|t| t.node).collect();
    for &n in &forward {
        if !named.contains(&n) {
            continue;
        }
        let c = eg.find(loader.class_of[&n]);
        let better = match saved.get(&c) {
            None => true,
            Some(cur) => named.contains(&n) && !named.contains(cur),
        };
        if better {
            saved.insert(c, n);
        }
    }
    let saved_set: HashSet<Id> = saved.keys().copied().collect();
    let root_classes: Vec<Id> = roots.iter().map(|r| eg.find(loader.class_of[r])).collect();
    let extraction = match extract::extract(&eg, &root_classes, &saved_set, loaded, &opaque) {
        Ok(x) => x,
        Err(why) => return keep_raw(report, why),
    };
    // Spans: a class takes the span of a raw gradient node in it.
    let mut span_of: HashMap<Id, crate::source::Span> = HashMap::new();
    for (n, c) in &loader.class_of {
        if (n.0 as usize) >= grads.forward_len {
            span_of
                .entry(eg.find(*c))
                .or_insert(grads.graph.node(*n).span);
        }
    }
    let default_span = program
        .target
        .as_ref()
        .map(|t| program.tensor(t.tensor).span)
        .unwrap_or(crate::source::Span::new(program.root, 0, 0));
    let mut graph: Graph = program.graph.clone();
    let mut emitted: HashMap<Id, NodeId> = HashMap::new();
    // Emit in backward order: the gradients of later forward tensors first (dP before dS
    // before dQ), then the requested ones; ids stay topological either way.
    let mut order: Vec<Id> = Vec::new();
    let mut by_forward: Vec<(NodeId, NodeId)> = program
        .tensors
        .iter()
        .filter_map(|t| {
            grads
                .adjoint
                .get(t.node.0 as usize)
                .copied()
                .flatten()
                .map(|a| (t.node, a))
        })
        .collect();
    by_forward.sort_by_key(|(f, _)| std::cmp::Reverse(*f));
    for (_, a) in by_forward {
        if let Some(c) = loader.class_of.get(&a).map(|c| eg.find(*c)) {
            if extraction.picks.contains_key(&c) {
                order.push(c);
            }
        }
    }
    order.extend(root_classes.iter().copied());
    for &root in &order {
        emit(
            program,
            &eg,
            &extraction.picks,
            &saved,
            &span_of,
            default_span,
            &mut graph,
            &mut emitted,
            root,
        )
        .map_err(|e| internal(program, e))?;
    }
    let adjoint: Vec<Option<NodeId>> = grads
        .adjoint
        .iter()
        .map(|a| {
            a.and_then(|a| {
                loader
                    .class_of
                    .get(&a)
                    .and_then(|c| emitted.get(&eg.find(*c)).copied())
            })
        })
        .collect();
    let seed = emitted[&eg.find(loader.class_of[&grads.seed])];
    let simplified = Gradients {
        graph,
        forward_len: grads.forward_len,
        adjoint,
        seed,
    };
    let new_roots: Vec<NodeId> = root_classes.iter().map(|c| emitted[c]).collect();
    let flops = backward_flops(program, &simplified, &new_roots);
    if flops > raw_flops {
        return keep_raw(report, SimplifyError::NotCheaper { flops });
    }
    report.flops = flops;
    Ok(Simplified {
        gradients: simplified,
        report,
    })
}

/// The cheapest form of one expression (node `root` of `graph`, which extends the program's
/// graph), appended to a copy of `graph`; named forward tensors stay names. A diagnosis
/// prints a term of a raw gradient this way (`P * rowsum(dP * P)`, not its broadcasts).
pub fn tidy(
    program: &Program,
    graph: &Graph,
    root: NodeId,
    limits: &Limits,
) -> Result<(Graph, NodeId), SimplifyError> {
    let mut eg: EG = EG::new(ShapeInfo::new(program.dims.clone()));
    let mut loader = translate::Loader::new(program, false);
    loader.declare_names(&mut eg);
    let r = loader.add(graph, &mut eg, root)?;
    // In id order: the order definitions enter the e-graph must not depend on hashing.
    let mut named: Vec<NodeId> = loader.class_of.keys().copied().collect();
    named.sort();
    loader.define(&mut eg, &named)?;
    eg.rebuild();
    let loaded = eg.nodes().len();
    let eg = limits.run(eg, vec![], onehot_names(program)).egraph;
    if let Some(conflict) = eg.analysis.conflicts.first() {
        return Err(SimplifyError::Conflict(conflict.clone()));
    }
    let mut saved: HashMap<Id, NodeId> = HashMap::new();
    for t in &program.tensors {
        if let Some(&c) = loader.class_of.get(&t.node) {
            saved.entry(eg.find(c)).or_insert(t.node);
        }
    }
    let saved_set: HashSet<Id> = saved.keys().copied().collect();
    let root_class = eg.find(r);
    let extraction = extract::extract(&eg, &[root_class], &saved_set, loaded, &[])?;
    let mut out = graph.clone();
    let node = emit(
        program,
        &eg,
        &extraction.picks,
        &saved,
        &HashMap::new(),
        graph.node(root).span,
        &mut out,
        &mut HashMap::new(),
        root_class,
    )?;
    Ok((out, node))
}

/// Append the IR nodes for class `root` (and what it needs) to `graph`, iteratively.
#[allow(clippy::too_many_arguments)]
fn emit(
    program: &Program,
    eg: &EG,
    picks: &HashMap<Id, Pick>,
    saved: &HashMap<Id, NodeId>,
    span_of: &HashMap<Id, crate::source::Span>,
    default_span: crate::source::Span,
    graph: &mut Graph,
    emitted: &mut HashMap<Id, NodeId>,
    root: Id,
) -> Result<NodeId, SimplifyError> {
    let mut stack = vec![(root, false)];
    while let Some((c, ready)) = stack.pop() {
        if emitted.contains_key(&c) {
            continue;
        }
        if let Some(&n) = saved.get(&c) {
            emitted.insert(c, n);
            continue;
        }
        let Some(Pick::Node(enode)) = picks.get(&c) else {
            return Err(SimplifyError::Untranslatable(format!(
                "class {c} was not extracted"
            )));
        };
        if !ready {
            stack.push((c, true));
            for a in enode.args.iter().rev() {
                stack.push((eg.find(*a), false));
            }
            continue;
        }
        let args: Vec<NodeId> = enode.args.iter().map(|a| emitted[&eg.find(*a)]).collect();
        let shape = eg[c].data.shape.clone();
        let span = span_of.get(&c).copied().unwrap_or(default_span);
        let id = match &enode.op {
            lang::EOp::Name(s) => {
                let t = program
                    .tensor_by_name(s.as_str())
                    .ok_or_else(|| SimplifyError::Untranslatable(format!("unknown name {s}")))?;
                program.tensor(t).node
            }
            lang::EOp::Grad(s) => {
                let t = program
                    .tensor_by_name(s.as_str())
                    .ok_or_else(|| SimplifyError::Untranslatable(format!("unknown name {s}")))?;
                graph.add(translate::ir_node(Op::GradOf(t), vec![], shape, span))
            }
            _ => {
                let arg_shapes: Vec<&crate::ir::Shape> = enode
                    .args
                    .iter()
                    .map(|a| &eg[eg.find(*a)].data.shape)
                    .collect();
                let op = translate::to_ir_op(eg, enode, &arg_shapes)?;
                graph.add(translate::ir_node(op, args, shape, span))
            }
        };
        emitted.insert(c, id);
    }
    Ok(emitted[&root])
}
