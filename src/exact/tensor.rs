//! Tensor kernels over any [`Scalar`]: broadcasting, batched matrix products, reductions,
//! lane-wise maps (softmax), einsum, trace. Arrays are `ndarray::ArrayD` in row-major order.
//!
//! Invariant: every kernel is fallible elementwise (a division by zero anywhere is an `Err`,
//! never a panic), and shapes were already checked by `ir`, so a shape disagreement here is a
//! bug and is reported as such rather than panicking.

use super::num::{NumError, Prec};
use super::scalar::{SResult, Scalar};
use crate::ir::EinsumSpec;
use ndarray::{ArrayD, Axis, IxDyn};
use std::collections::HashMap;

pub type Tensor<S> = ArrayD<S>;

fn internal(what: &str) -> NumError {
    NumError::Undecided(format!("internal shape error in {what} (please report)"))
}

/// Build an array from a shape and row-major data.
pub fn from_vec<S: Scalar>(shape: &[usize], data: Vec<S>) -> SResult<Tensor<S>> {
    ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|_| internal("from_vec"))
}

/// The entries `start..end` along `axis`; `None` when that is not inside the axis.
pub fn slice_axis<T: Clone>(
    a: &ArrayD<T>,
    axis: usize,
    start: usize,
    end: usize,
) -> Option<ArrayD<T>> {
    let fits = axis < a.ndim() && start <= end && end <= a.shape()[axis];
    fits.then(|| {
        a.slice_axis(Axis(axis), ndarray::Slice::from(start..end))
            .to_owned()
    })
}

/// `a` with `before` copies of `zero` ahead of it and `after` behind it along `axis`.
pub fn pad_axis<T: Clone>(
    a: &ArrayD<T>,
    axis: usize,
    before: usize,
    after: usize,
    zero: T,
) -> Option<ArrayD<T>> {
    if axis >= a.ndim() {
        return None;
    }
    let mut shape = a.shape().to_vec();
    let len = shape[axis];
    shape[axis] = before + len + after;
    let mut out = ArrayD::from_elem(IxDyn(&shape), zero);
    out.slice_axis_mut(Axis(axis), ndarray::Slice::from(before..before + len))
        .assign(a);
    Some(out)
}

/// The parts side by side along `axis`; `None` when they disagree off it.
pub fn concat_axis<T: Clone>(parts: &[&ArrayD<T>], axis: usize) -> Option<ArrayD<T>> {
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(Axis(axis), &views).ok()
}

/// Row-major entries.
pub fn entries<S: Scalar>(a: &Tensor<S>) -> Vec<S> {
    a.as_standard_layout().iter().cloned().collect()
}

pub fn map<S: Scalar>(a: &Tensor<S>, f: impl Fn(&S) -> SResult<S>) -> SResult<Tensor<S>> {
    let data: SResult<Vec<S>> = a.as_standard_layout().iter().map(f).collect();
    from_vec(a.shape(), data?)
}

fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let x = (i + a.len()).checked_sub(n).map(|j| a[j]).unwrap_or(1);
            let y = (i + b.len()).checked_sub(n).map(|j| b[j]).unwrap_or(1);
            match (x, y) {
                _ if x == y => Some(x),
                (1, _) => Some(y),
                (_, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

/// Elementwise binary operation with numpy broadcasting.
pub fn zip<S: Scalar>(
    a: &Tensor<S>,
    b: &Tensor<S>,
    f: impl Fn(&S, &S) -> SResult<S>,
) -> SResult<Tensor<S>> {
    let shape = broadcast_shape(a.shape(), b.shape()).ok_or_else(|| internal("broadcast"))?;
    let av = a
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| internal("broadcast"))?;
    let bv = b
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| internal("broadcast"))?;
    let data: SResult<Vec<S>> = av.iter().zip(bv.iter()).map(|(x, y)| f(x, y)).collect();
    from_vec(&shape, data?)
}

