//! The rule "einsum as a matrix product": an `einsum` that is a (batched) matrix product or
//! a sum over axes is joined with that form, so the algebra of `@`, `.T` and sums applies to
//! it (`einsum("hij,hie->hje", P, dO)` is `P.T @ dO`).
//!
//! Owns [`rule`]. Only the exact shapes of those forms are recognised: two operands sharing
//! leading batch letters in one order, one contracted letter and one free letter each; a
//! matrix and a vector (`ij,j->i`), a dot product (`i,i->`) or an outer product (`i,j->ij`,
//! a column times a row); or one operand whose kept letters stay in order. Anything else is
//! left to the verifier.

use super::analysis::{ShapeInfo, EG};
use super::applier::join_text;
use super::lang::{ENode, EOp};
use crate::ir::{EinsumSpec, ReduceKind};
use egg::{Applier, Id, PatternAst, Rewrite, SearchMatches, Searcher, Subst, Symbol, Var};

/// The rule's name in proofs.
pub const NAME: &str = "einsum as a matrix product";

/// The rewrite.
pub fn rule() -> Rewrite<ENode, ShapeInfo> {
    Rewrite::new(NAME, EinsumNodes, AsProduct).expect(NAME)
}

fn var(v: &str) -> Var {
    v.parse().expect("a pattern variable")
}

/// Every class with an `einsum` of one or two operands (`?a`, `?b`).
struct EinsumNodes;

