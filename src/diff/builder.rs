//! Building gradient nodes with their shapes, kept tidy as they are built.
//!
//! Owns construction of new nodes in a gradient graph: each node's shape comes from the one
//! shape rule (`ir::op::infer`), and the helpers drop the no-ops a person would not write
//! (`x * 1`, `--x`, `x ** 1`, a reshape or expand to the same shape, a pad of nothing), and
//! write the sum of the gradients of slices that tile a tensor as one concat, as a paper
//! does (`dqkv = concat(dq, dk, dv)`, not a sum of zero-padded parts). A [`RuleError::Shape`]
//! means a gradient rule produced inconsistent shapes: a bug, reported with the op's name
//! rather than a panic.

use crate::ir::shape::{self, Shape, ShapeError};
use crate::ir::{DimPoly, Dims, Func, Graph, NodeId, Op, ReduceKind};
use crate::source::Span;
use num_rational::BigRational;
use num_traits::{One, Zero};

/// Why a gradient rule could not build its nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleError {
    /// A node whose arguments do not fit its op's shape rule (a bug in a rule).
    Shape { op: &'static str, error: ShapeError },
    /// A construct whose gradient is not supported, in words.
    Unsupported(String),
}

impl RuleError {
    pub fn message(&self, dims: &Dims) -> String {
        match self {
            RuleError::Shape { op, error } => {
                format!(
                    "internal: a gradient rule built `{op}` on arguments that do not fit it: {}",
                    error.message(dims, op)
                )
            }
            RuleError::Unsupported(why) => why.clone(),
        }
    }
}

pub type BResult = Result<NodeId, RuleError>;

pub struct Builder<'a> {
    pub graph: &'a mut Graph,
    pub dims: &'a Dims,
    /// The span of the forward node whose rule is running (for messages and rendering).
    pub span: Span,
}

