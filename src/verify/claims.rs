//! Checking one claim (or derivation step) `LHS = RHS`: the strongest verdict that holds.
//!
//! Owns [`check_pair`]. Both sides are first evaluated exactly at seeded random rational
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

use crate::diff::Gradients;
use crate::exact::eval::{eval_graph, Env};
use crate::exact::num::{Num, NumError};
use crate::exact::run::raising;
use crate::exact::tensor::entries;
use crate::ir::{Graph, Node, NodeId, Op, Program, TensorId};
use crate::simplify::{prove, Limits, Proof, ProofOutcome};
use std::cmp::Ordering;
use std::collections::HashMap;

/// Bits every compared entry must be certified to.
pub const CLAIM_BITS: u32 = 100;

/// A certified counterexample.
#[derive(Debug, Clone)]
pub struct Counterexample {
    /// The seed of the random point (`handtrace trace --seed N` shows it).
    pub seed: u64,
    /// Row-major index of the entry, and its multi-index.
    pub entry: Vec<usize>,
    pub lhs: Num,
    pub rhs: Num,
    /// The common mistake that fits (see [`super::diagnose`]), if one does.
    pub diagnosis: Option<String>,
}

/// What checking a claim found.
#[derive(Debug, Clone)]
pub enum Finding {
    Proved(Box<Proof>),
    /// Equal at `points` random points; not proved within the limits.
    Verified {
        points: usize,
    },
    Refuted(Counterexample),
    Undecided(String),
    Error(String),
}

/// Does `node` (or anything it uses) read `grad(NAME)`?
fn uses_gradients(graph: &Graph, node: NodeId) -> bool {
    graph.depends_on(node, |n| matches!(n.op, Op::GradOf(_)))
}

/// The environment of the point drawn from `seed` (leaves in `given` replace the random
/// ones), with the true gradients when asked. `Ok(None)`: the gradients are undefined there.
pub(super) fn env_at(
    program: &Program,
    seed: u64,
    given: &HashMap<TensorId, crate::exact::tensor::Tensor<Num>>,
    with_grads: bool,
) -> Result<Option<Env<Num>>, String> {
    let leaves = crate::exact::inputs::leaf_values(program, seed, given);
    let mut env = Env::new(leaves.clone());
    if with_grads {
        let grads = crate::exact::run::trace_gradients(program, &leaves, None, seed, CLAIM_BITS);
        match grads {
            Ok(g) => {
                env.grads.extend(g);
                // A tensor the target does not depend on has gradient zero.
                for (i, t) in program.tensors.iter().enumerate() {
                    let id = TensorId(i as u32);
                    if t.differentiable() && !env.grads.contains_key(&id) {
                        let shape = crate::exact::inputs::concrete_shape(program, id);
                        let zero = crate::exact::tensor::Tensor::from_elem(
                            ndarray::IxDyn(&shape),
                            Num::from_int(0),
                        );
                        env.grads.insert(id, zero);
                    }
                }
            }
            Err(why) if undefined_text(&why) => return Ok(None),
            Err(why) => return Err(why),
        }
    }
    Ok(Some(env))
}

/// A drawn point: whether it has the true gradients, and its environment (`None` where the
/// gradients are undefined).
type Drawn = (bool, Option<std::rc::Rc<Env<Num>>>);

/// The random points of one program, drawn (and their true gradients computed) once and
/// shared by all its claims: the exact backward pass is the expensive part of a check.
pub struct Points<'p> {
    program: &'p Program,
    /// Per seed: the environment (with gradients if any claim asked), or `None` where the
    /// gradients are undefined.
    envs: std::cell::RefCell<HashMap<u64, Drawn>>,
}

