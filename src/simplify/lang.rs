//! The e-graph's language: one e-node per IR operation, in a form rewrite rules can match.
//!
//! Owns [`ENode`] (an [`EOp`] and its children) and its text form, which egg's pattern parser
//! reads (`(@ ?a (T ?b))`, `(rowsum ?x)`, `(^2 ?x)`). Ops that the rules talk about get a
//! variant of their own (`T` is "swap the last two axes", `rowsum` is "sum over the last axis,
//! keeping it"); the rest keep the IR's parameters. Payloads that are not ordered or hashed
//! cheaply (symbolic sizes, shapes, einsum subscripts) are interned in a [`Tables`] and named
//! by index (`#reshape3`). An op's symbol, cost and other facts come from the IR's op table
//! through [`EOp::spec`]; only the e-graph's own normal forms (`T`, `rowsum`, `rowmean`) and
//! payload encodings are spelled here.
//!
//! Invariant: `Display` and `FromOp` are inverse, so explanations print and parse back.

use crate::ir::op::OpSpec;
use crate::ir::{DimPoly, EinsumSpec, Func, Op, ReduceKind, Shape, TensorId};
use egg::{FromOp, Id, Language, Symbol};
use num_rational::BigRational;
use std::fmt;

/// A tensor's name in an e-node. Ordered and hashed by its text, not by egg's interning
/// index: the index depends on which names a process happened to intern first (tests run in
/// parallel threads), and e-classes sort their nodes, so an index order would make
/// saturation that stops at a limit differ from run to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sym(pub Symbol);

impl Sym {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialOrd for Sym {
    fn partial_cmp(&self, other: &Sym) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sym {
    fn cmp(&self, other: &Sym) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Sym {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<T: AsRef<str>> From<T> for Sym {
    fn from(s: T) -> Sym {
        Sym(Symbol::from(s.as_ref()))
    }
}

/// An operation of the e-graph language.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EOp {
    /// A named tensor: a leaf, a const, or a forward statement (saved activation).
    Name(Sym),
    /// `grad(NAME)`: an upstream gradient (a free tensor).
    Grad(Sym),
    /// An exact scalar.
    Num(BigRational),
    /// A size used as a scalar (index into [`Tables::dims`]).
    Dim(u32),
    Pi,
    Neg,
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
    /// `a ** p`.
    Pow(BigRational),
    Func(Func),
    /// Swap the last two axes.
    T,
    /// Swap two axes (not the last two).
    Swap(u8, u8),
    /// Sum over the last axis, keeping it (size 1).
    RowSum,
    /// Mean over the last axis, keeping it.
    RowMean,
    /// Any other reduction: kind, axes, keepdims.
    Reduce(ReduceKind, Vec<u8>, bool),
    /// Softmax over the last axis.
    Softmax,
    SoftmaxAxis(u8),
    LogSoftmax,
    LogSoftmaxAxis(u8),
    Causal,
    Tril,
    Eq,
    Trace,
    /// Identity matrix of an interned shape.
    Eye(u32),
    /// Reshape / broadcast to an interned shape.
    Reshape(u32),
    Expand(u32),
    Permute(Vec<u8>),
    Einsum(u32),
    LayerNorm,
    RmsNorm,
    /// One-hot rows of an interned size (a one-entry shape).
    OneHot(u32),
    /// The positions of an interned shape `[n]`.
    Arange(u32),
    Embedding,
    Rope,
    Unrope,
    /// Repeat along an axis, an interned number of times (a one-entry shape).
    Repeat(u8, u32),
    /// Slice along an axis, `start..end` interned as the shape `[start, end]`.
    Slice(u8, u32),
    /// Pad along an axis, the widths interned as the shape `[before, after]`.
    Pad(u8, u32),
    /// Join any number of arguments along an axis.
    Concat(u8),
}

/// An e-node: an op and its children.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ENode {
    pub op: EOp,
    pub args: Vec<Id>,
}

impl ENode {
    pub fn new(op: EOp, args: Vec<Id>) -> ENode {
        ENode { op, args }
    }

    pub fn leaf(op: EOp) -> ENode {
        ENode { op, args: vec![] }
    }
}

impl Language for ENode {
    type Discriminant = EOp;

    fn discriminant(&self) -> EOp {
        self.op.clone()
    }

    fn matches(&self, other: &Self) -> bool {
        self.op == other.op && self.args.len() == other.args.len()
    }

