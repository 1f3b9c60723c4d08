//! One vector–Jacobian product rule per op.
//!
//! Owns [`vjp`]: given a forward node `n = op(a_1, …)` and the adjoint `g = ∂L/∂n`, the
//! contributions `∂L/∂a_i` (each with `a_i`'s exact shape). Rules use the forward values
//! (`n` itself, its arguments) as saved activations, and are the compact textbook forms:
//! softmax `P ∘ (g − rowsum(g ∘ P))`, layer norm's closed form with its mean and variance
//! terms, matmul `g Bᵀ` / `Aᵀ g`, broadcasting summed back. None of them is used by the
//! exact forward mode that checks them.

use super::builder::{BResult, Builder, RuleError};
use crate::ir::shape::Shape;
use crate::ir::{DimPoly, EinsumSpec, Func, NodeId, Op, ReduceKind};
use num_rational::BigRational;
use num_traits::One;

/// Contributions to the adjoints of `n`'s arguments (`None` where an argument gets none).
pub fn vjp(b: &mut Builder, n: NodeId, g: NodeId) -> Result<Vec<Option<NodeId>>, RuleError> {
    let node = b.graph.node(n).clone();
    let args = node.args.clone();
    let a = |i: usize| args[i];
    let shape_of = |b: &Builder, i: usize| -> Shape { b.shape(args[i]) };
    let one = |x: BResult| -> Result<Vec<Option<NodeId>>, RuleError> { Ok(vec![Some(x?)]) };
    match &node.op {
        Op::Leaf(_)
        | Op::Literal(_)
        | Op::Pi
        | Op::DimSize(_)
        | Op::Eye(_)
        | Op::Arange(_)
        | Op::GradOf(_)
        | Op::FnParam(_) => Ok(vec![]),
        Op::Eq => Ok(vec![None, None]),
        Op::Neg => one(b.neg(g)),
        Op::Add => {
            let (sa, sb) = (shape_of(b, 0), shape_of(b, 1));
            Ok(vec![
                Some(b.unbroadcast(g, &sa)?),
                Some(b.unbroadcast(g, &sb)?),
            ])
        }
        Op::Sub => {
            let (sa, sb) = (shape_of(b, 0), shape_of(b, 1));
            let ng = b.neg(g)?;
            Ok(vec![
                Some(b.unbroadcast(g, &sa)?),
                Some(b.unbroadcast(ng, &sb)?),
            ])
        }
        Op::Mul => {
            let (sa, sb) = (shape_of(b, 0), shape_of(b, 1));
            let ga = b.mul(g, a(1))?;
            let gb = b.mul(a(0), g)?;
            Ok(vec![
                Some(b.unbroadcast(ga, &sa)?),
                Some(b.unbroadcast(gb, &sb)?),
            ])
        }
        Op::Div => {
            // d(a/b) = g/b for a; −g·(a/b)/b for b (reusing the output n = a/b).
            let (sa, sb) = (shape_of(b, 0), shape_of(b, 1));
            let ga = b.div(g, a(1))?;
            let t = b.mul(g, n)?;
            let t = b.div(t, a(1))?;
            let gb = b.neg(t)?;
            Ok(vec![
                Some(b.unbroadcast(ga, &sa)?),
                Some(b.unbroadcast(gb, &sb)?),
            ])
        }
        Op::MatMul => matmul(b, a(0), a(1), g),
        Op::Pow(p) => {
            // d(a^p) = p·a^(p−1)·g
            let pm1 = b.pow(a(0), p - BigRational::one())?;
            let coef = if p.is_one() {
                None
            } else {
                Some(b.lit(p.clone()))
            };
            let d = match coef {
                Some(c) => b.mul(c, pm1)?,
                None => pm1,
            };
            one(b.mul(d, g))
        }
        Op::Func(f) => one(func(b, *f, a(0), n, g)),
        Op::Reduce {
            kind,
            axes,
            keepdims,
        } => {
            let sa = shape_of(b, 0);
            // Put the reduced axes back as size 1, then broadcast to a's shape.
            let kept: Shape = sa
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    if axes.contains(&i) {
                        DimPoly::constant(1)
                    } else {
                        d.clone()
                    }
                })
                .collect();
            let g1 = if *keepdims {
                g
            } else {
                b.reshape(g, kept.clone())?
            };
            match kind {
                ReduceKind::Sum => one(b.expand(g1, sa)),
                ReduceKind::Mean => {
                    let count = axes
                        .iter()
                        .fold(DimPoly::constant(1), |acc, &i| acc.mul(&sa[i]));
                    let c = b.dim_size(count);
                    let scaled = b.div(g1, c)?;
                    one(b.expand(scaled, sa))
                }
                ReduceKind::LogSumExp => {
                    // g ∘ exp(x − logsumexp(x)): each entry's softmax weight.
                    let m = if *keepdims {
                        n
                    } else {
                        b.reshape(n, kept.clone())?
                    };
                    let shifted = b.sub(a(0), m)?;
                    let weights = b.func(Func::Exp, shifted)?;
                    one(b.mul(g1, weights))
                }
                ReduceKind::Max | ReduceKind::Min => {
                    // Split g evenly among the entries equal to the extreme.
                    let m = if *keepdims {
                        n
                    } else {
                        b.reshape(n, kept.clone())?
                    };
                    let mask = b.eq(a(0), m)?;
                    let ties = b.sum(mask, axes.clone(), true)?;
                    let share = b.div(g1, ties)?;
                    one(b.mul(mask, share))
                }
            }
        }
        Op::Softmax { axis } => {
            // P ∘ (g − Σ_axis(g ∘ P))
            let gp = b.mul(g, n)?;
            let s = b.sum(gp, vec![*axis], true)?;
            let d = b.sub(g, s)?;
            one(b.mul(n, d))
        }
        Op::LogSoftmax { axis } => {
            // g − softmax(a) ∘ Σ_axis g
            let p = b.op(Op::Softmax { axis: *axis }, vec![a(0)])?;
            let s = b.sum(g, vec![*axis], true)?;
            let t = b.mul(p, s)?;
            one(b.sub(g, t))
        }
        Op::Causal => one(b.op(Op::Tril, vec![g])),
        Op::Tril => one(b.op(Op::Tril, vec![g])),
        Op::SwapAxes(i, j) => {
            let r = b.shape(g).len();
            if (*i, *j) == (r - 2, r - 1) {
                one(b.t(g))
            } else {
                one(b.swap(g, *i, *j))
            }
        }
        Op::Reshape(_) => {
            let sa = shape_of(b, 0);
            one(b.reshape(g, sa))
        }
        Op::Expand(_) => {
            let sa = shape_of(b, 0);
            one(b.unbroadcast(g, &sa))
        }
        Op::Permute(perm) => {
            let mut inverse = vec![0; perm.len()];
            for (pos, &ax) in perm.iter().enumerate() {
                inverse[ax] = pos;
            }
            one(b.permute(g, inverse))
        }
        Op::Einsum(spec) => einsum(b, spec, &args, g),
        Op::Trace => {
            // ∂ tr(A)/∂A = I, batched: g[..., None, None] ∘ I
            let sa = shape_of(b, 0);
            let r = sa.len();
            let mut kept: Shape = sa[..r - 2].to_vec();
            kept.push(DimPoly::constant(1));
            kept.push(DimPoly::constant(1));
            let g1 = b.reshape(g, kept)?;
            let eye = b.op(Op::Eye(sa[r - 1].clone()), vec![])?;
            one(b.mul(g1, eye))
        }
        Op::LayerNorm => layernorm(b, &args, g),
        Op::RmsNorm => rmsnorm(b, &args, g),
        // Token ids are data: no gradient reaches them.
        Op::OneHot(_) => Ok(vec![None]),
        Op::Embedding => {
            // Each row of E gets the gradients of the positions that read it, repeated ids
            // summed: onehot(ids, V)ᵀ g.
            let vocab = shape_of(b, 0)[0].clone();
            let hot = b.op(Op::OneHot(vocab), vec![a(1)])?;
            let ht = b.t(hot)?;
            Ok(vec![Some(b.matmul(ht, g)?), None])
        }
        // A rotation's transpose is its inverse.
        Op::Rope => one(b.op(Op::Unrope, vec![g])),
        Op::Unrope => one(b.op(Op::Rope, vec![g])),
        Op::Repeat { axis, times } => {
            // Split the repeated axis into (entry, copy) and sum over the copies.
            let sa = shape_of(b, 0);
            let mut split = sa.clone();
            split.insert(axis + 1, times.clone());
            let gs = b.reshape(g, split)?;
            one(b.sum(gs, vec![axis + 1], false))
        }
        Op::Slice { axis, start, end } => {
            // The entries read get their gradient back; the rest of the axis gets zeros.
            let size = shape_of(b, 0)[*axis].clone();
            one(b.pad(g, *axis, start.clone(), size.sub(end)))
        }
        Op::Pad { axis, before, .. } => {
            let len = shape_of(b, 0)[*axis].clone();
            one(b.op(
                Op::Slice {
                    axis: *axis,
                    start: before.clone(),
                    end: before.add(&len),
                },
                vec![g],
            ))
        }
        Op::Concat { axis } => {
            // Each argument gets its own stretch of the gradient along the axis.
            let mut start = DimPoly::constant(0);
            let mut out = Vec::with_capacity(args.len());
            for i in 0..args.len() {
                let end = start.add(&shape_of(b, i)[*axis]);
                let part = Op::Slice {
                    axis: *axis,
                    start: start.clone(),
                    end: end.clone(),
                };
                out.push(Some(b.op(part, vec![g])?));
                start = end;
            }
            Ok(out)
        }
    }
}

