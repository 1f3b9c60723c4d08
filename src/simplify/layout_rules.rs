//! Facts about reshapes and broadcast axes, which egg patterns cannot state: a reshape's
//! target shape is part of its operation, so each fact is matched by hand and written as a
//! pattern with the shapes it needs interned.
//!
//! Owns [`rules`]. Each fact holds for the exact shapes it checks (a reshape keeps the order
//! of the entries, so only moves that keep that order are joined):
//! - the sum of every entry of a reshape is the sum of its operand's entries;
//! - the transpose of a reshape whose last two axes include one of size one is a reshape;
//! - the entrywise product of two reshapes to one shape, from one shape, is the reshape of
//!   the product, and so is that of two reshapes that each append an axis of size one;
//! - the trace of a column times a row (`[n, 1] * [1, n]`) is the sum of the column times
//!   the row's transpose;
//! - a product with a vector of ones is a sum over the last axis;
//! - `(a ∘ I) @ b = a ∘ b` for a column `a` (a diagonal matrix times a matrix), and
//!   `(a ∘ r) @ b = a ∘ (r @ b)` for a column `a` and a row `r`;
//! - a row of a reshaped `y` times a column of a reshaped `g` is the row sum of `y ∘ g`;
//! - a sum over the last axis reshaped to keep that axis is the row sum;
//! - a reshape of a reshape is one reshape (also found when a node is made, by the
//!   analysis; this finds it when the inner class gains its reshape later).

use super::analysis::{ShapeInfo, EG};
use super::applier::join_text;
use super::lang::{ENode, EOp};
use crate::ir::{DimPoly, ReduceKind, Shape};
use egg::{Applier, Id, PatternAst, Rewrite, SearchMatches, Searcher, Subst, Symbol, Var};

/// A match: the left side (naming the node), the right side, and their variables.
pub(super) type Match = (String, String, Subst);

/// One fact: the operation at the top of what it matches, and the matcher.
pub(super) struct Fact {
    pub(super) name: &'static str,
    pub(super) top: fn(&EOp) -> bool,
    /// For a node of the class: the left side (naming the node) and the right side, over
    /// the variables bound in the substitution.
    pub(super) matches: fn(&mut EG, &ENode) -> Vec<Match>,
}

/// The rewrites.
pub fn rules() -> Vec<Rewrite<ENode, ShapeInfo>> {
    let facts = [
        Fact {
            name: "sum of a reshape",
            top: |op| matches!(op, EOp::Reduce(ReduceKind::Sum, _, false)),
            matches: sum_of_reshape,
        },
        Fact {
            name: "transpose of a reshape with an axis of size one",
            top: |op| *op == EOp::T,
            matches: transpose_of_reshape,
        },
        Fact {
            name: "product of reshapes",
            top: |op| *op == EOp::Mul,
            matches: product_of_reshapes,
        },
        Fact {
            name: "trace of a column times a row",
            top: |op| *op == EOp::Trace,
            matches: trace_of_outer,
        },
        Fact {
            name: "product with ones",
            top: |op| *op == EOp::MatMul,
            matches: product_with_ones,
        },
        Fact {
            name: "a diagonal matrix times a matrix",
            top: |op| *op == EOp::MatMul,
            matches: diagonal_product,
        },
        Fact {
            name: "a column times a row, times a matrix",
            top: |op| *op == EOp::MatMul,
            matches: outer_then_product,
        },
        Fact {
            name: "a row times a column",
            top: |op| *op == EOp::MatMul,
            matches: row_times_column,
        },
        Fact {
            name: "a reshape of a reshape",
            top: |op| matches!(op, EOp::Reshape(_)),
            matches: reshape_of_reshape,
        },
        Fact {
            name: "row sum as a reshaped sum",
            top: |op| matches!(op, EOp::Reshape(_)),
            matches: reshaped_row_sum,
        },
    ];
    facts.into_iter().map(Fact::rewrite).collect()
}

impl Fact {
    /// The rewrite that applies this fact wherever its top operation occurs.
    pub(super) fn rewrite(self) -> Rewrite<ENode, ShapeInfo> {
        self.rewrite_when(|_| true)
    }

    /// [`Fact::rewrite`], searching only while `guard` holds of the e-graph (a cheap test
    /// that spares a scan of every class when the fact cannot match).
    pub(super) fn rewrite_when(self, guard: fn(&EG) -> bool) -> Rewrite<ENode, ShapeInfo> {
        let name = self.name;
        let tops = Tops {
            top: self.top,
            guard,
        };
        Rewrite::new(name, tops, self).expect(name)
    }
}