impl Builder<'_> {
    pub fn shape(&self, n: NodeId) -> Shape {
        self.graph.shape(n).clone()
    }

    /// `op` on `args`, its shape by the one shape rule.
    fn apply(&mut self, op: Op, args: Vec<NodeId>) -> BResult {
        let name = op.name();
        self.graph
            .apply(self.dims, op, args, self.span)
            .map_err(|error| RuleError::Shape { op: name, error })
    }

    fn literal_value(&self, n: NodeId) -> Option<&BigRational> {
        match &self.graph.node(n).op {
            Op::Literal(r) => Some(r),
            _ => None,
        }
    }

    /// A scalar with no arguments (a number, a size, π): its shape is `[]`.
    fn scalar(&mut self, op: Op) -> NodeId {
        self.graph.add(crate::ir::Node {
            op,
            args: vec![],
            shape: vec![],
            span: self.span,
        })
    }

    pub fn lit(&mut self, r: BigRational) -> NodeId {
        self.scalar(Op::Literal(r))
    }

    pub fn pi(&mut self) -> NodeId {
        self.scalar(Op::Pi)
    }

    pub fn int(&mut self, n: i64) -> NodeId {
        self.lit(BigRational::from_integer(n.into()))
    }

    pub fn dim_size(&mut self, p: DimPoly) -> NodeId {
        self.scalar(Op::DimSize(p))
    }

    fn elementwise(&mut self, op: Op, a: NodeId, b: NodeId) -> BResult {
        let name = op.name();
        let s = shape::broadcast(self.dims, &self.shape(a), &self.shape(b))
            .map_err(|error| RuleError::Shape { op: name, error })?;
        // Broadcasting does what an explicit expand (or a reshape of a scalar to ones) did.
        let a = self.implicit(a, b, &s);
        let b = self.implicit(b, a, &s);
        self.apply(op, vec![a, b])
    }

    /// `x` for an operand `expand(x)` / `reshape(scalar x, [1, …])` whose broadcast against
    /// `other` still gives `result`.
    fn implicit(&self, operand: NodeId, other: NodeId, result: &Shape) -> NodeId {
        let mut current = operand;
        loop {
            let node = self.graph.node(current);
            let inner = match node.op {
                Op::Expand(_) => node.args[0],
                Op::Reshape(_) if self.shape(node.args[0]).is_empty() => node.args[0],
                _ => return current,
            };
            match shape::broadcast(self.dims, &self.shape(inner), &self.shape(other)) {
                Ok(s) if shape::same_shape(self.dims, &s, result) => current = inner,
                _ => return current,
            }
        }
    }

    pub fn add(&mut self, a: NodeId, b: NodeId) -> BResult {
        if self.literal_value(a).is_some_and(|r| r.is_zero())
            && self.shape(b).len() >= self.shape(a).len()
        {
            return Ok(b);
        }
        if self.literal_value(b).is_some_and(|r| r.is_zero())
            && self.shape(a).len() >= self.shape(b).len()
        {
            return Ok(a);
        }
        self.elementwise(Op::Add, a, b)
    }

    /// The sum of a node's gradient contributions, in the order they arrived, with their pads
    /// joined first: pads of one range into the pad of their sum, pads of adjacent ranges
    /// into the pad of their concat (a tensor read by slices that tile it gets
    /// `concat(dq, dk, dv)`, whatever order the slices' gradients came in).
    pub fn sum_all(&mut self, mut terms: Vec<NodeId>) -> BResult {
        let pads = |b: &Builder, t: &[NodeId]| {
            t.iter()
                .filter(|&&n| matches!(b.graph.node(n).op, Op::Pad { .. }))
                .count()
        };
        // Pads of one range first (`pad(dq) + pad(3)` is `pad(dq + 3)`), then adjacent ones.
        'joining: while pads(self, &terms) >= 2 {
            for adjacent in [false, true] {
                for i in 0..terms.len() {
                    for j in i + 1..terms.len() {
                        if let Some(joined) = self.join_pads(terms[i], terms[j], adjacent)? {
                            terms[i] = joined;
                            terms.remove(j);
                            continue 'joining;
                        }
                    }
                }
            }
            break;
        }
        let mut terms = terms.into_iter();
        let first = terms.next().ok_or(RuleError::Shape {
            op: "+",
            error: ShapeError::Arity {
                expected: 1,
                found: 0,
            },
        })?;
        terms.try_fold(first, |acc, t| self.add(acc, t))
    }

    /// Two pads along one axis as one: with `adjacent`, `pad(x, p, q) + pad(y, p', q')`
    /// where `y` starts where `x` ends (in either order) is `pad(concat(x, y), p, q')`;
    /// without, two pads of one range are `pad(x + y, p, q)`. `None` when they are not such
    /// a pair.
    fn join_pads(
        &mut self,
        a: NodeId,
        b: NodeId,
        adjacent: bool,
    ) -> Result<Option<NodeId>, RuleError> {
        let pad = |n: NodeId| match &self.graph.node(n).op {
            Op::Pad {
                axis,
                before,
                after,
            } => Some((
                *axis,
                before.clone(),
                after.clone(),
                self.graph.node(n).args[0],
            )),
            _ => None,
        };
        let (Some(x), Some(y)) = (pad(a), pad(b)) else {
            return Ok(None);
        };
        if x.0 != y.0 || self.shape(a).len() != self.shape(b).len() {
            return Ok(None);
        }
        let axis = x.0;
        if !adjacent {
            if !(self.dims.same(&x.1, &y.1) && self.dims.same(&x.2, &y.2)) {
                return Ok(None);
            }
            let both = self.add(x.3, y.3)?;
            return Ok(Some(self.pad(both, axis, x.1, x.2)?));
        }
        let len = |n: NodeId| self.shape(n)[axis].clone();
        let (first, second) = if self.dims.same(&x.1.add(&len(x.3)), &y.1) {
            (x, y)
        } else if self.dims.same(&y.1.add(&len(y.3)), &x.1) {
            (y, x)
        } else {
            return Ok(None);
        };
        let parts: Vec<NodeId> = [first.3, second.3]
            .into_iter()
            .flat_map(|n| match &self.graph.node(n).op {
                Op::Concat { axis: k } if *k == axis => self.graph.node(n).args.clone(),
                _ => vec![n],
            })
            .collect();
        let joined = self.apply(Op::Concat { axis }, parts)?;
        Ok(Some(self.pad(joined, axis, first.1, second.2)?))
    }

    /// `pad(x, before, after, axis)`, or `x` when both are 0.
    pub fn pad(&mut self, x: NodeId, axis: usize, before: DimPoly, after: DimPoly) -> BResult {
        let zero = DimPoly::constant(0);
        if self.dims.same(&before, &zero) && self.dims.same(&after, &zero) {
            return Ok(x);
        }
        self.apply(
            Op::Pad {
                axis,
                before,
                after,
            },
            vec![x],
        )
    }

    pub fn sub(&mut self, a: NodeId, b: NodeId) -> BResult {
        self.elementwise(Op::Sub, a, b)
    }

    pub fn mul(&mut self, a: NodeId, b: NodeId) -> BResult {
        if self.literal_value(a).is_some_and(|r| r.is_one())
            && self.shape(b).len() >= self.shape(a).len()
        {
            return Ok(b);
        }
        if self.literal_value(b).is_some_and(|r| r.is_one())
            && self.shape(a).len() >= self.shape(b).len()
        {
            return Ok(a);
        }
        self.elementwise(Op::Mul, a, b)
    }

    pub fn div(&mut self, a: NodeId, b: NodeId) -> BResult {
        if self.literal_value(b).is_some_and(|r| r.is_one())
            && self.shape(a).len() >= self.shape(b).len()
        {
            return Ok(a);
        }
        self.elementwise(Op::Div, a, b)
    }

    pub fn eq(&mut self, a: NodeId, b: NodeId) -> BResult {
        self.elementwise(Op::Eq, a, b)
    }

    pub fn neg(&mut self, a: NodeId) -> BResult {
        if let Op::Neg = self.graph.node(a).op {
            return Ok(self.graph.node(a).args[0]);
        }
        self.apply(Op::Neg, vec![a])
    }

    pub fn matmul(&mut self, a: NodeId, b: NodeId) -> BResult {
        self.apply(Op::MatMul, vec![a, b])
    }

    /// Swap the last two axes (`.T`); `(xᵀ)ᵀ` is `x`.
    pub fn t(&mut self, a: NodeId) -> BResult {
        let r = self.shape(a).len();
        if r < 2 {
            return Err(RuleError::Shape {
                op: "transpose",
                error: ShapeError::TooFewAxes { arg: 0, need: 2 },
            });
        }
        if let Op::SwapAxes(i, j) = self.graph.node(a).op {
            if (i, j) == (r - 2, r - 1) {
                return Ok(self.graph.node(a).args[0]);
            }
        }
        self.apply(Op::SwapAxes(r - 2, r - 1), vec![a])
    }

    pub fn swap(&mut self, a: NodeId, i: usize, j: usize) -> BResult {
        self.apply(Op::SwapAxes(i, j), vec![a])
    }

    pub fn pow(&mut self, a: NodeId, p: BigRational) -> BResult {
        if p.is_one() {
            return Ok(a);
        }
        self.apply(Op::Pow(p), vec![a])
    }

    pub fn func(&mut self, f: Func, a: NodeId) -> BResult {
        self.apply(Op::Func(f), vec![a])
    }

    pub fn unary(&mut self, op: Op, a: NodeId) -> BResult {
        self.apply(op, vec![a])
    }

    /// Sum over `axes` (sorted); `keepdims` keeps them as size 1.
    pub fn sum(&mut self, a: NodeId, axes: Vec<usize>, keepdims: bool) -> BResult {
        if axes.is_empty() {
            return Ok(a);
        }
        self.apply(
            Op::Reduce {
                kind: ReduceKind::Sum,
                axes,
                keepdims,
            },
            vec![a],
        )
    }

    pub fn reshape(&mut self, a: NodeId, to: Shape) -> BResult {
        if shape::same_shape(self.dims, &self.shape(a), &to) {
            return Ok(a);
        }
        self.apply(Op::Reshape(to), vec![a])
    }

    pub fn expand(&mut self, a: NodeId, to: Shape) -> BResult {
        if shape::same_shape(self.dims, &self.shape(a), &to) {
            return Ok(a);
        }
        self.apply(Op::Expand(to), vec![a])
    }

    pub fn permute(&mut self, a: NodeId, perm: Vec<usize>) -> BResult {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(a);
        }
        self.apply(Op::Permute(perm), vec![a])
    }

    /// Any op on `args`, its shape by the one shape rule.
    pub fn op(&mut self, op: Op, args: Vec<NodeId>) -> BResult {
        self.apply(op, args)
    }

    /// The gradient of a broadcast operand: sum `g` over the axes broadcasting added or
    /// stretched, so the result has shape `to`.
    pub fn unbroadcast(&mut self, g: NodeId, to: &Shape) -> BResult {
        let gs = self.shape(g);
        if shape::same_shape(self.dims, &gs, to) {
            return Ok(g);
        }
        if gs.len() < to.len() {
            return self.expand(g, to.clone());
        }
        let lead = gs.len() - to.len();
        let mut cur = self.sum(g, (0..lead).collect(), false)?;
        let cs = self.shape(cur);
        let stretched: Vec<usize> = (0..to.len())
            .filter(|&i| self.dims.is_one(&to[i]) && !self.dims.is_one(&cs[i]))
            .collect();
        cur = self.sum(cur, stretched, true)?;
        let cs = self.shape(cur);
        if !shape::same_shape(self.dims, &cs, to) {
            // A size-1 axis of g against a larger target axis: broadcast up.
            cur = self.expand(cur, to.clone())?;
        }
        Ok(cur)
    }
}
