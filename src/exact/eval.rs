//! The exact evaluator: a program's graph evaluated on rational tensors.
//!
//! Owns evaluating [`Graph`] nodes in index (topological) order over any [`Scalar`]: [`Num`]
//! for values, `Dual` for forward-mode derivatives. Composite ops are built from the scalar
//! primitives here, as they are defined on paper: softmax from exp and sums, shifted by
//! (a lower bound of) the lane's max as a person would, `p_i = e^(x_i − c) / Σ_j e^(x_j − c)`,
//! so no exponent is large and a term far below the max is a tiny enclosure rather than an
//! exp out of range; logsoftmax `= (x_i − c) − log Σ_j e^(x_j − c)`, logsumexp
//! `= c + log Σ_j e^(x_j − c)`; layer norm from means and sqrt, GELU as x·Φ(x), SiLU as
//! x·σ(x), with Φ and σ from [`Scalar`] (composed from erf and exp for derivatives).
//!
//! Invariants: only nodes the requested roots depend on are evaluated; every failure names
//! the node, so callers can say which statement failed; a remembering [`Env`] returns for a
//! program-graph node exactly what evaluating it again would (same env, same precision).

use super::funcs;
use super::num::{int, Num, NumError, Prec};
use super::scalar::{exact, SResult, Scalar};
use super::tensor::{self, Tensor};
use crate::ir::{Func, Graph, NodeId, Op, Program, ReduceKind, TensorId};
use num_rational::BigRational;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A failure at a node.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    pub node: NodeId,
    pub error: NumError,
}

/// Values of the program's leaves, and of `grad(NAME)` symbols (the upstream gradient of
/// an output; in claims, gradients computed by the reverse-mode engine).
pub struct Env<S> {
    pub leaves: HashMap<TensorId, Tensor<S>>,
    pub grads: HashMap<TensorId, Tensor<S>>,
    /// Values that replace computed nodes (to perturb an intermediate tensor directly).
    pub overrides: HashMap<NodeId, Tensor<S>>,
    /// When on ([`Env::remembering`]), the values of the first `prefix` nodes computed so
    /// far, per working precision: one point serves many claims, which share the forward
    /// pass. Only nodes of that prefix are kept, and only without overrides; every graph
    /// evaluated with such an env extends the graph whose prefix it is (a derived graph keeps
    /// the forward graph as its prefix), so a node id names the same node in it.
    memo: Option<(usize, Rc<RefCell<Memo<S>>>)>,
}

/// Remembered node values, per (node, working precision in bits).
type Memo<S> = HashMap<(NodeId, u32), Tensor<S>>;

impl<S> Env<S> {
    pub fn new(leaves: HashMap<TensorId, Tensor<S>>) -> Env<S> {
        Env {
            leaves,
            grads: HashMap::new(),
            overrides: HashMap::new(),
            memo: None,
        }
    }

    /// This env, remembering the values of the first `prefix` nodes (those of the graph
    /// every evaluation with it extends: the program's, or a gradient graph) across
    /// evaluations.
    pub fn remembering(mut self, prefix: usize) -> Env<S> {
        self.memo = Some((prefix, Rc::new(RefCell::new(HashMap::new()))));
        self
    }

    /// A new env with these leaves and gradients that shares this one's memory (the values
    /// it remembers do not depend on gradients it lacked: those failed, and were not kept).
    pub fn sharing_memory(&self, leaves: HashMap<TensorId, Tensor<S>>) -> Env<S> {
        Env {
            memo: self.memo.clone(),
            ..Env::new(leaves)
        }
    }
}

/// Evaluate every node that `roots` depend on. Entry `i` of the result is `Some` for each
/// evaluated node.
pub fn eval<S: Scalar>(
    program: &Program,
    env: &Env<S>,
    roots: &[NodeId],
    prec: Prec,
) -> Result<Vec<Option<Tensor<S>>>, EvalError> {
    eval_graph(program, &program.graph, env, roots, prec)
}

