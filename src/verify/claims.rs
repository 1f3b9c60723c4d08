//! Checking one claim (or derivation step) `LHS = RHS`: the strongest verdict that holds.
//!
//! Owns [`check_pair`] and what it finds ([`Finding`]: data, which `render` words). Both sides are first evaluated exactly at seeded random rational
//! points, with every `grad(X)` the true gradient (computed by the reverse-mode engine at that
//! point): a certainly different entry is a refutation with its point and both values; equal
//! entries at every point make the claim verified, and then the e-graph tries to prove it for
//! every size of the dims, `grad(X)` replaced by the derived gradient's expression. Points
//! where a side is undefined (division by zero, log of a non-positive number) are redrawn; a
//! claim undefined at every point tried is an error, never a pass.
//!
//! Invariants: "proved" only with an explanation and only when no point refutes the claim;
//! "verified" only from exact or certified-tight entries; an undecided comparison is never
//! counted as equal.

use super::diagnose::{diagnose, Probe, Sides};
use super::diagnosis::Diagnosis;
use super::points::{multi_index, values_of, Points, CLAIM_BITS};
use crate::diff::Gradients;
use crate::exact::num::{Num, NumError};
use crate::ir::{Graph, Node, NodeId, Op, Program, TensorId};
use crate::simplify::{prove, Limits, Proof, ProofOutcome};
use std::cmp::Ordering;
use std::collections::HashMap;

/// A certified counterexample.
#[derive(Debug, Clone)]
pub struct Counterexample {
    /// The seed of the random point (`handtrace trace --seed N` shows it).
    pub seed: u64,
    /// The multi-index of the entry.
    pub entry: Vec<usize>,
    pub lhs: Num,
    pub rhs: Num,
    /// The common mistake that fits (see [`super::diagnose`]), if one does.
    pub diagnosis: Option<Diagnosis>,
}

/// Two entries whose enclosures overlap but are too wide to call equal.
#[derive(Debug, Clone)]
pub struct Overlap {
    pub seed: u64,
    pub entry: Vec<usize>,
    pub lhs: Num,
    pub rhs: Num,
}

/// Why a claim cannot be checked.
#[derive(Debug, Clone)]
pub enum ClaimError {
    /// Its text does not lower (an unknown name, a shape mismatch): the diagnostic.
    Input(Box<crate::diag::Diagnostic>),
    /// A side reads `grad(...)` but the program has no gradients (the diagnostic says why).
    NoGradients(Box<crate::diag::Diagnostic>),
    /// A side is undefined at every point tried.
    UndefinedEverywhere { points: u64 },
    /// Evaluating a side failed for a reason other than being undefined.
    Evaluation(NumError),
}

/// What checking a claim found.
#[derive(Debug, Clone)]
pub enum Finding {
    Proved(Box<Proof>),
    /// Equal at `points` random points; not proved within the limits.
    Verified {
        points: usize,
    },
    Refuted(Box<Counterexample>),
    Undecided(Overlap),
    Error(ClaimError),
}

/// Does `node` (or anything it uses) read `grad(NAME)`?
fn uses_gradients(graph: &Graph, node: NodeId) -> bool {
    graph.depends_on(node, |n| matches!(n.op, Op::GradOf(_)))
}

/// Both sides' values at one point: `(lhs shape, lhs, rhs shape, rhs)`.
type Pair = (Vec<usize>, Vec<Num>, Vec<usize>, Vec<Num>);

/// Values of both sides at the point drawn from `seed`. `Ok(None)`: a side is undefined there.
fn values_at(
    cache: &Points,
    lhs: NodeId,
    rhs: NodeId,
    seed: u64,
    with_grads: bool,
) -> Result<Option<Pair>, NumError> {
    let program = cache.program;
    let Some(env) = cache.env(seed, with_grads)? else {
        return Ok(None);
    };
    let Some(mut v) = values_of(program, &program.graph, &env, &[lhs, rhs])? else {
        return Ok(None);
    };
    let (rs, r) = v.pop().expect("two roots");
    let (ls, l) = v.pop().expect("two roots");
    Ok(Some((ls, l, rs, r)))
}