fn var(v: &str) -> Var {
    v.parse().expect("a pattern variable")
}

pub(super) fn subst(pairs: &[(&str, Id)]) -> Subst {
    let mut s = Subst::default();
    for (v, id) in pairs {
        s.insert(var(v), *id);
    }
    s
}

pub(super) fn shape(eg: &EG, c: Id) -> Shape {
    eg[c].data.shape.clone()
}

/// Nodes of class `c` whose operation `op` accepts, with their children (canonical).
pub(super) fn nodes(eg: &EG, c: Id, op: impl Fn(&EOp) -> bool) -> Vec<(EOp, Vec<Id>)> {
    eg[c]
        .nodes
        .iter()
        .filter(|n| op(&n.op))
        .map(|n| (n.op.clone(), n.args.iter().map(|&a| eg.find(a)).collect()))
        .collect()
}

fn reshapes(eg: &EG, c: Id) -> Vec<(u32, Id)> {
    nodes(eg, c, |op| matches!(op, EOp::Reshape(_)))
        .into_iter()
        .filter_map(|(op, args)| match op {
            EOp::Reshape(k) => Some((k, args[0])),
            _ => None,
        })
        .collect()
}

fn all_axes(rank: usize) -> EOp {
    EOp::Reduce(ReduceKind::Sum, (0..rank as u8).collect(), false)
}

fn sum_of_reshape(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let c = eg.find(n.args[0]);
    let rank = shape(eg, c).len();
    if n.op != all_axes(rank) {
        return vec![];
    }
    reshapes(eg, c)
        .into_iter()
        .map(|(k, x)| {
            let inner = shape(eg, x).len();
            let rhs = if inner == 0 {
                "?x".to_string()
            } else {
                format!("({} ?x)", all_axes(inner))
            };
            (
                format!("({} (#reshape{k} ?x))", n.op),
                rhs,
                subst(&[("?x", x)]),
            )
        })
        .collect()
}

fn transpose_of_reshape(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let c = eg.find(n.args[0]);
    let mut out = Vec::new();
    for (k, x) in reshapes(eg, c) {
        let mut s = shape(eg, c);
        let r = s.len();
        if r < 2 || !(eg.analysis.is_one(&s[r - 1]) || eg.analysis.is_one(&s[r - 2])) {
            continue;
        }
        s.swap(r - 1, r - 2);
        let swapped = eg.analysis.tables.shape(&s);
        out.push((
            format!("(T (#reshape{k} ?x))"),
            format!("(#reshape{swapped} ?x)"),
            subst(&[("?x", x)]),
        ));
    }
    out
}

fn product_of_reshapes(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let (a, b) = (eg.find(n.args[0]), eg.find(n.args[1]));
    let mut out = Vec::new();
    for (k, x) in reshapes(eg, a) {
        for (k2, y) in reshapes(eg, b) {
            let (sx, sy) = (shape(eg, x), shape(eg, y));
            if k == k2 && eg.analysis.same(&sx, &sy) {
                out.push((
                    format!("(* (#reshape{k} ?x) (#reshape{k} ?y))"),
                    format!("(#reshape{k} (* ?x ?y))"),
                    subst(&[("?x", x), ("?y", y)]),
                ));
                continue;
            }
            // `[.., 1]` appended to each: the broadcast is the operands', one axis more.
            let appends = |eg: &EG, k: u32, s: &Shape| {
                let t = &eg.analysis.tables.shapes[k as usize];
                t.len() == s.len() + 1
                    && eg.analysis.is_one(&t[s.len()])
                    && eg.analysis.same(&t[..s.len()], s)
            };
            if sx.len() == sy.len() && appends(eg, k, &sx) && appends(eg, k2, &sy) {
                let Ok(mut both) = crate::ir::shape::broadcast(&eg.analysis.dims, &sx, &sy) else {
                    continue;
                };
                both.push(DimPoly::constant(1));
                let k3 = eg.analysis.tables.shape(&both);
                out.push((
                    format!("(* (#reshape{k} ?x) (#reshape{k2} ?y))"),
                    format!("(#reshape{k3} (* ?x ?y))"),
                    subst(&[("?x", x), ("?y", y)]),
                ));
            }
        }
    }
    out
}

