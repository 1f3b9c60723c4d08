//! Checking one claim (or derivation step) `LHS = RHS`: the strongest verdict that holds.
//!
//! Owns [`check_pair`] and what it finds ([`Finding`]: data, which `render` words). A claim is
//! about every size of the dims, so it is checked on the program at the sizes in use and at
//! other assignments of sizes to the base dims (see `verify::sizes`), each with its own
//! random points from several regimes (`exact::inputs::Regime`):
//!
//! 1. one quick point at the sizes in use: a certainly different entry is a refutation;
//! 2. the e-graph tries to prove it for every size (`grad(X)` replaced by the derived
//!    gradient's expression): a proof is the strongest verdict;
//! 3. otherwise every assignment of sizes, at `points` seeds each (the seeds cycle through
//!    the regimes). Overlapping enclosures are not equality: such a point is evaluated again
//!    with more bits ([`BITS_LADDER`]) until the sides separate (a refutation) or the last
//!    rung, where it "agrees to 2^-bits", which the verdict says.
//!
//! The left side is the reference (the true gradient, or the line before in a derivation):
//! a point where the right side is undefined but the left side is defined is a failure, not a
//! point to skip ("undefined where the step before is defined"); a point where the left side
//! is undefined is skipped. A claim undefined at every point tried is an error, never a pass.
//!
//! Invariants: "proved" only with an explanation and only when the quick point agrees;
//! "verified" only from points that agree exactly or to the last rung of the ladder, and it
//! says which and at which sizes; an undecided comparison is never counted as equal.

use super::diagnose::{diagnose, Probe, Sides};
use super::diagnosis::Diagnosis;
use super::points::{
    gradients_read, multi_index, values_with_reason, Needs, Points, Sizes, Values, BITS_LADDER,
};
use crate::diff::Gradients;
use crate::exact::num::{Num, NumError};
use crate::ir::{Graph, Node, NodeId, Op, Program, TensorId};
use crate::simplify::{prove, prove_with_atoms, Limits, Proof, ProofOutcome, SimplifyError};
use std::cmp::Ordering;
use std::collections::HashMap;

/// A certified counterexample.
#[derive(Debug, Clone)]
pub struct Counterexample {
    /// The seed of the random point (`handtrace trace --seed N` shows it).
    pub seed: u64,
    /// The sizes of the base dims where it was found.
    pub sizes: Sizes,
    /// The multi-index of the entry.
    pub entry: Vec<usize>,
    pub lhs: Num,
    pub rhs: Num,
    /// The common mistake that fits (see [`super::diagnose`]), if one does.
    pub diagnosis: Option<Diagnosis>,
}

/// Two entries whose enclosures overlap but stay too wide to call equal.
#[derive(Debug, Clone)]
pub struct Overlap {
    pub seed: u64,
    pub sizes: Sizes,
    pub entry: Vec<usize>,
    pub lhs: Num,
    pub rhs: Num,
}

/// A point where the right side is undefined but the left side (the reference) is defined.
#[derive(Debug, Clone)]
pub struct UndefinedRight {
    pub seed: u64,
    pub sizes: Sizes,
    /// Why the right side has no value there.
    pub reason: NumError,
}

/// How a verified claim's sides were found equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    /// Every compared entry exact on both sides and equal: rational arithmetic, no rounding.
    Exact,
    /// Some entries are certified enclosures that still overlap at `bits` bits (each narrower
    /// than 2^-bits relative to its size): agreement to that precision, not a proof.
    Enclosures { bits: u32 },
}

/// Why a claim cannot be checked.
#[derive(Debug, Clone)]
pub enum ClaimError {
    /// Its text does not lower (an unknown name, a shape mismatch): the diagnostic.
    Input(Box<crate::diag::Diagnostic>),
    /// A side reads `grad(...)` but the program has no gradients (the diagnostic says why).
    NoGradients(Box<crate::diag::Diagnostic>),
    /// A side is undefined (or beyond what can be evaluated) at every point tried; `last`
    /// is why, at the last point.
    UndefinedEverywhere { points: u64, last: Option<NumError> },
    /// Evaluating a side failed for a reason other than being undefined (a budget).
    Evaluation(NumError),
}

