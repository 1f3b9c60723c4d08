//! Equivalence proofs: are two expressions over one program equal for every size of the
//! dims, and by which rewrites?
//!
//! Owns [`prove`]. Both sides enter one e-graph with explanations on, together with the
//! definitions of the names they use (so `O` may be replaced by `P @ V`); the rules run until
//! the two classes meet or a limit stops the run. A proof is egg's explanation, flattened:
//! a list of terms, each obtained from the one before by one rule (named, with its direction),
//! and each term is rebuilt as IR nodes so it can be printed in the language's syntax and
//! re-checked with the exact evaluator.
//!
//! Invariant: `Proved` is only returned with an explanation whose first term is the left side
//! and whose last is the right side; "not proved" says only that these rules, within these
//! limits, did not find a chain, never that the sides differ.

use super::analysis::{ShapeInfo, EG};
use super::error::SimplifyError;
use super::lang::{ENode, EOp};
use super::normal::{Normaliser, ALGEBRA};
use super::{rules, translate, Limits, Stop};
use crate::ir::{Graph, NodeId, Op, Program};
use egg::{FlatTerm, Id};
use std::cell::RefCell;
use std::rc::Rc;

/// Largest side (in IR nodes) a proof is attempted for; explanations are built recursively.
pub const MAX_PROOF_NODES: usize = 2000;

/// Largest side written out as a tree (a shared subterm counted at every use) a proof is
/// attempted for: an explanation is a list of whole terms, so a DAG whose tree is
/// exponentially large (`y = (x + x) / 2` repeated) cannot be explained.
pub const MAX_PROOF_TERM: u64 = 20_000;

/// Largest explanation flattened: rewrites times the size of a term.
pub const MAX_PROOF_WORK: u64 = 400_000;

/// One step of a proof: the term after applying `rule` to the term before.
#[derive(Debug, Clone)]
pub struct ProofStep {
    /// The rule (its base name, without the direction), or the definition used.
    pub rule: String,
    /// The rule was used right to left.
    pub reversed: bool,
    /// Commutativity / associativity bookkeeping (a printer may fold these steps).
    pub bookkeeping: bool,
    /// The term after this step, a node of [`Proof::graph`].
    pub term: NodeId,
}

/// A proof: the starting term and the steps to the other side.
#[derive(Debug, Clone)]
pub struct Proof {
    /// The program's graph with the proof's terms appended.
    pub graph: Graph,
    pub start: NodeId,
    pub steps: Vec<ProofStep>,
    /// Subterms a short proof may print under a name: `grad(X)` for the derived gradient's
    /// expression, which a step's terms otherwise write out in full.
    pub names: Vec<(NodeId, String)>,
}

#[derive(Debug, Clone)]
pub enum ProofOutcome {
    Proved(Proof),
    /// Not found within the limits (the run's end is given).
    NotProved(Stop),
}

/// Both sides and the definitions they use in one e-graph, the rules run until the sides
/// meet or a limit stops the run: the e-graph, the sides' classes, why the run ended and
/// whether the sides are equal. With `explain`, the e-graph records explanations.
fn run(
    program: &Program,
    graph: &Graph,
    lhs: NodeId,
    rhs: NodeId,
    limits: &Limits,
    explain: bool,
    atoms: &[NodeId],
) -> Result<(EG, Id, Id, Stop, bool), SimplifyError> {
    let mut eg: EG = EG::new(ShapeInfo::new(program.dims.clone()));
    if explain {
        eg = eg.with_explanations_enabled();
    }
    let mut loader = translate::Loader::new(program, true);
    loader.declare_names(&mut eg);
    let a = loader.add(graph, &mut eg, lhs)?;
    let b = loader.add(graph, &mut eg, rhs)?;
    let atoms = atoms
        .iter()
        .map(|&n| loader.add(graph, &mut eg, n))
        .collect::<Result<Vec<Id>, _>>()?;
    // The definitions of every name either side mentions, down to the leaves.
    // In id order: the order definitions enter the e-graph must not depend on hashing.
    let mut named: Vec<NodeId> = loader.class_of.keys().copied().collect();
    named.sort();
    loader.define(&mut eg, &named)?;
    eg.rebuild();
    let stop = if eg.find(a) == eg.find(b) {
        Stop::Other("equal by definitions".into())
    } else {
        let onehot = program
            .onehot
            .iter()
            .map(|&t| program.tensor(t).name.clone())
            .collect();
        let normaliser = Rc::new(RefCell::new(
            Normaliser::new(true).with_onehot(onehot).with_atoms(atoms),
        ));
        let runner = rules::with_rules(|rules| {
            limits
                .runner(eg, &normaliser)
                .with_hook(move |r| {
                    if r.egraph.find(a) == r.egraph.find(b) {
                        Err("the two sides are equal".into())
                    } else {
                        Ok(())
                    }
                })
                .run(rules)
        });
        let stop = Stop::from_egg(runner.stop_reason.as_ref());
        eg = runner.egraph;
        if eg.find(a) != eg.find(b) {
            normaliser.borrow_mut().pass(&mut eg);
        }
        stop
    };
    if let Some(conflict) = eg.analysis.conflicts.first() {
        return Err(SimplifyError::Conflict(conflict.clone()));
    }
    let equal = eg.find(a) == eg.find(b);
    Ok((eg, a, b, stop, equal))
}