/// `(a ∘ I) @ b` with `a` a column `[.., n, 1]` and `I` the identity `[n, n]`: `a ∘ b`.
fn diagonal_product(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let (c, b) = (eg.find(n.args[0]), eg.find(n.args[1]));
    let mut out = Vec::new();
    for (_, args) in nodes(eg, c, |op| *op == EOp::Mul) {
        for (a, i) in [(args[0], args[1]), (args[1], args[0])] {
            let Some(e) = nodes(eg, i, |op| matches!(op, EOp::Eye(_)))
                .first()
                .map(|(op, _)| op.clone())
            else {
                continue;
            };
            let (sa, sb) = (shape(eg, a), shape(eg, b));
            let ra = sa.len();
            if ra < 2 || !eg.analysis.is_one(&sa[ra - 1]) || sb.len() < 2 {
                continue;
            }
            let si = shape(eg, i);
            if !eg.analysis.same(&si[..1], &sa[ra - 2..ra - 1]) {
                continue;
            }
            let left = if a == args[0] {
                format!("(@ (* ?a {e}) ?b)")
            } else {
                format!("(@ (* {e} ?a) ?b)")
            };
            out.push((
                left,
                "(* ?a ?b)".to_string(),
                subst(&[("?a", a), ("?b", b)]),
            ));
        }
    }
    out
}

/// `(a ∘ r) @ b` with `a` a column `[.., n, 1]` and `r` a row `[.., 1, n]`: `a ∘ (r @ b)`.
fn outer_then_product(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let (c, b) = (eg.find(n.args[0]), eg.find(n.args[1]));
    let mut out = Vec::new();
    for (_, args) in nodes(eg, c, |op| *op == EOp::Mul) {
        let (a, r) = (args[0], args[1]);
        let (sa, sr) = (shape(eg, a), shape(eg, r));
        let k = sa.len();
        if k < 2
            || sr.len() != k
            || shape(eg, b).len() != k
            || !eg.analysis.is_one(&sa[k - 1])
            || !eg.analysis.is_one(&sr[k - 2])
        {
            continue;
        }
        out.push((
            "(@ (* ?a ?r) ?b)".to_string(),
            "(* ?a (@ ?r ?b))".to_string(),
            subst(&[("?a", a), ("?r", r), ("?b", b)]),
        ));
    }
    out
}

/// `reshape(y, [.., 1, n]) @ reshape(g, [.., n, 1])` for `y`, `g` of shape `[.., n]`: the
/// row sum of `y ∘ g`, reshaped to `[.., 1, 1]`.
fn row_times_column(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let (a, b) = (eg.find(n.args[0]), eg.find(n.args[1]));
    let mut out = Vec::new();
    for (k1, y) in reshapes(eg, a) {
        for (k2, g) in reshapes(eg, b) {
            let (sy, sg) = (shape(eg, y), shape(eg, g));
            let (t1, t2) = (
                eg.analysis.tables.shapes[k1 as usize].clone(),
                eg.analysis.tables.shapes[k2 as usize].clone(),
            );
            let r = sy.len();
            if r < 1 || !eg.analysis.same(&sy, &sg) || t1.len() != r + 1 || t2.len() != r + 1 {
                continue;
            }
            let one = DimPoly::constant(1);
            let mut row = sy[..r - 1].to_vec();
            row.extend([one.clone(), sy[r - 1].clone()]);
            let mut column = sy.clone();
            column.push(one.clone());
            if !eg.analysis.same(&t1, &row) || !eg.analysis.same(&t2, &column) {
                continue;
            }
            let mut scalar = sy[..r - 1].to_vec();
            scalar.extend([one.clone(), one]);
            let k3 = eg.analysis.tables.shape(&scalar);
            out.push((
                format!("(@ (#reshape{k1} ?y) (#reshape{k2} ?g))"),
                format!("(#reshape{k3} (rowsum (* ?y ?g)))"),
                subst(&[("?y", y), ("?g", g)]),
            ));
        }
    }
    out
}

fn trace_of_outer(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let c = eg.find(n.args[0]);
    nodes(eg, c, |op| *op == EOp::Mul)
        .into_iter()
        .filter(|(_, args)| {
            let (a, b) = (shape(eg, args[0]), shape(eg, args[1]));
            a.len() == 2
                && b.len() == 2
                && eg.analysis.is_one(&a[1])
                && eg.analysis.is_one(&b[0])
                && eg.analysis.same(&a[..1], &b[1..])
        })
        .map(|(_, args)| {
            (
                "(trace (* ?a ?b))".to_string(),
                "(sum[0,1] (* ?a (T ?b)))".to_string(),
                subst(&[("?a", args[0]), ("?b", args[1])]),
            )
        })
        .collect()
}