/// `torch.matmul`: 1-D operands are vectors; leading axes broadcast as batches.
pub fn matmul<S: Scalar>(a: &Tensor<S>, b: &Tensor<S>, p: Prec) -> SResult<Tensor<S>> {
    let (a2, a_vec) = if a.ndim() == 1 {
        (a.clone().insert_axis(Axis(0)), true)
    } else {
        (a.clone(), false)
    };
    let (b2, b_vec) = if b.ndim() == 1 {
        (b.clone().insert_axis(Axis(1)), true)
    } else {
        (b.clone(), false)
    };
    let (ra, rb) = (a2.ndim(), b2.ndim());
    let (m, k) = (a2.shape()[ra - 2], a2.shape()[ra - 1]);
    let (k2, n) = (b2.shape()[rb - 2], b2.shape()[rb - 1]);
    if k != k2 {
        return Err(internal("matmul"));
    }
    let batch = broadcast_shape(&a2.shape()[..ra - 2], &b2.shape()[..rb - 2])
        .ok_or_else(|| internal("matmul batch"))?;
    let mut a_full = batch.clone();
    a_full.extend([m, k]);
    let mut b_full = batch.clone();
    b_full.extend([k, n]);
    let av = a2
        .broadcast(IxDyn(&a_full))
        .ok_or_else(|| internal("matmul"))?
        .as_standard_layout()
        .into_owned();
    let bv = b2
        .broadcast(IxDyn(&b_full))
        .ok_or_else(|| internal("matmul"))?
        .as_standard_layout()
        .into_owned();
    let count: usize = batch.iter().product();
    let ad: Vec<S> = av.into_iter().collect();
    let bd: Vec<S> = bv.into_iter().collect();
    let mut out = Vec::with_capacity(count * m * n);
    for bi in 0..count {
        let (ao, bo) = (bi * m * k, bi * k * n);
        for i in 0..m {
            for j in 0..n {
                let mut acc: Option<S> = None;
                for l in 0..k {
                    let prod = ad[ao + i * k + l].mul(&bd[bo + l * n + j], p)?;
                    acc = Some(match acc {
                        None => prod,
                        Some(s) => s.add(&prod, p)?,
                    });
                }
                out.push(acc.unwrap_or_else(|| super::scalar::exact(0)));
            }
        }
    }
    let mut shape = batch;
    if !a_vec {
        shape.push(m);
    }
    if !b_vec {
        shape.push(n);
    }
    from_vec(&shape, out)
}

/// Apply `f` to every lane along `axes` (moved last, in order); `f` returns the lane's
/// replacement (`keep` entries) — 1 for a reduction, the lane length for softmax.
pub fn map_lanes<S: Scalar>(
    a: &Tensor<S>,
    axes: &[usize],
    keepdims_out: bool,
    f: impl Fn(&[S]) -> SResult<Vec<S>>,
) -> SResult<Tensor<S>> {
    let rank = a.ndim();
    let kept: Vec<usize> = (0..rank).filter(|i| !axes.contains(i)).collect();
    let mut perm = kept.clone();
    perm.extend_from_slice(axes);
    let moved = a.clone().permuted_axes(IxDyn(&perm));
    let moved = moved.as_standard_layout();
    let lane: usize = axes.iter().map(|&i| a.shape()[i]).product();
    let data: Vec<S> = moved.iter().cloned().collect();
    let mut out = Vec::new();
    let mut out_lane = 0;
    for chunk in data.chunks(lane.max(1)) {
        let r = f(if lane == 0 { &[] } else { chunk })?;
        out_lane = r.len();
        out.extend(r);
    }
    let kept_shape: Vec<usize> = kept.iter().map(|&i| a.shape()[i]).collect();
    if out_lane == lane && keepdims_out {
        // Same lane length: undo the permutation.
        let mut moved_shape = kept_shape.clone();
        moved_shape.extend(axes.iter().map(|&i| a.shape()[i]));
        let t = from_vec(&moved_shape, out)?;
        let mut inverse = vec![0; rank];
        for (pos, &ax) in perm.iter().enumerate() {
            inverse[ax] = pos;
        }
        return Ok(t
            .permuted_axes(IxDyn(&inverse))
            .as_standard_layout()
            .into_owned());
    }
    from_vec(&kept_shape, out)
}

/// Sum of a lane (an exact 0 for an empty lane).
pub fn sum_lane<S: Scalar>(lane: &[S], p: Prec) -> SResult<S> {
    let mut acc: Option<S> = None;
    for x in lane {
        acc = Some(match acc {
            None => x.clone(),
            Some(s) => s.add(x, p)?,
        });
    }
    Ok(acc.unwrap_or_else(|| super::scalar::exact(0)))
}