    fn children(&self) -> &[Id] {
        &self.args
    }

    fn children_mut(&mut self) -> &mut [Id] {
        &mut self.args
    }
}

/// Interned payloads: symbolic sizes, shapes and einsum subscripts.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub dims: Vec<DimPoly>,
    pub shapes: Vec<Shape>,
    pub einsums: Vec<EinsumSpec>,
}

impl Tables {
    /// The two sizes interned as shape `i`: a slice's `start, end`, a pad's `before, after`.
    pub fn pair(&self, i: u32) -> Option<(DimPoly, DimPoly)> {
        match self.shapes.get(i as usize)?.as_slice() {
            [a, b] => Some((a.clone(), b.clone())),
            _ => None,
        }
    }

    fn intern<T: PartialEq + Clone>(list: &mut Vec<T>, item: &T) -> u32 {
        match list.iter().position(|x| x == item) {
            Some(i) => i as u32,
            None => {
                list.push(item.clone());
                list.len() as u32 - 1
            }
        }
    }

    pub fn dim(&mut self, p: &DimPoly) -> u32 {
        Self::intern(&mut self.dims, p)
    }

    pub fn shape(&mut self, s: &Shape) -> u32 {
        Self::intern(&mut self.shapes, s)
    }

    pub fn einsum(&mut self, e: &EinsumSpec) -> u32 {
        Self::intern(&mut self.einsums, e)
    }
}

fn axes_text(axes: &[u8]) -> String {
    axes.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_axes(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(vec![]);
    }
    s.split(',').map(|a| a.parse().ok()).collect()
}

/// The e-graph ops that are an IR op with no payload, with their arity: their symbol is the
/// op table's name.
const PLAIN: [(EOp, usize); 18] = [
    (EOp::Pi, 0),
    (EOp::Neg, 1),
    (EOp::Add, 2),
    (EOp::Sub, 2),
    (EOp::Mul, 2),
    (EOp::Div, 2),
    (EOp::MatMul, 2),
    (EOp::Softmax, 1),
    (EOp::LogSoftmax, 1),
    (EOp::Causal, 1),
    (EOp::Tril, 1),
    (EOp::Eq, 2),
    (EOp::Trace, 1),
    (EOp::LayerNorm, 4),
    (EOp::RmsNorm, 3),
    (EOp::Embedding, 2),
    (EOp::Rope, 1),
    (EOp::Unrope, 1),
];

impl EOp {
    /// The op table's row of the IR op this e-node stands for (a name or `grad(NAME)` is a
    /// value; `T` and `rowsum` are the swap and the sum they normalise). Costs, names and
    /// positivity come from here.
    pub fn spec(&self) -> OpSpec {
        match self {
            EOp::Name(_) => Op::Leaf(TensorId(0)).spec(),
            EOp::Grad(_) => Op::GradOf(TensorId(0)).spec(),
            EOp::Num(_) => Op::Literal(BigRational::from_integer(0.into())).spec(),
            EOp::Dim(_) => Op::DimSize(DimPoly::default()).spec(),
            EOp::Pi => Op::Pi.spec(),
            EOp::Neg => Op::Neg.spec(),
            EOp::Add => Op::Add.spec(),
            EOp::Sub => Op::Sub.spec(),
            EOp::Mul => Op::Mul.spec(),
            EOp::Div => Op::Div.spec(),
            EOp::MatMul => Op::MatMul.spec(),
            EOp::Pow(_) => Op::Pow(BigRational::from_integer(1.into())).spec(),
            EOp::Func(f) => f.spec().op,
            EOp::T | EOp::Swap(..) => Op::SwapAxes(0, 1).spec(),
            EOp::RowSum => ReduceKind::Sum.spec().op,
            EOp::RowMean => ReduceKind::Mean.spec().op,
            EOp::Reduce(kind, ..) => kind.spec().op,
            EOp::Softmax | EOp::SoftmaxAxis(_) => Op::Softmax { axis: 0 }.spec(),
            EOp::LogSoftmax | EOp::LogSoftmaxAxis(_) => Op::LogSoftmax { axis: 0 }.spec(),
            EOp::Causal => Op::Causal.spec(),
            EOp::Tril => Op::Tril.spec(),
            EOp::Eq => Op::Eq.spec(),
            EOp::Trace => Op::Trace.spec(),
            EOp::Eye(_) => Op::Eye(DimPoly::default()).spec(),
            EOp::Reshape(_) => Op::Reshape(vec![]).spec(),
            EOp::Expand(_) => Op::Expand(vec![]).spec(),
            EOp::Permute(_) => Op::Permute(vec![]).spec(),
            EOp::Einsum(_) => Op::Einsum(EinsumSpec {
                inputs: vec![],
                output: vec![],
            })
            .spec(),
            EOp::LayerNorm => Op::LayerNorm.spec(),
            EOp::RmsNorm => Op::RmsNorm.spec(),
            EOp::OneHot(_) => Op::OneHot(DimPoly::default()).spec(),
            EOp::Arange(_) => Op::Arange(DimPoly::default()).spec(),
            EOp::Embedding => Op::Embedding.spec(),
            EOp::Rope => Op::Rope.spec(),
            EOp::Unrope => Op::Unrope.spec(),
            EOp::Repeat(..) => Op::Repeat {
                axis: 0,
                times: DimPoly::default(),
            }
            .spec(),
            EOp::Slice(..) => Op::Slice {
                axis: 0,
                start: DimPoly::default(),
                end: DimPoly::default(),
            }
            .spec(),
            EOp::Pad(..) => Op::Pad {
                axis: 0,
                before: DimPoly::default(),
                after: DimPoly::default(),
            }
            .spec(),
            EOp::Concat(_) => Op::Concat { axis: 0 }.spec(),
        }
    }
}

impl EOp {
    /// The IR op this e-node stands for, given its arguments' ranks (for the ops whose axes
    /// depend on rank); `None` for a name or `grad(NAME)`, which the caller resolves.
    pub fn to_ir(&self, tables: &Tables, ranks: &[usize]) -> Option<Op> {
        let rank = |i: usize| ranks.get(i).copied().unwrap_or(0);
        let last = || rank(0).saturating_sub(1);
        Some(match self {
            EOp::Name(_) | EOp::Grad(_) => return None,
            EOp::Num(r) => Op::Literal(r.clone()),
            EOp::Dim(i) => Op::DimSize(tables.dims.get(*i as usize)?.clone()),
            EOp::Pi => Op::Pi,
            EOp::Neg => Op::Neg,
            EOp::Add => Op::Add,
            EOp::Sub => Op::Sub,
            EOp::Mul => Op::Mul,
            EOp::Div => Op::Div,
            EOp::MatMul => Op::MatMul,
            EOp::Pow(p) => Op::Pow(p.clone()),
            EOp::Func(f) => Op::Func(*f),
            EOp::T => Op::SwapAxes(rank(0).saturating_sub(2), last()),
            EOp::Swap(i, j) => Op::SwapAxes(*i as usize, *j as usize),
            EOp::RowSum => Op::Reduce {
                kind: ReduceKind::Sum,
                axes: vec![last()],
                keepdims: true,
            },
            EOp::RowMean => Op::Reduce {
                kind: ReduceKind::Mean,
                axes: vec![last()],
                keepdims: true,
            },
            EOp::Reduce(kind, axes, keep) => Op::Reduce {
                kind: *kind,
                axes: axes.iter().map(|&a| a as usize).collect(),
                keepdims: *keep,
            },
            EOp::Softmax => Op::Softmax { axis: last() },
            EOp::SoftmaxAxis(a) => Op::Softmax { axis: *a as usize },
            EOp::LogSoftmax => Op::LogSoftmax { axis: last() },
            EOp::LogSoftmaxAxis(a) => Op::LogSoftmax { axis: *a as usize },
            EOp::Causal => Op::Causal,
            EOp::Tril => Op::Tril,
            EOp::Eq => Op::Eq,
            EOp::Trace => Op::Trace,
            EOp::Eye(i) => Op::Eye(tables.shapes.get(*i as usize)?.first()?.clone()),
            EOp::Reshape(i) => Op::Reshape(tables.shapes.get(*i as usize)?.clone()),
            EOp::Expand(i) => Op::Expand(tables.shapes.get(*i as usize)?.clone()),
            EOp::Permute(p) => Op::Permute(p.iter().map(|&a| a as usize).collect()),
            EOp::Einsum(i) => Op::Einsum(tables.einsums.get(*i as usize)?.clone()),
            EOp::LayerNorm => Op::LayerNorm,
            EOp::RmsNorm => Op::RmsNorm,
            EOp::OneHot(i) => Op::OneHot(tables.shapes.get(*i as usize)?.first()?.clone()),
            EOp::Arange(i) => Op::Arange(tables.shapes.get(*i as usize)?.first()?.clone()),
            EOp::Embedding => Op::Embedding,
            EOp::Rope => Op::Rope,
            EOp::Unrope => Op::Unrope,
            EOp::Repeat(a, i) => Op::Repeat {
                axis: *a as usize,
                times: tables.shapes.get(*i as usize)?.first()?.clone(),
            },
            EOp::Slice(a, i) => {
                let (start, end) = tables.pair(*i)?;
                Op::Slice {
                    axis: *a as usize,
                    start,
                    end,
                }
            }
            EOp::Pad(a, i) => {
                let (before, after) = tables.pair(*i)?;
                Op::Pad {
                    axis: *a as usize,
                    before,
                    after,
                }
            }
            EOp::Concat(a) => Op::Concat { axis: *a as usize },
        })
    }
}

impl fmt::Display for EOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EOp::Name(s) => write!(f, "{s}"),
            EOp::Grad(s) => write!(f, "grad({s})"),
            EOp::Num(r) => write!(f, "{r}"),
            EOp::Dim(i) => write!(f, "#dim{i}"),
            EOp::Pow(p) => write!(f, "^{p}"),
            EOp::Func(func) => write!(f, "{}", func.name()),
            EOp::T => write!(f, "T"),
            EOp::Swap(a, b) => write!(f, "swap[{a},{b}]"),
            EOp::RowSum => write!(f, "rowsum"),
            EOp::RowMean => write!(f, "rowmean"),
            EOp::Reduce(kind, axes, keep) => write!(
                f,
                "{}[{}]{}",
                kind.name(),
                axes_text(axes),
                if *keep { "k" } else { "" }
            ),
            EOp::SoftmaxAxis(a) | EOp::LogSoftmaxAxis(a) => write!(f, "{}[{a}]", self.spec().name),
            EOp::Eye(i) => write!(f, "#eye{i}"),
            EOp::Reshape(i) => write!(f, "#reshape{i}"),
            EOp::Expand(i) => write!(f, "#expand{i}"),
            EOp::Permute(p) => write!(f, "permute[{}]", axes_text(p)),
            EOp::Einsum(i) => write!(f, "#einsum{i}"),
            EOp::OneHot(i) => write!(f, "#onehot{i}"),
            EOp::Arange(i) => write!(f, "#arange{i}"),
            EOp::Repeat(a, i) => write!(f, "#repeat{i}[{a}]"),
            EOp::Slice(a, i) => write!(f, "#slice{i}[{a}]"),
            EOp::Pad(a, i) => write!(f, "#pad{i}[{a}]"),
            EOp::Concat(a) => write!(f, "concat[{a}]"),
            EOp::Pi
            | EOp::Neg
            | EOp::Add
            | EOp::Sub
            | EOp::Mul
            | EOp::Div
            | EOp::MatMul
            | EOp::Softmax
            | EOp::LogSoftmax
            | EOp::Causal
            | EOp::Tril
            | EOp::Eq
            | EOp::Trace
            | EOp::LayerNorm
            | EOp::RmsNorm
            | EOp::Embedding
            | EOp::Rope
            | EOp::Unrope => write!(f, "{}", self.spec().name),
        }
    }
}

