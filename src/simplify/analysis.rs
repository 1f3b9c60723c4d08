//! The e-class analysis: every class knows its shape (in dims) and, for scalars, its exact
//! value when it is a constant.
//!
//! Owns [`ShapeInfo`] (the analysis: the dims, the interned tables, the shapes of names) and
//! [`Info`] (per class). Shapes are computed by the same rules as the IR's
//! (`ir::shape`), symbolically, so a rewrite that is shape-correct here is shape-correct for
//! every size of the dims. Constant scalar classes get a number node (folding), joined with a
//! justification named "arithmetic" so explanations say why.
//!
//! Invariant: two classes are only ever merged when their shapes agree. A disagreement means
//! an unsound rule; it is recorded in [`ShapeInfo::conflicts`] (tests assert there are none)
//! rather than panicking in a user's run.

use super::lang::{ENode, EOp, Tables};
use crate::ir::shape::{self, Shape};
use crate::ir::{DimPoly, Dims};
use egg::{Analysis, DidMerge, EGraph, Id, Symbol};
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::collections::HashMap;

pub type EG = EGraph<ENode, ShapeInfo>;

/// Per-class data.
#[derive(Debug, Clone)]
pub struct Info {
    pub shape: Shape,
    /// The exact value of a constant scalar class.
    pub konst: Option<BigRational>,
    /// Positive wherever defined (sizes, π, exp, products and roots of positives, ...).
    pub positive: bool,
    /// Every entry is zero (a zero factor, a centred row's sum, ...). Such a class gets the
    /// canonical zero of its shape, so all zeros of one shape are one class.
    pub zero: bool,
    /// Entries, and the size of the last axis, at the dims' sizes (for the FLOP model; kept
    /// here so extraction does not re-evaluate sizes in its inner loop).
    pub entries: u128,
    pub last: u128,
    /// One number per shape, equal for shapes that are equal for every size of the dims
    /// (`[h*k]` and `[d]` when `dim d = h*k`): a cheap key for comparing shapes.
    pub shape_key: u32,
}

/// The analysis state.
#[derive(Debug, Clone, Default)]
pub struct ShapeInfo {
    pub dims: Dims,
    pub tables: Tables,
    /// Shapes of named tensors (and so of their `grad(NAME)`).
    pub names: HashMap<Symbol, Shape>,
    /// Merges of classes whose shapes differ, and nodes whose shape could not be computed.
    pub conflicts: Vec<String>,
    /// A node that selects entries (slice, pad, concat, one-hot) has been added: the facts
    /// about them (`select_rules`) only search an e-graph that has one.
    pub selects: bool,
    /// Entries, last-axis size and key of each shape seen (evaluating sizes is the costly
    /// part of making an e-node; there are few distinct shapes).
    sizes: HashMap<Shape, (u128, u128, u32)>,
    /// The key of each shape over base dims.
    shape_keys: HashMap<Shape, u32>,
}

impl ShapeInfo {
    pub fn new(dims: Dims) -> ShapeInfo {
        ShapeInfo {
            dims,
            ..ShapeInfo::default()
        }
    }

    pub fn same(&self, a: &[DimPoly], b: &[DimPoly]) -> bool {
        shape::same_shape(&self.dims, a, b)
    }

    pub fn is_one(&self, p: &DimPoly) -> bool {
        self.dims.is_one(p)
    }

    /// The shape of `op` applied to arguments of shapes `args`: a name's declared shape, or
    /// the IR op's by the one shape rule (`ir::op::infer`).
    pub fn shape_of(&self, op: &EOp, args: &[&Shape]) -> Result<Shape, String> {
        if let EOp::Name(s) | EOp::Grad(s) = op {
            return self
                .names
                .get(&s.0)
                .cloned()
                .ok_or_else(|| format!("unknown name {s}"));
        }
        let ranks: Vec<usize> = args.iter().map(|s| s.len()).collect();
        let ir = op
            .to_ir(&self.tables, &ranks)
            .ok_or_else(|| format!("{op}: a payload that is not in the tables"))?;
        crate::ir::op::infer(&self.dims, &ir, args)
            .map_err(|e| format!("{op}: {}", e.message(&self.dims, ir.name())))
    }

    /// The value of a scalar op on constant arguments.
    fn fold(&self, op: &EOp, args: &[Option<&BigRational>]) -> Option<BigRational> {
        let a = |i: usize| args.get(i).copied().flatten();
        match op {
            EOp::Num(r) => Some(r.clone()),
            EOp::Dim(i) => self
                .dims
                .expand(self.tables.dims.get(*i as usize)?)
                .as_constant(),
            EOp::Neg => Some(-a(0)?.clone()),
            EOp::Add => Some(a(0)? + a(1)?),
            EOp::Sub => Some(a(0)? - a(1)?),
            EOp::Mul => Some(a(0)? * a(1)?),
            EOp::Div => {
                let d = a(1)?;
                (!d.is_zero()).then(|| a(0).map(|n| n / d))?
            }
            EOp::Pow(p) => {
                let base = a(0)?;
                if !p.is_integer() {
                    return None;
                }
                let e = p.to_integer().to_i32()?;
                if e.abs() > 64 || (e < 0 && base.is_zero()) {
                    return None;
                }
                let mut r = BigRational::one();
                for _ in 0..e.abs() {
                    r *= base;
                }
                Some(if e.is_negative() { r.recip() } else { r })
            }
            _ => None,
        }
    }
}

