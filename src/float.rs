//! Float against exact, the lesson of manual tracing: a program's graph run in IEEE
//! arithmetic op by op, as a framework (PyTorch) would, and measured against the exact
//! values.
//!
//! Owns [`Format`] (f32, bf16, f16: rounding to nearest, ties to even, into each; the
//! spacing of each), the float evaluator ([`eval_nodes`], [`trace`]) and the measurement
//! ([`compare`] → [`Report`]: per named tensor the largest error in ulps and relative, where
//! it overflows or underflows, and where precision is lost). `render::float` prints it.
//!
//! How a node is computed, so the numbers mean what a framework's would:
//! - Every op's result is rounded to the format, as a framework stores tensors; moves of
//!   entries (transpose, reshape, permute, broadcast, repeat, embedding rows) round nothing.
//!   Leaves (exact rationals, or the midpoint of an enclosure) are rounded on entry; `tokens`
//!   leaves are integer tensors and are not rounded.
//! - Accumulations (matrix products, einsum, sums, means, trace, softmax's sum, the norms'
//!   statistics) accumulate in f32, one rounding per multiply-add (products of format values
//!   are exact in f64, so this is a fused multiply-add, as cuBLAS and PyTorch's CPU kernels
//!   do for f32, bf16 and f16), then round to the format.
//! - `+ − × ÷` and square roots are computed in f64 and rounded once, which is the correctly
//!   rounded result (f64 has more than twice the bits plus two of every format); sums are
//!   rounded from their exact value (two-sum), so there is no double rounding anywhere.
//! - Elementwise transcendental functions (exp, log, tanh, erf, sigmoid, Φ, GELU, SiLU, ...)
//!   are computed in f64 and rounded once to the format, as a fused kernel: a framework's
//!   libm may differ from this by an ulp of the format.
//! - A constant scalar (a literal, `pi`, a size, and arithmetic on those only, such as
//!   `sqrt(d)` or `1/100000`) is a Python number: computed in f64, and cast to f32 (PyTorch's
//!   "opmath" type for f32, bf16 and f16) where an op on tensors reads it.
//! - The built-ins are computed the way PyTorch's kernels compute them: softmax subtracts the
//!   lane's max, exponentiates, sums and divides in f32, then rounds to the format;
//!   logsoftmax is `(x − max) − log Σ exp(x − max)` in f32; logsumexp is PyTorch's
//!   composite (`log(sum(exp(x − max))) + max` with each step in the format, an infinite max
//!   replaced by 0); layer norm takes the mean and the biased variance in f32 (two passes;
//!   PyTorch's Welford moments agree to an ulp or so), `(x − μ)·rsqrt(σ² + ε)·g + b` in f32;
//!   RMS norm normalises in f32, rounds to the format, then multiplies by `g`. So a
//!   hand-written `exp(S) / rowsum(exp(S))` overflows where the built-in softmax does not.
//! - `causal` gives −∞; ±∞ and NaN propagate as IEEE says (max and min propagate NaN, as
//!   `torch.max` does). Nothing about a value is an error: a [`FloatError`] is only a missing
//!   leaf or gradient, a leaf of the wrong shape, or a token id out of range.
//!
//! Invariants: the evaluation is deterministic (no threads, fixed summation order: index
//! order along each lane); only nodes the roots need are evaluated; the `match` over [`Op`]
//! is exhaustive with no `_` arm (the compiler names every place a new op needs); errors
//! name the node. [`compare`] is a measurement against the exact values, never an equality
//! verdict.

use crate::exact::num::Num;
use crate::exact::tensor::{concat_axis, pad_axis, slice_axis, Tensor};
use crate::ir::{EinsumSpec, Func, Graph, NodeId, Op, Program, ReduceKind, TensorId};
use ndarray::{ArrayD, Dimension, IxDyn};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// A floating-point format a framework stores tensors in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// IEEE binary32: 24 significant bits, exponents −126..127.
    F32,
    /// bfloat16: 8 significant bits, f32's exponent range.
    BF16,
    /// IEEE binary16: 11 significant bits, exponents −14..15.
    F16,
}

/// A format name that is none of `f32`, `bf16`, `f16`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat(pub String);

impl std::fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown float format `{}` (use f32, bf16 or f16)",
            self.0
        )
    }
}

impl std::error::Error for UnknownFormat {}

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" | "float" => Ok(Format::F32),
            "bf16" | "bfloat16" => Ok(Format::BF16),
            "f16" | "fp16" | "float16" | "half" => Ok(Format::F16),
            _ => Err(UnknownFormat(s.to_string())),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// 2^k for the exponents the formats need (f64 normal or subnormal).
fn pow2(k: i32) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (k + 1074).max(0))
    }
}

/// ⌊log₂ a⌋ for a positive normal f64.
fn exponent(a: f64) -> i32 {
    ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// `a + b` and the rounding error of the f64 sum: `a + b = s + e` exactly (Knuth's
/// two-sum), for finite `s`.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    if !s.is_finite() {
        return (s, 0.0);
    }
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

impl Format {
    pub const ALL: [Format; 3] = [Format::F32, Format::BF16, Format::F16];

