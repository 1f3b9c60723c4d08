//! Checking derived gradients against forward mode, exactly.
//!
//! Owns [`check_gradients`]: for a leaf X, at random rational points (seeded), with a random
//! upstream gradient for an `output` and a random rational direction V, the reverse-mode
//! value ⟨grad(X), V⟩ is compared with the forward-mode directional derivative of
//! ⟨grad(O), O⟩ (or of the loss) along V, computed by `exact` on the primitive definitions
//! of every op. Equality is exact for rational values and certified for enclosures (tight and
//! overlapping); disjoint enclosures are a proven mismatch: a bug in a rule.
//! A point where something is undefined (division by zero, relu at 0, a tie in max) is
//! redrawn.

use crate::diff::Gradients;
use crate::exact::eval::{eval_graph, Env};
use crate::exact::inputs::{concrete_shape, leaf_values, Rng};
use crate::exact::num::{Num, NumError, Prec};
use crate::exact::run::{directional_derivative_in, raising};
use crate::exact::tensor::Tensor;
use crate::ir::{NodeId, Op, Program, TargetKind, TensorId};
use std::collections::HashMap;

/// Bits asked of every enclosure in a check.
const CHECK_BITS: u32 = 100;

/// Where a wrong gradient rule is: the first forward node (from the output back) whose
/// adjoint disagrees with forward mode, and the ops that consume it (one of their rules is
/// wrong, since their own adjoints agree).
#[derive(Debug, Clone, PartialEq)]
pub struct Culprit {
    pub node: NodeId,
    pub consumers: Vec<NodeId>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Equal at `points` random points (exact or certified).
    Verified { points: usize },
    /// A certified disagreement at the point of `point_seed`: ⟨grad, V⟩ against the
    /// forward-mode derivative.
    Mismatch {
        reverse: Num,
        forward: Num,
        point_seed: u64,
        /// The rule found to be wrong, where it could be located.
        culprit: Option<Culprit>,
    },
    /// Enclosures stayed too wide to decide.
    Undecided {
        reverse: Num,
        forward: Num,
        point_seed: u64,
    },
    /// Too few usable points (the program is undefined at the points drawn): how many
    /// were, and the last reason one was not.
    Unusable {
        usable: usize,
        points: usize,
        last: Option<NumError>,
    },
}

#[derive(Debug, Clone)]
pub struct GradCheck {
    pub tensor: TensorId,
    pub outcome: Outcome,
}

/// Σ a_i b_i over two tensors of the same shape.
fn inner(a: &Tensor<Num>, b: &Tensor<Num>, p: Prec) -> Result<Num, NumError> {
    let mut acc = Num::from_int(0);
    for (x, y) in a.iter().zip(b.iter()) {
        acc = acc.add(&x.mul(y, p)?, p)?;
    }
    Ok(acc)
}

/// One random point, with every requested gradient's reverse-mode value ⟨grad X, V_X⟩
/// computed from one evaluation of the gradient graph.
struct Point {
    seed: u64,
    leaves: HashMap<TensorId, Tensor<Num>>,
    /// The forward pass at this point, remembered: every tensor's forward-mode check reads
    /// the values its direction does not move from here.
    forward: Env<Num>,
    upstream: Tensor<Num>,
    /// Per requested tensor: its direction V and ⟨grad X, V⟩.
    reverse: Vec<(Tensor<Num>, Num)>,
}

