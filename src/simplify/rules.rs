//! The rewrite rules of matrix calculus, each sound for every size of the dims.
//!
//! Owns [`rules`]: the named rules (a reversible identity is two rules, `name` and
//! `name (reversed)`), with shape conditions where an identity only holds for some shapes
//! (distributing `@` over `+` needs both terms the same shape, or broadcasting would change
//! the meaning). Conditions only ever test properties a class has for good (its shape, being
//! a constant, being positive), never the absence of a node, so the result does not depend
//! on the order rules run in.
//!
//! Invariant: every rule is tested for soundness on random exact points (tests/simplify.rs),
//! and a rule that merged classes of different shapes would be caught by the analysis.

use super::analysis::{ShapeInfo, EG};
use super::applier::join_text;
use super::lang::ENode;
use super::lang::EOp;
use crate::ir::ReduceKind;
use egg::{Applier, Id, Pattern, PatternAst, Rewrite, SearchMatches, Searcher, Subst, Symbol, Var};

pub type Rule = Rewrite<ENode, ShapeInfo>;

type Cond = Box<dyn Fn(&EG, &Subst) -> bool + Send + Sync>;

fn var(v: &str) -> Var {
    v.parse().expect("pattern variable")
}

fn shape<'a>(eg: &'a EG, s: &Subst, v: Var) -> &'a crate::ir::Shape {
    &eg[s[v]].data.shape
}

/// `v` is a scalar.
fn scalar(v: &str) -> Cond {
    let v = var(v);
    Box::new(move |eg, s| shape(eg, s, v).is_empty())
}

/// `v` and `w` have the same shape.
fn same(v: &str, w: &str) -> Cond {
    let (v, w) = (var(v), var(w));
    Box::new(move |eg, s| eg.analysis.same(shape(eg, s, v), shape(eg, s, w)))
}

/// `v` has exactly `r` axes.
fn rank(v: &str, r: usize) -> Cond {
    let v = var(v);
    Box::new(move |eg, s| shape(eg, s, v).len() == r)
}

/// `v` has at least `r` axes.
fn rank_at_least(v: &str, r: usize) -> Cond {
    let v = var(v);
    Box::new(move |eg, s| shape(eg, s, v).len() >= r)
}

/// `v` is constant along the last axis (a scalar, or last axis of size 1).
fn flat_last(v: &str) -> Cond {
    let v = var(v);
    Box::new(move |eg, s| shape(eg, s, v).last().is_none_or(|d| eg.analysis.is_one(d)))
}

/// `v` alone already has the shape of `v` broadcast with `w`.
fn covers(v: &str, w: &str) -> Cond {
    let (v, w) = (var(v), var(w));
    Box::new(move |eg, s| {
        let (a, b) = (shape(eg, s, v), shape(eg, s, w));
        crate::ir::shape::broadcast(&eg.analysis.dims, a, b)
            .is_ok_and(|full| eg.analysis.same(&full, a))
    })
}

/// `v` is positive wherever it is defined.
fn positive(v: &str) -> Cond {
    let v = var(v);
    Box::new(move |eg, s| eg[s[v]].data.positive)
}

fn all(conds: Vec<Cond>) -> Cond {
    Box::new(move |eg, s| conds.iter().all(|c| c(eg, s)))
}

/// An applier that checks a condition, then instantiates a pattern.
struct When {
    cond: Cond,
    then: Pattern<ENode>,
}

impl Applier<ENode, ShapeInfo> for When {
    fn apply_one(
        &self,
        eg: &mut EG,
        eclass: Id,
        subst: &Subst,
        searcher_ast: Option<&PatternAst<ENode>>,
        rule_name: Symbol,
    ) -> Vec<Id> {
        // A rational constant already has its number (cost 0): rewriting it only makes more
        // ways to write the same number.
        if eg[eclass].data.konst.is_none() && (self.cond)(eg, subst) {
            self.then
                .apply_one(eg, eclass, subst, searcher_ast, rule_name)
        } else {
            vec![]
        }
    }

    fn get_pattern_ast(&self) -> Option<&PatternAst<ENode>> {
        <Pattern<ENode> as Applier<ENode, ShapeInfo>>::get_pattern_ast(&self.then)
    }

    fn vars(&self) -> Vec<Var> {
        <Pattern<ENode> as Applier<ENode, ShapeInfo>>::vars(&self.then)
    }
}