    pub fn name(self) -> &'static str {
        match self {
            Format::F32 => "f32",
            Format::BF16 => "bf16",
            Format::F16 => "f16",
        }
    }

    /// Significant bits, the implicit leading bit included.
    pub fn precision(self) -> i32 {
        match self {
            Format::F32 => 24,
            Format::BF16 => 8,
            Format::F16 => 11,
        }
    }

    /// The exponent of the smallest normal number.
    pub fn min_exponent(self) -> i32 {
        match self {
            Format::F32 | Format::BF16 => -126,
            Format::F16 => -14,
        }
    }

    /// The exponent of the largest finite number.
    pub fn max_exponent(self) -> i32 {
        match self {
            Format::F32 | Format::BF16 => 127,
            Format::F16 => 15,
        }
    }

    /// The largest finite number: f32 3.40e38, bf16 3.39e38, f16 65504.
    pub fn max(self) -> f64 {
        (2.0 - pow2(1 - self.precision())) * pow2(self.max_exponent())
    }

    /// The smallest positive normal number.
    pub fn min_normal(self) -> f64 {
        pow2(self.min_exponent())
    }

    /// The smallest positive (subnormal) number, which is also the spacing below the
    /// smallest normal: f32 2^-149, bf16 2^-133, f16 2^-24.
    pub fn min_subnormal(self) -> f64 {
        pow2(self.min_exponent() - self.precision() + 1)
    }

    /// The unit roundoff 2^-p: the largest relative error of one rounding to a normal number.
    pub fn unit_roundoff(self) -> f64 {
        pow2(-self.precision())
    }

    /// `x` rounded to the nearest number of the format, ties to even, returned as f64: ±∞
    /// beyond the overflow threshold (`max + ulp(max)/2`, the tie included), subnormals
    /// below the smallest normal. Correctly rounded from the f64 value (no rounding through
    /// another format; `half`'s `from_f64` drops the low 32 bits of the f64 before rounding,
    /// which can round a value just above a tie the wrong way, so it is not used).
    pub fn round(self, x: f64) -> f64 {
        self.round_exact(x, 0.0)
    }

    /// The exact sum `a + b` rounded once to the format (no double rounding through f64).
    pub fn round_sum(self, a: f64, b: f64) -> f64 {
        let (s, e) = two_sum(a, b);
        self.round_exact(s, e)
    }

    /// Round the exact value `s + tail` (`|tail|` at most half an f64 ulp of `s`, the
    /// residual of a two-sum) to the format.
    fn round_exact(self, s: f64, tail: f64) -> f64 {
        if !s.is_finite() || s == 0.0 {
            return s;
        }
        let a = s.abs();
        if a < f64::MIN_POSITIVE {
            // Far below half the smallest subnormal of every format.
            return 0.0f64.copysign(s);
        }
        let p = self.precision();
        let q = pow2(exponent(a).max(self.min_exponent()) - (p - 1));
        let m = a / q; // exact: a power of two
        let floor = m.floor();
        let frac = m - floor;
        let toward = tail * s.signum(); // the tail's direction, for |s|
        let up =
            frac > 0.5 || (frac == 0.5 && (toward > 0.0 || (toward == 0.0 && floor % 2.0 == 1.0)));
        let r = if up { floor + 1.0 } else { floor } * q;
        if r > self.max() {
            f64::INFINITY.copysign(s)
        } else {
            r.copysign(s)
        }
    }

    /// The spacing of the format at `|x|`: 2^(e − p + 1) for `x` in the binade [2^e, 2^(e+1)),
    /// the subnormal spacing below the smallest normal (and at 0); ∞ for ±∞, NaN for NaN.
    pub fn ulp(self, x: f64) -> f64 {
        let a = x.abs();
        if a.is_nan() || a.is_infinite() {
            return a;
        }
        if a < self.min_normal() {
            return self.min_subnormal();
        }
        pow2(exponent(a) - self.precision() + 1)
    }

    /// Is `x` (nonzero) below the smallest normal: zero or subnormal in this format?
    pub fn is_tiny(self, x: f64) -> bool {
        x.abs() < self.min_normal()
    }
}

/// What went wrong at a node (never a value: ∞ and NaN are values).
#[derive(Debug, Clone, PartialEq)]
pub enum FloatErrorKind {
    /// No value was given for a leaf.
    MissingLeaf(TensorId),
    /// `grad(NAME)` has no value here.
    MissingGrad(TensorId),
    /// A leaf's value has the wrong shape.
    LeafShape {
        tensor: TensorId,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    /// A token id that is not a whole number in `0..range`.
    BadToken { value: f64, range: usize },
    /// A size that is not a positive whole number at the sizes in use.
    Unsized,
    /// A fn parameter outside its fn (never in a program's graph).
    FnParam,
    /// A shape disagreement `ir` should have caught (a bug).
    Internal(&'static str),
}

/// A failure at a node.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatError {
    pub node: NodeId,
    pub kind: FloatErrorKind,
}

impl FloatError {
    /// The named tensor whose computation failed.
    pub fn tensor(&self, program: &Program) -> Option<TensorId> {
        crate::exact::run::owner(program, self.node)
    }

    /// In words, naming the tensor and its line.
    pub fn message(&self, program: &Program) -> String {
        let name = |t: TensorId| format!("`{}`", program.tensor(t).name);
        let what = match &self.kind {
            FloatErrorKind::MissingLeaf(t) => format!("no value for {}", name(*t)),
            FloatErrorKind::MissingGrad(t) => {
                format!("grad({}) has no value here", program.tensor(*t).name)
            }
            FloatErrorKind::LeafShape {
                tensor,
                found,
                expected,
            } => format!(
                "{} has shape {found:?}, expected {expected:?}",
                name(*tensor)
            ),
            FloatErrorKind::BadToken { value, range } => {
                format!("{value} is not a token id in 0..{range}")
            }
            FloatErrorKind::Unsized => "a size is not a positive whole number".into(),
            FloatErrorKind::FnParam => "a fn parameter outside its fn".into(),
            FloatErrorKind::Internal(w) => format!("internal shape error in {w} (please report)"),
        };
        match self.tensor(program) {
            Some(t) => {
                let tensor = program.tensor(t);
                format!(
                    "{what} in `{}` (line {})",
                    tensor.name,
                    program.sources.line(tensor.span)
                )
            }
            None => what,
        }
    }
}

type Arr = ArrayD<f64>;
type FResult<T> = Result<T, FloatErrorKind>;

/// How a node's arithmetic rounds: its stored result (`store`) and its accumulator and
/// internal ("opmath") values (`acc`); `None` is f64 without further rounding (Python
/// numbers).
#[derive(Debug, Clone, Copy)]
struct Arith {
    store: Option<Format>,
    acc: Option<Format>,
}

impl Arith {
    const PYTHON: Arith = Arith {
        store: None,
        acc: None,
    };

    fn tensor(format: Format) -> Arith {
        Arith {
            store: Some(format),
            acc: Some(Format::F32),
        }
    }

    /// A result, rounded to the stored format.
    fn st(self, x: f64) -> f64 {
        self.store.map_or(x, |f| f.round(x))
    }

    /// `a + b` rounded once to the stored format.
    fn add(self, a: f64, b: f64) -> f64 {
        self.store.map_or(a + b, |f| f.round_sum(a, b))
    }

