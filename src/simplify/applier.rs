//! The union a custom rule's applier makes: egg leaves it to the applier, and with
//! explanations on it must name the rule and both instantiated patterns.
//!
//! Owns [`join`] and [`join_text`], shared by every custom applier (reductions, einsum,
//! layout facts).

use super::analysis::EG;
use super::lang::ENode;
use egg::{Id, PatternAst, Subst, Symbol};

/// Join `eclass` (where `lhs` matched under `subst`) with `rhs`, justified by `rule_name`
/// when explanations are on (a custom applier must make its own union). The class changed,
/// if it did.
pub fn join(
    eg: &mut EG,
    eclass: Id,
    lhs: &PatternAst<ENode>,
    rhs: &PatternAst<ENode>,
    subst: &Subst,
    rule_name: Symbol,
) -> Option<Id> {
    if eg.are_explanations_enabled() {
        let (id, did) = eg.union_instantiations(lhs, rhs, subst, rule_name);
        did.then_some(id)
    } else {
        let id = eg.add_instantiation(rhs, subst);
        eg.union(eclass, id).then_some(eclass)
    }
}

/// [`join`] of two patterns written as text (a custom rule builds them per match, with the
/// interned ids of the operations it found).
pub fn join_text(
    eg: &mut EG,
    eclass: Id,
    lhs: &str,
    rhs: &str,
    subst: &Subst,
    rule_name: Symbol,
) -> Option<Id> {
    let lhs: PatternAst<ENode> = lhs.parse().expect("a rule's left pattern");
    let rhs: PatternAst<ENode> = rhs.parse().expect("a rule's right pattern");
    join(eg, eclass, &lhs, &rhs, subst, rule_name)
}