impl fmt::Display for ENode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op)
    }
}

/// Why an op's text did not parse.
#[derive(Debug, Clone)]
pub struct BadOp(pub String);

fn parse_op(op: &str, arity: usize) -> Option<EOp> {
    let bracket = |prefix: &str| -> Option<&str> {
        op.strip_prefix(prefix)?
            .strip_prefix('[')?
            .split(']')
            .next()
            .filter(|_| op.contains(']'))
    };
    let indexed = |prefix: &str| -> Option<u32> { op.strip_prefix(prefix)?.parse().ok() };
    if let Some(i) = indexed("#dim") {
        return Some(EOp::Dim(i));
    }
    if let Some(i) = indexed("#eye") {
        return Some(EOp::Eye(i));
    }
    if let Some(i) = indexed("#reshape") {
        return Some(EOp::Reshape(i));
    }
    if let Some(i) = indexed("#expand") {
        return Some(EOp::Expand(i));
    }
    if let Some(i) = indexed("#einsum") {
        return Some(EOp::Einsum(i));
    }
    if let Some(i) = indexed("#arange") {
        return Some(EOp::Arange(i));
    }
    if let Some(i) = indexed("#onehot") {
        return Some(EOp::OneHot(i));
    }
    for (prefix, make) in [
        ("#repeat", EOp::Repeat as fn(u8, u32) -> EOp),
        ("#slice", EOp::Slice),
        ("#pad", EOp::Pad),
    ] {
        if let Some(rest) = op.strip_prefix(prefix) {
            let (i, a) = rest.strip_suffix(']')?.split_once('[')?;
            return Some(make(a.parse().ok()?, i.parse().ok()?));
        }
    }
    if let Some(a) = bracket("concat") {
        return a.parse().ok().map(EOp::Concat);
    }
    if let Some(p) = op.strip_prefix('^') {
        return p.parse().ok().map(EOp::Pow);
    }
    if let Some(name) = op.strip_prefix("grad(").and_then(|r| r.strip_suffix(')')) {
        return Some(EOp::Grad(Sym::from(name)));
    }
    if let Some(a) = bracket("swap") {
        let axes = parse_axes(a)?;
        return (axes.len() == 2).then(|| EOp::Swap(axes[0], axes[1]));
    }
    if let Some(a) = bracket(EOp::Softmax.spec().name) {
        return a.parse().ok().map(EOp::SoftmaxAxis);
    }
    if let Some(a) = bracket(EOp::LogSoftmax.spec().name) {
        return a.parse().ok().map(EOp::LogSoftmaxAxis);
    }
    if let Some(a) = bracket("permute") {
        return parse_axes(a).map(EOp::Permute);
    }
    for &kind in ReduceKind::ALL {
        if let Some(a) = bracket(kind.name()) {
            let keep = op.ends_with("]k");
            return parse_axes(a).map(|axes| EOp::Reduce(kind, axes, keep));
        }
    }
    let fixed = match (op, arity) {
        ("T", 1) => EOp::T,
        ("rowsum", 1) => EOp::RowSum,
        ("rowmean", 1) => EOp::RowMean,
        _ => {
            if let Some((e, _)) = PLAIN
                .iter()
                .find(|(e, n)| *n == arity && e.spec().name == op)
            {
                return Some(e.clone());
            }
            if arity == 1 {
                return Func::ALL
                    .iter()
                    .find(|f| f.name() == op)
                    .map(|&f| EOp::Func(f));
            }
            if arity != 0 {
                return None;
            }
            if let Ok(r) = op.parse::<BigRational>() {
                EOp::Num(r)
            } else if op
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
            {
                EOp::Name(Sym::from(op))
            } else {
                return None;
            }
        }
    };
    Some(fixed)
}

