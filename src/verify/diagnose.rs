//! Diagnosing a refuted claim: which common mistake fits the numbers.
//!
//! Owns [`diagnose`]: given both sides' exact values at the refuting point (and at a second
//! point), it tests, in order: the whole side negated or transposed; then the corrections
//! [`super::mutations`] builds (a transpose on one factor, a mean for a sum, a term dropped or
//! with its sign flipped, a missing term or factor of the truth, ...), each evaluated exactly
//! (a named correction says more than a factor); then a constant factor between the sides
//! (named when it is a size of the dims, its square root, or an inverse: the missing 1/√d, a
//! mean where the truth sums); then conditions on the inputs (the claim holds only when each
//! row of an input sums to 1).
//! A diagnosis is reported only when it fits every entry, at both points; otherwise none is,
//! and the caller says so. The result is data ([`Diagnosis`]); `render` words it.
//!
//! Invariant: a fit is decided like equality elsewhere: exact, or enclosures that overlap and
//! are tight; never a float tolerance.

use super::diagnosis::{Diagnosis, FactorName, Mistake};
use super::mutations::Candidates;
use super::points::{env_at, values_of, Points, Values, CLAIM_BITS};
use crate::exact::num::{Num, Prec};
use crate::exact::tensor::Tensor;
use crate::ir::{Graph, NodeId, Op, Program, TensorId, TensorKind};
use num_rational::BigRational;
use std::cmp::Ordering;
use std::collections::HashMap;

const BITS: u32 = 100;

/// Certainly equal as far as certified values can say (exact equality or tight overlap).
fn same(a: &Num, b: &Num) -> bool {
    match a.compare(b) {
        Some(Ordering::Equal) => true,
        Some(_) => false,
        None => a.is_tight(BITS) && b.is_tight(BITS),
    }
}

/// Does a pair of entries fit: yes (certainly equal as above), no (certainly different), or
/// unknown (overlapping enclosures that are not tight: a tiny entry computed from large
/// terms, whose relative width is large)?
fn fit(a: &Num, b: &Num) -> Option<bool> {
    match a.compare(b) {
        Some(Ordering::Equal) => Some(true),
        Some(_) => Some(false),
        None if a.is_tight(BITS) && b.is_tight(BITS) => Some(true),
        None => None,
    }
}

/// Do all these pairs fit? None certainly differs, and most (at least half) certainly fit:
/// an entry that cannot be decided is neither evidence for nor against.
fn all_fit(fits: impl Iterator<Item = Option<bool>>) -> bool {
    let (mut yes, mut unknown) = (0usize, 0usize);
    for f in fits {
        match f {
            Some(true) => yes += 1,
            Some(false) => return false,
            None => unknown += 1,
        }
    }
    yes > 0 && yes >= unknown
}

fn certainly_nonzero(a: &Num) -> bool {
    matches!(a.sign(), Some(Ordering::Less | Ordering::Greater))
}

/// What the structural and conditional tests need: the claim and where it was refuted.
pub struct Probe<'a> {
    pub program: &'a Program,
    pub cache: &'a Points<'a>,
    pub lhs: NodeId,
    pub rhs: NodeId,
    pub with_grads: bool,
    /// The refuting point's seed, then a second defined point's.
    pub seeds: Vec<u64>,
}

/// Do two value lists agree entry by entry (a single entry broadcasts)?
fn agree(a: &Values, b: &Values) -> bool {
    let (x, y) = (&a.1, &b.1);
    let n = x.len().max(y.len());
    if x.is_empty() || y.is_empty() || (x.len() != y.len() && x.len() != 1 && y.len() != 1) {
        return false;
    }
    all_fit((0..n).map(|i| fit(&x[i % x.len()], &y[i % y.len()])))
}

/// Values of both sides at one point: the shape (after broadcasting) and the entries.
pub struct Sides<'a> {
    pub shape: &'a [usize],
    pub left: &'a [Num],
    pub right: &'a [Num],
}