/// [`eval`] on another graph over the same program (a gradient graph, whose prefix is the
/// program's graph).
pub fn eval_graph<S: Scalar>(
    program: &Program,
    graph: &Graph,
    env: &Env<S>,
    roots: &[NodeId],
    prec: Prec,
) -> Result<Vec<Option<Tensor<S>>>, EvalError> {
    // The remembered values usable here: the program graph's nodes, at this precision.
    let (shared, memo) = match &env.memo {
        Some((prefix, memo)) if env.overrides.is_empty() && graph.len() >= *prefix => {
            (*prefix, Some(memo))
        }
        _ => (0, None),
    };
    let known = |i: usize| -> Option<Tensor<S>> {
        let memo = memo.filter(|_| i < shared)?;
        memo.borrow().get(&(NodeId(i as u32), prec.bits)).cloned()
    };
    let mut values: Vec<Option<Tensor<S>>> = vec![None; graph.len()];
    let mut needed = vec![false; graph.len()];
    for r in roots {
        needed[r.0 as usize] = true;
    }
    for i in (0..graph.len()).rev() {
        if !needed[i] {
            continue;
        }
        let id = NodeId(i as u32);
        if let Some(v) = env.overrides.get(&id).cloned().or_else(|| known(i)) {
            values[i] = Some(v);
            continue;
        }
        for a in &graph.node(id).args {
            needed[a.0 as usize] = true;
        }
    }
    for i in 0..graph.len() {
        if !needed[i] || values[i].is_some() {
            continue;
        }
        let id = NodeId(i as u32);
        let v = eval_node(program, graph, env, &values, id, prec)
            .map_err(|error| EvalError { node: id, error })?;
        if let Some(memo) = memo.filter(|_| i < shared) {
            memo.borrow_mut().insert((id, prec.bits), v.clone());
        }
        values[i] = Some(v);
    }
    Ok(values)
}

fn scalar_tensor<S: Scalar>(s: S) -> Tensor<S> {
    Tensor::from_elem(ndarray::IxDyn(&[]), s)
}

fn sizes(program: &Program, graph: &Graph, node: NodeId) -> SResult<Vec<usize>> {
    program
        .dims
        .sizes(graph.shape(node))
        .ok_or_else(|| NumError::Undecided("a size is not a positive whole number".into()))
}

