//! Candidate corrections of a refuted claim, built as expressions.
//!
//! Owns [`Candidates`]: from the person's side of a claim and the reference side (the true
//! gradient, or the previous line of a derivation) it builds, in a copy of the program's
//! graph, the expressions the claim would hold with if one common mistake were undone: a
//! transpose too many or missing, a mean where a sum belongs (or the reverse), a term's sign,
//! a stray scale, a stray term, factors in the wrong order, or a term of the reference missing
//! (or with its sign flipped). Each comes with the [`Mistake`] it undoes, as data.
//! [`super::diagnose`] evaluates them exactly and reports the first that fits.
//!
//! Invariants: a candidate has exactly the person's side's shape (or one that broadcasts to
//! it like the side did); the program's own nodes are never changed, only appended to; the
//! reference's terms are the distributed form of its expression, so each is a sub-sum a
//! person could have dropped.

use super::diagnosis::{Diagnosis, Fix, Mistake, Reference};
use crate::diff::Gradients;
use crate::ir::shape::broadcast;
use crate::ir::{Graph, Node, NodeId, Op, Program, ReduceKind, Shape, TargetKind, TensorId};
use std::collections::{HashMap, HashSet};

/// Most terms a reference is expanded into; beyond it the expression stays whole.
const MAX_TERMS: usize = 16;
/// Most candidates built for one claim (keeps a refutation's diagnosis cheap).
const MAX_CANDIDATES: usize = 96;

/// One corrected expression and the mistake it undoes.
pub struct Candidate {
    pub node: NodeId,
    pub mistake: Mistake,
}

/// The graph the candidates live in, and which of its nodes are named (a named node is
/// where the person's expression stops: a tensor or `grad(NAME)`).
pub struct Candidates<'a> {
    program: &'a Program,
    pub graph: Graph,
    names: HashSet<NodeId>,
    pub list: Vec<Candidate>,
}

/// A signed term of an expanded expression.
type Term = (bool, NodeId);

impl<'a> Candidates<'a> {
    pub fn new(program: &'a Program) -> Candidates<'a> {
        let mut names: HashSet<NodeId> = program.tensors.iter().map(|t| t.node).collect();
        for (id, node) in program.graph.nodes() {
            if let Op::GradOf(_) = node.op {
                names.insert(id);
            }
        }
        Candidates {
            program,
            graph: program.graph.clone(),
            names,
            list: Vec::new(),
        }
    }

    /// Every candidate for the claim `reference = person`.
    pub fn build(
        program: &'a Program,
        gradients: Option<&Gradients>,
        reference: NodeId,
        person: NodeId,
    ) -> Candidates<'a> {
        let mut c = Candidates::new(program);
        c.mutations_of(person);
        c.missing_terms(gradients, reference, person);
        c.list.truncate(MAX_CANDIDATES);
        c
    }

    /// Candidate `i` as a diagnosis: a term of the reference is put in the simplest form the
    /// e-graph finds (`P * rowsum(dP * P)`, not its broadcasts), as a node of the graph.
    pub fn diagnosis(self, i: usize) -> Diagnosis {
        let mut mistake = self.list[i].mistake.clone();
        let mut graph = self.graph;
        if let Mistake::Term { term, .. } = &mut mistake {
            let limits = crate::simplify::Limits {
                iterations: 8,
                nodes: 10_000,
                time: std::time::Duration::from_secs(5),
                ..crate::simplify::Limits::default()
            };
            if let Ok((tidied, node)) = crate::simplify::tidy(self.program, &graph, *term, &limits)
            {
                graph = tidied;
                *term = node;
            }
        }
        Diagnosis { mistake, graph }
    }

    fn add(&mut self, op: Op, args: Vec<NodeId>, shape: Shape, like: NodeId) -> NodeId {
        let span = self.graph.node(like).span;
        self.graph.add(Node {
            op,
            args,
            shape,
            span,
        })
    }

    fn shape(&self, n: NodeId) -> Shape {
        self.graph.shape(n).clone()
    }

    fn square(&self, n: NodeId) -> bool {
        let s = self.graph.shape(n);
        let r = s.len();
        r >= 2
            && self.program.dims.same(&s[r - 2], &s[r - 1])
            && !self.program.dims.is_one(&s[r - 1])
    }