impl Sides<'_> {
    fn n(&self) -> usize {
        self.left.len().max(self.right.len())
    }

    fn l(&self, i: usize) -> &Num {
        &self.left[i % self.left.len()]
    }

    fn r(&self, i: usize) -> &Num {
        &self.right[i % self.right.len()]
    }

    fn negated(&self) -> bool {
        (0..self.n()).any(|i| certainly_nonzero(self.l(i)))
            && all_fit(
                (0..self.n()).map(|i| self.l(i).neg().map_or(Some(false), |m| fit(self.r(i), &m))),
            )
    }

    fn transposed(&self) -> bool {
        let s = self.shape;
        let k = s.len();
        if k < 2 || s[k - 2] != s[k - 1] || self.left.len() != self.right.len() {
            return false;
        }
        let (rows, cols) = (s[k - 2], s[k - 1]);
        let block = rows * cols;
        let symmetric = (0..self.n()).all(|i| {
            let (b, rc) = (i / block, i % block);
            let j = b * block + (rc % cols) * cols + rc / cols;
            same(self.l(i), self.l(j))
        });
        !symmetric
            && (0..self.n()).all(|i| {
                let (b, rc) = (i / block, i % block);
                let j = b * block + (rc % cols) * cols + rc / cols;
                same(self.r(i), self.l(j))
            })
    }

    /// The factor c with right = c × left at every entry, if there is one.
    fn factor(&self) -> Option<Num> {
        let prec = Prec::new(BITS + 64);
        // An entry known to many bits: the factor is only as good as the entry it comes from.
        let i = (0..self.n()).find(|&i| {
            certainly_nonzero(self.l(i)) && self.l(i).is_tight(BITS) && self.r(i).is_tight(BITS)
        })?;
        let c = self.r(i).div(self.l(i), prec).ok()?;
        // A zero factor is not a scale: that side is simply 0.
        let fits = all_fit((0..self.n()).map(|j| {
            c.mul(self.l(j), prec)
                .map_or(Some(false), |cl| fit(self.r(j), &cl))
        }));
        (certainly_nonzero(&c) && fits).then_some(c)
    }
}

/// Named constants a factor may be: sizes of the dims, their roots and inverses, 2 and 1/2.
fn named_factors(program: &Program) -> Vec<(FactorName, Num)> {
    let prec = Prec::new(BITS + 64);
    let mut out = Vec::new();
    for (_, d) in program.dims.declared() {
        let Some(size) = d.size else { continue };
        if size <= 1 {
            continue;
        }
        let s = Num::exact(BigRational::from_integer((size as i64).into()));
        let name = d.name.clone();
        if let Ok(root) = crate::exact::funcs::sqrt(&s, prec) {
            if let Ok(inv) = root.recip(prec) {
                out.push((FactorName::InverseRoot(name.clone()), inv));
            }
            out.push((FactorName::Root(name.clone()), root));
        }
        if let Ok(inv) = s.recip(prec) {
            out.push((FactorName::InverseSize(name.clone()), inv));
        }
        out.push((FactorName::Size(name), s));
    }
    out.push((FactorName::Number(2, 1), Num::from_int(2)));
    out.push((
        FactorName::Number(1, 2),
        Num::exact(BigRational::new(1.into(), 2.into())),
    ));
    // Products of two sizes, and a size with a factor 2 (a mean over two axes for a mean
    // over one, the 2 of a squared error): fewer names first.
    let sizes: Vec<(String, i64)> = program
        .dims
        .declared()
        .filter_map(|(_, d)| {
            d.size
                .filter(|&s| s > 1)
                .map(|s| (d.name.clone(), s as i64))
        })
        .collect();
    let r = |n: i64, d: i64| Num::exact(BigRational::new(n.into(), d.into()));
    let product = |c: (i64, i64), up: &[&String], down: &[&String]| FactorName::Product {
        coefficient: c,
        up: up.iter().map(|s| s.to_string()).collect(),
        down: down.iter().map(|s| s.to_string()).collect(),
    };
    for (a, sa) in &sizes {
        out.push((product((1, 2), &[a], &[]), r(*sa, 2)));
        out.push((product((2, 1), &[], &[a]), r(2, *sa)));
        out.push((product((2, 1), &[a], &[]), r(2 * sa, 1)));
        out.push((product((1, 2), &[], &[a]), r(1, 2 * sa)));
    }
    for (i, (a, sa)) in sizes.iter().enumerate() {
        for (b, sb) in &sizes[i + 1..] {
            out.push((product((1, 1), &[a, b], &[]), r(sa * sb, 1)));
            out.push((product((1, 1), &[], &[a, b]), r(1, sa * sb)));
            out.push((product((1, 1), &[a], &[b]), r(*sa, *sb)));
            out.push((product((1, 1), &[b], &[a]), r(*sb, *sa)));
        }
    }
    out
}