fn eval_node<S: Scalar>(
    program: &Program,
    graph: &Graph,
    env: &Env<S>,
    values: &[Option<Tensor<S>>],
    id: NodeId,
    p: Prec,
) -> SResult<Tensor<S>> {
    let node = graph.node(id);
    let arg = |i: usize| {
        values[node.args[i].0 as usize]
            .as_ref()
            .expect("arguments are evaluated first")
    };
    Ok(match &node.op {
        Op::Leaf(t) => {
            let v = env.leaves.get(t).ok_or_else(|| {
                NumError::Undecided(format!("no value for `{}`", program.tensor(*t).name))
            })?;
            let want = sizes(program, graph, id)?;
            if v.shape() != want.as_slice() {
                return Err(NumError::Undecided(format!(
                    "`{}` has shape {:?}, expected {:?}",
                    program.tensor(*t).name,
                    v.shape(),
                    want
                )));
            }
            v.clone()
        }
        Op::Literal(r) => scalar_tensor(S::constant(Num::exact(r.clone()))),
        Op::Pi => scalar_tensor(S::constant(funcs::pi(p))),
        Op::DimSize(d) => {
            let v = program
                .dims
                .eval(d)
                .ok_or_else(|| NumError::Undecided("a dim has no size".into()))?;
            scalar_tensor(S::constant(Num::exact(v)))
        }
        Op::Neg => tensor::map(arg(0), |x| x.neg())?,
        Op::Add => tensor::zip(arg(0), arg(1), |a, b| a.add(b, p))?,
        Op::Sub => tensor::zip(arg(0), arg(1), |a, b| a.sub(b, p))?,
        Op::Mul => tensor::zip(arg(0), arg(1), |a, b| a.mul(b, p))?,
        Op::Div => tensor::zip(arg(0), arg(1), |a, b| a.div(b, p))?,
        Op::MatMul => tensor::matmul(arg(0), arg(1), p)?,
        Op::Pow(e) => tensor::map(arg(0), |x| x.powr(e, p))?,
        Op::Func(f) => tensor::map(arg(0), |x| func(*f, x, p))?,
        Op::Reduce {
            kind,
            axes,
            keepdims,
        } => {
            let count = int(axes.iter().map(|&i| arg(0).shape()[i] as i64).product());
            tensor::reduce(arg(0), axes, *keepdims, |lane| match kind {
                ReduceKind::Sum => tensor::sum_lane(lane, p),
                ReduceKind::Mean => {
                    tensor::sum_lane(lane, p)?.div(&S::constant(Num::exact(count.clone())), p)
                }
                ReduceKind::Max => S::extreme(lane, true),
                ReduceKind::Min => S::extreme(lane, false),
                ReduceKind::LogSumExp => logsumexp(lane, p),
            })?
        }
        Op::Softmax { axis } => tensor::map_lanes(arg(0), &[*axis], true, |lane| softmax(lane, p))?,
        Op::LogSoftmax { axis } => {
            tensor::map_lanes(arg(0), &[*axis], true, |lane| logsoftmax(lane, p))?
        }
        Op::Causal => {
            let a = arg(0).as_standard_layout().into_owned();
            let mut out = a.clone();
            let r = a.ndim();
            for (idx, v) in out.indexed_iter_mut() {
                if idx[r - 1] > idx[r - 2] {
                    *v = S::neg_inf();
                }
            }
            out
        }
        Op::SwapAxes(i, j) => {
            let mut a = arg(0).clone();
            a.swap_axes(*i, *j);
            a.as_standard_layout().into_owned()
        }
        Op::Reshape(_) => {
            let want = sizes(program, graph, id)?;
            tensor::from_vec(&want, tensor::entries(arg(0)))?
        }
        Op::Permute(perm) => arg(0)
            .clone()
            .permuted_axes(ndarray::IxDyn(perm))
            .as_standard_layout()
            .into_owned(),
        Op::Einsum(spec) => {
            let ops: Vec<&Tensor<S>> = (0..node.args.len()).map(arg).collect();
            tensor::einsum(spec, &ops, p)?
        }
        Op::Trace => {
            let a = arg(0);
            let r = a.ndim();
            let n = a.shape()[r - 1];
            let diag = a.as_standard_layout().into_owned();
            // Move the two matrix axes last (they are) and sum the diagonal of each matrix.
            tensor::map_lanes(&diag, &[r - 2, r - 1], false, |lane| {
                let d: Vec<S> = (0..n).map(|i| lane[i * n + i].clone()).collect();
                Ok(vec![tensor::sum_lane(&d, p)?])
            })?
        }
        Op::Eye(_) => {
            let want = sizes(program, graph, id)?;
            let n = want[0];
            let data = (0..n * n)
                .map(|k| exact(i64::from(k / n == k % n)))
                .collect();
            tensor::from_vec(&want, data)?
        }
        Op::LayerNorm => {
            let (x, g, b, eps) = (arg(0), arg(1), arg(2), arg(3));
            let y = normalize(x, eps, true, p)?;
            let y = tensor::zip(&y, g, |a, c| a.mul(c, p))?;
            tensor::zip(&y, b, |a, c| a.add(c, p))?
        }
        Op::RmsNorm => {
            let (x, g, eps) = (arg(0), arg(1), arg(2));
            let y = normalize(x, eps, false, p)?;
            tensor::zip(&y, g, |a, c| a.mul(c, p))?
        }
        Op::GradOf(t) if env.grads.contains_key(t) => env.grads[t].clone(),
        Op::GradOf(t) => {
            return Err(NumError::Undecided(format!(
                "grad({}) has no value here: gradients are computed by the reverse-mode engine",
                program.tensor(*t).name
            )))
        }
        Op::FnParam(_) => return Err(NumError::Undecided("a fn parameter outside its fn".into())),
        Op::Expand(_) => {
            let want = sizes(program, graph, id)?;
            let view = arg(0)
                .broadcast(ndarray::IxDyn(&want))
                .ok_or_else(|| NumError::Undecided("internal: expand".into()))?;
            view.as_standard_layout().into_owned()
        }
        Op::Tril => {
            let mut out = arg(0).as_standard_layout().into_owned();
            let r = out.ndim();
            for (idx, v) in out.indexed_iter_mut() {
                if idx[r - 1] > idx[r - 2] {
                    *v = exact(0);
                }
            }
            out
        }
        Op::OneHot(_) => {
            let want = sizes(program, graph, id)?;
            let n = want[want.len() - 1];
            let mut data = Vec::with_capacity(want.iter().product());
            for x in tensor::entries(arg(0)) {
                let k = token_id(&x, n)?;
                data.extend((0..n).map(|j| exact(i64::from(j == k))));
            }
            tensor::from_vec(&want, data)?
        }
        Op::Embedding => {
            let (table, ids) = (arg(0), arg(1));
            let want = sizes(program, graph, id)?;
            let (rows, width) = (table.shape()[0], table.shape()[1]);
            let table = table.as_standard_layout();
            let flat: Vec<&S> = table.iter().collect();
            let mut data = Vec::with_capacity(want.iter().product());
            for x in tensor::entries(ids) {
                let k = token_id(&x, rows)?;
                data.extend(
                    flat[k * width..(k + 1) * width]
                        .iter()
                        .map(|v| (*v).clone()),
                );
            }
            tensor::from_vec(&want, data)?
        }
        Op::Arange(_) => {
            let want = sizes(program, graph, id)?;
            let data = (0..want[0]).map(|k| exact(k as i64)).collect();
            tensor::from_vec(&want, data)?
        }
        Op::Rope => rope(arg(0), false, p)?,
        Op::Unrope => rope(arg(0), true, p)?,
        Op::Repeat { axis, .. } => {
            let want = sizes(program, graph, id)?;
            let a = arg(0);
            let times = want[*axis] / a.shape()[*axis];
            ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&want), |idx| {
                let mut from = idx.clone();
                from[*axis] /= times;
                a[from].clone()
            })
        }
        Op::Slice { axis, start, end } => {
            let (s, e) = (offset(program, start)?, offset(program, end)?);
            let a = arg(0);
            tensor::slice_axis(a, *axis, s, e).ok_or_else(|| {
                NumError::OutOfRange(format!(
                    "slice {s}..{e} is outside an axis of size {} at the sizes in use",
                    a.shape().get(*axis).copied().unwrap_or(0)
                ))
            })?
        }
        Op::Pad {
            axis,
            before,
            after,
        } => {
            let (b, e) = (offset(program, before)?, offset(program, after)?);
            tensor::pad_axis(arg(0), *axis, b, e, exact(0))
                .ok_or_else(|| NumError::Undecided("internal shape error in pad".into()))?
        }
        Op::Concat { axis } => {
            let parts: Vec<&Tensor<S>> = (0..node.args.len()).map(arg).collect();
            tensor::concat_axis(&parts, *axis)
                .ok_or_else(|| NumError::Undecided("internal shape error in concat".into()))?
        }
        Op::Eq => tensor::zip(arg(0), arg(1), |a, b| match a.value().compare(b.value()) {
            Some(std::cmp::Ordering::Equal) => Ok(exact(1)),
            Some(_) => Ok(exact(0)),
            None => Err(NumError::Undecided(
                "comparing overlapping enclosures for equality".into(),
            )),
        })?,
    })
}