/// What checking a claim found.
#[derive(Debug, Clone)]
pub enum Finding {
    Proved(Box<Proof>),
    /// Equal at `points` random points, at every assignment of `sizes`, exactly or to some
    /// bits; not proved within the limits. `unusable` points were skipped (a side undefined,
    /// or beyond the exact-evaluation budget there). Without `random`, the sides read no input
    /// (and no gradient): every point is the same, so there is one per assignment of sizes.
    Verified {
        points: usize,
        sizes: Vec<Sizes>,
        agreement: Agreement,
        unusable: usize,
        random: bool,
    },
    Refuted(Box<Counterexample>),
    /// The right side is undefined where the left side is defined (a refutation).
    Undefined(Box<UndefinedRight>),
    Undecided(Overlap),
    Error(ClaimError),
}

/// One claim at one assignment of sizes: that program's points and the claim's two sides
/// in it.
pub struct AtSizes<'a> {
    pub points: &'a Points<'a>,
    pub lhs: NodeId,
    pub rhs: NodeId,
}

/// Does `node` (or anything it uses) read `grad(NAME)`?
pub(crate) fn uses_gradients(graph: &Graph, node: NodeId) -> bool {
    graph.depends_on(node, |n| matches!(n.op, Op::GradOf(_)))
}

/// What one point says of a claim.
enum Look {
    /// No usable values (the left side undefined, the gradients undefined, or a budget),
    /// with the reason when one is known.
    Unusable(Option<NumError>),
    /// Both sides' values, a certainly different entry, and the precision it showed at.
    Differ {
        left: Values,
        right: Values,
        entry: usize,
        bits: u32,
    },
    RightUndefined(NumError),
    Agree(Agreement),
    Overlap {
        entry: usize,
        left: Num,
        right: Num,
        shape: Vec<usize>,
    },
}

/// The true gradients a claim's sides read (none without `with_grads`).
fn reads(at: &AtSizes, with_grads: bool) -> Vec<TensorId> {
    if with_grads {
        gradients_read(&at.points.program.graph, &[at.lhs, at.rhs])
    } else {
        Vec::new()
    }
}

/// Both sides at one point, at one precision.
fn look_once(at: &AtSizes, seed: u64, with_grads: bool, bits: u32) -> Result<Look, NumError> {
    let pts = at.points;
    let program = pts.program;
    let reads = reads(at, with_grads);
    let env = match pts.env_for(seed, Needs::Of(&reads), bits) {
        Ok(Some(env)) => env,
        Ok(None) => return Ok(Look::Unusable(None)),
        Err(e @ NumError::TooLarge(_)) => return Ok(Look::Unusable(Some(e))),
        Err(e) => return Err(e),
    };
    let values = |roots: &[NodeId]| values_with_reason(program, &program.graph, &env, roots, bits);
    let (left, right) = match values(&[at.lhs, at.rhs]) {
        Ok(Ok(mut v)) => {
            let r = v.pop().expect("two roots");
            (v.pop().expect("two roots"), r)
        }
        // Which side is undefined: the left (skip the point) or only the right (a failure).
        Ok(Err(reason)) => match values(&[at.lhs]) {
            Ok(Ok(_)) => match values(&[at.rhs]) {
                Ok(Err(reason)) => return Ok(Look::RightUndefined(reason)),
                _ => return Ok(Look::Unusable(Some(reason))),
            },
            _ => return Ok(Look::Unusable(Some(reason))),
        },
        Err(e @ NumError::TooLarge(_)) => return Ok(Look::Unusable(Some(e))),
        Err(e) => return Err(e),
    };
    // A scalar side broadcasts; otherwise shapes are equal (checked when lowering).
    let (l, r) = (&left.1, &right.1);
    let n = l.len().max(r.len());
    let shape = if l.len() >= r.len() {
        left.0.clone()
    } else {
        right.0.clone()
    };
    let mut exact = true;
    let mut overlap = None;
    for i in 0..n {
        let (a, b) = (&l[i % l.len()], &r[i % r.len()]);
        match a.compare(b) {
            Some(Ordering::Less | Ordering::Greater) => {
                return Ok(Look::Differ {
                    left,
                    right,
                    entry: i,
                    bits,
                })
            }
            Some(Ordering::Equal) => exact &= a.is_exact() && b.is_exact(),
            None => {
                exact = false;
                let tight = a.is_tight(bits) && b.is_tight(bits);
                if !tight && overlap.is_none() {
                    overlap = Some((i, a.clone(), b.clone()));
                }
            }
        }
    }
    Ok(match overlap {
        Some((entry, left, right)) => Look::Overlap {
            entry,
            left,
            right,
            shape,
        },
        None if exact => Look::Agree(Agreement::Exact),
        None => Look::Agree(Agreement::Enclosures { bits }),
    })
}