/// `torch.matmul`: promote vectors to matrices, use gBᵀ and Aᵀg, sum broadcast batches back.
fn matmul(
    b: &mut Builder,
    x: NodeId,
    y: NodeId,
    g: NodeId,
) -> Result<Vec<Option<NodeId>>, RuleError> {
    let (sx, sy) = (b.shape(x), b.shape(y));
    if sx.len() == 1 && sy.len() == 1 {
        // a scalar dot product
        let gx = b.mul(g, y)?;
        let gy = b.mul(x, g)?;
        return Ok(vec![Some(gx), Some(gy)]);
    }
    let x2 = if sx.len() == 1 {
        b.reshape(x, vec![DimPoly::constant(1), sx[0].clone()])?
    } else {
        x
    };
    let y2 = if sy.len() == 1 {
        b.reshape(y, vec![sy[0].clone(), DimPoly::constant(1)])?
    } else {
        y
    };
    let out2 = crate::ir::shape::matmul(b.dims, &b.shape(x2), &b.shape(y2))
        .map_err(|error| RuleError::Shape { op: "@", error })?;
    let g2 = b.reshape(g, out2)?;
    let yt = b.t(y2)?;
    let gx = b.matmul(g2, yt)?;
    let xt = b.t(x2)?;
    let gy = b.matmul(xt, g2)?;
    let sx2 = b.shape(x2);
    let sy2 = b.shape(y2);
    let gx = b.unbroadcast(gx, &sx2)?;
    let gy = b.unbroadcast(gy, &sy2)?;
    let gx = b.reshape(gx, sx)?;
    let gy = b.reshape(gy, sy)?;
    Ok(vec![Some(gx), Some(gy)])
}