/// Matches `inner` under any sum or mean reduction (`sum(x)`, `mean(x, axis=0)`, ...): egg
/// patterns name one operation, and a reduction's axes are part of its operation. The
/// reduction's class binds `?x` to the class it reduces.
struct UnderReduce {
    inner: Pattern<ENode>,
}

impl Searcher<ENode, ShapeInfo> for UnderReduce {
    fn search_eclass_with_limit(
        &self,
        eg: &EG,
        eclass: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, ENode>> {
        let mut substs = Vec::new();
        for node in &eg[eclass].nodes {
            if !matches!(
                node.op,
                EOp::Reduce(ReduceKind::Sum | ReduceKind::Mean, _, _)
            ) {
                continue;
            }
            let child = node.args[0];
            if let Some(m) = self.inner.search_eclass_with_limit(eg, child, limit) {
                for mut s in m.substs {
                    s.insert(var("?x"), eg.find(child));
                    substs.push(s);
                }
            }
            if substs.len() >= limit {
                break;
            }
        }
        (!substs.is_empty()).then_some(SearchMatches {
            eclass,
            substs,
            ast: None,
        })
    }

    fn vars(&self) -> Vec<Var> {
        let mut v = <Pattern<ENode> as Searcher<ENode, ShapeInfo>>::vars(&self.inner);
        v.push(var("?x"));
        v
    }
}

/// Rewrites `(R LHS)` to `RHS` for the reduction R found over `?x` (`%R` in both templates
/// stands for it), under `cond`; each union is justified by the rule's name.
struct ReduceApply {
    lhs: &'static str,
    rhs: &'static str,
    cond: Cond,
    /// Only reductions whose axes include the last one.
    over_last: bool,
    /// Only reductions of this kind.
    kind: Option<ReduceKind>,
    /// Only reductions over every axis, not kept.
    full: bool,
}

impl Applier<ENode, ShapeInfo> for ReduceApply {
    fn apply_one(
        &self,
        eg: &mut EG,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&PatternAst<ENode>>,
        rule_name: Symbol,
    ) -> Vec<Id> {
        if eg[eclass].data.konst.is_some() || !(self.cond)(eg, subst) {
            return vec![];
        }
        let child = eg.find(subst[var("?x")]);
        let rank = eg[child].data.shape.len();
        let ops: Vec<EOp> = eg[eclass]
            .nodes
            .iter()
            .filter(|n| n.args.len() == 1 && eg.find(n.args[0]) == child)
            .filter_map(|n| match &n.op {
                EOp::Reduce(kind @ (ReduceKind::Sum | ReduceKind::Mean), axes, keep)
                    if (!self.over_last || (rank >= 2 && axes.contains(&((rank - 1) as u8))))
                        && self.kind.is_none_or(|k| k == *kind)
                        && (!self.full || (!keep && axes.len() == rank)) =>
                {
                    Some(n.op.clone())
                }
                _ => None,
            })
            .collect();
        let mut changed = Vec::new();
        for op in ops {
            if self.over_last && !matches!(op, EOp::Reduce(ReduceKind::Sum, _, _)) {
                continue;
            }
            let EOp::Reduce(_, axes, keep) = &op else {
                continue;
            };
            let as_sum = EOp::Reduce(ReduceKind::Sum, axes.clone(), *keep).to_string();
            // The number of entries each result entry reduces (for a mean as a sum).
            let shape = eg[child].data.shape.clone();
            let mut count = crate::ir::DimPoly::constant(1);
            for &a in axes {
                count = count.mul(&shape[a as usize]);
            }
            let k = eg.analysis.tables.dim(&count);
            let fill = |t: &str| {
                t.replace("%R", &op.to_string())
                    .replace("%S", &as_sum)
                    .replace("%N", &format!("#dim{k}"))
            };
            let (lhs, rhs) = (fill(self.lhs), fill(self.rhs));
            changed.extend(join_text(eg, eclass, &lhs, &rhs, subst, rule_name));
        }
        changed
    }
}

struct Rules(Vec<Rule>);

impl Rules {
    fn add(&mut self, name: &str, lhs: &str, rhs: &str, cond: Option<Cond>) {
        let l: Pattern<ENode> = lhs.parse().expect(lhs);
        let r: Pattern<ENode> = rhs.parse().expect(rhs);
        let cond = cond.unwrap_or_else(|| Box::new(|_: &EG, _: &Subst| true));
        let rule = Rewrite::new(name, l, When { cond, then: r });
        self.0.push(rule.expect(name));
    }

