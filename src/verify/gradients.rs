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
use crate::exact::run::{directional_derivative, raising};
use crate::exact::tensor::Tensor;
use crate::ir::{Op, Program, TargetKind, TensorId};
use std::collections::HashMap;

/// Bits asked of every enclosure in a check.
const CHECK_BITS: u32 = 100;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Equal at `points` random points (exact or certified).
    Verified { points: usize },
    /// A certified disagreement.
    Mismatch {
        reverse: String,
        forward: String,
        point_seed: u64,
        /// The rule found to be wrong, where it could be located.
        culprit: Option<String>,
    },
    /// Enclosures stayed too wide to decide.
    Undecided(String),
    /// No usable point was found (the program is undefined at every point drawn).
    Error(String),
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

/// Check the gradient of each tensor in `wrt` at `points` random points. Each point's
/// reverse-mode values come from one evaluation of the gradient graph.
pub fn check_gradients(
    program: &Program,
    grads: &Gradients,
    wrt: &[TensorId],
    points: usize,
    seed: u64,
) -> Vec<GradCheck> {
    let mut verified = vec![0usize; wrt.len()];
    let mut outcome: Vec<Option<Outcome>> = vec![None; wrt.len()];
    let mut last_error = String::new();
    let mut attempt = 0u64;
    while verified
        .iter()
        .zip(&outcome)
        .any(|(v, o)| *v < points && o.is_none())
        && attempt < (points as u64) * 5 + 5
    {
        let point_seed = seed.wrapping_add(attempt.wrapping_mul(0x9E37_79B9));
        attempt += 1;
        match check_point(program, grads, wrt, point_seed) {
            Ok(results) => {
                for (i, r) in results.into_iter().enumerate() {
                    if outcome[i].is_some() || verified[i] >= points {
                        continue;
                    }
                    match r {
                        Ok(true) => verified[i] += 1,
                        Ok(false) => {}
                        Err(o) => outcome[i] = Some(o),
                    }
                }
            }
            // Undefined at this point (division by zero, relu at 0, a tie): draw another.
            Err(e) => last_error = e.to_string(),
        }
    }
    wrt.iter()
        .zip(outcome)
        .zip(verified)
        .map(|((&tensor, o), v)| GradCheck {
            tensor,
            outcome: o.unwrap_or(if v >= points {
                Outcome::Verified { points }
            } else {
                Outcome::Error(format!(
                    "only {v} of {points} random points were usable: {last_error}"
                ))
            }),
        })
        .collect()
}

/// One random point: `Ok(true)` agreed, `Err(outcome)` a mismatch or undecided.
fn check_point(
    program: &Program,
    grads: &Gradients,
    wrt: &[TensorId],
    point_seed: u64,
) -> Result<Vec<Result<bool, Outcome>>, NumError> {
    let target = program.target.as_ref().expect("gradients need a target");
    let target_node = program.tensor(target.tensor).node;
    let leaves = leaf_values(program, point_seed, &HashMap::new());
    let mut rng = Rng::new(point_seed ^ 0x5DEE_CE66);
    let upstream = rng.tensor(&concrete_shape(program, target.tensor));
    let p = Prec::new(CHECK_BITS + 32);
    // Reverse mode: every gradient at once.
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
    let mut out = Vec::new();
    for &x in wrt {
        let v = rng.tensor(&concrete_shape(program, x));
        let reverse = match grads.of(program, x) {
            None => Num::from_int(0),
            Some(g) => inner(values[g.0 as usize].as_ref().expect("evaluated"), &v, p)?,
        };
        // Forward mode: d/dt of ⟨dO, O(x + tV)⟩ (or of the loss) at t = 0.
        let tangent = directional_derivative(
            program,
            &leaves,
            &HashMap::from([(x, v)]),
            target_node,
            CHECK_BITS + 24,
        )
        .map_err(|e| e.error)?;
        let forward = match target.kind {
            TargetKind::Output => inner(&upstream, &tangent, p)?,
            TargetKind::Loss => tangent.iter().next().cloned().unwrap_or(Num::from_int(0)),
        };
        out.push(match reverse.compare(&forward) {
            Some(std::cmp::Ordering::Equal) => Ok(true),
            Some(_) => Err(Outcome::Mismatch {
                reverse: reverse.to_string(),
                forward: forward.to_string(),
                point_seed,
                culprit: locate(program, grads, &leaves, &upstream),
            }),
            None if reverse.is_tight(CHECK_BITS) && forward.is_tight(CHECK_BITS) => Ok(true),
            None => Err(Outcome::Undecided(format!(
                "⟨grad, V⟩ = {reverse} and the forward derivative {forward} overlap but are not tight"
            ))),
        });
    }
    Ok(out)
}

/// The ops a gradient passes through (for a mismatch report).
pub fn ops_on_path(program: &Program, x: TensorId) -> Vec<String> {
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
            let name = format!("{:?}", node.op)
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or("")
                .to_string();
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
) -> Option<String> {
    let target = program.target.as_ref()?;
    let target_node = program.tensor(target.tensor).node;
    let p = Prec::new(CHECK_BITS + 32);
    let mut env = Env::new(leaves.clone());
    env.grads.insert(target.tensor, upstream.clone());
    let mut rng = Rng::new(0xC0FF_EE00);
    for i in (0..target_node.0 as usize).rev() {
        let n = crate::ir::NodeId(i as u32);
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
            let consumers: Vec<String> = program
                .graph
                .nodes()
                .filter(|(id, node)| id.0 <= target_node.0 && node.args.contains(&n))
                .map(|(_, node)| {
                    let op = format!("{:?}", node.op);
                    let op = op.split(['(', ' ', '{']).next().unwrap_or("").to_string();
                    format!("`{op}` at {}", program.sources.location(node.span))
                })
                .collect();
            return Some(format!("the gradient rule of {}", consumers.join(" or ")));
        }
    }
    None
}