impl Searcher<ENode, ShapeInfo> for EinsumNodes {
    fn search_eclass_with_limit(
        &self,
        eg: &EG,
        eclass: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, ENode>> {
        let substs: Vec<Subst> = eg[eclass]
            .nodes
            .iter()
            .filter(|n| matches!(n.op, EOp::Einsum(_)) && (1..=2).contains(&n.args.len()))
            .take(limit)
            .map(|n| {
                let mut s = Subst::default();
                s.insert(var("?a"), eg.find(n.args[0]));
                if let Some(&b) = n.args.get(1) {
                    s.insert(var("?b"), eg.find(b));
                }
                s
            })
            .collect();
        (!substs.is_empty()).then_some(SearchMatches {
            eclass,
            substs,
            ast: None,
        })
    }

    fn vars(&self) -> Vec<Var> {
        vec![var("?a"), var("?b")]
    }
}

/// The matrix-product (or sum) form of an einsum, as a pattern over `?a` and `?b`.
fn as_product(spec: &EinsumSpec) -> Option<String> {
    match spec.inputs.as_slice() {
        [a] => {
            let summed: Vec<u8> = (0..a.len())
                .filter(|&i| !spec.output.contains(&a[i]))
                .map(|i| i as u8)
                .collect();
            let kept: Vec<char> = a
                .iter()
                .copied()
                .filter(|c| spec.output.contains(c))
                .collect();
            if kept != spec.output || summed.is_empty() {
                return None;
            }
            Some(format!(
                "({} ?a)",
                EOp::Reduce(ReduceKind::Sum, summed, false)
            ))
        }
        [a, b] if a.len() == 1 || b.len() == 1 => matrix_vector(a, b, &spec.output),
        [a, b] => {
            let o = &spec.output;
            let r = o.len();
            if r < 2
                || a.len() != r
                || b.len() != r
                || a[..r - 2] != o[..r - 2]
                || b[..r - 2] != o[..r - 2]
            {
                return None;
            }
            let (a2, b2, o2) = (&a[r - 2..], &b[r - 2..], &o[r - 2..]);
            let k = *a2.iter().find(|c| b2.contains(c) && !o2.contains(c))?;
            let i = *a2.iter().find(|&&c| c != k)?;
            let j = *b2.iter().find(|&&c| c != k)?;
            if i == j || o2.contains(&k) {
                return None;
            }
            let left = if a2 == [i, k] {
                "?a".to_string()
            } else {
                "(T ?a)".to_string()
            };
            let right = if b2 == [k, j] {
                "?b".to_string()
            } else {
                "(T ?b)".to_string()
            };
            if o2 == [i, j] {
                Some(format!("(@ {left} {right})"))
            } else if o2 == [j, i] {
                Some(format!("(T (@ {left} {right}))"))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A product with a vector operand: `ij,j->i` (`A @ x`), `j,jk->k` (`x @ B`), with either
/// matrix transposed, and `i,i->` (`sum(x * y)`).
fn matrix_vector(a: &[char], b: &[char], o: &[char]) -> Option<String> {
    match (a, b, o) {
        ([i, k], [k2], [i2]) if k == k2 && i == i2 && i != k => Some("(@ ?a ?b)".into()),
        ([k, i], [k2], [i2]) if k == k2 && i == i2 && i != k => Some("(@ (T ?a) ?b)".into()),
        ([k], [k2, j], [j2]) if k == k2 && j == j2 && j != k => Some("(@ ?a ?b)".into()),
        ([k], [j, k2], [j2]) if k == k2 && j == j2 && j != k => Some("(@ ?a (T ?b))".into()),
        ([i], [i2], []) if i == i2 => Some("(sum[0] (* ?a ?b))".into()),
        _ => None,
    }
}

/// `i,j->ij` over operands of shapes `[m]` and `[n]`: the broadcast product of a column
/// `[m, 1]` and a row `[1, n]` (the shapes interned in `eg`).
fn outer_product(eg: &mut EG, spec: &EinsumSpec, a: Id, b: Id) -> Option<String> {
    let ([i], [j]) = (
        spec.inputs.first()?.as_slice(),
        spec.inputs.get(1)?.as_slice(),
    ) else {
        return None;
    };
    if spec.output != [*i, *j] || i == j {
        return None;
    }
    let one = crate::ir::DimPoly::constant(1);
    let m = eg[a].data.shape.first()?.clone();
    let n = eg[b].data.shape.first()?.clone();
    let column = eg.analysis.tables.shape(&vec![m, one.clone()]);
    let row = eg.analysis.tables.shape(&vec![one, n]);
    Some(format!("(* (#reshape{column} ?a) (#reshape{row} ?b))"))
}

struct AsProduct;

impl Applier<ENode, ShapeInfo> for AsProduct {
    fn apply_one(
        &self,
        eg: &mut EG,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&PatternAst<ENode>>,
        rule_name: Symbol,
    ) -> Vec<Id> {
        let a = eg.find(subst[var("?a")]);
        let b = subst.get(var("?b")).map(|&b| eg.find(b));
        let ops: Vec<(u32, usize)> = eg[eclass]
            .nodes
            .iter()
            .filter_map(|n| match n.op {
                EOp::Einsum(k)
                    if eg.find(n.args[0]) == a && n.args.get(1).map(|&x| eg.find(x)) == b =>
                {
                    Some((k, n.args.len()))
                }
                _ => None,
            })
            .collect();
        let mut changed = Vec::new();
        for (k, arity) in ops {
            let Some(spec) = eg.analysis.tables.einsums.get(k as usize).cloned() else {
                continue;
            };
            let rhs = match (as_product(&spec), b) {
                (Some(rhs), _) => rhs,
                (None, Some(b)) => match outer_product(eg, &spec, a, b) {
                    Some(rhs) => rhs,
                    None => continue,
                },
                (None, None) => continue,
            };
            let operands = if arity == 2 { "?a ?b" } else { "?a" };
            let lhs = format!("(#einsum{k} {operands})");
            changed.extend(join_text(eg, eclass, &lhs, &rhs, subst, rule_name));
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str) -> Option<String> {
        as_product(&EinsumSpec::parse(s).unwrap())
    }

    #[test]
    fn matrix_products_and_sums_are_recognised() {
        assert_eq!(form("ij,jk->ik").as_deref(), Some("(@ ?a ?b)"));
        assert_eq!(form("hij,hie->hje").as_deref(), Some("(@ (T ?a) ?b)"));
        assert_eq!(form("hie,hje->hij").as_deref(), Some("(@ ?a (T ?b))"));
        assert_eq!(form("ij,jk->ki").as_deref(), Some("(T (@ ?a ?b))"));
        assert_eq!(form("td->d").as_deref(), Some("(sum[0] ?a)"));
        assert_eq!(form("ij,j->i").as_deref(), Some("(@ ?a ?b)"));
        assert_eq!(form("ji,j->i").as_deref(), Some("(@ (T ?a) ?b)"));
        assert_eq!(form("j,jk->k").as_deref(), Some("(@ ?a ?b)"));
        assert_eq!(form("i,i->").as_deref(), Some("(sum[0] (* ?a ?b))"));
        assert_eq!(form("i,j->ij"), None);
        assert_eq!(form("ij->ji"), None);
        assert_eq!(form("ii->i"), None);
    }
}