/// How far up the ladder [`look`] goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rungs {
    /// The first rung only (the quick point).
    First,
    /// The first, then the last when the sides are enclosures.
    Climb,
    /// The last at once (the quick point showed enclosures, so the first rung could only
    /// add work); a difference found there is looked at again at the first rung, where a
    /// common mistake shows and can be diagnosed.
    Top,
}

/// Both sides at one point; an agreement of enclosures (or an overlap) is looked at again
/// at the last rung of the ladder, where the sides may separate.
fn look(at: &AtSizes, seed: u64, with_grads: bool, rungs: Rungs) -> Result<Look, NumError> {
    let top = BITS_LADDER[BITS_LADDER.len() - 1];
    if rungs == Rungs::Top {
        let found = look_once(at, seed, with_grads, top)?;
        if let Look::Differ { .. } = found {
            if let d @ Look::Differ { .. } = look_once(at, seed, with_grads, BITS_LADDER[0])? {
                return Ok(d);
            }
        }
        return Ok(found);
    }
    let first = look_once(at, seed, with_grads, BITS_LADDER[0])?;
    match first {
        Look::Agree(Agreement::Enclosures { .. }) | Look::Overlap { .. }
            if rungs == Rungs::Climb =>
        {
            look_once(at, seed, with_grads, top)
        }
        other => Ok(other),
    }
}

/// Both sides' values at a point where both are defined, at the first precision.
fn both_values(at: &AtSizes, seed: u64, with_grads: bool) -> Option<(Values, Values)> {
    let pts = at.points;
    let reads = reads(at, with_grads);
    let env = pts
        .env_for(seed, Needs::Of(&reads), BITS_LADDER[0])
        .ok()??;
    let mut v = values_with_reason(
        pts.program,
        &pts.program.graph,
        &env,
        &[at.lhs, at.rhs],
        BITS_LADDER[0],
    )
    .ok()?
    .ok()?;
    let r = v.pop()?;
    Some((v.pop()?, r))
}