/// A size that may be 0 (a slice's start, a pad's width) at the sizes in use.
fn offset(program: &Program, p: &crate::ir::DimPoly) -> SResult<usize> {
    program.dims.offset(p).ok_or_else(|| {
        NumError::OutOfRange(format!(
            "{} is not a whole number of entries at the sizes in use",
            program.dims.show(p)
        ))
    })
}

/// A token id: an exact whole number in `0..n`.
fn token_id<S: Scalar>(x: &S, n: usize) -> SResult<usize> {
    let bad = || NumError::BadToken(format!("{} is not a token id in 0..{n}", x.value()));
    match x.value() {
        Num::Exact(r) if r.is_integer() => {
            let k = usize::try_from(r.to_integer()).map_err(|_| bad())?;
            if k < n {
                Ok(k)
            } else {
                Err(bad())
            }
        }
        _ => Err(bad()),
    }
}

/// RoPE's cosines and sines at the working precision: for position `t` and pair `i` of a
/// `d`-wide feature axis, the angle t·10000^(−2i/d), certified. `(cos, sin)` per `[t][i]`.
pub fn rope_angles(positions: usize, d: usize, p: Prec) -> SResult<Vec<Vec<(Num, Num)>>> {
    let base = Num::exact(int(10000));
    let mut out = vec![Vec::with_capacity(d / 2); positions];
    for i in 0..d / 2 {
        let exponent = BigRational::new((-2 * i as i64).into(), (d as i64).into());
        let theta = funcs::pow(&base, &exponent, p)?;
        for (t, row) in out.iter_mut().enumerate() {
            let angle = theta.mul(&Num::exact(int(t as i64)), p)?;
            row.push((funcs::cos(&angle, p)?, funcs::sin(&angle, p)?));
        }
    }
    Ok(out)
}

