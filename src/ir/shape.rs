//! Shapes in dims, and the shape rule of every op.
//!
//! Owns [`Shape`], the pure rules every op's shape rule (`op::infer`) is built from (numpy
//! broadcasting, `torch.matmul`'s batched product, axis normalisation, reductions), and
//! [`ShapeError`], a typed reason that `lower` turns into a diagnostic with spans. Invariant: every rule decides equality with [`Dims::same`], so a
//! result holds for every size of the dims, not only the declared ones.

use super::dims::{DimPoly, Dims};

/// A tensor's shape: one symbolic size per axis; `[]` is a scalar.
pub type Shape = Vec<DimPoly>;

/// Why an op does not fit its arguments. `arg` fields name the positional argument at fault.
#[derive(Debug, Clone, PartialEq)]
pub enum ShapeError {
    /// Two sizes that neither equal nor are 1, `axis` counted from the right (1 = last).
    Broadcast {
        axis: usize,
        left: DimPoly,
        right: DimPoly,
    },
    /// `@` with a scalar side.
    MatMulScalar,
    /// The inner sizes of `@` differ.
    MatMulInner {
        left: DimPoly,
        right: DimPoly,
        right_is_vector: bool,
    },
    /// The batch axes of `@` do not broadcast.
    MatMulBatch(Box<ShapeError>),
    /// A scalar where a tensor with axes is needed.
    NoAxes { arg: usize },
    /// Fewer axes than the op needs.
    TooFewAxes { arg: usize, need: usize },
    /// An axis outside `-rank..rank`.
    AxisOutOfRange { axis: i64, rank: usize },
    /// The last two axes are not square.
    NotSquare { arg: usize, shape: Shape },
    /// A reshape that changes the number of entries (for some size of the dims).
    ReshapeCount { from: Shape, to: Shape },
    /// A permutation of the wrong length, or with an axis twice.
    Permutation { rank: usize, perm: Vec<usize> },
    /// A normalisation's `g` or `b` that does not scale the last axis.
    NormParam {
        arg: usize,
        name: &'static str,
        last: DimPoly,
        found: Shape,
    },
    /// A scalar argument (a normalisation's eps) that is not one.
    NotScalar { arg: usize, found: Shape },
    /// einsum subscripts that do not fit the operands.
    Einsum(String),
    /// A broadcast to a shape the argument cannot stretch to.
    Expand { from: Shape, to: Shape },
    /// `embedding(E, ids)` where E is not a matrix or ids not a vector of token ids.
    Embedding { table: Shape, ids: Shape },
    /// `rope` of features that do not come in pairs (an odd last axis).
    RopePairs { last: DimPoly },
    /// A slice `start..end` that is empty or runs past an axis of this size (at the sizes in
    /// use).
    Slice {
        start: DimPoly,
        end: DimPoly,
        size: DimPoly,
    },
    /// `concat` of an argument whose shape differs from the first's off the joining axis.
    Concat {
        arg: usize,
        first: Shape,
        found: Shape,
    },
    /// The wrong number of arguments (a bug in a rule: lowering checks arity first).
    Arity { expected: usize, found: usize },
    /// The op's shape is declared, not computed (leaves, `grad(NAME)`, fn parameters).
    Declared,
}

impl ShapeError {
    /// The positional argument at fault, when it is one argument.
    pub fn arg(&self) -> Option<usize> {
        match self {
            ShapeError::NoAxes { arg }
            | ShapeError::TooFewAxes { arg, .. }
            | ShapeError::NotSquare { arg, .. }
            | ShapeError::NormParam { arg, .. }
            | ShapeError::NotScalar { arg, .. }
            | ShapeError::Concat { arg, .. } => Some(*arg),
            _ => None,
        }
    }