    /// `lhs → rhs` under `cond`.
    fn one(&mut self, name: &str, lhs: &str, rhs: &str, cond: Option<Cond>) {
        self.add(name, lhs, rhs, cond);
    }

    /// `(R inner) → rhs` for every sum or mean reduction R (`%R` in `lhs`/`rhs`).
    #[allow(clippy::too_many_arguments)]
    fn reduce(
        &mut self,
        name: &str,
        inner: &str,
        lhs: &'static str,
        rhs: &'static str,
        cond: Option<Cond>,
        over_last: bool,
        kind: Option<ReduceKind>,
        full: bool,
    ) {
        let searcher = UnderReduce {
            inner: inner.parse().expect(inner),
        };
        let cond = cond.unwrap_or_else(|| Box::new(|_: &EG, _: &Subst| true));
        let applier = ReduceApply {
            lhs,
            rhs,
            cond,
            over_last,
            kind,
            full,
        };
        self.0
            .push(Rewrite::new(name, searcher, applier).expect(name));
    }

    /// `lhs ↔ rhs` under `cond` (for both directions, so the condition must be stated on
    /// variables both sides bind).
    fn both(&mut self, name: &str, lhs: &str, rhs: &str, cond: fn() -> Option<Cond>) {
        self.add(name, lhs, rhs, cond());
        self.add(&format!("{name} (reversed)"), rhs, lhs, cond());
    }
}

/// Identities of sums over indices that the normal forms cannot see, each stated for the
/// exact shapes it holds at (no broadcasting but where written).
fn index_facts(r: &mut Rules) {
    // [m, 1] @ [1, n]: the contraction runs over one index, so it is a broadcast product.
    r.one(
        "a product over an axis of size one",
        "(@ ?a ?b)",
        "(* ?a ?b)",
        Some(all(vec![rank("?a", 2), rank("?b", 2), flat_last("?a")])),
    );
    // Σ_ij a_ij b_ij = (Σ a)(Σ b) when every axis has size one in a or in b.
    r.reduce(
        "sum of a product of independent factors",
        "(* ?a ?b)",
        "(%R (* ?a ?b))",
        "(* (%R ?a) (%R ?b))",
        Some(independent("?a", "?b")),
        false,
        Some(ReduceKind::Sum),
        true,
    );
    // Σ_i u_i (A x)_i = Σ_j (Aᵀ u)_j x_j, and ⟨U, A B⟩ = ⟨Aᵀ U, B⟩ for matrices.
    for (name, inner, lhs) in [
        (
            "an inner product across a matrix product",
            "(* ?u (@ ?a ?b))",
            "(%R (* ?u (@ ?a ?b)))",
        ),
        (
            "an inner product across a matrix product (on the left)",
            "(* (@ ?a ?b) ?u)",
            "(%R (* (@ ?a ?b) ?u))",
        ),
    ] {
        r.reduce(
            name,
            inner,
            lhs,
            "(%R (* (@ (T ?a) ?u) ?b))",
            Some(inner_product_shapes()),
            false,
            Some(ReduceKind::Sum),
            true,
        );
    }
    // Σ_ij (A B)_ij = Σ_k (Σ_i A_ik)(Σ_j B_kj).
    r.reduce(
        "sum of a matrix product",
        "(@ ?a ?b)",
        "(%R (@ ?a ?b))",
        "(sum[0] (* (sum[0] ?a) (sum[1] ?b)))",
        Some(all(vec![rank("?a", 2), rank("?b", 2)])),
        false,
        Some(ReduceKind::Sum),
        true,
    );
}

/// `v` and `w` have one rank and every axis has size one in `v` or in `w`.
fn independent(v: &str, w: &str) -> Cond {
    let (v, w) = (var(v), var(w));
    Box::new(move |eg, s| {
        let (a, b) = (shape(eg, s, v), shape(eg, s, w));
        a.len() == b.len()
            && !a.is_empty()
            && a.iter()
                .zip(b)
                .all(|(x, y)| eg.analysis.is_one(x) || eg.analysis.is_one(y))
    })
}

/// `?a` a matrix, `?b` a vector or a matrix, and `?u` exactly the shape of `?a @ ?b`.
fn inner_product_shapes() -> Cond {
    let (u, a, b) = (var("?u"), var("?a"), var("?b"));
    Box::new(move |eg, s| {
        let (us, as_, bs) = (shape(eg, s, u), shape(eg, s, a), shape(eg, s, b));
        let product = match (as_.len(), bs.len()) {
            (2, 1) => vec![as_[0].clone()],
            (2, 2) => vec![as_[0].clone(), bs[1].clone()],
            _ => return false,
        };
        eg.analysis.same(us, &product)
    })
}

/// The name of a rule without the direction suffix.
pub fn base_name(rule: &str) -> &str {
    rule.strip_suffix(" (reversed)").unwrap_or(rule)
}

/// The base names of every rule (each reversible identity once), in definition order.
pub fn names() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rules() {
        let name = base_name(r.name.as_str()).to_string();
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

thread_local! {
    /// The rules, built once per thread (parsing their patterns is not free, and a check
    /// runs the e-graph for every claim).
    static RULES: Vec<Rule> = rules();
}

/// `f` of every rule, built once per thread.
pub fn with_rules<T>(f: impl FnOnce(&[Rule]) -> T) -> T {
    RULES.with(|r| f(r))
}

/// Every rule.
pub fn rules() -> Vec<Rule> {
    let mut r = Rules(Vec::new());
    let none = || None;
    // The algebra of + − × ÷, powers, constants, zeros and row sums is decided by normal
    // forms (`normal`), not by rules: commutativity, associativity and distributivity as
    // rules blow the e-graph up. Commutativity stays, so the rules below meet products and
    // sums either way round (it only mirrors a node within its class).
    // Powers, roots, exp and log, where they hold.
    r.one("log of exp", "(log (exp ?a))", "?a", None);
    r.one("exp of log", "(exp (log ?a))", "?a", Some(positive("?a")));
    r.both(
        "log of a product",
        "(log (* ?a ?b))",
        "(+ (log ?a) (log ?b))",
        || Some(all(vec![positive("?a"), positive("?b")])),
    );
    // Definitions of the smooth activations in terms of each other.
    r.both(
        "Phi through erf",
        "(Phi ?a)",
        "(/ (+ 1 (erf (/ ?a (sqrt 2)))) 2)",
        none,
    );
    r.both("erf is odd", "(erf (neg ?a))", "(neg (erf ?a))", none);
    r.both("gelu", "(gelu ?a)", "(* ?a (Phi ?a))", none);
    r.both(
        "gelu (tanh form)",
        "(gelu_tanh ?a)",
        "(* (* ?a 1/2) (+ 1 (tanh (* (+ ?a (* 44715/1000000 (^3 ?a))) (sqrt (/ 2 pi))))))",
        none,
    );
    r.both("silu", "(silu ?a)", "(* ?a (sigmoid ?a))", none);
    // tanh's derivative as sech²: 1 − tanh(a)² = 4 / (exp(a) + exp(−a))².
    r.one(
        "1 - tanh² is sech²",
        "(- 1 (^2 (tanh ?a)))",
        "(/ 4 (^2 (+ (exp ?a) (exp (neg ?a)))))",
        None,
    );
    // Matrix products.
    r.both(
        "associate @",
        "(@ (@ ?a ?b) ?c)",
        "(@ ?a (@ ?b ?c))",
        || Some(all(vec![rank("?a", 2), rank("?b", 2), rank("?c", 2)])),
    );
    // Transposes.
    r.one("transpose twice", "(T (T ?a))", "?a", None);
    r.both(
        "transpose of a product",
        "(T (@ ?a ?b))",
        "(@ (T ?b) (T ?a))",
        || Some(all(vec![rank_at_least("?a", 2), rank_at_least("?b", 2)])),
    );
    r.both(
        "transpose of a Hadamard product",
        "(T (* ?a ?b))",
        "(* (T ?a) (T ?b))",
        || Some(all(vec![same("?a", "?b"), rank_at_least("?a", 2)])),
    );
    // A sum over any axes is linear in the normal forms; a mean is a sum over a count.
    // A sum over axes that include the last one may sum each row first.
    r.reduce(
        "sum the rows first",
        "?a",
        "(%R ?a)",
        "(%R (rowsum ?a))",
        None,
        true,
        None,
        false,
    );
    r.reduce(
        "mean as a sum",
        "?a",
        "(%R ?a)",
        "(/ (%S ?a) %N)",
        None,
        false,
        Some(ReduceKind::Mean),
        false,
    );
    r.reduce(
        "sum of a transpose",
        "(T ?a)",
        "(%R (T ?a))",
        "(%R ?a)",
        None,
        false,
        None,
        true,
    );
    r.both(
        "row sum of a product",
        "(rowsum (@ ?a ?b))",
        "(@ ?a (rowsum ?b))",
        || Some(all(vec![rank_at_least("?a", 2), rank_at_least("?b", 2)])),
    );
    // Row sums and means are in the normal form (`normal`).
    // Softmax (over the last axis) and the causal mask.
    r.both(
        "softmax",
        "(softmax ?a)",
        "(/ (exp ?a) (rowsum (exp ?a)))",
        none,
    );
    r.both(
        "log-softmax",
        "(logsoftmax ?a)",
        "(- ?a (log (rowsum (exp ?a))))",
        none,
    );
    // softmax(a − c) = softmax(a) when c is constant along the row (the max subtraction).
    r.one(
        "softmax is shift invariant",
        "(softmax (- ?a ?c))",
        "(softmax ?a)",
        Some(all(vec![flat_last("?c"), covers("?a", "?c")])),
    );
    r.one(
        "softmax of a masked row is lower triangular",
        "(tril (softmax (causal ?a)))",
        "(softmax (causal ?a))",
        None,
    );
    // Towards the mask on one factor only (both directions churn with commutativity).
    r.one(
        "tril of a Hadamard product",
        "(tril (* ?a ?b))",
        "(* (tril ?a) ?b)",
        Some(all(vec![covers("?a", "?b"), rank_at_least("?a", 2)])),
    );
    r.one("tril twice", "(tril (tril ?a))", "(tril ?a)", None);
    r.both(
        "tril of a sum",
        "(tril (+ ?a ?b))",
        "(+ (tril ?a) (tril ?b))",
        || Some(same("?a", "?b")),
    );
    // rowsum(A ∘ (B Cᵀ)) = rowsum(B ∘ (A C)): both are Σ_j Σ_l A_ij B_il C_jl (per batch).
    r.both(
        "row sum of A ∘ (B Cᵀ)",
        "(rowsum (* ?a (@ ?b (T ?c))))",
        "(rowsum (* ?b (@ ?a ?c)))",
        || {
            Some(Box::new(|eg: &EG, s: &Subst| {
                // A: [.., m, k], B: [.., m, n], C: [.., k, n], one batch shape, no
                // broadcasting anywhere.
                let (a, b, c) = (
                    shape(eg, s, var("?a")),
                    shape(eg, s, var("?b")),
                    shape(eg, s, var("?c")),
                );
                let r = a.len();
                let d = &eg.analysis.dims;
                r >= 2
                    && b.len() == r
                    && c.len() == r
                    && (0..r - 2).all(|i| d.same(&a[i], &b[i]) && d.same(&a[i], &c[i]))
                    && d.same(&a[r - 2], &b[r - 2])
                    && d.same(&a[r - 1], &c[r - 2])
                    && d.same(&b[r - 1], &c[r - 1])
            }))
        },
    );
    r.0.push(super::einsum_rule::rule());
    r.0.extend(super::layout_rules::rules());
    r.0.extend(super::select_rules::rules());
    index_facts(&mut r);
    // Traces.
    r.one(
        "trace is cyclic",
        "(trace (@ ?a ?b))",
        "(trace (@ ?b ?a))",
        Some(all(vec![rank("?a", 2), rank("?b", 2)])),
    );
    r.one("trace of a transpose", "(trace (T ?a))", "(trace ?a)", None);
    r.both(
        "trace of a sum",
        "(trace (+ ?a ?b))",
        "(+ (trace ?a) (trace ?b))",
        || Some(same("?a", "?b")),
    );
    r.both(
        "scalar out of a trace",
        "(trace (* ?s ?a))",
        "(* ?s (trace ?a))",
        || Some(scalar("?s")),
    );
    r.both(
        "trace of Aᵀ B",
        "(trace (@ (T ?a) ?b))",
        "(sum[0,1] (* ?a ?b))",
        || Some(all(vec![same("?a", "?b"), rank("?a", 2)])),
    );
    r.0
}