fn func(b: &mut Builder, f: Func, a: NodeId, n: NodeId, g: NodeId) -> BResult {
    let d = match f {
        Func::Exp => n,
        Func::Log => return b.div(g, a),
        Func::Sqrt => {
            let two = b.int(2);
            let den = b.mul(two, n)?;
            return b.div(g, den);
        }
        Func::Tanh => {
            let one = b.int(1);
            let sq = b.pow(n, BigRational::from_integer(2.into()))?;
            b.sub(one, sq)?
        }
        Func::Erf => {
            // 2/√π · e^(−a²)
            let pi = b.pi();
            let root = b.func(Func::Sqrt, pi)?;
            let two = b.int(2);
            let c = b.div(two, root)?;
            let sq = b.pow(a, BigRational::from_integer(2.into()))?;
            let nsq = b.neg(sq)?;
            let e = b.func(Func::Exp, nsq)?;
            b.mul(c, e)?
        }
        Func::Sigmoid => {
            let one = b.int(1);
            let om = b.sub(one, n)?;
            b.mul(n, om)?
        }
        Func::Relu => b.func(Func::Step, a)?,
        Func::Step => return Ok(b.int(0)),
        Func::Phi => normal_density(b, a)?,
        Func::Gelu => {
            // Φ(a) + a φ(a)
            let phi = b.func(Func::Phi, a)?;
            let dens = normal_density(b, a)?;
            let t = b.mul(a, dens)?;
            b.add(phi, t)?
        }
        Func::Silu => {
            // σ(a) (1 + a (1 − σ(a)))
            let s = b.func(Func::Sigmoid, a)?;
            let one = b.int(1);
            let om = b.sub(one, s)?;
            let t = b.mul(a, om)?;
            let one = b.int(1);
            let u = b.add(one, t)?;
            b.mul(s, u)?
        }
        Func::GeluTanh => {
            // y = a/2 (1 + tanh u), u = c (a + k a³), c = √(2/π):
            // y' = (1 + tanh u)/2 + a/2 (1 − tanh² u) c (1 + 3k a²)
            let pi = b.pi();
            let two = b.int(2);
            let ratio = b.div(two, pi)?;
            let c = b.func(Func::Sqrt, ratio)?;
            let k = b.lit(BigRational::new(44715.into(), 1_000_000.into()));
            let cube = b.pow(a, BigRational::from_integer(3.into()))?;
            let kc = b.mul(k, cube)?;
            let inner = b.add(a, kc)?;
            let u = b.mul(c, inner)?;
            let t = b.func(Func::Tanh, u)?;
            let one = b.int(1);
            let opt = b.add(one, t)?;
            let half = b.lit(BigRational::new(1.into(), 2.into()));
            let first = b.mul(half, opt)?;
            let one = b.int(1);
            let t2 = b.pow(t, BigRational::from_integer(2.into()))?;
            let sech2 = b.sub(one, t2)?;
            let k3 = b.lit(BigRational::new(134145.into(), 1_000_000.into()));
            let a2 = b.pow(a, BigRational::from_integer(2.into()))?;
            let k3a2 = b.mul(k3, a2)?;
            let one = b.int(1);
            let du = b.add(one, k3a2)?;
            let du = b.mul(c, du)?;
            let half = b.lit(BigRational::new(1.into(), 2.into()));
            let ha = b.mul(half, a)?;
            let second = b.mul(ha, sech2)?;
            let second = b.mul(second, du)?;
            b.add(first, second)?
        }
    };
    b.mul(d, g)
}