    /// The reason in words, for an op called `op` (its name in the language).
    pub fn message(&self, dims: &Dims, op: &str) -> String {
        let shape = |s: &[DimPoly]| show_shape(dims, s);
        match self {
            ShapeError::Broadcast { axis, left, right } => format!(
                "axis {axis} from the right: {} and {} differ and neither is 1",
                dims.show(left),
                dims.show(right)
            ),
            ShapeError::MatMulScalar => {
                "`@` needs at least one axis on each side (use `*` to scale by a scalar)".into()
            }
            ShapeError::MatMulInner {
                left,
                right,
                right_is_vector,
            } => format!(
                "the inner sizes differ: {} (last axis of the left) vs {} ({} of the right)",
                dims.show(left),
                dims.show(right),
                if *right_is_vector {
                    "only axis"
                } else {
                    "second-to-last axis"
                }
            ),
            ShapeError::MatMulBatch(e) => format!("batch axes: {}", e.message(dims, op)),
            ShapeError::NoAxes { .. } => {
                format!("`{op}` needs a tensor with at least one axis, found a scalar")
            }
            ShapeError::TooFewAxes { need, .. } => {
                format!("`{op}` needs a tensor with at least {need} axes")
            }
            ShapeError::AxisOutOfRange { axis, rank } => {
                let r = *rank as i64;
                if *rank == 0 {
                    "a scalar has no axes".into()
                } else {
                    format!(
                        "axis {axis} is out of range for a tensor with {rank} ax{} (valid: {} to {})",
                        if *rank == 1 { "is" } else { "es" },
                        -r,
                        r - 1
                    )
                }
            }
            ShapeError::NotSquare { shape: s, .. } => format!(
                "`{op}` needs square matrices in the last two axes, found shape {}",
                shape(s)
            ),
            ShapeError::ReshapeCount { from, to } => format!(
                "`reshape` must keep the number of entries: {} has {} entries, {} has {}",
                shape(from),
                dims.show(&entries(from)),
                shape(to),
                dims.show(&entries(to))
            ),
            ShapeError::Permutation { rank, perm } => format!(
                "`permute` needs each of the {rank} axes once, found [{}]",
                perm.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ShapeError::NormParam {
                name, last, found, ..
            } => format!(
                "`{op}` scales the last axis of x ({}): `{name}` must have shape [{}], found {}",
                dims.show(last),
                dims.show(last),
                shape(found)
            ),
            ShapeError::NotScalar { found, .. } => {
                format!(
                    "`{op}`'s eps must be a scalar, found shape {}",
                    shape(found)
                )
            }
            ShapeError::Einsum(why) => why.clone(),
            ShapeError::Expand { from, to } => {
                format!("{} does not broadcast to {}", shape(from), shape(to))
            }
            ShapeError::Embedding { table, ids } => format!(
                "`embedding(E, ids)` needs a table E of shape [V, d] and token ids of shape [T], found E {} and ids {}",
                shape(table),
                shape(ids)
            ),
            ShapeError::RopePairs { last } => format!(
                "`{op}` rotates pairs of features, so the last axis must have an even size; {} is odd at the sizes in use",
                dims.show(last)
            ),
            ShapeError::Slice { start, end, size } => {
                let at = |p: &DimPoly| match dims.eval(p) {
                    Some(v) if p.as_constant().is_none() => {
                        format!("{} = {v}", dims.show(p))
                    }
                    _ => dims.show(p),
                };
                format!(
                    "`{op}` needs 0 <= start < end <= the axis's size; here start {}, end {} and size {} at the sizes in use",
                    at(start),
                    at(end),
                    at(size)
                )
            }
            ShapeError::Concat { arg, first, found } => format!(
                "`{op}` joins tensors that agree on every other axis: argument {} has shape {}, the first has {}",
                arg + 1,
                shape(found),
                shape(first)
            ),
            ShapeError::Arity { expected, found } => {
                format!("`{op}` takes {expected} arguments, found {found}")
            }
            ShapeError::Declared => format!("the shape of a {op} is declared, not computed"),
        }
    }
}

/// The number of entries of `shape`, symbolically.
pub fn entries(shape: &[DimPoly]) -> DimPoly {
    shape.iter().fold(DimPoly::constant(1), |acc, d| acc.mul(d))
}

/// `[T, d]` using the dims' names.
pub fn show_shape(dims: &Dims, shape: &[DimPoly]) -> String {
    let parts: Vec<String> = shape.iter().map(|p| dims.show(p)).collect();
    format!("[{}]", parts.join(", "))
}

/// The shape at the declared sizes, `[4, 8]`, or `None` if some dim has no size.
pub fn show_sizes(dims: &Dims, shape: &[DimPoly]) -> Option<String> {
    let parts: Option<Vec<String>> = shape
        .iter()
        .map(|p| dims.eval(p).map(|v| v.to_string()))
        .collect();
    parts.map(|p| format!("[{}]", p.join(", ")))
}

pub fn same_shape(dims: &Dims, a: &[DimPoly], b: &[DimPoly]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| dims.same(x, y))
}