/// `rope(x)` (or, `inverse`, each pair rotated back): over the last two axes `[.., T, d]`,
/// `(x₂ᵢ, x₂ᵢ₊₁) ↦ (x₂ᵢ c − x₂ᵢ₊₁ s, x₂ᵢ s + x₂ᵢ₊₁ c)` with `c, s` the angle's cosine and
/// sine (the angle negated for the inverse). Linear in x: the coefficients are constants.
fn rope<S: Scalar>(x: &Tensor<S>, inverse: bool, p: Prec) -> SResult<Tensor<S>> {
    let r = x.ndim();
    let (positions, d) = (x.shape()[r - 2], x.shape()[r - 1]);
    if d % 2 == 1 {
        return Err(NumError::Undecided(
            "rope of an odd number of features".into(),
        ));
    }
    let angles = rope_angles(positions, d, p)?;
    let x = x.as_standard_layout().into_owned();
    let mut out = x.clone();
    for (idx, v) in out.indexed_iter_mut() {
        let (t, j) = (idx[r - 2], idx[r - 1]);
        let (c, s) = &angles[t][j / 2];
        let c = S::constant(c.clone());
        let s = S::constant(if inverse { s.neg()? } else { s.clone() });
        let mut pair = idx.clone();
        pair[r - 1] = j ^ 1;
        let (own, other) = (&x[&idx], &x[&pair]);
        // Even j: own·c − other·s; odd j: other·s + own·c.
        let turned = other.mul(&s, p)?;
        let kept = own.mul(&c, p)?;
        *v = if j % 2 == 0 {
            kept.sub(&turned, p)?
        } else {
            kept.add(&turned, p)?
        };
    }
    Ok(out)
}

/// An elementwise function from the primitives.
pub fn func<S: Scalar>(f: Func, x: &S, p: Prec) -> SResult<S> {
    let half = S::constant(Num::exact(BigRational::new(1.into(), 2.into())));
    let one: S = exact(1);
    match f {
        Func::Exp => x.exp(p),
        Func::Log => x.log(p),
        Func::Sqrt => x.powr(&BigRational::new(1.into(), 2.into()), p),
        Func::Tanh => x.tanh(p),
        Func::Erf => x.erf(p),
        Func::Relu => x.relu(),
        Func::Step => match x.value().sign() {
            Some(std::cmp::Ordering::Greater) => Ok(exact(1)),
            Some(std::cmp::Ordering::Less) => Ok(exact(0)),
            Some(std::cmp::Ordering::Equal) => {
                Err(NumError::NotDifferentiable("relu's step at 0".into()))
            }
            None => Err(NumError::Undecided(
                "the sign of relu's step argument".into(),
            )),
        },
        // σ(x) = 1 / (1 + e^(−x)) and Φ(x) = (1 + erf(x/√2)) / 2 (see `Scalar`)
        Func::Sigmoid => x.sigmoid(p),
        Func::Silu => x.mul(&x.sigmoid(p)?, p),
        Func::Phi => x.phi(p),
        Func::Gelu => x.mul(&x.phi(p)?, p),
        // x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³)))
        Func::GeluTanh => {
            let c = S::constant(funcs::sqrt_two_over_pi(p));
            let k = S::constant(Num::exact(BigRational::new(44715.into(), 1_000_000.into())));
            let inner = x.add(&k.mul(&x.powr(&int(3), p)?, p)?, p)?.mul(&c, p)?;
            x.mul(&half, p)?.mul(&one.add(&inner.tanh(p)?, p)?, p)
        }
    }
}

/// The shift softmax and its kin subtract: the largest lower bound of the lane's finite
/// entries, as an exact constant (its derivative is 0, and the results do not depend on
/// it), so every exponent is at most an enclosure's width; `None` for a lane of only −∞.
fn lane_shift<S: Scalar>(lane: &[S]) -> Option<S> {
    lane.iter()
        .filter_map(|x| x.value().bounds().map(|(lo, _)| lo))
        .max()
        .map(|c| S::constant(Num::exact(c)))
}

