//! The random points a file's claims are checked at, drawn once per file.
//!
//! Owns [`Points`]: the program's gradient graph (derived once), and per seed the exact
//! environment of the point (seeded random leaves, and the true gradients computed by the
//! reverse-mode engine when a claim reads `grad(X)`), at each precision of [`BITS_LADDER`]
//! asked for; [`values_of`] evaluates expressions at a point to a precision. Each program
//! (one per assignment of sizes to the dims) has its own points. Both checking a claim and diagnosing a refuted one read points
//! from here; the exact backward pass is the expensive part of a check.
//!
//! Invariant: a point where the gradients or a side are undefined (division by zero, log of
//! a non-positive number, ...) is reported as `None`, never as a value; which arithmetic
//! failures mean "undefined" is decided on the typed error ([`undefined`]).

use crate::diff::Gradients;
use crate::exact::eval::{eval_graph, Env};
use crate::exact::num::{Num, NumError};
use crate::exact::run::raising;
use crate::exact::tensor::{entries, Tensor};
use crate::ir::{Graph, NodeId, Op, Program, TensorId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Bits every compared entry is first certified to.
pub const CLAIM_BITS: u32 = 100;

/// The precisions a point is examined at: overlapping enclosures are not equality, so a
/// point whose sides overlap at the first rung is evaluated again at the last one; if they
/// still overlap there the claim "agrees to 2^-bits" at that point, and says so.
pub const BITS_LADDER: [u32; 2] = [CLAIM_BITS, 256];

/// Bits beyond a comparison's that true gradients are certified to. A claim's side reads
/// `grad(X)` as a given value, which raising the side's own precision does not tighten, so
/// the side's arithmetic on it (`o.T @ grad(x)`, a sum whose terms cancel) must have bits to
/// lose and still be tight to the comparison's precision.
pub const GRADIENT_MARGIN: u32 = 64;

/// The bits true gradients are certified to for a comparison at `bits`: with the margin at
/// the last rung of the ladder only, since below it a side too wide to decide climbs to the
/// next rung anyway.
fn with_margin(bits: u32) -> u32 {
    if bits >= BITS_LADDER[BITS_LADDER.len() - 1] {
        bits + GRADIENT_MARGIN
    } else {
        bits
    }
}

/// Does this arithmetic failure mean the expression is undefined at the point (rather than
/// that evaluation went wrong)?
pub fn undefined(e: &NumError) -> bool {
    match e {
        NumError::DivisionByZero
        | NumError::LogOfNonPositive
        | NumError::SqrtOfNegative
        | NumError::BadPower(_)
        | NumError::NotDifferentiable(_)
        | NumError::NegInfinity(_) => true,
        NumError::Undecided(_)
        | NumError::TooLarge(_)
        | NumError::BadToken(_)
        | NumError::OutOfRange(_) => false,
    }
}

/// The environment of the point drawn from `seed` (leaves in `given` replace the random
/// ones), with the true gradients when `gradients` are given. `Ok(None)`: the gradients are
/// undefined there.
pub fn env_at(
    program: &Program,
    seed: u64,
    given: &HashMap<TensorId, Tensor<Num>>,
    gradients: Option<&Gradients>,
    bits: u32,
) -> Result<Option<Env<Num>>, NumError> {
    let leaves = crate::exact::inputs::leaf_values(program, seed, given);
    let mut env = Env::new(leaves.clone());
    if let Some(grads) = gradients {
        match crate::exact::run::gradient_values(program, grads, &leaves, None, seed, bits) {
            Ok(g) => {
                env.grads.extend(g);
                // A tensor the target does not depend on has gradient zero.
                for (i, t) in program.tensors.iter().enumerate() {
                    let id = TensorId(i as u32);
                    if t.differentiable() && !env.grads.contains_key(&id) {
                        let shape = crate::exact::inputs::concrete_shape(program, id);
                        let zero = Tensor::from_elem(ndarray::IxDyn(&shape), Num::from_int(0));
                        env.grads.insert(id, zero);
                    }
                }
            }
            Err(e) if undefined(&e.error) => return Ok(None),
            Err(e) => return Err(e.error),
        }
    }
    Ok(Some(env))
}

/// Which true gradients a caller needs at a point.
#[derive(Debug, Clone, Copy)]
pub enum Needs<'a> {
    /// None: the expressions read no `grad(...)`.
    Nothing,
    /// These (what a claim's sides read).
    Of(&'a [TensorId]),
    /// Every one (a diagnosis builds candidates from any of them).
    All,
}

/// One seed at one precision: its leaves, the true gradients computed so far (each on first
/// need; the backward pass is shared through a remembering env on the gradient graph), and
/// the env expressions are evaluated in.
struct Drawn {
    leaves: HashMap<TensorId, Tensor<Num>>,
    /// The gradient graph's env, made on the first gradient asked for.
    backward: Option<Env<Num>>,
    grads: HashMap<TensorId, Tensor<Num>>,
    /// Gradients undefined at this point (the point is unusable for whoever needs them).
    undefined: Vec<TensorId>,
    /// Leaves and `grads`, remembering the program graph's values; replaced (sharing the
    /// memory) when a gradient is added.
    env: Rc<Env<Num>>,
}

/// The sizes of the base dims, as `--dims` takes them.
pub type Sizes = Vec<(String, u64)>;

/// The random points of one program and its gradients, each drawn (and its exact backward
/// pass computed) once and shared by all its claims.
pub struct Points<'p> {
    pub program: &'p Program,
    /// The base dims' sizes of this program (what a reproducing command passes as `--dims`).
    pub sizes: Sizes,
    /// The seed of the first point; claims use `base`, `base + 1`, ...
    pub base: u64,
    /// The gradient graph, derived once, or why there is none (no output or loss, or a
    /// gradient rule failed).
    pub derived: Result<Gradients, Box<crate::diag::Diagnostic>>,
    /// Whether every tensor is small enough to evaluate exactly (else why not).
    pub budget: Result<(), NumError>,
    /// Per seed and precision.
    envs: RefCell<HashMap<(u64, u32), Drawn>>,
}