impl Analysis<ENode> for ShapeInfo {
    type Data = Info;

    fn make(egraph: &mut EG, enode: &ENode, _id: Id) -> Info {
        if matches!(
            enode.op,
            EOp::Slice(..) | EOp::Pad(..) | EOp::Concat(_) | EOp::OneHot(_)
        ) {
            egraph.analysis.selects = true;
        }
        let shapes: Vec<&Shape> = enode.args.iter().map(|a| &egraph[*a].data.shape).collect();
        let shape = match egraph.analysis.shape_of(&enode.op, &shapes) {
            Ok(s) => s,
            Err(why) => {
                let msg = format!("node {enode:?}: {why}");
                egraph.analysis.conflicts.push(msg);
                vec![]
            }
        };
        let konst = if shape.is_empty() {
            let konsts: Vec<Option<&BigRational>> = enode
                .args
                .iter()
                .map(|a| egraph[*a].data.konst.as_ref())
                .collect();
            egraph.analysis.fold(&enode.op, &konsts)
        } else {
            None
        };
        let pos = |i: usize| enode.args.get(i).is_some_and(|a| egraph[*a].data.positive);
        let positive = konst.as_ref().is_some_and(|k| k.is_positive())
            || match &enode.op {
                EOp::Dim(_) | EOp::Pi => true,
                EOp::Func(f) => f.spec().positive || (*f == crate::ir::Func::Sqrt && pos(0)),
                EOp::Pow(_) | EOp::RowSum | EOp::RowMean => pos(0),
                EOp::Add | EOp::Mul | EOp::Div => pos(0) && pos(1),
                _ => false,
            };
        let zero_arg = |i: usize| enode.args.get(i).is_some_and(|a| egraph[*a].data.zero);
        let zero = konst.as_ref().is_some_and(|k| k.is_zero())
            || match &enode.op {
                EOp::Mul | EOp::MatMul => zero_arg(0) || zero_arg(1),
                EOp::Div => zero_arg(0),
                EOp::Add | EOp::Sub => zero_arg(0) && zero_arg(1),
                EOp::Neg
                | EOp::T
                | EOp::Swap(..)
                | EOp::Permute(_)
                | EOp::Reshape(_)
                | EOp::Expand(_)
                | EOp::Tril
                | EOp::RowSum
                | EOp::RowMean
                | EOp::Trace
                | EOp::Slice(..)
                | EOp::Pad(..) => zero_arg(0),
                EOp::Concat(_) => (0..enode.args.len()).all(zero_arg),
                EOp::Reduce(kind, _, _) => kind.spec().linear && zero_arg(0),
                _ => false,
            };
        // A scalar zero is the number 0.
        let konst = konst.or_else(|| (zero && shape.is_empty()).then(BigRational::zero));
        let (entries, last, shape_key) = match egraph.analysis.sizes.get(&shape) {
            Some(&known) => known,
            None => {
                let analysis = &mut egraph.analysis;
                let dims = &analysis.dims;
                let entries = super::cost::entries(dims, &shape);
                let last = shape
                    .last()
                    .map(|d| super::cost::entries(dims, std::slice::from_ref(d)))
                    .unwrap_or(1);
                let expanded: Shape = shape.iter().map(|d| dims.expand(d)).collect();
                let next = analysis.shape_keys.len() as u32;
                let key = *analysis.shape_keys.entry(expanded).or_insert(next);
                analysis.sizes.insert(shape.clone(), (entries, last, key));
                (entries, last, key)
            }
        };
        Info {
            shape,
            konst,
            positive,
            zero,
            entries,
            last,
            shape_key,
        }
    }

    fn merge(&mut self, a: &mut Info, b: Info) -> DidMerge {
        if !self.same(&a.shape, &b.shape) {
            self.conflicts.push(format!(
                "merged classes of shapes {} and {}",
                shape::show_shape(&self.dims, &a.shape),
                shape::show_shape(&self.dims, &b.shape)
            ));
        }
        let positive = (!a.positive && b.positive) || (!a.zero && b.zero);
        a.positive |= b.positive;
        a.zero |= b.zero;
        let b = Info {
            konst: b
                .konst
                .or_else(|| (a.zero && a.shape.is_empty()).then(BigRational::zero)),
            ..b
        };
        let merged = match (&a.konst, b.konst) {
            (None, Some(k)) => {
                a.konst = Some(k);
                DidMerge(true, false)
            }
            (Some(x), Some(y)) => {
                if *x != y {
                    self.conflicts
                        .push(format!("merged the different constants {x} and {y}"));
                }
                DidMerge(false, false)
            }
            (Some(_), None) => DidMerge(false, true),
            (None, None) => DidMerge(false, false),
        };
        DidMerge(merged.0 || positive, merged.1)
    }