fn product_with_ones(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let (a, c) = (eg.find(n.args[0]), eg.find(n.args[1]));
    let rank = shape(eg, a).len();
    if rank < 1 || shape(eg, c).len() != 1 {
        return vec![];
    }
    let ones: Vec<(u32, Id)> = nodes(eg, c, |op| matches!(op, EOp::Expand(_)))
        .into_iter()
        .filter_map(|(op, args)| match op {
            EOp::Expand(k)
                if eg[args[0]]
                    .data
                    .konst
                    .as_ref()
                    .is_some_and(num_traits::One::is_one) =>
            {
                Some((k, args[0]))
            }
            _ => None,
        })
        .collect();
    let last = EOp::Reduce(ReduceKind::Sum, vec![(rank - 1) as u8], false);
    ones.into_iter()
        .map(|(k, one)| {
            (
                format!("(@ ?a (#expand{k} ?o))"),
                format!("({last} ?a)"),
                subst(&[("?a", a), ("?o", one)]),
            )
        })
        .collect()
}

fn reshape_of_reshape(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let EOp::Reshape(k) = n.op else {
        return vec![];
    };
    let c = eg.find(n.args[0]);
    reshapes(eg, c)
        .into_iter()
        .map(|(k2, x)| {
            (
                format!("(#reshape{k} (#reshape{k2} ?x))"),
                format!("(#reshape{k} ?x)"),
                subst(&[("?x", x)]),
            )
        })
        .collect()
}

fn reshaped_row_sum(eg: &mut EG, n: &ENode) -> Vec<Match> {
    let EOp::Reshape(k) = n.op else {
        return vec![];
    };
    let c = eg.find(n.args[0]);
    let Some(wanted) = eg.analysis.tables.shapes.get(k as usize).cloned() else {
        return vec![];
    };
    nodes(eg, c, |op| {
        matches!(op, EOp::Reduce(ReduceKind::Sum, _, false))
    })
    .into_iter()
    .filter_map(|(op, args)| {
        let a = args[0];
        let s = shape(eg, a);
        let r = s.len();
        let EOp::Reduce(_, axes, _) = &op else {
            return None;
        };
        let mut kept = s.clone();
        *kept.last_mut()? = DimPoly::constant(1);
        (r >= 1 && *axes == [(r - 1) as u8] && eg.analysis.same(&kept, &wanted)).then(|| {
            (
                format!("(#reshape{k} ({op} ?a))"),
                "(rowsum ?a)".to_string(),
                subst(&[("?a", a)]),
            )
        })
    })
    .collect()
}

/// Every class with a node `top` accepts.
struct Tops {
    top: fn(&EOp) -> bool,
    guard: fn(&EG) -> bool,
}

impl Searcher<ENode, ShapeInfo> for Tops {
    fn search_with_limit(&self, eg: &EG, mut limit: usize) -> Vec<SearchMatches<'_, ENode>> {
        if !(self.guard)(eg) {
            return vec![];
        }
        let mut out = Vec::new();
        for class in eg.classes() {
            if limit == 0 {
                break;
            }
            if let Some(m) = self.search_eclass_with_limit(eg, class.id, limit) {
                limit = limit.saturating_sub(m.substs.len());
                out.push(m);
            }
        }
        out
    }

    fn search_eclass_with_limit(
        &self,
        eg: &EG,
        eclass: Id,
        _limit: usize,
    ) -> Option<SearchMatches<'_, ENode>> {
        eg[eclass]
            .nodes
            .iter()
            .any(|n| (self.top)(&n.op))
            .then(|| SearchMatches {
                eclass,
                substs: vec![Subst::default()],
                ast: None,
            })
    }

    fn vars(&self) -> Vec<Var> {
        vec![]
    }
}

impl Applier<ENode, ShapeInfo> for Fact {
    fn apply_one(
        &self,
        eg: &mut EG,
        eclass: Id,
        _subst: &Subst,
        _searcher_ast: Option<&PatternAst<ENode>>,
        rule_name: Symbol,
    ) -> Vec<Id> {
        let tops: Vec<ENode> = eg[eclass]
            .nodes
            .iter()
            .filter(|n| (self.top)(&n.op))
            .cloned()
            .collect();
        let mut changed = Vec::new();
        for n in tops {
            for (lhs, rhs, s) in (self.matches)(eg, &n) {
                changed.extend(join_text(eg, eclass, &lhs, &rhs, &s, rule_name));
            }
        }
        changed
    }
}