impl<'p> Points<'p> {
    /// The points of `program` from seed `base` on; derives its gradients when it has an
    /// output or loss.
    pub fn new(program: &'p Program, base: u64) -> Points<'p> {
        let derived = crate::diff::derive(program).map_err(Box::new);
        let graph = derived.as_ref().map_or(&program.graph, |g| &g.graph);
        let budget = crate::exact::run::check_budget(program, graph).map_err(|e| e.error);
        Points {
            program,
            sizes: program.base_sizes(),
            base,
            derived,
            budget,
            envs: Default::default(),
        }
    }

    /// The program's gradients, if it has them.
    pub fn gradients(&self) -> Option<&Gradients> {
        self.derived.as_ref().ok()
    }

    /// The point of `seed` (see [`env_at`]), with the true gradients (certified to `bits`)
    /// when asked: all of them with `with_grads`.
    pub fn env(
        &self,
        seed: u64,
        with_grads: bool,
        bits: u32,
    ) -> Result<Option<Rc<Env<Num>>>, NumError> {
        let needs = if with_grads {
            Needs::All
        } else {
            Needs::Nothing
        };
        self.env_for(seed, needs, bits)
    }

    /// The point of `seed` with the true gradients `needs` names, certified to `bits`
    /// (`Ok(None)`: one of them is undefined there). A gradient is computed the first time
    /// any caller needs it at this point, so a claim about `grad(Wo)` never pays for the
    /// backward pass down to `grad(X)`.
    pub fn env_for(
        &self,
        seed: u64,
        needs: Needs,
        bits: u32,
    ) -> Result<Option<Rc<Env<Num>>>, NumError> {
        self.budget.clone()?;
        let program = self.program;
        let mut envs = self.envs.borrow_mut();
        let drawn = envs.entry((seed, bits)).or_insert_with(|| {
            let leaves = crate::exact::inputs::leaf_values(program, seed, &HashMap::new());
            let env = Env::new(leaves.clone()).remembering(program.graph.len());
            Drawn {
                leaves,
                backward: None,
                grads: HashMap::new(),
                undefined: Vec::new(),
                env: Rc::new(env),
            }
        });
        let Some(gradients) = self.gradients() else {
            return Ok(Some(drawn.env.clone()));
        };
        let all: Vec<TensorId>;
        let wanted: &[TensorId] = match needs {
            Needs::Nothing => &[],
            Needs::Of(ts) => ts,
            Needs::All => {
                all = (0..program.tensors.len() as u32).map(TensorId).collect();
                &all
            }
        };
        let mut added = false;
        for &t in wanted {
            if drawn.grads.contains_key(&t) {
                continue;
            }
            if drawn.undefined.contains(&t) {
                return Ok(None);
            }
            let value = match gradients.of(program, t) {
                Some(node) => {
                    let backward = drawn.backward.get_or_insert_with(|| {
                        remembering_backward(program, gradients, drawn.leaves.clone(), seed)
                    });
                    let attempt =
                        |prec| eval_graph(program, &gradients.graph, backward, &[node], prec);
                    let want = with_margin(bits);
                    let tight = |values: &Vec<Option<Tensor<Num>>>| {
                        values[node.0 as usize]
                            .as_ref()
                            .is_some_and(|v| v.iter().all(|x| x.is_tight(want)))
                    };
                    match raising(want, attempt, tight) {
                        Ok((mut values, _)) => values[node.0 as usize].take().expect("evaluated"),
                        Err(e) if undefined(&e.error) => {
                            drawn.undefined.push(t);
                            return Ok(None);
                        }
                        Err(e) => return Err(e.error),
                    }
                }
                // A tensor the target does not depend on has gradient zero.
                None if program.tensor(t).differentiable() => {
                    let shape = crate::exact::inputs::concrete_shape(program, t);
                    Tensor::from_elem(ndarray::IxDyn(&shape), Num::from_int(0))
                }
                None => continue,
            };
            drawn.grads.insert(t, value);
            added = true;
        }
        if added {
            let mut env = drawn.env.sharing_memory(drawn.leaves.clone());
            env.grads = drawn.grads.clone();
            drawn.env = Rc::new(env);
        }
        Ok(Some(drawn.env.clone()))
    }
}

/// The env the gradient graph is evaluated in at a point, remembering all its nodes.
fn remembering_backward(
    program: &Program,
    gradients: &Gradients,
    leaves: HashMap<TensorId, Tensor<Num>>,
    seed: u64,
) -> Env<Num> {
    crate::exact::run::backward_env(program, leaves, None, seed).remembering(gradients.graph.len())
}

/// The tensors whose true gradients `roots` read (`grad(NAME)`), each once.
pub fn gradients_read(graph: &Graph, roots: &[NodeId]) -> Vec<TensorId> {
    let mut seen = vec![false; graph.len()];
    let mut stack: Vec<NodeId> = roots.to_vec();
    let mut out = Vec::new();
    while let Some(id) = stack.pop() {
        if std::mem::replace(&mut seen[id.0 as usize], true) {
            continue;
        }
        let node = graph.node(id);
        if let Op::GradOf(t) = node.op {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        stack.extend(node.args.iter().copied());
    }
    out
}

/// The shape and entries of one evaluated expression.
pub type Values = (Vec<usize>, Vec<Num>);

/// Shapes and entries of `roots` (nodes of `graph`, which extends the program's graph),
/// certified to `bits`. `Ok(None)`: one of them is undefined at this point.
pub fn values_of(
    program: &Program,
    graph: &Graph,
    env: &Env<Num>,
    roots: &[NodeId],
    bits: u32,
) -> Result<Option<Vec<Values>>, NumError> {
    values_with_reason(program, graph, env, roots, bits).map(|v| v.ok())
}

/// [`values_of`], saying why a root is undefined (`Err` inside `Ok`).
pub fn values_with_reason(
    program: &Program,
    graph: &Graph,
    env: &Env<Num>,
    roots: &[NodeId],
    bits: u32,
) -> Result<Result<Vec<Values>, NumError>, NumError> {
    let attempt = |prec| eval_graph(program, graph, env, roots, prec);
    let tight = |values: &Vec<Option<Tensor<Num>>>| {
        roots.iter().all(|r| {
            values[r.0 as usize]
                .as_ref()
                .is_some_and(|v| v.iter().all(|x| x.is_tight(bits)))
        })
    };
    match raising(bits, attempt, tight) {
        Ok((values, _)) => Ok(Ok(roots
            .iter()
            .map(|n| {
                let v = values[n.0 as usize].as_ref().expect("evaluated");
                (v.shape().to_vec(), entries(v))
            })
            .collect())),
        Err(e) if undefined(&e.error) => Ok(Err(e.error)),
        Err(e) => Err(e.error),
    }
}

/// The multi-index of row-major entry `i` of a tensor of `shape`.
pub fn multi_index(shape: &[usize], mut i: usize) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (k, &s) in shape.iter().enumerate().rev() {
        if s > 0 {
            idx[k] = i % s;
            i /= s;
        }
    }
    idx
}