/// Check `lhs = rhs` (nodes of `program.graph`) at `points` random points of `cache`, then
/// try to prove it.
pub fn check_pair(
    cache: &Points,
    lhs: NodeId,
    rhs: NodeId,
    points: usize,
    limits: &Limits,
) -> Finding {
    let program = cache.program;
    let points = points.max(1);
    let with_grads = uses_gradients(&program.graph, lhs) || uses_gradients(&program.graph, rhs);
    if with_grads {
        if let Err(d) = &cache.derived {
            return Finding::Error(ClaimError::NoGradients(d.clone()));
        }
    }
    let mut good = 0;
    let mut undecided = None;
    let mut tried = 0u64;
    while good < points && tried < 4 * points as u64 + 8 {
        let here = cache.base.wrapping_add(tried);
        tried += 1;
        let (ls, l, rs, r) = match values_at(cache, lhs, rhs, here, with_grads) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(why) => return Finding::Error(ClaimError::Evaluation(why)),
        };
        // A scalar side broadcasts; otherwise shapes are equal (checked when lowering).
        let (shape, n) = if l.len() >= r.len() {
            (ls, l.len())
        } else {
            (rs, r.len())
        };
        let mut equal = true;
        for i in 0..n {
            let (a, b) = (&l[i % l.len()], &r[i % r.len()]);
            match a.compare(b) {
                Some(Ordering::Less | Ordering::Greater) => {
                    // A second defined point, so a diagnosis cannot rest on a coincidence.
                    let mut second = None;
                    for s in (1..8).map(|k| here.wrapping_add(k)) {
                        if let Ok(Some(v)) = values_at(cache, lhs, rhs, s, with_grads) {
                            second = Some((s, v));
                            break;
                        }
                    }
                    let at = Sides {
                        shape: &shape,
                        left: &l,
                        right: &r,
                    };
                    let again = second.as_ref().map(|(_, (ls2, l2, rs2, r2))| Sides {
                        shape: if l2.len() >= r2.len() { ls2 } else { rs2 },
                        left: l2,
                        right: r2,
                    });
                    let probe = Probe {
                        program,
                        cache,
                        lhs,
                        rhs,
                        with_grads,
                        seeds: std::iter::once(here)
                            .chain(second.as_ref().map(|(s, _)| *s))
                            .collect(),
                    };
                    let diagnosis = diagnose(&probe, &at, again.as_ref());
                    return Finding::Refuted(Box::new(Counterexample {
                        seed: here,
                        entry: multi_index(&shape, i),
                        lhs: a.clone(),
                        rhs: b.clone(),
                        diagnosis,
                    }));
                }
                Some(Ordering::Equal) => {}
                None => {
                    let tight = a.is_tight(CLAIM_BITS) && b.is_tight(CLAIM_BITS);
                    if !tight {
                        equal = false;
                        undecided.get_or_insert(Overlap {
                            seed: here,
                            entry: multi_index(&shape, i),
                            lhs: a.clone(),
                            rhs: b.clone(),
                        });
                    }
                }
            }
        }
        if equal {
            good += 1;
        }
    }
    if let Some(overlap) = undecided {
        return Finding::Undecided(overlap);
    }
    if good == 0 {
        return Finding::Error(ClaimError::UndefinedEverywhere { points: tried });
    }
    // Equal wherever tested: try for a proof over every size of the dims.
    let proof = match (with_grads, cache.gradients()) {
        (true, Some(g)) => {
            let (graph, l, r) = substituted(program, g, lhs, rhs);
            prove(program, &graph, l, r, limits)
        }
        _ => prove(program, &program.graph, lhs, rhs, limits),
    };
    match proof {
        Ok(ProofOutcome::Proved(p)) => Finding::Proved(Box::new(p)),
        _ => Finding::Verified { points: good },
    }
}

/// The gradient graph with copies of both sides in which `grad(X)` is the derived gradient
/// of X (the output's own `grad(O)` stays the free upstream gradient).
fn substituted(
    program: &Program,
    grads: &Gradients,
    lhs: NodeId,
    rhs: NodeId,
) -> (Graph, NodeId, NodeId) {
    let mut graph = grads.graph.clone();
    let mut map: HashMap<NodeId, NodeId> = HashMap::new();
    let output = program.target.as_ref().map(|t| t.tensor);
    let mut need: Vec<NodeId> = Vec::new();
    let mut stack = vec![lhs, rhs];
    let mut seen = std::collections::HashSet::new();
    while let Some(n) = stack.pop() {
        if seen.insert(n) {
            need.push(n);
            stack.extend(program.graph.node(n).args.iter().copied());
        }
    }
    need.sort();
    for n in need {
        let node = program.graph.node(n);
        let new = match node.op {
            Op::GradOf(t) if Some(t) != output => {
                gradient_node(program, grads, &mut graph, t, node)
            }
            _ if !node.args.iter().any(|a| map.get(a) != Some(a))
                && !matches!(node.op, Op::GradOf(_)) =>
            {
                n
            }
            _ => graph.add(Node {
                op: node.op.clone(),
                args: node.args.iter().map(|a| map[a]).collect(),
                shape: node.shape.clone(),
                span: node.span,
            }),
        };
        map.insert(n, new);
    }
    (graph, map[&lhs], map[&rhs])
}

/// The derived gradient of `t` in `graph` (zero if the target does not depend on it).
fn gradient_node(
    program: &Program,
    grads: &Gradients,
    graph: &mut Graph,
    t: TensorId,
    at: &Node,
) -> NodeId {
    match grads.of(program, t) {
        Some(g) => g,
        None => {
            let zero = graph.add(Node {
                op: Op::Literal(num_rational::BigRational::from_integer(0.into())),
                args: vec![],
                shape: vec![],
                span: at.span,
            });
            graph.add(Node {
                op: Op::Expand(at.shape.clone()),
                args: vec![zero],
                shape: at.shape.clone(),
                span: at.span,
            })
        }
    }
}