/// A refutation at `seed` of `at`, with the mistake that fits (tested at a second point).
fn refutation(
    at: &AtSizes,
    seed: u64,
    with_grads: bool,
    left: Values,
    right: Values,
    entry: usize,
    with_diagnosis: bool,
) -> Finding {
    let pts = at.points;
    let (l, r) = (&left.1, &right.1);
    let shape = if l.len() >= r.len() {
        &left.0
    } else {
        &right.0
    };
    // A second defined point, so a diagnosis cannot rest on a coincidence.
    let second = (1..8)
        .map(|k| seed.wrapping_add(k))
        .find_map(|s| both_values(at, s, with_grads).map(|(l, r)| (s, l, r)));
    let sides_at = Sides {
        shape,
        left: l,
        right: r,
    };
    let again = second.as_ref().map(|(_, (ls, l2), (rs, r2))| Sides {
        shape: if l2.len() >= r2.len() { ls } else { rs },
        left: l2,
        right: r2,
    });
    let probe = Probe {
        program: pts.program,
        cache: pts,
        lhs: at.lhs,
        rhs: at.rhs,
        with_grads,
        seeds: std::iter::once(seed)
            .chain(second.as_ref().map(|(s, _, _)| *s))
            .collect(),
    };
    let diagnosis = with_diagnosis
        .then(|| diagnose(&probe, &sides_at, again.as_ref()))
        .flatten();
    Finding::Refuted(Box::new(Counterexample {
        seed,
        sizes: pts.sizes.clone(),
        entry: multi_index(shape, entry),
        lhs: l[entry % l.len()].clone(),
        rhs: r[entry % r.len()].clone(),
        diagnosis,
    }))
}

/// The outcome of trying to prove `lhs = rhs` (nodes of `program`'s graph) for every size of
/// the dims, `grad(X)` standing for the derived gradient's expression.
pub fn attempt_proof(
    program: &Program,
    gradients: Option<&Gradients>,
    lhs: NodeId,
    rhs: NodeId,
    limits: &Limits,
) -> Result<ProofOutcome, SimplifyError> {
    let with_grads = uses_gradients(&program.graph, lhs) || uses_gradients(&program.graph, rhs);
    match (with_grads, gradients) {
        (true, Some(g)) => {
            let (graph, l, r, names, inner) = substituted(program, g, lhs, rhs);
            let mut outcome = prove(program, &graph, l, r, limits)?;
            // Written through another gradient (`grad(h) = grad(y) + f(grad(m))`): the
            // same claim for every value of the inner gradients, when the derived ones
            // written out are too large to compare.
            if matches!(outcome, ProofOutcome::NotProved(_)) && !inner.is_empty() {
                let again = prove_with_atoms(program, &graph, l, r, limits, &inner)?;
                if matches!(again, ProofOutcome::Proved(_)) {
                    outcome = again;
                }
            }
            if let ProofOutcome::Proved(p) = &mut outcome {
                p.names = names;
            }
            Ok(outcome)
        }
        _ => prove(program, &program.graph, lhs, rhs, limits),
    }
}

/// Check a claim given at every assignment of sizes (the sizes in use first): `points`
/// random points per assignment, and a proof for every size.
pub fn check_pair(at: &[AtSizes], points: usize, limits: &Limits) -> Finding {
    let first = &at[0];
    let proof = || {
        let pts = first.points;
        attempt_proof(pts.program, pts.gradients(), first.lhs, first.rhs, limits)
    };
    check_pair_proving(at, points, proof)
}

/// [`check_pair`] with the proof attempt given (made only after the quick point agrees).
pub fn check_pair_proving(
    at: &[AtSizes],
    points: usize,
    proof: impl FnOnce() -> Result<ProofOutcome, SimplifyError>,
) -> Finding {
    match quick_look(at) {
        Ok(pass) => check_after_quick(at, points, pass, proof),
        Err(finding) => finding,
    }
}

/// A claim that passed its quick point, and how far up the ladder its other points go.
#[derive(Debug, Clone, Copy)]
pub struct QuickPass(Rungs);

/// Whether `at` reads `grad(...)` (at its first assignment of sizes).
fn reads_grads(at: &[AtSizes]) -> bool {
    let first = &at[0];
    let graph = &first.points.program.graph;
    uses_gradients(graph, first.lhs) || uses_gradients(graph, first.rhs)
}