    /// An internal value, rounded to the accumulator's format.
    fn ac(self, x: f64) -> f64 {
        self.acc.map_or(x, |f| f.round(x))
    }

    /// `acc + x` rounded once to the accumulator's format.
    fn acc_add(self, acc: f64, x: f64) -> f64 {
        self.acc.map_or(acc + x, |f| f.round_sum(acc, x))
    }

    /// The sum of a lane in index order, in the accumulator.
    fn acc_sum(self, lane: impl IntoIterator<Item = f64>) -> f64 {
        lane.into_iter().fold(0.0, |s, x| self.acc_add(s, x))
    }
}

/// Evaluate every node `roots` depend on, in the format; entry `i` is `Some` for each
/// evaluated node. `graph` is a program's forward graph, or a derived gradient graph that
/// extends it; `grads` holds the values of `grad(NAME)` symbols (the upstream gradient of an
/// output). Leaves and gradients enter rounded to the format (the midpoint of an enclosure).
/// The rounding of every op is described in the module's documentation.
pub fn eval_nodes(
    program: &Program,
    graph: &Graph,
    leaves: &HashMap<TensorId, Tensor<Num>>,
    grads: &HashMap<TensorId, Tensor<Num>>,
    format: Format,
    roots: &[NodeId],
) -> Result<Vec<Option<Arr>>, FloatError> {
    let n = graph.len();
    let mut needed = vec![false; n];
    for r in roots {
        needed[r.0 as usize] = true;
    }
    for i in (0..n).rev() {
        if needed[i] {
            for a in &graph.node(NodeId(i as u32)).args {
                needed[a.0 as usize] = true;
            }
        }
    }
    // Python numbers: scalars computed from constants only.
    let mut python = vec![false; n];
    for (id, node) in graph.nodes() {
        python[id.0 as usize] = node.shape.is_empty()
            && !matches!(node.op, Op::Leaf(_) | Op::GradOf(_) | Op::FnParam(_))
            && node.args.iter().all(|a| python[a.0 as usize]);
    }
    let mut values: Vec<Option<Arr>> = vec![None; n];
    for i in 0..n {
        if !needed[i] {
            continue;
        }
        let id = NodeId(i as u32);
        let node = graph.node(id);
        let arith = if python[i] {
            Arith::PYTHON
        } else {
            Arith::tensor(format)
        };
        let args: Vec<Cow<Arr>> = node
            .args
            .iter()
            .map(|a| {
                let v = values[a.0 as usize]
                    .as_ref()
                    .expect("arguments are evaluated first");
                if python[a.0 as usize] && !python[i] {
                    // A Python number read by a tensor op: cast to its opmath type.
                    Cow::Owned(v.mapv(|x| Format::F32.round(x)))
                } else {
                    Cow::Borrowed(v)
                }
            })
            .collect();
        let args: Vec<&Arr> = args.iter().map(|a| a.as_ref()).collect();
        let ctx = Ctx {
            program,
            graph,
            leaves,
            grads,
            format,
        };
        let v = ctx
            .node(id, &args, arith)
            .map_err(|kind| FloatError { node: id, kind })?;
        values[i] = Some(v);
    }
    Ok(values)
}

/// The forward pass of every named tensor, in program order.
pub fn trace(
    program: &Program,
    leaves: &HashMap<TensorId, Tensor<Num>>,
    format: Format,
) -> Result<Vec<(TensorId, Arr)>, FloatError> {
    let roots: Vec<NodeId> = program.tensors.iter().map(|t| t.node).collect();
    let values = eval_nodes(
        program,
        &program.graph,
        leaves,
        &HashMap::new(),
        format,
        &roots,
    )?;
    Ok(program
        .tensors
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                TensorId(i as u32),
                values[t.node.0 as usize]
                    .clone()
                    .expect("roots are evaluated"),
            )
        })
        .collect())
}

struct Ctx<'a> {
    program: &'a Program,
    graph: &'a Graph,
    leaves: &'a HashMap<TensorId, Tensor<Num>>,
    grads: &'a HashMap<TensorId, Tensor<Num>>,
    format: Format,
}

fn scalar(x: f64) -> Arr {
    ArrayD::from_elem(IxDyn(&[]), x)
}

fn from_vec(shape: &[usize], data: Vec<f64>) -> FResult<Arr> {
    ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|_| FloatErrorKind::Internal("from_vec"))
}