/// Check the gradient of each tensor in `wrt` at `points` random points, reporting each
/// tensor's result as soon as it is known (in `wrt`'s order). Each point's reverse-mode
/// values come from one evaluation of the gradient graph, shared by every tensor.
pub fn check_gradients_each(
    program: &Program,
    grads: &Gradients,
    wrt: &[TensorId],
    points: usize,
    seed: u64,
    report: &mut dyn FnMut(GradCheck),
) {
    if let Err(e) = crate::exact::run::check_budget(program, &grads.graph) {
        for &tensor in wrt {
            report(GradCheck {
                tensor,
                outcome: Outcome::Unusable {
                    usable: 0,
                    points,
                    last: Some(e.error.clone()),
                },
            });
        }
        return;
    }
    let max_attempts = (points as u64) * 5 + 5;
    let mut drawn: Vec<Result<Point, NumError>> = Vec::new();
    for (i, &tensor) in wrt.iter().enumerate() {
        let mut verified = 0;
        let mut usable = 0;
        let mut last = None;
        let mut outcome = None;
        let mut attempt = 0u64;
        while verified < points && outcome.is_none() && attempt < max_attempts {
            if drawn.len() as u64 <= attempt {
                let point_seed = seed.wrapping_add(attempt.wrapping_mul(0x9E37_79B9));
                drawn.push(reverse_at(program, grads, wrt, point_seed));
            }
            let at = &drawn[attempt as usize];
            attempt += 1;
            let point = match at {
                Ok(p) => p,
                Err(e) => {
                    last = Some(e.clone());
                    continue;
                }
            };
            match compare(program, grads, tensor, i, point) {
                Ok(None) => {
                    verified += 1;
                    usable += 1;
                }
                Ok(Some(o)) => outcome = Some(o),
                // Undefined at this point (relu at 0, a tie): draw another.
                Err(e) => last = Some(e),
            }
        }
        let outcome = outcome.unwrap_or(if verified >= points {
            Outcome::Verified { points }
        } else {
            Outcome::Unusable {
                usable,
                points,
                last,
            }
        });
        report(GradCheck { tensor, outcome });
    }
}

/// [`check_gradients_each`], collected.
pub fn check_gradients(
    program: &Program,
    grads: &Gradients,
    wrt: &[TensorId],
    points: usize,
    seed: u64,
) -> Vec<GradCheck> {
    let mut out = Vec::new();
    check_gradients_each(program, grads, wrt, points, seed, &mut |c| out.push(c));
    out
}

/// The point of `point_seed`: leaves, upstream gradient, and ⟨grad X, V_X⟩ for each X in
/// `wrt` (the directions drawn in `wrt`'s order).
fn reverse_at(
    program: &Program,
    grads: &Gradients,
    wrt: &[TensorId],
    point_seed: u64,
) -> Result<Point, NumError> {
    let target = program.target.as_ref().expect("gradients need a target");
    let leaves = leaf_values(program, point_seed, &HashMap::new());
    let upstream = crate::exact::inputs::upstream(program, target.tensor, point_seed);
    // The directions V: their own stream, so the point is exactly `trace --seed`'s.
    let mut rng = Rng::new(point_seed ^ 0xD1EC_7104);
    let p = Prec::new(CHECK_BITS + 32);
    let roots: Vec<_> = wrt.iter().filter_map(|&x| grads.of(program, x)).collect();
    let mut env = Env::new(leaves.clone());
    env.grads.insert(target.tensor, upstream.clone());
    let bits = CHECK_BITS + 24;
    let attempt = |prec: Prec| eval_graph(program, &grads.graph, &env, &roots, prec);
    let all_tight = |values: &Vec<Option<Tensor<Num>>>| {
        roots.iter().all(|r| {
            values[r.0 as usize]
                .as_ref()
                .is_some_and(|t| t.iter().all(|n| n.is_tight(bits)))
        })
    };
    let (values, _) = raising(bits, attempt, all_tight).map_err(|e| e.error)?;
    let mut reverse = Vec::new();
    for &x in wrt {
        let v = rng.tensor(&concrete_shape(program, x));
        let r = match grads.of(program, x) {
            None => Num::from_int(0),
            Some(g) => inner(values[g.0 as usize].as_ref().expect("evaluated"), &v, p)?,
        };
        reverse.push((v, r));
    }
    Ok(Point {
        seed: point_seed,
        forward: Env::new(leaves.clone()).remembering(program.graph.len()),
        leaves,
        upstream,
        reverse,
    })
}