/// Try to prove `lhs = rhs` (two nodes of `graph`, which extends `program.graph`).
pub fn prove(
    program: &Program,
    graph: &Graph,
    lhs: NodeId,
    rhs: NodeId,
    limits: &Limits,
) -> Result<ProofOutcome, SimplifyError> {
    prove_with_atoms(program, graph, lhs, rhs, limits, &[])
}

/// [`prove`] with the nodes `atoms` taken as unknown tensors (their values never looked
/// into): a proof of the stronger claim, for every value of them.
pub fn prove_with_atoms(
    program: &Program,
    graph: &Graph,
    lhs: NodeId,
    rhs: NodeId,
    limits: &Limits,
    atoms: &[NodeId],
) -> Result<ProofOutcome, SimplifyError> {
    let named: std::collections::HashSet<NodeId> = program.tensors.iter().map(|t| t.node).collect();
    let mut term_size = 0u64;
    for side in [lhs, rhs] {
        if count_nodes(graph, side) > MAX_PROOF_NODES {
            return Ok(ProofOutcome::NotProved(Stop::Other(format!(
                "a side has more than {MAX_PROOF_NODES} operations; no proof attempted"
            ))));
        }
        let size = tree_size(graph, side, &named);
        if size > MAX_PROOF_TERM {
            return Ok(ProofOutcome::NotProved(Stop::Other(format!(
                "a side written out has more than {MAX_PROOF_TERM} operations; no proof attempted"
            ))));
        }
        term_size = term_size.max(size);
    }
    // A scalar side stands for that number in every entry of the other side (`x - x = 0`).
    let widened;
    let (graph, lhs, rhs) = match (graph.shape(lhs).len(), graph.shape(rhs).len()) {
        (0, r) | (r, 0) if r > 0 => {
            let (scalar, full) = if graph.shape(lhs).is_empty() {
                (lhs, rhs)
            } else {
                (rhs, lhs)
            };
            let mut g = graph.clone();
            let node = g.node(scalar);
            let expanded = translate::ir_node(
                crate::ir::Op::Expand(g.shape(full).clone()),
                vec![scalar],
                g.shape(full).clone(),
                node.span,
            );
            let e = g.add(expanded);
            widened = g;
            let (l, r) = if scalar == lhs { (e, rhs) } else { (lhs, e) };
            (&widened, l, r)
        }
        _ => (graph, lhs, rhs),
    };
    // A run without explanations first (recording them costs time and memory, and most
    // of the time goes to runs that end without a proof); only when it finds the sides
    // equal is the run repeated, the same way, recording the explanation.
    let (_, _, _, stop, equal) = run(program, graph, lhs, rhs, limits, false, atoms)?;
    if !equal {
        return Ok(ProofOutcome::NotProved(stop));
    }
    let (mut eg, a, b, stop, equal) = run(program, graph, lhs, rhs, limits, true, atoms)?;
    if !equal {
        return Ok(ProofOutcome::NotProved(stop));
    }
    let mut explanation = eg.explain_id_equivalence(a, b);
    let rewrites = explanation.get_tree_size();
    let work = u64::try_from(rewrites).unwrap_or(u64::MAX);
    if work.saturating_mul(term_size.max(1)) > MAX_PROOF_WORK {
        return Ok(ProofOutcome::NotProved(Stop::Other(format!(
            "equal, but the chain of {work} rewrites is too long to explain"
        ))));
    }
    let flat = explanation.make_flat_explanation().clone();
    let mut out = graph.clone();
    let mut terms = Vec::new();
    for term in &flat {
        let node = rebuild(program, &eg, &mut out, term)?;
        terms.push((node, rule_of(term)));
    }
    let Some(((start, _), rest)) = terms.split_first() else {
        return Err(SimplifyError::EmptyExplanation);
    };
    let steps = rest
        .iter()
        .map(|(node, rule)| {
            let (name, reversed) = rule.clone().unwrap_or(("(unnamed)".into(), false));
            let base = rules::base_name(&name).to_string();
            // Algebra (the normal forms) has no direction.
            let reversed = (reversed ^ (base != name)) && base != ALGEBRA;
            ProofStep {
                bookkeeping: base.starts_with("commute") || base.starts_with("associate"),
                rule: base,
                reversed,
                term: *node,
            }
        })
        .collect();
    Ok(ProofOutcome::Proved(Proof {
        graph: out,
        start: *start,
        steps,
        names: Vec::new(),
    }))
}