/// e^(x − c) for every entry of a lane (exactly 0 for −∞), and their sum.
fn shifted_exps<S: Scalar>(lane: &[S], c: &S, p: Prec) -> SResult<(Vec<S>, S)> {
    let mut total: S = exact(0);
    let mut terms = Vec::with_capacity(lane.len());
    for x in lane {
        let term = if x.value().is_neg_inf() {
            exact(0)
        } else {
            x.sub(c, p)?.exp_term(p)?
        };
        total = total.add(&term, p)?;
        terms.push(term);
    }
    Ok((terms, total))
}

/// softmax of a lane: p_i = e^(x_i − c) / Σ_j e^(x_j − c) with c the lane's shift; masked
/// (−∞) entries get exactly 0.
fn softmax<S: Scalar>(lane: &[S], p: Prec) -> SResult<Vec<S>> {
    let Some(c) = lane_shift(lane) else {
        return Err(NumError::NegInfinity(
            "softmax of a row that is entirely masked",
        ));
    };
    if lane.iter().filter(|x| !x.value().is_neg_inf()).count() == 1 {
        // One entry not masked (the first row under a causal mask): its probability is
        // exactly 1, whatever its value, so it is a constant.
        return Ok(lane
            .iter()
            .map(|x| exact(i64::from(!x.value().is_neg_inf())))
            .collect());
    }
    let (terms, total) = shifted_exps(lane, &c, p)?;
    terms.iter().map(|t| t.div(&total, p)).collect()
}

/// logsoftmax of a lane: (x_i − c) − log Σ_j e^(x_j − c); masked entries stay −∞.
fn logsoftmax<S: Scalar>(lane: &[S], p: Prec) -> SResult<Vec<S>> {
    let Some(c) = lane_shift(lane) else {
        return Err(NumError::NegInfinity(
            "logsoftmax of a row that is entirely masked",
        ));
    };
    if lane.iter().filter(|x| !x.value().is_neg_inf()).count() == 1 {
        // One entry not masked: its log-probability is exactly 0.
        return Ok(lane
            .iter()
            .map(|x| {
                if x.value().is_neg_inf() {
                    S::neg_inf()
                } else {
                    exact(0)
                }
            })
            .collect());
    }
    let (_, total) = shifted_exps(lane, &c, p)?;
    let log_total = total.log(p)?;
    lane.iter()
        .map(|x| {
            if x.value().is_neg_inf() {
                Ok(S::neg_inf())
            } else {
                x.sub(&c, p)?.sub(&log_total, p)
            }
        })
        .collect()
}

/// log Σ_j e^(x_j) = c + log Σ_j e^(x_j − c); masked (−∞) entries add nothing, and a lane
/// of only −∞ is −∞.
fn logsumexp<S: Scalar>(lane: &[S], p: Prec) -> SResult<S> {
    let Some(c) = lane_shift(lane) else {
        return Ok(S::neg_inf());
    };
    let (_, total) = shifted_exps(lane, &c, p)?;
    c.add(&total.log(p)?, p)
}

/// (x − mean) / sqrt(var + eps) over the last axis (layer norm), or x / sqrt(mean(x²) + eps)
/// (RMS norm), from means and a square root.
fn normalize<S: Scalar>(
    x: &Tensor<S>,
    eps: &Tensor<S>,
    center: bool,
    p: Prec,
) -> SResult<Tensor<S>> {
    let last = x.ndim() - 1;
    let n = S::constant(Num::exact(int(x.shape()[last] as i64)));
    let mean = |t: &Tensor<S>| {
        tensor::reduce(t, &[last], true, |lane| {
            tensor::sum_lane(lane, p)?.div(&n, p)
        })
    };
    let centered = if center {
        let mu = mean(x)?;
        tensor::zip(x, &mu, |a, b| a.sub(b, p))?
    } else {
        x.clone()
    };
    let sq = tensor::map(&centered, |a| a.powr(&int(2), p))?;
    let var = mean(&sq)?;
    let half = BigRational::new(1.into(), 2.into());
    let denom = tensor::zip(&var, eps, |a, e| a.add(e, p)?.powr(&half, p))?;
    tensor::zip(&centered, &denom, |a, d| a.div(d, p))
}