/// The mistake that fits both points.
pub fn diagnose(probe: &Probe, at: &Sides, again: Option<&Sides>) -> Option<Diagnosis> {
    let both = |f: &dyn Fn(&Sides) -> bool| f(at) && again.is_none_or(f);
    let whole = |mistake| {
        Some(Diagnosis {
            mistake,
            graph: Graph::default(),
        })
    };
    if both(&|s: &Sides| s.negated()) {
        return whole(Mistake::SignFlipped);
    }
    if both(&|s: &Sides| s.transposed()) {
        return whole(Mistake::Transposed);
    }
    corrections(probe)
        .or_else(|| constant_factor(probe.program, at, again).and_then(whole))
        .or_else(|| conditions(probe).and_then(whole))
}

/// A constant factor between the whole sides, with every name it has at these sizes (the
/// first is reported, the others said too, since only the person knows which one they
/// meant). Any two nonzero numbers differ by a factor, so for a single entry only a named
/// factor says something.
fn constant_factor(program: &Program, at: &Sides, again: Option<&Sides>) -> Option<Mistake> {
    let c = at.factor()?;
    if let Some(second) = again {
        // The second point's factor may be known to fewer bits: it must not contradict.
        let c2 = second.factor()?;
        if fit(&c, &c2) == Some(false) {
            return None;
        }
    }
    // Names of one size (and 2, 1/2) first; a product of sizes only when none fits, since
    // with a few small sizes some product equals almost anything.
    let fitting: Vec<FactorName> = named_factors(program)
        .into_iter()
        .filter(|(_, value)| match c.compare(value) {
            // A factor from enclosures: its name must fit it to many bits, not certainly.
            Some(o) => o == Ordering::Equal,
            None => c.is_tight(48),
        })
        .map(|(name, _)| name)
        .collect();
    let (simple, products): (Vec<FactorName>, Vec<FactorName>) = fitting
        .into_iter()
        .partition(|n| !matches!(n, FactorName::Product { .. }));
    let names = if simple.is_empty() { products } else { simple };
    if names.is_empty() && at.n() < 2 {
        return None;
    }
    Some(Mistake::ConstantFactor { value: c, names })
}

/// Which side is the person's: the right one, unless only the right one is a bare `grad(X)`.
fn sides(probe: &Probe) -> (NodeId, NodeId) {
    let bare = |n: NodeId| matches!(probe.program.graph.node(n).op, Op::GradOf(_));
    if bare(probe.rhs) && !bare(probe.lhs) {
        (probe.rhs, probe.lhs)
    } else {
        (probe.lhs, probe.rhs)
    }
}