impl<'p> Points<'p> {
    pub fn new(program: &'p Program) -> Points<'p> {
        Points {
            program,
            envs: Default::default(),
        }
    }

    /// The point of `seed` (see [`env_at`]).
    pub fn env(
        &self,
        seed: u64,
        with_grads: bool,
    ) -> Result<Option<std::rc::Rc<Env<Num>>>, String> {
        if let Some((grads, env)) = self.envs.borrow().get(&seed) {
            if *grads || !with_grads {
                return Ok(env.clone());
            }
        }
        let env = env_at(self.program, seed, &HashMap::new(), with_grads)?.map(std::rc::Rc::new);
        self.envs
            .borrow_mut()
            .insert(seed, (with_grads, env.clone()));
        Ok(env)
    }
}

/// Shapes and entries of `roots` (nodes of `graph`, which extends the program's graph),
/// certified to [`CLAIM_BITS`]. `Ok(None)`: one of them is undefined at this point.
#[allow(clippy::type_complexity)]
pub(super) fn values_of(
    program: &Program,
    graph: &Graph,
    env: &Env<Num>,
    roots: &[NodeId],
) -> Result<Option<Vec<(Vec<usize>, Vec<Num>)>>, String> {
    let attempt = |prec| eval_graph(program, graph, env, roots, prec);
    let tight = |values: &Vec<Option<crate::exact::tensor::Tensor<Num>>>| {
        roots.iter().all(|r| {
            values[r.0 as usize]
                .as_ref()
                .is_some_and(|v| v.iter().all(|x| x.is_tight(CLAIM_BITS)))
        })
    };
    match raising(CLAIM_BITS, attempt, tight) {
        Ok((values, _)) => Ok(Some(
            roots
                .iter()
                .map(|n| {
                    let v = values[n.0 as usize].as_ref().expect("evaluated");
                    (v.shape().to_vec(), entries(v))
                })
                .collect(),
        )),
        Err(e) if undefined(&e.error) => Ok(None),
        Err(e) => Err(e.error.to_string()),
    }
}

/// Values of both sides at the point drawn from `seed`. `Ok(None)`: a side is undefined there.
#[allow(clippy::type_complexity)]
fn values_at(
    cache: &Points,
    lhs: NodeId,
    rhs: NodeId,
    seed: u64,
    with_grads: bool,
) -> Result<Option<(Vec<usize>, Vec<Num>, Vec<usize>, Vec<Num>)>, String> {
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

fn undefined(e: &NumError) -> bool {
    matches!(
        e,
        NumError::DivisionByZero
            | NumError::LogOfNonPositive
            | NumError::SqrtOfNegative
            | NumError::BadPower(_)
            | NumError::NotDifferentiable(_)
            | NumError::NegInfinity(_)
    )
}

fn undefined_text(why: &str) -> bool {
    [
        "division by zero",
        "log of",
        "square root of",
        "not differentiable",
        "Division",
        "Log",
        "Sqrt",
    ]
    .iter()
    .any(|w| why.contains(w))
}

/// The multi-index of row-major entry `i` of a tensor of `shape`.
fn multi_index(shape: &[usize], mut i: usize) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (k, &s) in shape.iter().enumerate().rev() {
        if s > 0 {
            idx[k] = i % s;
            i /= s;
        }
    }
    idx
}

/// Check `lhs = rhs` (nodes of `program.graph`) at `points` random points, then try to prove
/// it. `gradients` are the program's (needed when a side uses `grad(X)`).
pub fn check_pair(
    program: &Program,
    gradients: Option<&Gradients>,
    lhs: NodeId,
    rhs: NodeId,
    points: usize,
    limits: &Limits,
    cache: &Points,
) -> Finding {
    let points = points.max(1);
    let with_grads = uses_gradients(&program.graph, lhs) || uses_gradients(&program.graph, rhs);
    if with_grads && gradients.is_none() {
        return Finding::Error(
            "`grad(...)` needs the file to declare an `output` or a `loss`".into(),
        );
    }
    let mut good = 0;
    let mut undecided = None;
    let mut seed = 0u64;
    while good < points && seed < 4 * points as u64 + 8 {
        let here = seed;
        seed += 1;
        let (ls, l, rs, r) = match values_at(cache, lhs, rhs, here, with_grads) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(why) => return Finding::Error(why),
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
                    for s in here + 1..here + 8 {
                        if let Ok(Some(v)) = values_at(cache, lhs, rhs, s, with_grads) {
                            second = Some((s, v));
                            break;
                        }
                    }
                    let at = super::diagnose::Sides {
                        shape: &shape,
                        left: &l,
                        right: &r,
                    };
                    let again =
                        second
                            .as_ref()
                            .map(|(_, (ls2, l2, rs2, r2))| super::diagnose::Sides {
                                shape: if l2.len() >= r2.len() { ls2 } else { rs2 },
                                left: l2,
                                right: r2,
                            });
                    let probe = super::diagnose::Probe {
                        program,
                        cache,
                        gradients,
                        lhs,
                        rhs,
                        with_grads,
                        seeds: std::iter::once(here)
                            .chain(second.as_ref().map(|(s, _)| *s))
                            .collect(),
                    };
                    let diagnosis = super::diagnose::diagnose(&probe, &at, again.as_ref());
                    return Finding::Refuted(Counterexample {
                        seed: here,
                        entry: multi_index(&shape, i),
                        lhs: a.clone(),
                        rhs: b.clone(),
                        diagnosis,
                    });
                }
                Some(Ordering::Equal) => {}
                None => {
                    let tight = a.is_tight(CLAIM_BITS) && b.is_tight(CLAIM_BITS);
                    if !tight {
                        equal = false;
                        undecided.get_or_insert(format!(
                            "entry {:?} at point seed {here}: the enclosures {a:?} and {b:?} overlap but are not narrow enough to call equal",
                            multi_index(&shape, i)
                        ));
                    }
                }
            }
        }
        if equal {
            good += 1;
        }
    }
    if let Some(why) = undecided {
        return Finding::Undecided(why);
    }
    if good == 0 {
        return Finding::Error(format!(
            "a side is undefined at every one of the {seed} random points tried (division by zero, log or root of a negative number)"
        ));
    }
    // Equal wherever tested: try for a proof over every size of the dims.
    let proof = match (with_grads, gradients) {
        (true, Some(g)) => substituted(program, g, lhs, rhs)
            .and_then(|(graph, l, r)| prove(program, &graph, l, r, limits)),
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
) -> Result<(Graph, NodeId, NodeId), String> {
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
                gradient_node(program, grads, &mut graph, t, node)?
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
    Ok((graph, map[&lhs], map[&rhs]))
}

/// The derived gradient of `t` in `graph` (zero if the target does not depend on it).
fn gradient_node(
    program: &Program,
    grads: &Gradients,
    graph: &mut Graph,
    t: TensorId,
    at: &Node,
) -> Result<NodeId, String> {
    match grads.of(program, t) {
        Some(g) => Ok(g),
        None => {
            let zero = graph.add(Node {
                op: Op::Literal(num_rational::BigRational::from_integer(0.into())),
                args: vec![],
                shape: vec![],
                span: at.span,
            });
            Ok(graph.add(Node {
                op: Op::Expand(at.shape.clone()),
                args: vec![zero],
                shape: at.shape.clone(),
                span: at.span,
            }))
        }
    }
}