/// Compare tensor `x` (the `i`th requested) at one point: `Ok(None)` agreed,
/// `Ok(Some(outcome))` a mismatch or undecided, `Err` undefined there.
fn compare(
    program: &Program,
    grads: &Gradients,
    x: TensorId,
    i: usize,
    point: &Point,
) -> Result<Option<Outcome>, NumError> {
    let target = program.target.as_ref().expect("gradients need a target");
    let target_node = program.tensor(target.tensor).node;
    let p = Prec::new(CHECK_BITS + 32);
    let (v, reverse) = &point.reverse[i];
    // Forward mode: d/dt of ⟨dO, O(x + tV)⟩ (or of the loss) at t = 0.
    let tangent = directional_derivative_in(
        program,
        &point.forward,
        &HashMap::from([(x, v.clone())]),
        target_node,
        CHECK_BITS + 24,
    )
    .map_err(|e| e.error)?;
    let forward = match target.kind {
        TargetKind::Output => inner(&point.upstream, &tangent, p)?,
        TargetKind::Loss => tangent.iter().next().cloned().unwrap_or(Num::from_int(0)),
    };
    Ok(match reverse.compare(&forward) {
        Some(std::cmp::Ordering::Equal) => None,
        Some(_) => Some(Outcome::Mismatch {
            reverse: reverse.clone(),
            forward,
            point_seed: point.seed,
            culprit: locate(program, grads, &point.leaves, &point.upstream),
        }),
        None if reverse.is_tight(CHECK_BITS) && forward.is_tight(CHECK_BITS) => None,
        None => Some(Outcome::Undecided {
            reverse: reverse.clone(),
            forward,
            point_seed: point.seed,
        }),
    })
}

/// The ops a gradient passes through (for a mismatch report), by their names in the table.
pub fn ops_on_path(program: &Program, x: TensorId) -> Vec<&'static str> {
    let Some(target) = &program.target else {
        return vec![];
    };
    let target_node = program.tensor(target.tensor).node;
    let x_node = program.tensor(x).node;
    let mut depends = vec![false; program.graph.len()];
    let mut ops = Vec::new();
    for (id, node) in program.graph.nodes() {
        if id.0 > target_node.0 {
            break;
        }
        depends[id.0 as usize] = id == x_node || node.args.iter().any(|a| depends[a.0 as usize]);
        if depends[id.0 as usize] && id != x_node && !matches!(node.op, Op::Leaf(_)) {
            let name = node.op.name();
            if !ops.contains(&name) {
                ops.push(name);
            }
        }
    }
    ops
}

/// Find the wrong rule: the adjoint of every forward node is checked against forward mode
/// with that node perturbed directly, from the output backwards. The first node whose
/// adjoint disagrees has correct adjoints at all its consumers, so one of their rules is
/// wrong: name those ops and where they come from.
fn locate(
    program: &Program,
    grads: &Gradients,
    leaves: &HashMap<TensorId, Tensor<Num>>,
    upstream: &Tensor<Num>,
) -> Option<Culprit> {
    let target = program.target.as_ref()?;
    let target_node = program.tensor(target.tensor).node;
    let p = Prec::new(CHECK_BITS + 32);
    let mut env = Env::new(leaves.clone());
    env.grads.insert(target.tensor, upstream.clone());
    let mut rng = Rng::new(0xC0FF_EE00);
    for i in (0..target_node.0 as usize).rev() {
        let n = NodeId(i as u32);
        let Some(adj) = grads.adjoint[i] else {
            continue;
        };
        let sizes = program.dims.sizes(program.graph.shape(n))?;
        let v = rng.tensor(&sizes);
        let values = eval_graph(program, &grads.graph, &env, &[adj], p).ok()?;
        let reverse = inner(values[adj.0 as usize].as_ref()?, &v, p).ok()?;
        let tangent = crate::exact::run::directional_derivative_of_nodes(
            program,
            leaves,
            &[(n, &v)],
            target_node,
            CHECK_BITS + 24,
        )
        .ok()?;
        let forward = match target.kind {
            TargetKind::Output => inner(upstream, &tangent, p).ok()?,
            TargetKind::Loss => tangent.iter().next().cloned().unwrap_or(Num::from_int(0)),
        };
        if matches!(
            reverse.compare(&forward),
            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Greater)
        ) {
            let consumers: Vec<NodeId> = program
                .graph
                .nodes()
                .filter(|(id, node)| id.0 <= target_node.0 && node.args.contains(&n))
                .map(|(id, _)| id)
                .collect();
            return Some(Culprit { node: n, consumers });
        }
    }
    None
}