/// The first correction of the person's side that makes the claim hold at every probe point.
fn corrections(probe: &Probe) -> Option<Diagnosis> {
    let (reference, person) = sides(probe);
    let built = Candidates::build(probe.program, probe.cache.gradients(), reference, person);
    if built.list.is_empty() {
        return None;
    }
    let mut alive: Vec<usize> = (0..built.list.len()).collect();
    for &seed in &probe.seeds {
        let env = probe.cache.env(seed, probe.with_grads, CLAIM_BITS).ok()??;
        let mut roots = vec![reference];
        roots.extend(alive.iter().map(|&i| built.list[i].node));
        let values = match values_of(probe.program, &built.graph, &env, &roots, CLAIM_BITS) {
            Ok(Some(v)) => v.into_iter().map(Some).collect(),
            // One candidate is undefined here: evaluate them one by one.
            _ => roots
                .iter()
                .map(|&r| {
                    values_of(probe.program, &built.graph, &env, &[r], CLAIM_BITS)
                        .ok()
                        .flatten()
                        .and_then(|mut v| v.pop())
                })
                .collect::<Vec<_>>(),
        };
        let Some(truth) = &values[0] else {
            return None;
        };
        alive = alive
            .iter()
            .zip(&values[1..])
            .filter(|(_, v)| v.as_ref().is_some_and(|v| agree(truth, v)))
            .map(|(&i, _)| i)
            .collect();
        if alive.is_empty() {
            return None;
        }
    }
    alive.first().map(|&i| built.diagnosis(i))
}

/// `x` made positive with every row (last axis) divided by its sum: rows that sum to 1.
fn rows_normalised(x: &Tensor<Num>) -> Option<Tensor<Num>> {
    let shape = x.shape().to_vec();
    let &width = shape.last()?;
    if width < 2 {
        return None;
    }
    let prec = Prec::new(BITS + 64);
    // Positive entries (|x| + 1/4), so no row sums to zero, then each row divided by its sum.
    let quarter = Num::exact(BigRational::new(1.into(), 4.into()));
    let mut entries: Vec<Num> = crate::exact::tensor::entries(x)
        .iter()
        .map(|e| match e.sign() {
            Some(Ordering::Less) => e.neg().and_then(|m| m.add(&quarter, prec)),
            _ => e.add(&quarter, prec),
        })
        .collect::<Result<_, _>>()
        .ok()?;
    for row in entries.chunks_mut(width) {
        let mut total = Num::from_int(0);
        for e in row.iter() {
            total = total.add(e, prec).ok()?;
        }
        if !certainly_nonzero(&total) {
            return None;
        }
        for e in row.iter_mut() {
            *e = e.div(&total, prec).ok()?;
        }
    }
    Tensor::from_shape_vec(ndarray::IxDyn(&shape), entries).ok()
}

/// A condition on one input under which the claim holds at every probe point.
fn conditions(probe: &Probe) -> Option<Mistake> {
    let program = probe.program;
    for (i, t) in program.tensors.iter().enumerate() {
        // Only data (targets, masks) carries such a promise; normalising an input or a
        // parameter would change the point beyond recognition.
        if t.kind != TensorKind::Leaf(crate::syntax::ast::LeafKind::Data) {
            continue;
        }
        let id = TensorId(i as u32);
        let holds = probe.seeds.iter().all(|&seed| {
            let random = crate::exact::inputs::leaf_values(program, seed, &HashMap::new());
            let Some(normalised) = random.get(&id).and_then(rows_normalised) else {
                return false;
            };
            let given = HashMap::from([(id, normalised)]);
            let gradients = if probe.with_grads {
                probe.cache.gradients()
            } else {
                None
            };
            let Ok(Some(env)) = env_at(program, seed, &given, gradients, CLAIM_BITS) else {
                return false;
            };
            match values_of(
                program,
                &program.graph,
                &env,
                &[probe.lhs, probe.rhs],
                CLAIM_BITS,
            ) {
                Ok(Some(v)) => agree(&v[0], &v[1]),
                _ => false,
            }
        });
        if holds {
            return Some(Mistake::RowsSumToOne { input: id });
        }
    }
    None
}
