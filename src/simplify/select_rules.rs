//! Facts about the ops that select entries (slices, pads, concats, one-hot rows), whose
//! ranges and sizes are part of their operations (interned), so each is matched by hand like
//! the layout facts.
//!
//! Owns [`rules`]. Every fact compares ranges with [`Dims::same`](crate::ir::Dims::same), so
//! it holds for every size of the dims, not only the declared ones:
//! - a slice of a concat that takes whole parts `i..=j` is those parts (one part alone);
//! - a slice of a pad that takes exactly the padded tensor is that tensor;
//! - a slice of a whole axis, and a pad of nothing, are the tensor itself;
//! - a concat of adjacent slices of one tensor is one slice of it;
//! - a concat inside a concat on the same axis is flattened into it;
//! - the sum of two pads whose tensors are adjacent is the pad of their concat (how a
//!   fused projection's gradient, a sum of zero-padded parts, becomes `concat(dq, dk, dv)`);
//! - a one-hot row sums to 1 (each row has one 1: the cross-entropy gradient
//!   `softmax(logits) * rowsum(onehot(ids, V)) - onehot(ids, V)` is `softmax(logits) - onehot(ids, V)`).

use super::analysis::EG;
use super::lang::{ENode, EOp};
use super::layout_rules::{nodes, shape, subst, Fact, Match};
use crate::ir::{DimPoly, ReduceKind};
use egg::{Id, Rewrite};

/// The rewrites.
pub fn rules() -> Vec<Rewrite<ENode, super::analysis::ShapeInfo>> {
    [
        Fact {
            name: "a slice of a concat",
            top: |op| matches!(op, EOp::Slice(..)),
            matches: slice_of_concat,
        },
        Fact {
            name: "a slice of a pad",
            top: |op| matches!(op, EOp::Slice(..)),
            matches: slice_of_pad,
        },
        Fact {
            name: "a slice of the whole axis",
            top: |op| matches!(op, EOp::Slice(..)),
            matches: whole_slice,
        },
        Fact {
            name: "a pad of nothing",
            top: |op| matches!(op, EOp::Pad(..)),
            matches: empty_pad,
        },
        Fact {
            name: "a concat of adjacent slices",
            top: |op| matches!(op, EOp::Concat(_)),
            matches: concat_of_slices,
        },
        Fact {
            name: "a concat of a concat",
            top: |op| matches!(op, EOp::Concat(_)),
            matches: concat_of_concat,
        },
        Fact {
            name: "a sum of adjacent pads",
            top: |op| *op == EOp::Add,
            matches: sum_of_pads,
        },
        Fact {
            name: "a one-hot row sums to 1",
            top: |op| matches!(op, EOp::RowSum | EOp::Reduce(ReduceKind::Sum, _, _)),
            matches: one_hot_row_sum,
        },
    ]
    .into_iter()
    .map(|f| f.rewrite_when(|eg| eg.analysis.selects))
    .collect()
}

/// A slice's axis and `start, end`, or a pad's axis and `before, after` (interned as a
/// two-entry shape).
fn ranged(eg: &EG, op: &EOp) -> Option<(u8, DimPoly, DimPoly)> {
    let (EOp::Slice(axis, k) | EOp::Pad(axis, k)) = op else {
        return None;
    };
    let (a, b) = eg.analysis.tables.pair(*k)?;
    Some((*axis, a, b))
}

fn same(eg: &EG, a: &DimPoly, b: &DimPoly) -> bool {
    eg.analysis.dims.same(a, b)
}

fn zero() -> DimPoly {
    DimPoly::constant(0)
}

/// The size of class `c` along `axis`.
fn len(eg: &EG, c: Id, axis: u8) -> Option<DimPoly> {
    shape(eg, c).get(axis as usize).cloned()
}

/// `?p0 ?p1 …` for `n` parts, and the pattern `(concat[axis] ?p0 …)`.
fn concat_pattern(axis: u8, n: usize) -> String {
    let vars: Vec<String> = (0..n).map(|i| format!("?p{i}")).collect();
    format!("({} {})", EOp::Concat(axis), vars.join(" "))
}

fn part_vars(parts: &[Id]) -> Vec<(String, Id)> {
    parts
        .iter()
        .enumerate()
        .map(|(i, &p)| (format!("?p{i}"), p))
        .collect()
}