fn map(a: &Arr, f: impl Fn(f64) -> f64) -> Arr {
    a.mapv(f)
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

/// Elementwise with numpy broadcasting.
fn zip(a: &Arr, b: &Arr, f: impl Fn(f64, f64) -> f64) -> FResult<Arr> {
    let bad = || FloatErrorKind::Internal("broadcast");
    let shape = broadcast_shape(a.shape(), b.shape()).ok_or_else(bad)?;
    let av = a.broadcast(IxDyn(&shape)).ok_or_else(bad)?;
    let bv = b.broadcast(IxDyn(&shape)).ok_or_else(bad)?;
    let data: Vec<f64> = av.iter().zip(bv.iter()).map(|(x, y)| f(*x, *y)).collect();
    from_vec(&shape, data)
}

/// Apply `f` to every lane along `axes` (moved last, in order). A lane-length result keeps
/// the input's shape (`keep`); anything else gives the kept axes' shape.
fn map_lanes(
    a: &Arr,
    axes: &[usize],
    keep: bool,
    mut f: impl FnMut(&[f64]) -> FResult<Vec<f64>>,
) -> FResult<Arr> {
    let rank = a.ndim();
    let kept: Vec<usize> = (0..rank).filter(|i| !axes.contains(i)).collect();
    let mut perm = kept.clone();
    perm.extend_from_slice(axes);
    let moved = a.view().permuted_axes(IxDyn(&perm));
    let data: Vec<f64> = moved.iter().copied().collect();
    let lane: usize = axes.iter().map(|&i| a.shape()[i]).product();
    let mut out = Vec::with_capacity(data.len());
    let mut out_lane = 0;
    if lane == 0 {
        let count: usize = kept.iter().map(|&i| a.shape()[i]).product();
        for _ in 0..count {
            let r = f(&[])?;
            out_lane = r.len();
            out.extend(r);
        }
    } else {
        for chunk in data.chunks(lane) {
            let r = f(chunk)?;
            out_lane = r.len();
            out.extend(r);
        }
    }
    let kept_shape: Vec<usize> = kept.iter().map(|&i| a.shape()[i]).collect();
    if keep && out_lane == lane {
        let mut moved_shape = kept_shape;
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

/// Reduce `axes` with `f`, keeping them as size 1 if asked.
fn reduce(
    a: &Arr,
    axes: &[usize],
    keepdims: bool,
    mut f: impl FnMut(&[f64]) -> FResult<f64>,
) -> FResult<Arr> {
    let r = map_lanes(a, axes, false, |lane| Ok(vec![f(lane)?]))?;
    if !keepdims {
        return Ok(r);
    }
    let shape: Vec<usize> = (0..a.ndim())
        .map(|i| if axes.contains(&i) { 1 } else { a.shape()[i] })
        .collect();
    from_vec(&shape, r.iter().copied().collect())
}

/// The largest (or smallest) entry; NaN if any entry is NaN, as `torch.max`.
fn extreme(lane: &[f64], largest: bool) -> f64 {
    let mut best = if largest {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    for &x in lane {
        if x.is_nan() {
            return f64::NAN;
        }
        if (largest && x > best) || (!largest && x < best) {
            best = x;
        }
    }
    best
}

/// `torch.matmul`: 1-D operands are vectors; leading axes broadcast as batches; each entry
/// a fused multiply-add chain in the accumulator, then rounded to the format.
fn matmul(a: &Arr, b: &Arr, ar: Arith) -> FResult<Arr> {
    let bad = || FloatErrorKind::Internal("matmul");
    let (a2, a_vec) = if a.ndim() == 1 {
        (a.clone().insert_axis(ndarray::Axis(0)), true)
    } else {
        (a.clone(), false)
    };
    let (b2, b_vec) = if b.ndim() == 1 {
        (b.clone().insert_axis(ndarray::Axis(1)), true)
    } else {
        (b.clone(), false)
    };
    let (ra, rb) = (a2.ndim(), b2.ndim());
    if ra < 2 || rb < 2 {
        return Err(bad());
    }
    let (m, k) = (a2.shape()[ra - 2], a2.shape()[ra - 1]);
    let (k2, n) = (b2.shape()[rb - 2], b2.shape()[rb - 1]);
    if k != k2 {
        return Err(bad());
    }
    let batch = broadcast_shape(&a2.shape()[..ra - 2], &b2.shape()[..rb - 2]).ok_or_else(bad)?;
    let mut a_full = batch.clone();
    a_full.extend([m, k]);
    let mut b_full = batch.clone();
    b_full.extend([k, n]);
    let ad: Vec<f64> = a2
        .broadcast(IxDyn(&a_full))
        .ok_or_else(bad)?
        .iter()
        .copied()
        .collect();
    let bd: Vec<f64> = b2
        .broadcast(IxDyn(&b_full))
        .ok_or_else(bad)?
        .iter()
        .copied()
        .collect();
    let count: usize = batch.iter().product();
    let mut out = Vec::with_capacity(count * m * n);
    for bi in 0..count {
        let (ao, bo) = (bi * m * k, bi * k * n);
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0;
                for l in 0..k {
                    acc = ar.acc_add(acc, ad[ao + i * k + l] * bd[bo + l * n + j]);
                }
                out.push(ar.st(acc));
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

/// einsum: for each output index, the sum over the other letters (in the accumulator) of
/// the operands' product (exact for two operands; each further factor rounded to the
/// accumulator), then rounded to the format.
fn einsum(spec: &EinsumSpec, ops: &[&Arr], ar: Arith) -> FResult<Arr> {
    let mut size: HashMap<char, usize> = HashMap::new();
    for (letters, t) in spec.inputs.iter().zip(ops) {
        if letters.len() != t.ndim() {
            return Err(FloatErrorKind::Internal("einsum"));
        }
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
    let out_shape: Vec<usize> = spec
        .output
        .iter()
        .map(|c| {
            size.get(c)
                .copied()
                .ok_or(FloatErrorKind::Internal("einsum"))
        })
        .collect::<FResult<_>>()?;
    let sum_shape: Vec<usize> = summed.iter().map(|c| size[c]).collect();
    let out_count: usize = out_shape.iter().product();
    let sum_count: usize = sum_shape.iter().product();
    let mut index: HashMap<char, usize> = HashMap::new();
    let mut out = Vec::with_capacity(out_count);
    let mut idx = Vec::new();
    for o in 0..out_count {
        assign(&spec.output, &out_shape, o, &mut index);
        let mut acc = 0.0;
        for s in 0..sum_count {
            assign(&summed, &sum_shape, s, &mut index);
            let mut prod: Option<f64> = None;
            for (letters, t) in spec.inputs.iter().zip(ops) {
                idx.clear();
                idx.extend(letters.iter().map(|c| index[c]));
                let x = t[IxDyn(&idx)];
                prod = Some(match prod {
                    None => x,
                    Some(q) => ar.ac(q * x),
                });
            }
            acc = ar.acc_add(acc, prod.unwrap_or(1.0));
        }
        out.push(ar.st(acc));
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

/// A token id: a whole number in `0..n`.
fn token_id(x: f64, n: usize) -> FResult<usize> {
    if x.is_finite() && x.fract() == 0.0 && x >= 0.0 && x < n as f64 {
        Ok(x as usize)
    } else {
        Err(FloatErrorKind::BadToken { value: x, range: n })
    }
}

/// softmax of a lane, as PyTorch's kernel: in the accumulator's format, `e_i = exp(x_i − m)`
/// with m the lane's max, `p_i = e_i / Σ e_j`, then rounded to the format. A lane of only −∞
/// is NaN (as PyTorch gives).
fn softmax(lane: &[f64], ar: Arith) -> Vec<f64> {
    let m = extreme(lane, true);
    let e: Vec<f64> = lane.iter().map(|&x| ar.ac(ar.ac(x - m).exp())).collect();
    let total = ar.acc_sum(e.iter().copied());
    e.iter().map(|&t| ar.st(ar.ac(t / total))).collect()
}

/// logsoftmax of a lane: `(x_i − m) − log Σ exp(x_j − m)` in the accumulator's format.
fn logsoftmax(lane: &[f64], ar: Arith) -> Vec<f64> {
    let m = extreme(lane, true);
    let d: Vec<f64> = lane.iter().map(|&x| ar.ac(x - m)).collect();
    let total = ar.acc_sum(d.iter().map(|&x| ar.ac(x.exp())));
    let log_total = ar.ac(total.ln());
    d.iter().map(|&x| ar.st(ar.ac(x - log_total))).collect()
}

/// `torch.logsumexp`'s composite: `log(sum(exp(x − m))) + m`, each step rounded to the
/// format (the sum accumulated), with an infinite max replaced by 0.
fn logsumexp(lane: &[f64], ar: Arith) -> f64 {
    let m = extreme(lane, true);
    let shift = if m.is_infinite() { 0.0 } else { m };
    let exps = lane.iter().map(|&x| ar.st(ar.add(x, -shift).exp()));
    let total = ar.st(ar.acc_sum(exps));
    ar.add(ar.st(total.ln()), shift)
}

/// An elementwise function in f64 (rounded once by the caller).
pub fn func(f: Func, x: f64) -> f64 {
    match f {
        Func::Exp => x.exp(),
        Func::Log => x.ln(),
        Func::Sqrt => x.sqrt(),
        Func::Tanh => x.tanh(),
        Func::Erf => erf(x),
        Func::Sigmoid => sigmoid(x),
        Func::Relu => {
            if x.is_nan() {
                x
            } else {
                x.max(0.0)
            }
        }
        Func::Gelu => x * phi(x),
        Func::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        }
        Func::Silu => x * sigmoid(x),
        Func::Phi => phi(x),
        // relu's derivative as PyTorch takes it: 0 at 0.
        Func::Step => {
            if x.is_nan() {
                x
            } else if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Φ(x) = erfc(−x/√2)/2, accurate in both tails.
fn phi(x: f64) -> f64 {
    0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// erf in f64 (relative error near 1e-15 for |x| < 3 and beyond): the series
/// `2/√π · e^(−x²) Σ (2x²)ⁿ x / (1·3···(2n+1))` (positive terms, no cancellation) below 3,
/// `1 − erfc(x)` above.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a >= 3.0 {
        return (1.0 - erfc(a)).copysign(x);
    }
    let two_x2 = 2.0 * a * a;
    let mut term = a;
    let mut sum = a;
    let mut n = 0.0;
    while term > sum * 1e-18 {
        n += 1.0;
        term *= two_x2 / (2.0 * n + 1.0);
        sum += term;
    }
    (std::f64::consts::FRAC_2_SQRT_PI * (-a * a).exp() * sum).copysign(x)
}

/// erfc in f64: `1 − erf(x)` below 3, the continued fraction
/// `e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))` from 3 on (relative error
/// near 1e-13 at worst, where x² is large).
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < 3.0 {
        return 1.0 - erf(x);
    }
    if x > 27.3 {
        return 0.0;
    }
    let mut t = x;
    for k in (1..=120).rev() {
        t = x + (k as f64 / 2.0) / t;
    }
    (-x * x).exp() / (std::f64::consts::PI.sqrt() * t)
}

/// `x ** e` for a rational exponent, in f64: integer powers by repeated products (as
/// PyTorch does for small ones), square roots by `sqrt`, others by `powf`.
fn power(x: f64, e: &num_rational::BigRational) -> f64 {
    use num_traits::ToPrimitive;
    if e.is_integer() {
        if let Some(k) = e.to_integer().to_i32() {
            return x.powi(k);
        }
    }
    let half = num_rational::BigRational::new(1.into(), 2.into());
    if *e == half {
        return x.sqrt();
    }
    if *e == -half {
        return 1.0 / x.sqrt();
    }
    x.powf(e.to_f64().unwrap_or(f64::NAN))
}

impl Ctx<'_> {
    fn sizes(&self, node: NodeId) -> FResult<Vec<usize>> {
        self.program
            .dims
            .sizes(self.graph.shape(node))
            .ok_or(FloatErrorKind::Unsized)
    }

    /// A size that may be 0 (a slice's start, a pad's width) at the sizes in use.
    fn offset(&self, p: &crate::ir::DimPoly) -> FResult<usize> {
        self.program.dims.offset(p).ok_or(FloatErrorKind::Unsized)
    }

    /// A leaf's (or gradient's) exact values rounded to the format (not rounded: token ids).
    fn enter(&self, v: &Tensor<Num>, round: bool) -> Arr {
        v.mapv_ref_f64(|n| {
            let x = n.to_f64();
            if round {
                self.format.round(x)
            } else {
                x
            }
        })
    }

    fn node(&self, id: NodeId, args: &[&Arr], ar: Arith) -> FResult<Arr> {
        let node = self.graph.node(id);
        let program = self.program;
        let arg = |i: usize| -> FResult<&Arr> {
            args.get(i)
                .copied()
                .ok_or(FloatErrorKind::Internal("missing argument"))
        };
        Ok(match &node.op {
            Op::Leaf(t) => {
                let v = self.leaves.get(t).ok_or(FloatErrorKind::MissingLeaf(*t))?;
                let want = self.sizes(id)?;
                if v.shape() != want.as_slice() {
                    return Err(FloatErrorKind::LeafShape {
                        tensor: *t,
                        found: v.shape().to_vec(),
                        expected: want,
                    });
                }
                let tokens = program.token_leaves.iter().any(|l| l.tensor == *t);
                self.enter(v, !tokens)
            }
            Op::Literal(r) => scalar(ar.st(Num::exact(r.clone()).to_f64())),
            Op::Pi => scalar(ar.st(std::f64::consts::PI)),
            Op::DimSize(d) => {
                let v = program.dims.eval(d).ok_or(FloatErrorKind::Unsized)?;
                scalar(ar.st(Num::exact(v).to_f64()))
            }
            Op::Neg => map(arg(0)?, |x| -x),
            Op::Add => zip(arg(0)?, arg(1)?, |a, b| ar.add(a, b))?,
            Op::Sub => zip(arg(0)?, arg(1)?, |a, b| ar.add(a, -b))?,
            Op::Mul => zip(arg(0)?, arg(1)?, |a, b| ar.st(a * b))?,
            Op::Div => zip(arg(0)?, arg(1)?, |a, b| ar.st(a / b))?,
            Op::MatMul => matmul(arg(0)?, arg(1)?, ar)?,
            Op::Pow(e) => map(arg(0)?, |x| ar.st(power(x, e))),
            Op::Func(f) => map(arg(0)?, |x| ar.st(func(*f, x))),
            Op::Reduce {
                kind,
                axes,
                keepdims,
            } => {
                let a = arg(0)?;
                let count: usize = axes.iter().map(|&i| a.shape()[i]).product();
                reduce(a, axes, *keepdims, |lane| {
                    Ok(match kind {
                        ReduceKind::Sum => ar.st(ar.acc_sum(lane.iter().copied())),
                        ReduceKind::Mean => ar.st(ar.acc_sum(lane.iter().copied()) / count as f64),
                        ReduceKind::Max => extreme(lane, true),
                        ReduceKind::Min => extreme(lane, false),
                        ReduceKind::LogSumExp => logsumexp(lane, ar),
                    })
                })?
            }
            Op::Softmax { axis } => {
                map_lanes(arg(0)?, &[*axis], true, |lane| Ok(softmax(lane, ar)))?
            }
            Op::LogSoftmax { axis } => {
                map_lanes(arg(0)?, &[*axis], true, |lane| Ok(logsoftmax(lane, ar)))?
            }
            Op::Causal => below_diagonal(arg(0)?, f64::NEG_INFINITY)?,
            Op::Tril => below_diagonal(arg(0)?, 0.0)?,
            Op::SwapAxes(i, j) => {
                let mut a = arg(0)?.clone();
                a.swap_axes(*i, *j);
                a.as_standard_layout().into_owned()
            }
            Op::Reshape(_) => {
                let want = self.sizes(id)?;
                from_vec(&want, arg(0)?.iter().copied().collect())?
            }
            Op::Permute(perm) => arg(0)?
                .view()
                .permuted_axes(IxDyn(perm))
                .as_standard_layout()
                .into_owned(),
            Op::Einsum(spec) => einsum(spec, args, ar)?,
            Op::Trace => {
                let a = arg(0)?;
                let r = a.ndim();
                if r < 2 {
                    return Err(FloatErrorKind::Internal("trace"));
                }
                let n = a.shape()[r - 1];
                map_lanes(a, &[r - 2, r - 1], false, |lane| {
                    Ok(vec![ar.st(ar.acc_sum((0..n).map(|i| lane[i * n + i])))])
                })?
            }
            Op::Eye(_) => {
                let want = self.sizes(id)?;
                let n = want.first().copied().unwrap_or(0);
                from_vec(
                    &want,
                    (0..n * n)
                        .map(|k| f64::from(u8::from(k / n == k % n)))
                        .collect(),
                )?
            }
            Op::LayerNorm => layer_norm(arg(0)?, arg(1)?, arg(2)?, arg(3)?, ar)?,
            Op::RmsNorm => rms_norm(arg(0)?, arg(1)?, arg(2)?, ar)?,
            Op::OneHot(_) => {
                let want = self.sizes(id)?;
                let n = want.last().copied().unwrap_or(0);
                let mut data = Vec::with_capacity(want.iter().product());
                for &x in arg(0)?.iter() {
                    let k = token_id(x, n)?;
                    data.extend((0..n).map(|j| f64::from(u8::from(j == k))));
                }
                from_vec(&want, data)?
            }
            Op::Arange(_) => {
                let want = self.sizes(id)?;
                let n = want.first().copied().unwrap_or(0);
                from_vec(&want, (0..n).map(|k| k as f64).collect())?
            }
            Op::Embedding => {
                let (table, ids) = (arg(0)?, arg(1)?);
                let want = self.sizes(id)?;
                if table.ndim() != 2 {
                    return Err(FloatErrorKind::Internal("embedding"));
                }
                let (rows, width) = (table.shape()[0], table.shape()[1]);
                let flat: Vec<f64> = table.iter().copied().collect();
                let mut data = Vec::with_capacity(want.iter().product());
                for &x in ids.iter() {
                    let k = token_id(x, rows)?;
                    data.extend_from_slice(&flat[k * width..(k + 1) * width]);
                }
                from_vec(&want, data)?
            }
            Op::Rope => rope(arg(0)?, false, ar)?,
            Op::Unrope => rope(arg(0)?, true, ar)?,
            Op::Repeat { axis, .. } => {
                let want = self.sizes(id)?;
                let a = arg(0)?;
                let times = want[*axis] / a.shape()[*axis].max(1);
                ArrayD::from_shape_fn(IxDyn(&want), |idx| {
                    let mut from = idx.clone();
                    from[*axis] /= times.max(1);
                    a[from]
                })
            }
            Op::Slice { axis, start, end } => {
                let (s, e) = (self.offset(start)?, self.offset(end)?);
                slice_axis(arg(0)?, *axis, s, e).ok_or(FloatErrorKind::Unsized)?
            }
            Op::Pad {
                axis,
                before,
                after,
            } => {
                let (b, e) = (self.offset(before)?, self.offset(after)?);
                pad_axis(arg(0)?, *axis, b, e, 0.0).ok_or(FloatErrorKind::Internal("pad"))?
            }
            Op::Concat { axis } => {
                let parts = (0..node.args.len())
                    .map(&arg)
                    .collect::<FResult<Vec<_>>>()?;
                concat_axis(&parts, *axis).ok_or(FloatErrorKind::Internal("concat"))?
            }
            Op::GradOf(t) => {
                let v = self.grads.get(t).ok_or(FloatErrorKind::MissingGrad(*t))?;
                self.enter(v, true)
            }
            Op::FnParam(_) => return Err(FloatErrorKind::FnParam),
            Op::Expand(_) => {
                let want = self.sizes(id)?;
                arg(0)?
                    .broadcast(IxDyn(&want))
                    .ok_or(FloatErrorKind::Internal("expand"))?
                    .as_standard_layout()
                    .into_owned()
            }
            Op::Eq => zip(arg(0)?, arg(1)?, |a, b| f64::from(u8::from(a == b)))?,
        })
    }
}

/// Map exact values to f64 values of the same shape.
trait MapF64 {
    fn mapv_ref_f64(&self, f: impl Fn(&Num) -> f64) -> Arr;
}

impl MapF64 for Tensor<Num> {
    fn mapv_ref_f64(&self, f: impl Fn(&Num) -> f64) -> Arr {
        let data: Vec<f64> = self.iter().map(f).collect();
        ArrayD::from_shape_vec(IxDyn(self.shape()), data).expect("same shape")
    }
}

/// `a` with the entries strictly above the diagonal of the last two axes set to `fill`.
fn below_diagonal(a: &Arr, fill: f64) -> FResult<Arr> {
    let r = a.ndim();
    if r < 2 {
        return Err(FloatErrorKind::Internal("mask"));
    }
    let mut out = a.as_standard_layout().into_owned();
    for (idx, v) in out.indexed_iter_mut() {
        if idx[r - 1] > idx[r - 2] {
            *v = fill;
        }
    }
    Ok(out)
}

/// PyTorch's `native_layer_norm` over the last axis, in the accumulator's format: mean and
/// biased variance (two passes), `rstd = 1/sqrt(var + eps)`, `((x − μ)·rstd)·g + b`, then
/// rounded to the format.
fn layer_norm(x: &Arr, g: &Arr, b: &Arr, eps: &Arr, ar: Arith) -> FResult<Arr> {
    if x.ndim() == 0 {
        return Err(FloatErrorKind::Internal("layer norm"));
    }
    let last = x.ndim() - 1;
    let n = x.shape()[last] as f64;
    let mean = |t: &Arr| {
        reduce(t, &[last], true, |lane| {
            Ok(ar.ac(ar.acc_sum(lane.iter().copied()) / n))
        })
    };
    let mu = mean(x)?;
    let xc = zip(x, &mu, |a, m| ar.ac(a - m))?;
    let var = mean(&xc.mapv(|a| ar.ac(a * a)))?;
    let rstd = zip(&var, eps, |v, e| ar.ac(1.0 / ar.ac(ar.ac(v + e).sqrt())))?;
    let xhat = zip(&xc, &rstd, |a, r| ar.ac(a * r))?;
    let scaled = zip(&xhat, g, |a, c| ar.ac(a * c))?;
    zip(&scaled, b, |a, c| ar.st(ar.ac(a + c)))
}

/// PyTorch's `rms_norm`: `x · rsqrt(mean(x²) + eps)` in the accumulator's format, rounded
/// to the format, then times `g` in the format.
fn rms_norm(x: &Arr, g: &Arr, eps: &Arr, ar: Arith) -> FResult<Arr> {
    if x.ndim() == 0 {
        return Err(FloatErrorKind::Internal("rms norm"));
    }
    let last = x.ndim() - 1;
    let n = x.shape()[last] as f64;
    let ms = reduce(x, &[last], true, |lane| {
        Ok(ar.ac(ar.acc_sum(lane.iter().map(|&a| ar.ac(a * a))) / n))
    })?;
    let r = zip(&ms, eps, |m, e| ar.ac(1.0 / ar.ac(ar.ac(m + e).sqrt())))?;
    let y = zip(x, &r, |a, r| ar.st(ar.ac(a * r)))?;
    zip(&y, g, |a, c| ar.st(a * c))
}

/// `rope(x)` (or, `inverse`, rotated back) over the last two axes `[.., T, d]`, as the
/// framework code does it: the cosines and sines of t·10000^(−2i/d) taken in f64 and stored
/// in the format, then `x₂ᵢ c − x₂ᵢ₊₁ s` and `x₂ᵢ s + x₂ᵢ₊₁ c` with each product and the sum
/// rounded to the format.
fn rope(x: &Arr, inverse: bool, ar: Arith) -> FResult<Arr> {
    let r = x.ndim();
    if r < 2 {
        return Err(FloatErrorKind::Internal("rope"));
    }
    let (positions, d) = (x.shape()[r - 2], x.shape()[r - 1]);
    if d % 2 == 1 {
        return Err(FloatErrorKind::Internal(
            "rope of an odd number of features",
        ));
    }
    let angles: Vec<Vec<(f64, f64)>> = (0..positions)
        .map(|t| {
            (0..d / 2)
                .map(|i| {
                    let theta = 10000f64.powf(-2.0 * i as f64 / d as f64);
                    let angle = t as f64 * theta;
                    let s = if inverse { -angle.sin() } else { angle.sin() };
                    (ar.st(angle.cos()), ar.st(s))
                })
                .collect()
        })
        .collect();
    let x = x.as_standard_layout().into_owned();
    let mut out = x.clone();
    for (idx, v) in out.indexed_iter_mut() {
        let (t, j) = (idx[r - 2], idx[r - 1]);
        let (c, s) = angles[t][j / 2];
        let mut pair = idx.clone();
        pair[r - 1] = j ^ 1;
        let kept = ar.st(x[&idx] * c);
        let turned = ar.st(x[&pair] * s);
        *v = if j % 2 == 0 {
            ar.add(kept, -turned)
        } else {
            ar.add(kept, turned)
        };
    }
    Ok(out)
}

/// One named tensor's errors against the exact values.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub tensor: TensorId,
    pub entries: usize,
    /// The largest error in ulps of the format at the exact value, over the entries where
    /// both values are finite (overflowed entries are counted apart).
    pub max_ulps: f64,
    /// The largest relative error |f − x|/|x| over the same entries, leaving out those
    /// whose exact value is 0 or an enclosure around 0 (there it has no meaning).
    pub max_rel: f64,
    /// Entries whose exact value is 0, or an enclosure around 0 (the value is 0 to the
    /// working precision): no relative error; the float's largest |f| there is `zero_abs`.
    pub zeros: usize,
    pub zero_abs: f64,
    /// Entries that are ±∞ or NaN where the exact value is finite.
    pub overflow: usize,
    /// Entries that underflow as IEEE defines it (tiny and inexact): 0 or subnormal in the
    /// format where the exact value is nonzero and differs. This includes every entry whose
    /// exact value is normal-sized in the format but came out 0 or subnormal.
    pub underflow: usize,
    /// The first overflowed entry, row-major.
    pub first_overflow: Option<Vec<usize>>,
    /// Where the largest relative error is (`None` if every entry is exact).
    pub worst: Option<Vec<usize>>,
    /// The largest `max_rel` among the named tensors this one's expression reads (`None` for
    /// a leaf or a constant, which read none).
    pub input_rel: Option<f64>,
}

/// The measurement of a float run against the exact one.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub format: Format,
    /// One row per named tensor, in program order.
    pub rows: Vec<Row>,
    /// The first tensor (in program order) with an overflowed entry.
    pub first_overflow: Option<TensorId>,
    /// The tensor whose max relative error grows most relative to the worst of its inputs'
    /// (each input's counted as at least the unit roundoff, what rounding exact inputs
    /// costs): precision lost, typically by cancellation. `None` if no tensor's error grows.
    pub largest_loss: Option<TensorId>,
}

impl Report {
    pub fn row(&self, t: TensorId) -> Option<&Row> {
        self.rows.iter().find(|r| r.tensor == t)
    }

    /// How much a row's error grew over its inputs': `max_rel / max(input_rel, u)`.
    pub fn growth(&self, row: &Row) -> Option<f64> {
        let input = row.input_rel?;
        Some(row.max_rel / input.max(self.format.unit_roundoff()))
    }
}

/// Measure one tensor's entries.
fn measure(tensor: TensorId, exact: &Tensor<Num>, float: &Arr, format: Format) -> Row {
    let mut row = Row {
        tensor,
        entries: exact.len(),
        max_ulps: 0.0,
        max_rel: 0.0,
        zeros: 0,
        zero_abs: 0.0,
        overflow: 0,
        underflow: 0,
        first_overflow: None,
        worst: None,
        input_rel: None,
    };
    if exact.shape() != float.shape() {
        // Not the same program: nothing can be measured.
        row.max_ulps = f64::NAN;
        row.max_rel = f64::NAN;
        return row;
    }
    let exact = exact.as_standard_layout();
    let float = float.as_standard_layout();
    for ((idx, e), &f) in exact.indexed_iter().zip(float.iter()) {
        let here = || idx.slice().to_vec();
        let x = e.to_f64();
        if e.is_neg_inf() && f == f64::NEG_INFINITY {
            continue; // a masked entry of causal, as it should be
        }
        if !f.is_finite() {
            // ±∞ or NaN where the exact value is finite (or −∞ came out otherwise).
            row.overflow += 1;
            if row.first_overflow.is_none() {
                row.first_overflow = Some(here());
            }
            continue;
        }
        if !x.is_finite() {
            // The exact value is −∞ (or beyond f64) and the float is finite.
            row.max_ulps = f64::INFINITY;
            row.max_rel = f64::INFINITY;
            row.worst = Some(here());
            continue;
        }
        if e.contains(&num_rational::BigRational::from_integer(0.into())) {
            row.zeros += 1;
            row.zero_abs = row.zero_abs.max(f.abs());
            continue;
        }
        let err = (f - x).abs();
        let ulps = err / format.ulp(x);
        let rel = err / x.abs();
        if format.is_tiny(f) && f != x {
            row.underflow += 1;
        }
        row.max_ulps = row.max_ulps.max(ulps);
        if rel > row.max_rel {
            row.max_rel = rel;
            row.worst = Some(here());
        }
    }
    row
}

/// The named tensors each named tensor's expression reads directly (walking its nodes back
/// to nodes that other named tensors name).
fn inputs(program: &Program) -> Vec<Vec<TensorId>> {
    let mut named: HashMap<NodeId, TensorId> = HashMap::new();
    for (i, t) in program.tensors.iter().enumerate() {
        named.entry(t.node).or_insert(TensorId(i as u32));
    }
    program
        .tensors
        .iter()
        .map(|t| {
            let mut out = Vec::new();
            let mut seen = HashSet::new();
            let mut stack: Vec<NodeId> = program.graph.node(t.node).args.clone();
            while let Some(n) = stack.pop() {
                if !seen.insert(n) {
                    continue;
                }
                match named.get(&n) {
                    Some(&other) => {
                        if !out.contains(&other) {
                            out.push(other);
                        }
                    }
                    None => stack.extend(program.graph.node(n).args.iter().copied()),
                }
            }
            out
        })
        .collect()
}

/// Measure a float run against the exact one: per named tensor (in the order of `exact`,
/// program order from `exact::run::trace`), the largest error in ulps and relative, the
/// overflowed and underflowed entries; the first tensor that overflows and the one that loses
/// the most precision. Errors are measured against the exact value as f64 (for an
/// enclosure, its midpoint: enclosures are narrower than 2^-128 relative, far below any
/// float ulp). A measurement, never an equality verdict.
pub fn compare(
    program: &Program,
    exact: &[(TensorId, Tensor<Num>)],
    float: &[(TensorId, Arr)],
    format: Format,
) -> Report {
    let float_of: HashMap<TensorId, &Arr> = float.iter().map(|(t, v)| (*t, v)).collect();
    let mut rows: Vec<Row> = exact
        .iter()
        .filter_map(|(t, e)| float_of.get(t).map(|f| measure(*t, e, f, format)))
        .collect();
    let reads = inputs(program);
    let rel_of: HashMap<TensorId, f64> = rows.iter().map(|r| (r.tensor, r.max_rel)).collect();
    for row in &mut rows {
        let ins = reads
            .get(row.tensor.0 as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let rels: Vec<f64> = ins.iter().filter_map(|t| rel_of.get(t).copied()).collect();
        if !rels.is_empty() {
            row.input_rel = Some(rels.iter().copied().fold(0.0, f64::max));
        }
    }
    let mut report = Report {
        format,
        first_overflow: rows.iter().find(|r| r.overflow > 0).map(|r| r.tensor),
        largest_loss: None,
        rows,
    };
    let mut best: Option<(f64, TensorId)> = None;
    for row in &report.rows {
        if let Some(g) = report.growth(row) {
            if g.is_finite() && g > 1.0 && best.is_none_or(|(b, _)| g > b) {
                best = Some((g, row.tensor));
            }
        }
    }
    report.largest_loss = best.map(|(_, t)| t);
    report
}