/// numpy broadcasting: align from the right; sizes must be equal or one of them 1.
pub fn broadcast(dims: &Dims, a: &[DimPoly], b: &[DimPoly]) -> Result<Shape, ShapeError> {
    let n = a.len().max(b.len());
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let x = (i + a.len()).checked_sub(n).map(|j| &a[j]);
        let y = (i + b.len()).checked_sub(n).map(|j| &b[j]);
        let size = match (x, y) {
            (Some(x), None) => x.clone(),
            (None, Some(y)) => y.clone(),
            (Some(x), Some(y)) => {
                if dims.same(x, y) {
                    x.clone()
                } else if dims.is_one(x) {
                    y.clone()
                } else if dims.is_one(y) {
                    x.clone()
                } else {
                    return Err(ShapeError::Broadcast {
                        axis: n - i,
                        left: x.clone(),
                        right: y.clone(),
                    });
                }
            }
            (None, None) => unreachable!("i < n = max of the two ranks"),
        };
        out.push(size);
    }
    Ok(out)
}

/// `torch.matmul` shapes: 1-D operands are vectors, leading axes broadcast as batches.
pub fn matmul(dims: &Dims, a: &[DimPoly], b: &[DimPoly]) -> Result<Shape, ShapeError> {
    if a.is_empty() || b.is_empty() {
        return Err(ShapeError::MatMulScalar);
    }
    let (a_batch, m, ka) = match a.len() {
        1 => (&a[..0], None, &a[0]),
        n => (&a[..n - 2], Some(&a[n - 2]), &a[n - 1]),
    };
    let (b_batch, kb, nn) = match b.len() {
        1 => (&b[..0], &b[0], None),
        n => (&b[..n - 2], &b[n - 2], Some(&b[n - 1])),
    };
    if !dims.same(ka, kb) {
        return Err(ShapeError::MatMulInner {
            left: ka.clone(),
            right: kb.clone(),
            right_is_vector: b.len() == 1,
        });
    }
    let mut out =
        broadcast(dims, a_batch, b_batch).map_err(|e| ShapeError::MatMulBatch(Box::new(e)))?;
    out.extend(m.cloned());
    out.extend(nn.cloned());
    Ok(out)
}

/// Normalise a possibly negative axis for a tensor of rank `rank`.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize, ShapeError> {
    let r = rank as i64;
    if rank == 0 || axis >= r || axis < -r {
        return Err(ShapeError::AxisOutOfRange { axis, rank });
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}

/// `shape` with `axes` removed, or kept as size 1.
pub fn reduced(shape: &[DimPoly], axes: &[usize], keepdims: bool) -> Shape {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match (axes.contains(&i), keepdims) {
            (false, _) => Some(d.clone()),
            (true, true) => Some(DimPoly::constant(1)),
            (true, false) => None,
        })
        .collect()
}

/// The last two axes of `s` (argument `arg`) are square.
pub fn square_last_two(dims: &Dims, s: &Shape, arg: usize) -> Result<(), ShapeError> {
    let r = s.len();
    if r < 2 || !dims.same(&s[r - 2], &s[r - 1]) {
        return Err(ShapeError::NotSquare {
            arg,
            shape: s.clone(),
        });
    }
    Ok(())
}

/// `axis` is an axis of a tensor of rank `rank`.
/// Check that `start..end` is a nonempty range inside an axis of size `size`, at the sizes in
/// use (a dim without a size passes; evaluation checks again at the sizes it runs at).
pub fn within(
    dims: &Dims,
    start: &DimPoly,
    end: &DimPoly,
    size: &DimPoly,
) -> Result<(), ShapeError> {
    let bad = || ShapeError::Slice {
        start: start.clone(),
        end: end.clone(),
        size: size.clone(),
    };
    let zero = num_rational::BigRational::from_integer(0.into());
    if let (Some(a), Some(b), Some(n)) = (dims.eval(start), dims.eval(end), dims.eval(size)) {
        if a < zero || b <= a || n < b {
            return Err(bad());
        }
    }
    Ok(())
}

/// The shape of `concat(args, axis)`: the arguments agree off the axis, whose sizes add.
pub fn concat(dims: &Dims, args: &[&Shape], axis: usize) -> Result<Shape, ShapeError> {
    let Some(first) = args.first() else {
        return Err(ShapeError::Arity {
            expected: 1,
            found: 0,
        });
    };
    in_range(axis, first.len())?;
    let mut out = (*first).clone();
    for (k, s) in args.iter().enumerate().skip(1) {
        let fits = s.len() == first.len()
            && (0..s.len()).all(|i| i == axis || dims.same(&s[i], &first[i]));
        if !fits {
            return Err(ShapeError::Concat {
                arg: k,
                first: (*first).clone(),
                found: (*s).clone(),
            });
        }
        out[axis] = out[axis].add(&s[axis]);
    }
    Ok(out)
}

pub fn in_range(axis: usize, rank: usize) -> Result<(), ShapeError> {
    if axis >= rank {
        return Err(ShapeError::AxisOutOfRange {
            axis: axis as i64,
            rank,
        });
    }
    Ok(())
}