/// φ(a) = e^(−a²/2) / √(2π).
fn normal_density(b: &mut Builder, a: NodeId) -> BResult {
    let sq = b.pow(a, BigRational::from_integer(2.into()))?;
    let two = b.int(2);
    let half = b.div(sq, two)?;
    let nh = b.neg(half)?;
    let e = b.func(Func::Exp, nh)?;
    let two = b.int(2);
    let pi = b.pi();
    let tp = b.mul(two, pi)?;
    let root = b.func(Func::Sqrt, tp)?;
    b.div(e, root)
}

/// einsum: the gradient of operand k contracts g with the other operands onto k's letters;
/// letters only k has are broadcast back.
fn einsum(
    b: &mut Builder,
    spec: &EinsumSpec,
    args: &[NodeId],
    g: NodeId,
) -> Result<Vec<Option<NodeId>>, RuleError> {
    let mut out = Vec::new();
    for (k, letters) in spec.inputs.iter().enumerate() {
        let mut distinct = letters.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() != letters.len() {
            return Err(RuleError::Unsupported(format!(
                "the gradient of einsum \"{}\" (a repeated index in one operand) is not supported; write it with trace or eye",
                letters.iter().collect::<String>()
            )));
        }
        let mut inputs: Vec<Vec<char>> = Vec::new();
        let mut operands = Vec::new();
        for (j, l) in spec.inputs.iter().enumerate() {
            if j != k {
                inputs.push(l.clone());
                operands.push(args[j]);
            }
        }
        inputs.push(spec.output.clone());
        operands.push(g);
        let available: Vec<char> = letters
            .iter()
            .copied()
            .filter(|c| inputs.iter().any(|l| l.contains(c)))
            .collect();
        let sub = EinsumSpec {
            inputs,
            output: available.clone(),
        };
        let mut r = b.op(Op::Einsum(sub), operands)?;
        let full = b.shape(args[k]);
        if available.len() != letters.len() {
            let with_ones: Shape = letters
                .iter()
                .zip(&full)
                .map(|(c, d)| {
                    if available.contains(c) {
                        d.clone()
                    } else {
                        DimPoly::constant(1)
                    }
                })
                .collect();
            r = b.reshape(r, with_ones)?;
            r = b.expand(r, full)?;
        }
        out.push(Some(r));
    }
    Ok(out)
}