    /// Does `n` swap its argument's last two axes (a `.T`)?
    fn is_transpose(&self, n: NodeId) -> bool {
        let node = self.graph.node(n);
        let Some(&a) = node.args.first() else {
            return false;
        };
        let r = self.graph.shape(a).len();
        if r < 2 {
            return false;
        }
        match &node.op {
            Op::SwapAxes(i, j) => (*i.min(j), *i.max(j)) == (r - 2, r - 1),
            Op::Permute(p) => {
                p[r - 2] == r - 1
                    && p[r - 1] == r - 2
                    && p[..r - 2].iter().enumerate().all(|(i, &x)| i == x)
            }
            _ => false,
        }
    }

    fn transpose(&mut self, n: NodeId) -> NodeId {
        let mut shape = self.shape(n);
        let r = shape.len();
        shape.swap(r - 2, r - 1);
        self.add(Op::SwapAxes(r - 2, r - 1), vec![n], shape, n)
    }

    /// Does `n` read no tensor at all (a constant such as `sqrt(d)` or `2`)?
    fn constant(&self, n: NodeId) -> bool {
        !self
            .graph
            .depends_on(n, |x| matches!(x.op, Op::Leaf(_) | Op::GradOf(_)))
    }

    /// The nodes a person wrote: `root`'s expression down to names, `grad(...)` and leaves.
    fn written(&self, root: NodeId) -> Vec<NodeId> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            out.push(n);
            if n != root && self.names.contains(&n) {
                continue;
            }
            stack.extend(self.graph.node(n).args.iter().rev().copied());
        }
        out
    }

    /// `root` with `target` replaced by `with` (which has `target`'s shape).
    fn replace(&mut self, root: NodeId, target: NodeId, with: NodeId) -> NodeId {
        let mut memo: HashMap<NodeId, NodeId> = HashMap::new();
        self.replace_in(root, target, with, &mut memo)
    }

    fn replace_in(
        &mut self,
        n: NodeId,
        target: NodeId,
        with: NodeId,
        memo: &mut HashMap<NodeId, NodeId>,
    ) -> NodeId {
        if n == target {
            return with;
        }
        if let Some(&m) = memo.get(&n) {
            return m;
        }
        let node = self.graph.node(n).clone();
        let args: Vec<NodeId> = node
            .args
            .iter()
            .map(|&a| self.replace_in(a, target, with, memo))
            .collect();
        let out = if args == node.args {
            n
        } else {
            self.graph.add(Node { args, ..node })
        };
        memo.insert(n, out);
        out
    }

    fn push(&mut self, node: NodeId, mistake: Mistake) {
        if self.list.len() < MAX_CANDIDATES {
            self.list.push(Candidate { node, mistake });
        }
    }

    /// A candidate correcting `spot` of the person's expression to `corrected`.
    fn push_fix(&mut self, node: NodeId, spot: NodeId, corrected: NodeId, fix: Fix) {
        self.push(
            node,
            Mistake::Correction {
                spot,
                corrected,
                fix,
            },
        );
    }

    /// Corrections of one spot of what the person wrote.
    fn mutations_of(&mut self, person: NodeId) {
        let written = self.written(person);
        for &n in &written {
            let node = self.graph.node(n).clone();
            // A transpose too many.
            if self.is_transpose(n) && self.square(node.args[0]) {
                let a = node.args[0];
                let fixed = self.replace(person, n, a);
                self.push_fix(fixed, n, a, Fix::TransposeTooMany);
            }
            match &node.op {
                Op::MatMul => {
                    // A transpose missing on a factor.
                    for &a in &node.args {
                        if self.square(a) && !self.is_transpose(a) {
                            let t = self.transpose(a);
                            let fixed = self.replace(person, a, t);
                            self.push_fix(fixed, n, t, Fix::TransposeMissing { factor: a });
                        }
                    }
                    // Factors in the wrong order.
                    let (a, b) = (node.args[0], node.args[1]);
                    if self.square(a)
                        && crate::ir::shape::same_shape(
                            &self.program.dims,
                            self.graph.shape(a),
                            self.graph.shape(b),
                        )
                    {
                        let swapped = self.add(Op::MatMul, vec![b, a], node.shape.clone(), n);
                        let fixed = self.replace(person, n, swapped);
                        self.push_fix(fixed, n, swapped, Fix::FactorsSwapped);
                    }
                }
                Op::Concat { .. } => {
                    // Two parts of one shape in each other's places.
                    let parts = &node.args;
                    for i in 0..parts.len() {
                        for j in i + 1..parts.len() {
                            let same = crate::ir::shape::same_shape(
                                &self.program.dims,
                                self.graph.shape(parts[i]),
                                self.graph.shape(parts[j]),
                            );
                            if !same || parts[i] == parts[j] {
                                continue;
                            }
                            let mut args = parts.clone();
                            args.swap(i, j);
                            let swapped = self.add(node.op.clone(), args, node.shape.clone(), n);
                            let fixed = self.replace(person, n, swapped);
                            self.push_fix(fixed, n, swapped, Fix::PartsSwapped);
                        }
                    }
                }
                Op::Reduce {
                    kind,
                    axes,
                    keepdims,
                } if matches!(kind, ReduceKind::Sum | ReduceKind::Mean) => {
                    let (other, fix) = match kind {
                        ReduceKind::Sum => (ReduceKind::Mean, Fix::SumForMean),
                        _ => (ReduceKind::Sum, Fix::MeanForSum),
                    };
                    let op = Op::Reduce {
                        kind: other,
                        axes: axes.clone(),
                        keepdims: *keepdims,
                    };
                    let swapped = self.add(op, node.args.clone(), node.shape.clone(), n);
                    let fixed = self.replace(person, n, swapped);
                    self.push_fix(fixed, n, swapped, fix);
                }
                Op::Add | Op::Sub => {
                    let (a, b) = (node.args[0], node.args[1]);
                    // The sign of the second term.
                    let flipped_op = if node.op == Op::Add { Op::Sub } else { Op::Add };
                    let flipped = self.add(flipped_op, vec![a, b], node.shape.clone(), n);
                    let fixed = self.replace(person, n, flipped);
                    self.push_fix(fixed, n, flipped, Fix::TermSign { term: b });
                    // A stray term.
                    for (keep, drop) in [(a, b), (b, a)] {
                        if node.op == Op::Sub && keep == b {
                            continue;
                        }
                        let kept = self.widened(keep, &node.shape, n);
                        let fixed = self.replace(person, n, kept);
                        self.push_fix(fixed, n, kept, Fix::StrayTerm { term: drop });
                    }
                }
                Op::Div | Op::Mul => {
                    // A stray constant scale.
                    let (a, c) = (node.args[0], node.args[1]);
                    let spots: Vec<(NodeId, NodeId)> = if node.op == Op::Div {
                        vec![(a, c)]
                    } else {
                        vec![(a, c), (c, a)]
                    };
                    for (keep, scale) in spots {
                        if self.constant(scale) && !self.constant(keep) {
                            let kept = self.widened(keep, &node.shape, n);
                            let fixed = self.replace(person, n, kept);
                            let fix = Fix::StrayScale {
                                scale,
                                division: node.op == Op::Div,
                            };
                            self.push_fix(fixed, n, kept, fix);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// `n` broadcast to `shape` when it is smaller (so a kept operand keeps the node's shape).
    fn widened(&mut self, n: NodeId, shape: &Shape, like: NodeId) -> NodeId {
        if crate::ir::shape::same_shape(&self.program.dims, self.graph.shape(n), shape) {
            n
        } else {
            self.add(Op::Expand(shape.clone()), vec![n], shape.clone(), like)
        }
    }

    /// Terms of the reference the person may have dropped, or whose sign they flipped.
    fn missing_terms(&mut self, gradients: Option<&Gradients>, reference: NodeId, person: NodeId) {
        let (expr, whose) = match (&self.graph.node(reference).op, gradients) {
            (Op::GradOf(t), Some(g)) => match self.local_rule(g, *t, person) {
                Some(e) => (e, Reference::TrueGradient),
                None => return,
            },
            (Op::GradOf(_), None) => return,
            _ => (reference, Reference::LeftSide),
        };
        self.missing_factors(expr, person, whose);
        self.missing_terms_of(expr, person, whose, &|_, x| x);
        // Both sides joined from parts of one size (a fused projection's gradient): a term
        // missing from one part.
        let (e, p) = (
            self.graph.node(expr).clone(),
            self.graph.node(person).clone(),
        );
        let parts_match = matches!(e.op, Op::Concat { .. })
            && e.op == p.op
            && e.args.len() == p.args.len()
            && e.args.iter().zip(&p.args).all(|(&a, &b)| {
                crate::ir::shape::same_shape(
                    &self.program.dims,
                    self.graph.shape(a),
                    self.graph.shape(b),
                )
            });
        if parts_match {
            for (i, (&ref_part, &part)) in e.args.iter().zip(&p.args).enumerate() {
                let rejoin = |c: &mut Self, x: NodeId| {
                    let mut args = p.args.clone();
                    args[i] = x;
                    c.add(p.op.clone(), args, p.shape.clone(), person)
                };
                self.missing_terms_of(ref_part, part, whose, &rejoin);
            }
        }
    }

    /// The candidates for a term of `expr` missing from `person` (or with its sign flipped),
    /// each `person ± term` put back in place by `whole`.
    fn missing_terms_of(
        &mut self,
        expr: NodeId,
        person: NodeId,
        whose: Reference,
        whole: &dyn Fn(&mut Self, NodeId) -> NodeId,
    ) {
        let terms = self.terms(expr);
        if terms.len() < 2 {
            return;
        }
        let person_shape = self.shape(person);
        for (negative, t) in terms {
            let Ok(shape) = broadcast(&self.program.dims, &person_shape, self.graph.shape(t))
            else {
                continue;
            };
            let op = if negative { Op::Sub } else { Op::Add };
            let once = self.add(op.clone(), vec![person, t], shape.clone(), person);
            let twice = self.add(op, vec![once, t], shape, person);
            let shown = self.implicit_broadcasts(t, &mut HashMap::new());
            for (node, wrong_sign) in [(once, false), (twice, true)] {
                let mistake = Mistake::Term {
                    term: shown,
                    negative,
                    wrong_sign,
                    whose,
                };
                let fixed = whole(self, node);
                self.push(fixed, mistake);
            }
        }
    }

    /// Factors of the reference (`g` in `g * grad(y)`, the divisor in `a / c`) the person's
    /// side may lack.
    fn missing_factors(&mut self, expr: NodeId, person: NodeId, whose: Reference) {
        let expr = self.implicit_broadcasts(expr, &mut HashMap::new());
        let node = self.graph.node(expr).clone();
        let spots: Vec<(Op, NodeId)> = match node.op {
            Op::Mul => node.args.iter().map(|&a| (Op::Mul, a)).collect(),
            Op::Div => vec![(Op::Div, node.args[1])],
            _ => return,
        };
        let person_shape = self.shape(person);
        for (op, f) in spots {
            let Ok(shape) = broadcast(&self.program.dims, &person_shape, self.graph.shape(f))
            else {
                continue;
            };
            let division = op == Op::Div;
            let fixed = self.add(op, vec![person, f], shape, person);
            let mistake = Mistake::Factor {
                factor: f,
                division,
                whose,
            };
            self.push(fixed, mistake);
        }
    }

    /// The true gradient of `t` in the person's vocabulary: in the gradients their side
    /// mentions (`grad(P)` stays `grad(P)`), every other gradient expanded by its rule.
    fn local_rule(&mut self, grads: &Gradients, t: TensorId, person: NodeId) -> Option<NodeId> {
        let program = self.program;
        let root = grads.of(program, t)?;
        let vocabulary: HashSet<TensorId> = self
            .written(person)
            .iter()
            .filter_map(|&n| match self.graph.node(n).op {
                Op::GradOf(u) => Some(u),
                _ => None,
            })
            .collect();
        let mut named: HashMap<NodeId, TensorId> = HashMap::new();
        for i in 0..program.tensors.len() as u32 {
            let other = TensorId(i);
            if other == t || !vocabulary.contains(&other) {
                continue;
            }
            if let Some(g) = grads.of(program, other) {
                if g != root {
                    named.entry(g).or_insert(other);
                }
            }
        }
        if let Some(target) = &program.target {
            if target.kind == TargetKind::Output {
                named.insert(grads.seed, target.tensor);
            }
        }
        let mut memo: HashMap<NodeId, NodeId> = HashMap::new();
        Some(self.copy_gradient(grads, root, &named, &mut memo))
    }

    fn copy_gradient(
        &mut self,
        grads: &Gradients,
        n: NodeId,
        named: &HashMap<NodeId, TensorId>,
        memo: &mut HashMap<NodeId, NodeId>,
    ) -> NodeId {
        if (n.0 as usize) < grads.forward_len {
            return n;
        }
        if let Some(&m) = memo.get(&n) {
            return m;
        }
        let node = grads.graph.node(n).clone();
        let out = if let Some(&t) = named.get(&n) {
            let id = self.graph.add(Node {
                op: Op::GradOf(t),
                args: vec![],
                ..node
            });
            self.names.insert(id);
            id
        } else {
            let args = node
                .args
                .iter()
                .map(|&a| self.copy_gradient(grads, a, named, memo))
                .collect();
            self.graph.add(Node { args, ..node })
        };
        memo.insert(n, out);
        out
    }

    /// `n` as a sum of signed terms, products distributed over sums (each term has `n`'s
    /// operand's shape, so rebuilding keeps every shape).
    fn terms(&mut self, n: NodeId) -> Vec<Term> {
        let node = self.graph.node(n).clone();
        let whole = vec![(false, n)];
        if self.names.contains(&n) {
            return whole;
        }
        let out: Vec<Term> = match &node.op {
            Op::Add | Op::Sub => {
                let (a, b) = (node.args[0], node.args[1]);
                let mut ts = self.terms_as(a, &node.shape, n);
                let negate = node.op == Op::Sub;
                ts.extend(
                    self.terms_as(b, &node.shape, n)
                        .into_iter()
                        .map(|(s, t)| (s ^ negate, t)),
                );
                ts
            }
            Op::Neg => self
                .terms(node.args[0])
                .into_iter()
                .map(|(s, t)| (!s, t))
                .collect(),
            Op::Mul | Op::MatMul => {
                let (a, b) = (node.args[0], node.args[1]);
                let (ta, tb) = (self.terms(a), self.terms(b));
                if ta.len() * tb.len() > MAX_TERMS {
                    return whole;
                }
                let mut ts = Vec::new();
                for &(sa, x) in &ta {
                    for &(sb, y) in &tb {
                        let t = self.add(node.op.clone(), vec![x, y], node.shape.clone(), n);
                        ts.push((sa ^ sb, t));
                    }
                }
                ts
            }
            Op::Div => {
                let c = node.args[1];
                self.terms(node.args[0])
                    .into_iter()
                    .map(|(s, t)| (s, self.add(Op::Div, vec![t, c], node.shape.clone(), n)))
                    .collect()
            }
            Op::Reduce {
                kind: ReduceKind::Sum | ReduceKind::Mean,
                ..
            }
            | Op::SwapAxes(..)
            | Op::Permute(_)
            | Op::Reshape(_)
            | Op::Tril
            | Op::Expand(_)
            | Op::Trace => self
                .terms(node.args[0])
                .into_iter()
                .map(|(s, t)| (s, self.add(node.op.clone(), vec![t], node.shape.clone(), n)))
                .collect(),
            _ => return whole,
        };
        if out.len() > MAX_TERMS {
            whole
        } else {
            out
        }
    }

    /// `n` without the broadcasts that `+ - * /` make anyway (a raw gradient spells them out
    /// as `expand(...)`); only for printing: values are unchanged, a top-level one stays.
    fn implicit_broadcasts(&mut self, n: NodeId, memo: &mut HashMap<NodeId, NodeId>) -> NodeId {
        if let Some(&m) = memo.get(&n) {
            return m;
        }
        let node = self.graph.node(n).clone();
        if self.names.contains(&n) || (n.0 as usize) < self.program.graph.len() {
            return n;
        }
        let mut args: Vec<NodeId> = node
            .args
            .iter()
            .map(|&a| self.implicit_broadcasts(a, memo))
            .collect();
        if matches!(node.op, Op::Add | Op::Sub | Op::Mul | Op::Div) {
            let dims = &self.program.dims;
            for k in 0..2 {
                let (x, other) = (args[k], args[1 - k]);
                let full = crate::ir::shape::same_shape(dims, self.graph.shape(other), &node.shape);
                if full && matches!(self.graph.node(x).op, Op::Expand(_)) {
                    args[k] = self.graph.node(x).args[0];
                }
            }
        }
        let out = if args == node.args {
            n
        } else {
            self.graph.add(Node { args, ..node })
        };
        memo.insert(n, out);
        out
    }

    /// Terms of `a`, each widened to `shape` when `a` broadcasts in the sum `like`.
    fn terms_as(&mut self, a: NodeId, shape: &Shape, like: NodeId) -> Vec<Term> {
        let ts = self.terms(a);
        if crate::ir::shape::same_shape(&self.program.dims, self.graph.shape(a), shape) {
            ts
        } else {
            ts.into_iter()
                .map(|(s, t)| {
                    (
                        s,
                        self.add(Op::Expand(shape.clone()), vec![t], shape.clone(), like),
                    )
                })
                .collect()
        }
    }
}