/// A failing look as a finding: a refutation (diagnosed when it shows at the first rung), or
/// the right side undefined where the left is defined.
fn fail(seed: u64, at: &AtSizes, look: Look, with_grads: bool) -> Option<Finding> {
    match look {
        Look::Differ {
            left,
            right,
            entry,
            bits,
        } => {
            // A difference that shows only with more bits (sigmoid(100) against 1) is no
            // common mistake: it is not diagnosed.
            let diagnose = bits == BITS_LADDER[0];
            Some(refutation(
                at, seed, with_grads, left, right, entry, diagnose,
            ))
        }
        Look::RightUndefined(reason) => Some(Finding::Undefined(Box::new(UndefinedRight {
            seed,
            sizes: at.points.sizes.clone(),
            reason,
        }))),
        _ => None,
    }
}

/// Step 1: one quick point at the sizes in use. `Err`: the claim is decided there (refuted,
/// or an error); a caller may then skip its proof.
pub fn quick_look(at: &[AtSizes]) -> Result<QuickPass, Finding> {
    let first = &at[0];
    let with_grads = reads_grads(at);
    if with_grads {
        if let Err(d) = &first.points.derived {
            return Err(Finding::Error(ClaimError::NoGradients(d.clone())));
        }
    }
    let base = first.points.base;
    match look(first, base, with_grads, Rungs::First) {
        Ok(l) => {
            let enclosures = matches!(
                l,
                Look::Agree(Agreement::Enclosures { .. }) | Look::Overlap { .. }
            );
            if let Some(f) = fail(base, first, l, with_grads) {
                return Err(f);
            }
            Ok(QuickPass(if enclosures {
                Rungs::Top
            } else {
                Rungs::Climb
            }))
        }
        Err(e) => Err(Finding::Error(ClaimError::Evaluation(e))),
    }
}

/// Steps 2 and 3 after the quick point passed: the proof, else every assignment of sizes.
pub fn check_after_quick(
    at: &[AtSizes],
    points: usize,
    pass: QuickPass,
    proof: impl FnOnce() -> Result<ProofOutcome, SimplifyError>,
) -> Finding {
    // Sides that read no input are the same at every point: one per assignment of sizes.
    let random = reads_inputs(&at[0]);
    let points = if random { points.max(1) } else { 1 };
    let with_grads = reads_grads(at);
    let rungs = pass.0;
    // 2. A proof for every size of the dims. The normal forms cancel `x / x` and
    // `sqrt(x) * sqrt(x)`: a proof shows equality where both sides are defined, so a side
    // with an operation defined only somewhere still has its points checked for a point
    // where it is undefined and the other side is not.
    let proved = match proof() {
        Ok(ProofOutcome::Proved(p)) if !has_partial_ops(at) => {
            return Finding::Proved(Box::new(p));
        }
        Ok(ProofOutcome::Proved(p)) => Some(p),
        _ => None,
    };
    // 3. Every assignment of sizes, `points` seeds each, through the regimes.
    let (mut good, mut unusable, mut tried) = (0usize, 0usize, 0u64);
    let mut agreement = Agreement::Exact;
    let mut sizes: Vec<Sizes> = Vec::new();
    let mut undecided = None;
    let mut last_reason = None;
    for (j, a) in at.iter().enumerate() {
        let mut here = 0;
        let mut k = 0u64;
        // Each assignment starts where the last left off, so the seeds (and with them the
        // regimes) differ across assignments; unusable points are redrawn a few times.
        let first_seed = a.points.base.wrapping_add((j * points) as u64);
        while here < points && k < 3 * points as u64 + 4 {
            let seed = first_seed.wrapping_add(k);
            k += 1;
            tried += 1;
            let l = match look(a, seed, with_grads, rungs) {
                Ok(l) => l,
                Err(e) => return Finding::Error(ClaimError::Evaluation(e)),
            };
            match l {
                Look::Unusable(why) => {
                    unusable += 1;
                    last_reason = why.or(last_reason);
                }
                Look::Agree(found) => {
                    here += 1;
                    if let Agreement::Enclosures { bits } = found {
                        agreement = match agreement {
                            Agreement::Enclosures { bits: b } => {
                                Agreement::Enclosures { bits: b.min(bits) }
                            }
                            Agreement::Exact => found,
                        };
                    }
                }
                Look::Overlap {
                    entry,
                    left,
                    right,
                    shape,
                } => {
                    undecided.get_or_insert(Overlap {
                        seed,
                        sizes: a.points.sizes.clone(),
                        entry: multi_index(&shape, entry),
                        lhs: left,
                        rhs: right,
                    });
                }
                other => {
                    if let Some(f) = fail(seed, a, other, with_grads) {
                        return f;
                    }
                }
            }
        }
        if here > 0 {
            sizes.push(a.points.sizes.clone());
            good += here;
        }
    }
    if let Some(p) = proved {
        return Finding::Proved(Box::new(p));
    }
    if let Some(overlap) = undecided {
        return Finding::Undecided(overlap);
    }
    if good == 0 {
        return Finding::Error(ClaimError::UndefinedEverywhere {
            points: tried,
            last: last_reason,
        });
    }
    Finding::Verified {
        points: good,
        sizes,
        agreement,
        unusable,
        random,
    }
}