fn subst_of(pairs: &[(String, Id)]) -> egg::Subst {
    let refs: Vec<(&str, Id)> = pairs.iter().map(|(v, id)| (v.as_str(), *id)).collect();
    subst(&refs)
}

fn slice_of_concat(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let Some((axis, start, end)) = ranged(eg, &n.op) else {
        return vec![];
    };
    let c = eg.find(n.args[0]);
    let mut out = Vec::new();
    for (op, parts) in nodes(eg, c, |op| *op == EOp::Concat(axis)) {
        // Offsets of each part along the axis.
        let mut offsets = vec![zero()];
        for &p in &parts {
            let Some(l) = len(eg, p, axis) else {
                return vec![];
            };
            let next = offsets[offsets.len() - 1].add(&l);
            offsets.push(next);
        }
        let Some(i) = (0..parts.len()).find(|&i| same(eg, &offsets[i], &start)) else {
            continue;
        };
        let Some(j) = (i..parts.len()).find(|&j| same(eg, &offsets[j + 1], &end)) else {
            continue;
        };
        let lhs = format!("({} {})", n.op, concat_pattern(axis, parts.len()));
        let rhs = if i == j {
            format!("?p{i}")
        } else {
            let inner: Vec<String> = (i..=j).map(|m| format!("?p{m}")).collect();
            format!("({op} {})", inner.join(" "))
        };
        out.push((lhs, rhs, subst_of(&part_vars(&parts))));
    }
    out
}

fn slice_of_pad(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let Some((axis, start, end)) = ranged(eg, &n.op) else {
        return vec![];
    };
    let c = eg.find(n.args[0]);
    let mut out = Vec::new();
    for (op, args) in nodes(eg, c, |op| matches!(op, EOp::Pad(a, _) if *a == axis)) {
        let (Some((_, before, _)), Some(l)) = (ranged(eg, &op), len(eg, args[0], axis)) else {
            continue;
        };
        if same(eg, &start, &before) && same(eg, &end, &before.add(&l)) {
            out.push((
                format!("({} ({op} ?x))", n.op),
                "?x".into(),
                subst(&[("?x", args[0])]),
            ));
        }
    }
    out
}

fn whole_slice(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let Some((axis, start, end)) = ranged(eg, &n.op) else {
        return vec![];
    };
    let x = eg.find(n.args[0]);
    match len(eg, x, axis) {
        Some(l) if same(eg, &start, &zero()) && same(eg, &end, &l) => {
            vec![(format!("({} ?x)", n.op), "?x".into(), subst(&[("?x", x)]))]
        }
        _ => vec![],
    }
}

fn empty_pad(eg: &mut EG, n: &ENode) -> Vec<Match> {
    match ranged(eg, &n.op) {
        Some((_, a, b)) if same(eg, &a, &zero()) && same(eg, &b, &zero()) => {
            let x = eg.find(n.args[0]);
            vec![(format!("({} ?x)", n.op), "?x".into(), subst(&[("?x", x)]))]
        }
        _ => vec![],
    }
}

fn concat_of_slices(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let EOp::Concat(axis) = n.op else {
        return vec![];
    };
    let parts: Vec<Id> = n.args.iter().map(|&a| eg.find(a)).collect();
    // One slice per part, all of one tensor, each starting where the last ended.
    let mut chosen: Vec<(EOp, Id, DimPoly, DimPoly)> = Vec::new();
    for &p in &parts {
        let found = nodes(eg, p, |op| matches!(op, EOp::Slice(a, _) if *a == axis))
            .into_iter()
            .find_map(|(op, args)| {
                let (_, s, e) = ranged(eg, &op)?;
                let fits = match chosen.last() {
                    None => true,
                    Some((_, x, _, prev_end)) => *x == args[0] && same(eg, prev_end, &s),
                };
                fits.then_some((op, args[0], s, e))
            });
        match found {
            Some(f) => chosen.push(f),
            None => return vec![],
        }
    }
    let (Some(first), Some(last)) = (chosen.first(), chosen.last()) else {
        return vec![];
    };
    let x = first.1;
    let k = eg
        .analysis
        .tables
        .shape(&vec![first.2.clone(), last.3.clone()]);
    let inner: Vec<String> = chosen.iter().map(|(op, ..)| format!("({op} ?x)")).collect();
    vec![(
        format!("({} {})", n.op, inner.join(" ")),
        format!("({} ?x)", EOp::Slice(axis, k)),
        subst(&[("?x", x)]),
    )]
}