/// Reduce `axes` with `f`; reshape to keepdims if asked.
pub fn reduce<S: Scalar>(
    a: &Tensor<S>,
    axes: &[usize],
    keepdims: bool,
    f: impl Fn(&[S]) -> SResult<S>,
) -> SResult<Tensor<S>> {
    let r = map_lanes(a, axes, false, |lane| Ok(vec![f(lane)?]))?;
    if !keepdims {
        return Ok(r);
    }
    let shape: Vec<usize> = (0..a.ndim())
        .map(|i| if axes.contains(&i) { 1 } else { a.shape()[i] })
        .collect();
    from_vec(&shape, entries(&r))
}

pub fn einsum<S: Scalar>(spec: &EinsumSpec, ops: &[&Tensor<S>], p: Prec) -> SResult<Tensor<S>> {
    let mut size: HashMap<char, usize> = HashMap::new();
    for (letters, t) in spec.inputs.iter().zip(ops) {
        for (c, &n) in letters.iter().zip(t.shape()) {
            size.insert(*c, n);
        }
    }
    let mut summed: Vec<char> = size
        .keys()
        .copied()
        .filter(|c| !spec.output.contains(c))
        .collect();
    summed.sort();
    let out_shape: Vec<usize> = spec.output.iter().map(|c| size[c]).collect();
    let sum_shape: Vec<usize> = summed.iter().map(|c| size[c]).collect();
    let out_count: usize = out_shape.iter().product();
    let sum_count: usize = sum_shape.iter().product();
    let standard: Vec<Tensor<S>> = ops
        .iter()
        .map(|t| t.as_standard_layout().into_owned())
        .collect();
    let mut out = Vec::with_capacity(out_count);
    let mut index: HashMap<char, usize> = HashMap::new();
    for o in 0..out_count {
        assign(&spec.output, &out_shape, o, &mut index);
        let mut acc: Option<S> = None;
        for s in 0..sum_count {
            assign(&summed, &sum_shape, s, &mut index);
            let mut prod: Option<S> = None;
            for (letters, t) in spec.inputs.iter().zip(&standard) {
                let idx: Vec<usize> = letters.iter().map(|c| index[c]).collect();
                let x = &t[IxDyn(&idx)];
                prod = Some(match prod {
                    None => x.clone(),
                    Some(q) => q.mul(x, p)?,
                });
            }
            let prod = prod.unwrap_or_else(|| super::scalar::exact(1));
            acc = Some(match acc {
                None => prod,
                Some(a) => a.add(&prod, p)?,
            });
        }
        out.push(acc.unwrap_or_else(|| super::scalar::exact(0)));
    }
    from_vec(&out_shape, out)
}

/// Set `index[letters[i]]` from the row-major position `pos` in `shape`.
fn assign(letters: &[char], shape: &[usize], mut pos: usize, index: &mut HashMap<char, usize>) {
    for i in (0..letters.len()).rev() {
        index.insert(letters[i], pos % shape[i]);
        pos /= shape[i];
    }
}

/// Pair up two arrays of the same shape into one of another element type.
pub fn zip_into<A: Clone, B: Clone, C>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    f: impl Fn(&A, &B) -> C,
) -> ArrayD<C> {
    let data: Vec<C> = a
        .as_standard_layout()
        .iter()
        .zip(b.as_standard_layout().iter())
        .map(|(x, y)| f(x, y))
        .collect();
    ArrayD::from_shape_vec(a.raw_dim(), data).expect("same shapes")
}

/// Map an array by reference into another element type.
pub trait MapvRef<A> {
    fn mapv_ref<C>(&self, f: impl Fn(&A) -> C) -> ArrayD<C>;
}

impl<A: Clone> MapvRef<A> for ArrayD<A> {
    fn mapv_ref<C>(&self, f: impl Fn(&A) -> C) -> ArrayD<C> {
        let data: Vec<C> = self.as_standard_layout().iter().map(f).collect();
        ArrayD::from_shape_vec(self.raw_dim(), data).expect("same shape")
    }
}