/// Could either side be undefined somewhere a proof by normal forms would not see (see
/// `verify::domain`)?
fn has_partial_ops(at: &[AtSizes]) -> bool {
    let first = &at[0];
    super::domain::may_be_undefined(&first.points.program.graph, &[first.lhs, first.rhs])
}

/// Do the sides read anything a point varies: an input, a parameter, data, or a gradient?
fn reads_inputs(at: &AtSizes) -> bool {
    let graph = &at.points.program.graph;
    [at.lhs, at.rhs]
        .into_iter()
        .any(|side| graph.depends_on(side, |n| matches!(n.op, Op::Leaf(_) | Op::GradOf(_))))
}

/// The gradient graph with copies of both sides in which `grad(X)` is the derived gradient
/// of X (the output's own `grad(O)` stays the free upstream gradient), and each named
/// tensor's derived gradient with its name `grad(X)`.
/// The claim's graph with every `grad(X)` replaced by the derived gradient: the graph, the
/// sides, the derived gradients' names (for printing) and the derived gradients that are
/// proper parts of a side (not a whole side).
fn substituted(
    program: &Program,
    grads: &Gradients,
    lhs: NodeId,
    rhs: NodeId,
) -> (Graph, NodeId, NodeId, Vec<(NodeId, String)>, Vec<NodeId>) {
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
    // Every named tensor's derived gradient, for a short proof to print as `grad(X)`.
    let names = (0..program.tensors.len())
        .map(|i| TensorId(i as u32))
        .filter(|&t| Some(t) != output && program.tensor(t).differentiable())
        .filter_map(|t| {
            let g = grads.of(program, t)?;
            (!graph.node(g).args.is_empty())
                .then(|| (g, format!("grad({})", program.tensor(t).name)))
        })
        .collect();
    let inner = map
        .iter()
        .filter(|&(&n, &new)| {
            matches!(program.graph.node(n).op, Op::GradOf(t) if Some(t) != output)
                && n != lhs
                && n != rhs
                && !graph.node(new).args.is_empty()
        })
        .map(|(_, &new)| new)
        .collect::<std::collections::BTreeSet<NodeId>>();
    // Only the innermost: a gradient written through another (`grad(m.xhat) = g2 *
    // grad(m)`) keeps its form, or the relation between them would be lost.
    let reaches_another = |n: NodeId| {
        let mut stack: Vec<NodeId> = graph.node(n).args.clone();
        let mut seen = std::collections::HashSet::new();
        while let Some(m) = stack.pop() {
            if inner.contains(&m) {
                return true;
            }
            if seen.insert(m) {
                stack.extend(graph.node(m).args.iter().copied());
            }
        }
        false
    };
    let inner = inner
        .iter()
        .copied()
        .filter(|&n| !reaches_another(n))
        .collect();
    (graph, map[&lhs], map[&rhs], names, inner)
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