fn concat_of_concat(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let EOp::Concat(axis) = n.op else {
        return vec![];
    };
    let parts: Vec<Id> = n.args.iter().map(|&a| eg.find(a)).collect();
    let mut out = Vec::new();
    for (i, &p) in parts.iter().enumerate() {
        for (_, inner) in nodes(eg, p, |op| *op == EOp::Concat(axis)) {
            // Variables: the outer parts ?p*, the inner parts ?q*.
            let mut pairs = part_vars(&parts);
            pairs.extend(
                inner
                    .iter()
                    .enumerate()
                    .map(|(m, &q)| (format!("?q{m}"), q)),
            );
            let inner_vars: Vec<String> = (0..inner.len()).map(|m| format!("?q{m}")).collect();
            let mut lhs_parts: Vec<String> = (0..parts.len()).map(|m| format!("?p{m}")).collect();
            lhs_parts[i] = format!("({} {})", n.op, inner_vars.join(" "));
            let mut rhs_parts: Vec<String> = (0..parts.len()).map(|m| format!("?p{m}")).collect();
            rhs_parts.splice(i..=i, inner_vars);
            out.push((
                format!("({} {})", n.op, lhs_parts.join(" ")),
                format!("({} {})", n.op, rhs_parts.join(" ")),
                subst_of(&pairs),
            ));
        }
    }
    out
}

fn sum_of_pads(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let (a, b) = (eg.find(n.args[0]), eg.find(n.args[1]));
    let pads = |eg: &EG, c: Id| -> Vec<(EOp, u8, DimPoly, DimPoly, Id)> {
        nodes(eg, c, |op| matches!(op, EOp::Pad(..)))
            .into_iter()
            .filter_map(|(op, args)| {
                let (axis, before, after) = ranged(eg, &op)?;
                Some((op, axis, before, after, args[0]))
            })
            .collect()
    };
    let mut out = Vec::new();
    for (op_x, axis, before_x, after_x, x) in pads(eg, a) {
        for (op_y, axis_y, before_y, after_y, y) in pads(eg, b) {
            if axis != axis_y || shape(eg, x).len() != shape(eg, y).len() {
                continue;
            }
            let (Some(lx), Some(ly)) = (len(eg, x, axis), len(eg, y, axis)) else {
                continue;
            };
            let lhs = format!("(+ ({op_x} ?x) ({op_y} ?y))");
            let (first, second, before, after) = if same(eg, &before_x.add(&lx), &before_y) {
                ("?x", "?y", before_x.clone(), after_y)
            } else if same(eg, &before_y.add(&ly), &before_x) {
                ("?y", "?x", before_y, after_x.clone())
            } else {
                continue;
            };
            let k = eg.analysis.tables.shape(&vec![before, after]);
            out.push((
                lhs,
                format!(
                    "({} ({} {first} {second}))",
                    EOp::Pad(axis, k),
                    EOp::Concat(axis)
                ),
                subst(&[("?x", x), ("?y", y)]),
            ));
        }
    }
    out
}

fn one_hot_row_sum(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let c = eg.find(n.args[0]);
    let mut sum = shape(eg, c);
    let Some(last) = sum.len().checked_sub(1) else {
        return vec![];
    };
    match &n.op {
        EOp::RowSum | EOp::Reduce(_, _, true) => sum[last] = DimPoly::constant(1),
        _ => {
            sum.pop();
        }
    }
    let over_last = match &n.op {
        EOp::RowSum => true,
        EOp::Reduce(_, axes, _) => axes.as_slice() == [last as u8],
        _ => false,
    };
    if !over_last {
        return vec![];
    }
    nodes(eg, c, |op| matches!(op, EOp::OneHot(_)))
        .into_iter()
        .map(|(op, args)| {
            let rhs = if sum.is_empty() {
                "1".to_string()
            } else {
                format!("({} 1)", EOp::Expand(eg.analysis.tables.shape(&sum)))
            };
            (
                format!("({} ({op} ?x))", n.op),
                rhs,
                subst(&[("?x", args[0])]),
            )
        })
        .collect()
}