    fn modify(egraph: &mut EG, id: Id) {
        round_trips(egraph, id);
        if egraph[id].data.zero && !egraph[id].data.shape.is_empty() {
            let shape = egraph[id].data.shape.clone();
            let k = egraph.analysis.tables.shape(&shape);
            let zero = egraph.add(ENode::leaf(EOp::Num(BigRational::zero())));
            let zeros = egraph.add(ENode::new(EOp::Expand(k), vec![zero]));
            if egraph.find(zeros) != egraph.find(id) {
                egraph.union_trusted(id, zeros, "zero");
            }
        }
        let Some(k) = egraph[id].data.konst.clone() else {
            return;
        };
        let num = egraph.add(ENode::leaf(EOp::Num(k)));
        if egraph.find(num) != egraph.find(id) {
            egraph.union_trusted(id, num, "arithmetic");
        }
    }
}

/// Moves of data that undo or compose: a reshape or broadcast to the shape a tensor already
/// has, a reshape of a reshape, permutes that compose (to the identity, to `.T`, or to one
/// permute), a swap undone by the same swap. Joined with reasons for explanations.
fn round_trips(egraph: &mut EG, id: Id) {
    let is_move = |n: &ENode| {
        matches!(
            n.op,
            EOp::Reshape(_) | EOp::Expand(_) | EOp::Swap(..) | EOp::T | EOp::Permute(_)
        )
    };
    // Most classes have no moves of data: leave them at the cost of one scan.
    if !egraph[id].nodes.iter().any(is_move) {
        return;
    }
    let nodes: Vec<ENode> = egraph[id]
        .nodes
        .iter()
        .filter(|n| is_move(n))
        .cloned()
        .collect();
    for node in nodes {
        let Some(&child) = node.args.first() else {
            continue;
        };
        let child = egraph.find(child);
        let child_nodes: Vec<ENode> = egraph[child]
            .nodes
            .iter()
            .filter(|n| is_move(n))
            .cloned()
            .collect();
        let same_shape = {
            let (a, b) = (&egraph[id].data.shape, &egraph[child].data.shape);
            egraph.analysis.same(a, b)
        };
        let mut joins: Vec<(Id, &'static str)> = Vec::new();
        match &node.op {
            EOp::Reshape(k) => {
                if same_shape {
                    joins.push((child, "a reshape to the same shape"));
                }
                for inner in child_nodes
                    .iter()
                    .filter(|n| matches!(n.op, EOp::Reshape(_)))
                {
                    let n = egraph.add(ENode::new(EOp::Reshape(*k), vec![inner.args[0]]));
                    joins.push((n, "a reshape of a reshape"));
                }
            }
            EOp::Expand(_) if same_shape => joins.push((child, "a broadcast to the same shape")),
            EOp::Swap(..) | EOp::T | EOp::Permute(_) => {
                let rank = egraph[id].data.shape.len();
                let Some(p) = as_permutation(&node.op, rank) else {
                    continue;
                };
                if is_identity(&p) {
                    joins.push((child, "the identity permutation"));
                }
                for inner in &child_nodes {
                    let Some(q) = as_permutation(&inner.op, rank) else {
                        continue;
                    };
                    // Output axis i is the inner result's axis p[i], which is y's q[p[i]].
                    let r: Vec<u8> = p.iter().map(|&i| q[i as usize]).collect();
                    let y = inner.args[0];
                    let target = if is_identity(&r) {
                        y
                    } else if as_permutation(&EOp::T, rank).as_ref() == Some(&r) {
                        egraph.add(ENode::new(EOp::T, vec![y]))
                    } else {
                        egraph.add(ENode::new(EOp::Permute(r), vec![y]))
                    };
                    joins.push((target, "moves of axes compose"));
                }
            }
            _ => {}
        }
        for (other, why) in joins {
            if egraph.find(other) != egraph.find(id) {
                egraph.union_trusted(id, other, why);
            }
        }
    }
}

/// A move of axes as a permutation (output axis i is input axis `p[i]`).
fn as_permutation(op: &EOp, rank: usize) -> Option<Vec<u8>> {
    let mut p: Vec<u8> = (0..rank as u8).collect();
    match op {
        EOp::T if rank >= 2 => p.swap(rank - 2, rank - 1),
        EOp::Swap(i, j) if (*i as usize) < rank && (*j as usize) < rank => {
            p.swap(*i as usize, *j as usize)
        }
        EOp::Permute(q) if q.len() == rank => p = q.clone(),
        _ => return None,
    }
    Some(p)
}

fn is_identity(p: &[u8]) -> bool {
    p.iter().enumerate().all(|(i, &x)| i as u8 == x)
}