impl FromOp for ENode {
    type Error = BadOp;

    fn from_op(op: &str, children: Vec<Id>) -> Result<Self, Self::Error> {
        match parse_op(op, children.len()) {
            Some(op) => Ok(ENode::new(op, children)),
            None => Err(BadOp(format!("{op} with {} children", children.len()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        let ops = [
            (EOp::Name("Wq".into()), 0),
            (EOp::Grad("O".into()), 0),
            (EOp::Num(BigRational::new((-3).into(), 4.into())), 0),
            (EOp::Dim(2), 0),
            (EOp::Pi, 0),
            (EOp::Pow(BigRational::new(1.into(), 2.into())), 1),
            (EOp::Func(Func::Erf), 1),
            (EOp::Func(Func::Step), 1),
            (EOp::Swap(0, 2), 1),
            (EOp::Reduce(ReduceKind::Max, vec![0, 1], true), 1),
            (EOp::Reduce(ReduceKind::Sum, vec![], false), 1),
            (EOp::SoftmaxAxis(0), 1),
            (EOp::Permute(vec![2, 0, 1]), 1),
            (EOp::Reshape(5), 1),
            (EOp::LayerNorm, 4),
            (EOp::T, 1),
            (EOp::Eq, 2),
            (EOp::OneHot(3), 1),
            (EOp::Repeat(1, 4), 1),
            (EOp::Slice(0, 7), 1),
            (EOp::Pad(2, 7), 1),
            (EOp::Concat(1), 3),
            (EOp::Rope, 1),
            (EOp::Embedding, 2),
        ];
        for (op, arity) in ops {
            let text = op.to_string();
            assert_eq!(parse_op(&text, arity), Some(op), "{text}");
        }
    }
}