fn count_nodes(graph: &Graph, root: NodeId) -> usize {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if seen.insert(n) {
            stack.extend(graph.node(n).args.iter().copied());
        }
    }
    seen.len()
}

/// The size of `root` written out as a tree, stopping at named nodes (saturating).
fn tree_size(graph: &Graph, root: NodeId, named: &std::collections::HashSet<NodeId>) -> u64 {
    let mut size: std::collections::HashMap<NodeId, u64> = std::collections::HashMap::new();
    let mut stack = vec![(root, false)];
    while let Some((n, ready)) = stack.pop() {
        if size.contains_key(&n) {
            continue;
        }
        let args = &graph.node(n).args;
        if n != root && named.contains(&n) {
            size.insert(n, 1);
        } else if ready {
            let total = args.iter().fold(1u64, |acc, a| acc.saturating_add(size[a]));
            size.insert(n, total);
        } else {
            stack.push((n, true));
            stack.extend(args.iter().map(|&a| (a, false)));
        }
    }
    size[&root]
}

/// The rule a flat term was reached by: `(name, used backwards)`.
fn rule_of(term: &FlatTerm<ENode>) -> Option<(String, bool)> {
    let mut stack = vec![term];
    while let Some(t) = stack.pop() {
        if let Some(r) = t.forward_rule {
            return Some((r.to_string(), false));
        }
        if let Some(r) = t.backward_rule {
            return Some((r.to_string(), true));
        }
        stack.extend(t.children.iter());
    }
    None
}

/// The IR nodes of a flat term (appended to `graph`); names are the program's nodes.
fn rebuild(
    program: &Program,
    eg: &EG,
    graph: &mut Graph,
    term: &FlatTerm<ENode>,
) -> Result<NodeId, SimplifyError> {
    let args: Vec<NodeId> = term
        .children
        .iter()
        .map(|c| rebuild(program, eg, graph, c))
        .collect::<Result<_, _>>()?;
    let span = crate::source::Span::new(program.root, 0, 0);
    match &term.node.op {
        EOp::Name(s) => {
            let t = program
                .tensor_by_name(s.as_str())
                .ok_or_else(|| SimplifyError::Untranslatable(format!("unknown name {s}")))?;
            Ok(program.tensor(t).node)
        }
        EOp::Grad(s) => {
            let t = program
                .tensor_by_name(s.as_str())
                .ok_or_else(|| SimplifyError::Untranslatable(format!("unknown name {s}")))?;
            let shape = program.shape_of(t).clone();
            Ok(graph.add(translate::ir_node(Op::GradOf(t), vec![], shape, span)))
        }
        _ => {
            let shapes: Vec<&crate::ir::Shape> = args.iter().map(|a| graph.shape(*a)).collect();
            let shape = eg
                .analysis
                .shape_of(&term.node.op, &shapes)
                .map_err(SimplifyError::Untranslatable)?;
            let enode = ENode::new(term.node.op.clone(), vec![Id::from(0usize); args.len()]);
            let op = translate::to_ir_op(eg, &enode, &shapes)?;
            Ok(graph.add(translate::ir_node(op, args, shape, span)))
        }
    }
}