/// The pieces of a normalisation over the last axis, rebuilt in the gradient graph.
struct Norm {
    /// x̂ (layer norm) or x / r (RMS norm)
    xhat: NodeId,
    /// σ = √(var + ε) or r = √(mean(x²) + ε)
    scale: NodeId,
}

fn norm_pieces(b: &mut Builder, x: NodeId, eps: NodeId, center: bool) -> Result<Norm, RuleError> {
    let sx = b.shape(x);
    let last = sx.len() - 1;
    let count = b.dim_size(sx[last].clone());
    let mean = |b: &mut Builder, t: NodeId| -> BResult {
        let s = b.sum(t, vec![last], true)?;
        b.div(s, count)
    };
    let xc = if center {
        let mu = mean(b, x)?;
        b.sub(x, mu)?
    } else {
        x
    };
    let sq = b.pow(xc, BigRational::from_integer(2.into()))?;
    let var = mean(b, sq)?;
    let ve = b.add(var, eps)?;
    let scale = b.func(Func::Sqrt, ve)?;
    let xhat = b.div(xc, scale)?;
    Ok(Norm { xhat, scale })
}

fn mean_last(b: &mut Builder, t: NodeId) -> BResult {
    let s = b.shape(t);
    let last = s.len() - 1;
    let count = b.dim_size(s[last].clone());
    let sum = b.sum(t, vec![last], true)?;
    b.div(sum, count)
}

/// y = g ∘ x̂ + b:  dx = (dx̂ − mean(dx̂) − x̂ ∘ mean(dx̂ ∘ x̂)) / σ,  dx̂ = dy ∘ g.
fn layernorm(
    b: &mut Builder,
    args: &[NodeId],
    dy: NodeId,
) -> Result<Vec<Option<NodeId>>, RuleError> {
    let (x, gamma, beta, eps) = (args[0], args[1], args[2], args[3]);
    let Norm { xhat, scale } = norm_pieces(b, x, eps, true)?;
    let dxhat = b.mul(dy, gamma)?;
    let m1 = mean_last(b, dxhat)?;
    let prod = b.mul(dxhat, xhat)?;
    let m2 = mean_last(b, prod)?;
    let t = b.mul(xhat, m2)?;
    let d = b.sub(dxhat, m1)?;
    let d = b.sub(d, t)?;
    let dx = b.div(d, scale)?;
    let dg = b.mul(dy, xhat)?;
    let (sg, sb) = (b.shape(gamma), b.shape(beta));
    let dg = b.unbroadcast(dg, &sg)?;
    let db = b.unbroadcast(dy, &sb)?;
    Ok(vec![Some(dx), Some(dg), Some(db), None])
}

/// y = g ∘ x / r:  dx = (dx̂ − x̂ ∘ mean(dx̂ ∘ x̂)) / r,  dx̂ = dy ∘ g, x̂ = x / r.
fn rmsnorm(b: &mut Builder, args: &[NodeId], dy: NodeId) -> Result<Vec<Option<NodeId>>, RuleError> {
    let (x, gamma, eps) = (args[0], args[1], args[2]);
    let Norm { xhat, scale } = norm_pieces(b, x, eps, false)?;
    let dxhat = b.mul(dy, gamma)?;
    let prod = b.mul(dxhat, xhat)?;
    let m = mean_last(b, prod)?;
    let t = b.mul(xhat, m)?;
    let d = b.sub(dxhat, t)?;
    let dx = b.div(d, scale)?;
    let dg = b.mul(dy, xhat)?;
    let sg = b.shape(gamma);
    let dg = b.unbroadcast(dg, &sg)?;
    Ok(vec![Some(dx), Some(dg), None])
}
