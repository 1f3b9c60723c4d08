//! The field algebra decided by a normal form, not by rewrite rules.
//!
//! Owns [`normalise`], a pass run before every iteration of the rules (and once after the
//! last). It computes, for every e-class, its value as a sum of monomials with exact rational
//! coefficients ([`Poly`]); a monomial is a product of atoms with rational exponents, and an
//! atom is an e-class the algebra does not look into (a leaf, `@`, `exp`, a reduction, or a
//! sum under a negative or fractional power). Two normal forms are computed:
//!
//! - the *deep* form looks through everything it can (named forward tensors, means, row sums,
//!   which are linear over factors constant along the row, and `rowsum(c) = D·c`); classes of
//!   one shape whose deep forms are equal are merged (justified as "algebra"). This decides
//!   `+ − × ÷`, powers, constants, zeros and row sums, which as rewrite rules
//!   (commutativity, associativity, distributivity) blow the e-graph up;
//! - the *shallow* form stops at named tensors and reductions; it is printed back into the
//!   class (common factors and the constant taken out, terms in a stable order), so that
//!   extraction can choose the folded form a person writes (`-mean(d) * xc / (var + eps)`,
//!   not `1/2 / g * (-1 / g) * mean(d) * 2 * xc`).
//!
//! Simplifying uses shallow forms only, keyed for merging too (names kept), with three aids
//! to reading: an atom that a named tensor is a multiple of is written through that name
//! (`xc` as `xhat · sqrt(var + eps)`), a function found affine in another is preferred
//! (`erf(x/√2)` as `2·Phi(x) − 1`), and a named tensor's gradient that reads best by its name
//! (`dxhat = g * dy`, or one of many terms) is an atom where it is used. Proofs key on deep
//! forms and use none of these, so a step "by algebra" is algebra alone.
//!
//! [`poly`] holds the arithmetic of forms, [`print`] prints a form back as e-nodes.
//!
//! Invariants: a form is computed from the current classes each pass (never kept across
//! passes, where a merge of atoms would make it stale); classes are only merged at equal
//! shapes; exponents are combined on one atom (`x^a · x^b = x^(a+b)`, so `x / x = 1` where
//! defined), but a fractional power distributes over a product only when every factor is
//! positive and the coefficient has an exact rational root (`sqrt(x*x)` stays apart from `x`).
//! A product whose expansion passes [`MAX_TERMS`] stays an atom.

mod poly;
mod print;

use super::analysis::EG;
use super::lang::{ENode, EOp};
use crate::ir::{DimPoly, Func, ReduceKind};
use egg::Id;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};
pub use poly::Poly;
use poly::{pow_rational, root_rational, Exp, Factor, Mono};
use print::{common_factor, content, render, render_term};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// The reason a merge by normal forms gives in explanations.
pub const ALGEBRA: &str = "algebra";

/// Largest number of terms a normal form may have; a product that expands further is an atom.
pub const MAX_TERMS: usize = 64;

/// Most terms a named tensor's gradient has and still is written out where it is used:
/// `da = dV @ Wv.T + dK @ Wk.T + dQ @ Wq.T` is read as `da` by the layer norm before it
/// (written out, the layer norm's backward would have three times the terms).
const OPEN_TERMS: usize = 2;

/// Passes that print forms back into their classes (see [`normalise`]).
const PRINTING_PASSES: usize = 4;

/// Largest integer power expanded (`(a + b)^n`).
const MAX_POWER: i64 = 8;

/// How far a form looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// Through named tensors and row reductions: decides equality.
    Deep,
    /// Stops at named tensors and reductions: what is printed back.
    Shallow,
}

/// A form a class has, and the node it came from (`None`: the class as an atom).
type Found = (Rc<Poly>, Option<ENode>);

/// One pass's state: the forms found so far and the sums that stand as atoms.
struct Pass {
    deep: HashMap<Id, Rc<Poly>>,
    shallow: HashMap<Id, Rc<Poly>>,
    /// A sum raised to a negative or fractional power is an atom: the class standing for it,
    /// by its form, and its form by the class.
    base_of: HashMap<Poly, Id>,
    sum_of: HashMap<Id, Poly>,
    /// Classes whose values are positive wherever defined.
    positive: HashSet<Id>,
    /// Classes constant along the last axis (scalars, last axis of size 1).
    flat: HashSet<Id>,
    /// Atoms written through named tensors (shallow forms only): see [`Normaliser`].
    through: HashMap<Id, Poly>,
    /// Named classes' own definitions (shallow forms, before [`Pass::written_through`]).
    defs: HashMap<Id, Rc<Poly>>,
    /// How many definitions a row sum is looking through (bounded).
    nesting: u32,
    /// The reverse of `through`: a named tensor in terms of the atom it is a multiple of.
    back: HashMap<Id, Poly>,
    /// Numbers standing as atoms under fractional powers (`2` in `sqrt(2)`), by value.
    numbers: HashMap<Id, BigRational>,
    /// Classes whose rows sum to one (one-hot leaves).
    unit_rows: HashSet<Id>,
    /// Atoms written as an affine function of another class (see [`Normaliser`]).
    aliases: HashMap<Id, Poly>,
}

impl Pass {
    fn forms(&self, depth: Depth) -> &HashMap<Id, Rc<Poly>> {
        match depth {
            Depth::Deep => &self.deep,
            Depth::Shallow => &self.shallow,
        }
    }

    /// The atom standing for the sum `p` (registered on first use as `class`).
    fn base(&mut self, p: &Poly, class: Id) -> Id {
        if let Some(&b) = self.base_of.get(p) {
            return b;
        }
        self.base_of.insert(p.clone(), class);
        self.sum_of.insert(class, p.clone());
        class
    }

    /// A monomial times a coefficient, with every sum atom at an exponent of 1 or more
    /// written out again (`S^(3/2) = S · S^(1/2)` with S expanded), so that equal values
    /// have one form. `Err` gives back a term that needs nothing done.
    fn settle(&self, m: Mono, c: BigRational) -> Option<Result<Poly, (Mono, BigRational)>> {
        let needs = |(a, e): &(Id, Exp)| {
            let (whole, _) = e.split();
            (whole >= 1 && self.sum_of.contains_key(a))
                || (whole != 0 && self.numbers.contains_key(a))
        };
        if (self.sum_of.is_empty() && self.numbers.is_empty()) || !m.0.iter().any(needs) {
            return Some(Err((m, c)));
        }
        let mut c = c;
        let mut kept = Vec::new();
        let mut expand: Vec<(Id, i64)> = Vec::new();
        for (a, e) in m.0 {
            let (whole, rest) = e.split();
            if let Some(v) = self.numbers.get(&a) {
                // A number under a fractional power keeps an exponent in (0, 1): the rest
                // is rational (`2^(-1/2)` is `2^(1/2) / 2`).
                c *= pow_rational(v, whole)?;
                if rest.num != 0 {
                    kept.push((a, rest));
                }
            } else if whole >= 1 && self.sum_of.contains_key(&a) {
                expand.push((a, whole));
                if rest.num != 0 {
                    kept.push((a, rest));
                }
            } else {
                kept.push((a, e));
            }
        }
        let mut out = Poly::term(Mono(kept), c);
        for (a, n) in expand {
            if n > MAX_POWER {
                return None;
            }
            for _ in 0..n {
                out = self.mul_plain(&out, &self.sum_of[&a])?;
            }
        }
        Some(Ok(out))
    }

    /// `p` with [`Pass::settle`] applied to every term.
    fn settle_poly(&self, p: Vec<(Mono, BigRational)>) -> Option<Poly> {
        let mut done: Vec<(Mono, BigRational)> = Vec::with_capacity(p.len());
        for (m, c) in p {
            match self.settle(m, c)? {
                Err(term) => done.push(term),
                Ok(expanded) => done.extend(expanded.0),
            }
        }
        let out = Poly::from_terms(done);
        (out.0.len() <= MAX_TERMS).then_some(out)
    }

    fn mul_plain(&self, a: &Poly, b: &Poly) -> Option<Poly> {
        Some(Poly::from_terms(self.products(a, b)?))
    }

    fn products(&self, a: &Poly, b: &Poly) -> Option<Vec<(Mono, BigRational)>> {
        if a.0.len().saturating_mul(b.0.len()) > MAX_TERMS * 4 {
            return None;
        }
        let mut out = Vec::with_capacity(a.0.len() * b.0.len());
        for (ma, ca) in &a.0 {
            for (mb, cb) in &b.0 {
                out.push((ma.mul(mb)?, ca * cb));
            }
        }
        Some(out)
    }

    /// `a · b`, where a factor that is a known sum meeting its own atom in the other factor is
    /// taken as that atom (`(var + eps) / sqrt(var + eps)` is `sqrt(var + eps)`).
    fn mul(&self, a: &Poly, b: &Poly) -> Option<Poly> {
        let as_atom = |p: &Poly, other: &Poly| -> Option<Poly> {
            if p.0.len() < 2
                || !other
                    .0
                    .iter()
                    .any(|(m, _)| m.0.iter().any(|(x, _)| self.sum_of.contains_key(x)))
            {
                return None;
            }
            let base = *self.base_of.get(p)?;
            other.mentions(base).then(|| Poly::atom(base))
        };
        let (a2, b2) = if self.sum_of.is_empty() {
            (None, None)
        } else {
            (as_atom(a, b), as_atom(b, a))
        };
        let (a, b) = (a2.as_ref().unwrap_or(a), b2.as_ref().unwrap_or(b));
        self.settle_poly(self.products(a, b)?)
    }

    /// Is a gradient of form `p` best read by its name: one product of two or more tensors
    /// that vary along the row (`dxhat = g * dy`)? A multiple of one tensor (`-Y / N`) or a
    /// row statistic reads better written out.
    ///
    /// So is one of more than [`OPEN_TERMS`] terms: written out, the gradient of a residual
    /// stream would carry every term of the blocks after it, and forms would grow with
    /// the depth of the network.
    fn reads_as_name(&self, p: &Poly) -> bool {
        p.0.len() > OPEN_TERMS
            || p.single().is_some_and(|(m, _)| {
                m.0.iter().filter(|(a, _)| !self.flat.contains(a)).count() >= 2
            })
    }

    /// `p` with the atoms that are multiples of named tensors written through them (integer
    /// powers only); `p` itself when that fails.
    fn written_through(&self, p: Poly) -> Poly {
        let p = self.substituted(p, &self.through);
        self.substituted(p, &self.aliases)
    }

    /// `p` with each atom `a` of `map` at an integer power `e` replaced by its form raised to
    /// `e` (a sum only at a positive power); `p` itself when that fails.
    fn substituted(&self, p: Poly, map: &HashMap<Id, Poly>) -> Poly {
        let mentions = |m: &Mono| m.0.iter().any(|(a, _)| map.contains_key(a));
        if map.is_empty() || !p.0.iter().any(|(m, _)| mentions(m)) {
            return p;
        }
        let power = |r: &Poly, e: Exp| -> Option<Poly> {
            match r.single() {
                Some((m, k)) => Some(Poly::term(m.pow(e)?, pow_rational(k, e.num)?)),
                None if e.is_positive() && e.num <= MAX_POWER => (0..e.num)
                    .try_fold(Poly::constant(BigRational::one()), |acc, _| {
                        self.mul_plain(&acc, r)
                    }),
                None => None,
            }
        };
        let rewrite = |m: &Mono, c: &BigRational| -> Option<Poly> {
            let mut term = Poly::constant(c.clone());
            for &(a, e) in &m.0 {
                let factor = match map.get(&a) {
                    Some(r) if e.is_integer() => power(r, e)?,
                    _ => Poly::term(Mono::atom(a, e), BigRational::one()),
                };
                term = self.mul(&term, &factor)?;
            }
            Some(term)
        };
        p.0.iter()
            .try_fold(Poly::zero(), |acc, (m, c)| Some(acc.add(&rewrite(m, c)?)))
            .unwrap_or(p)
    }

    /// `p ^ e`, or `None` when it is not a normal form (the node stays an atom).
    fn pow(&mut self, eg: &mut EG, p: &Poly, e: Exp, class: Id) -> Option<Poly> {
        if e.num == 0 {
            return Some(Poly::constant(BigRational::one()));
        }
        if p.is_zero() {
            return e.is_positive().then(Poly::zero);
        }
        if let Some((m, c)) = p.single() {
            if e.is_integer() {
                let c = pow_rational(c, e.num)?;
                return self.settle_poly(vec![(m.pow(e)?, c)]);
            }
            let all_positive = m.0.iter().all(|(a, _)| self.positive.contains(a));
            if all_positive && c.is_positive() {
                // The coefficient's root when it is rational, else the number as an atom
                // (`sqrt(2 * pi)` is `2^(1/2) · pi^(1/2)`, as is `sqrt(2) * sqrt(pi)`).
                let (coefficient, number) = match root_rational(c, e) {
                    Some(r) => (r, Mono::default()),
                    None => {
                        let n = eg.add(ENode::leaf(EOp::Num(c.clone())));
                        let n = eg.find(n);
                        self.numbers.insert(n, c.clone());
                        self.positive.insert(n);
                        self.flat.insert(n);
                        (BigRational::one(), Mono::atom(n, e))
                    }
                };
                return self.settle_poly(vec![(m.pow(e)?.mul(&number)?, coefficient)]);
            }
        } else if e.is_integer() && e.is_positive() {
            if e.num > MAX_POWER {
                return None;
            }
            let mut out = Poly::constant(BigRational::one());
            for _ in 0..e.num {
                out = self.mul(&out, p)?;
            }
            return Some(out);
        }
        // A sum (or a product that cannot distribute the power) is an atom under the power.
        // A sum is made primitive first (its constant factor and sign taken out), so that
        // `1 / (2*a + 2*b)` and `(1/2) / (a + b)` have one form.
        if p.0.len() > 1 {
            let k = content(p);
            let outside = if e.is_integer() {
                pow_rational(&k, e.num)
            } else if k.is_positive() {
                root_rational(&k, e)
            } else {
                None
            };
            if let Some(outside) = outside.filter(|_| !k.is_one()) {
                let q = p.scale(&k.recip());
                let base = match self.base_of.get(&q) {
                    Some(&b) => b,
                    None => {
                        let r = render(eg, &q);
                        let r = eg.find(r);
                        self.base(&q, r)
                    }
                };
                return self.settle_poly(vec![(Mono::atom(base, e), outside)]);
            }
        }
        let base = self.base(p, class);
        self.settle_poly(vec![(Mono::atom(base, e), BigRational::one())])
    }

    /// The form of one node, from its children's forms, or `None` when it has none (an
    /// opaque op, a child without a form yet, a division by zero, a product too large).
    fn node_form(&mut self, eg: &mut EG, node: &ENode, depth: Depth) -> Option<Poly> {
        let child = |s: &Pass, i: usize| -> Option<Rc<Poly>> {
            let id = eg.find(*node.args.get(i)?);
            s.forms(depth).get(&id).cloned()
        };
        match &node.op {
            EOp::Num(r) => Some(Poly::constant(r.clone())),
            EOp::Dim(k) => {
                let poly = eg.analysis.tables.dims.get(*k as usize)?.clone();
                Some(self.dim_form(eg, &poly))
            }
            EOp::Neg => Some(child(self, 0)?.scale(&-BigRational::one())),
            EOp::Add => Some(child(self, 0)?.add(&*child(self, 1)?)),
            EOp::Sub => Some(child(self, 0)?.add(&child(self, 1)?.scale(&-BigRational::one()))),
            EOp::Mul => {
                let (a, b) = (child(self, 0)?, child(self, 1)?);
                self.mul(&a, &b)
            }
            EOp::Div => {
                let (a, b) = (child(self, 0)?, child(self, 1)?);
                let base = eg.find(node.args[1]);
                let inv = self.pow(eg, &b, Exp::ONE.neg(), base)?;
                self.mul(&a, &inv)
            }
            EOp::Pow(p) => {
                let base = eg.find(node.args[0]);
                let a = child(self, 0)?;
                self.pow(eg, &a, Exp::from_rational(p)?, base)
            }
            EOp::Func(Func::Exp) => {
                let a = child(self, 0)?;
                self.exp_form(eg, &a)
            }
            EOp::Func(Func::Sqrt) => {
                let base = eg.find(node.args[0]);
                let a = child(self, 0)?;
                self.pow(eg, &a, Exp::HALF, base)
            }
            EOp::Expand(_) => child(self, 0).map(|p| (*p).clone()),
            // Moving the entries of a constant tensor leaves the constant.
            EOp::T | EOp::Swap(..) | EOp::Permute(_) | EOp::Reshape(_)
                if child(self, 0).is_some_and(|p| p.as_constant().is_some()) =>
            {
                child(self, 0).map(|p| (*p).clone())
            }
            EOp::MatMul
            | EOp::T
            | EOp::Swap(..)
            | EOp::Permute(_)
            | EOp::Reshape(_)
            | EOp::Reduce(ReduceKind::Sum, _, _) => {
                let forms: Vec<Rc<Poly>> = (0..node.args.len())
                    .map(|i| child(self, i))
                    .collect::<Option<_>>()?;
                self.linear(eg, node, &forms, depth)
            }
            EOp::RowSum | EOp::RowMean => {
                let arg = eg.find(node.args[0]);
                let a = child(self, 0)?;
                let last = eg[arg].data.shape.last()?.clone();
                // A named tensor's row sum through its definition, when that is a constant
                // (`xc = x - mean(x)` sums to zero along the row).
                let through_definition = match self.defs.get(&arg).cloned() {
                    Some(def) if depth == Depth::Shallow => self
                        .row_sum(eg, &def, &last, depth)
                        .filter(|s| s.as_constant().is_some()),
                    _ => None,
                };
                let sum = match through_definition {
                    Some(s) => s,
                    None => self.row_sum(eg, &a, &last, depth)?,
                };
                if node.op == EOp::RowSum {
                    Some(sum)
                } else {
                    let n = self.dim_form(eg, &last);
                    let inv = self.pow(eg, &n, Exp::ONE.neg(), arg)?;
                    self.mul(&sum, &inv)
                }
            }
            _ => None,
        }
    }

    /// The form of a linear (a move of axes, a reshape, a sum over axes) or bilinear (`@`)
    /// op: constants and scalar factors come
    /// out, and the op applies to each term's tensor part, a new atom (`(2·A + B) @ C` is
    /// `2·(A @ C) + B @ C`). Only when every term's tensor part has its operand's whole shape
    /// (distributing over a broadcast term would change the meaning).
    ///
    /// Simplifying does not distribute over a sum (only its constant and common scalar
    /// factors come out): each term would be a new product, and through a stack of blocks
    /// their number multiplies. Proofs distribute.
    fn linear(
        &mut self,
        eg: &mut EG,
        node: &ENode,
        forms: &[Rc<Poly>],
        depth: Depth,
    ) -> Option<Poly> {
        let mut parts: Vec<Vec<(BigRational, Mono, Id)>> = Vec::new();
        for (form, &arg) in forms.iter().zip(&node.args) {
            let want = eg[eg.find(arg)].data.shape.clone();
            let mut terms = Vec::new();
            if depth == Depth::Shallow && form.0.len() > 1 {
                let k = content(form);
                let scalars = common_factor(form, |a| eg[a].data.shape.is_empty());
                let inner = form.scale(&k.recip());
                let inner = match scalars.pow(Exp::ONE.neg()) {
                    Some(inverse) => self.mul(&inner, &Poly::term(inverse, BigRational::one()))?,
                    None => inner,
                };
                let t = render(eg, &inner);
                if !eg.analysis.same(&eg[t].data.shape, &want) {
                    return None;
                }
                terms.push((k, scalars, eg.find(t)));
                parts.push(terms);
                continue;
            }
            for (m, c) in &form.0 {
                let (scalars, tensor): (Vec<_>, Vec<_>) =
                    m.0.iter()
                        .cloned()
                        .partition(|(a, _)| eg[*a].data.shape.is_empty());
                if tensor.is_empty() {
                    return None;
                }
                let t = render_term(eg, &BigRational::one(), &Mono(tensor));
                if !eg.analysis.same(&eg[t].data.shape, &want) {
                    return None;
                }
                terms.push((c.clone(), Mono(scalars), eg.find(t)));
            }
            parts.push(terms);
        }
        if parts.iter().map(Vec::len).product::<usize>() > MAX_TERMS {
            return None;
        }
        let mut combos: Vec<(BigRational, Mono, Vec<Id>)> =
            vec![(BigRational::one(), Mono::default(), vec![])];
        for terms in &parts {
            let mut next = Vec::new();
            for (c, m, ids) in &combos {
                for (d, n, t) in terms {
                    let mut ids = ids.clone();
                    ids.push(*t);
                    next.push((c * d, m.mul(n)?, ids));
                }
            }
            combos = next;
        }
        let mut terms = Vec::with_capacity(combos.len());
        let mut known = Poly::zero();
        for (c, m, ids) in combos {
            let added = eg.add(ENode::new(node.op.clone(), ids));
            let id = eg.find(added);
            // The op of a part may already be a class with a form of its own (a reshape
            // back to the shape it came from is that tensor, `y * g`; a product a rule
            // rewrote): that form, not a new atom, so that equal values get equal forms.
            match self.forms(depth).get(&id).cloned() {
                Some(f) if *f != Poly::atom(id) => {
                    known = known.add(&self.mul(&Poly::term(m, c), &f)?);
                }
                _ => terms.push((m.mul(&Mono::atom(id, Exp::ONE))?, c)),
            }
        }
        let settled = self.settle_poly(terms)?;
        Some(settled.add(&known))
    }

    /// `exp` of a form: a product of powers of `exp(m)`, one per monomial `m`, with the
    /// coefficient as the exponent (`exp(2*a - b) = exp(a)^2 * exp(b)^-1`; `exp` is
    /// positive, so every power is defined). The constant term is a power of `exp(1)`.
    fn exp_form(&mut self, eg: &mut EG, p: &Poly) -> Option<Poly> {
        if p.0.len() > MAX_TERMS {
            return None;
        }
        let mut out = Mono::default();
        for (m, c) in &p.0 {
            let e = Exp::from_rational(c)?;
            let inner = if m.0.is_empty() {
                eg.add(ENode::leaf(EOp::Num(BigRational::one())))
            } else {
                render_term(eg, &BigRational::one(), m)
            };
            let atom = eg.add(ENode::new(EOp::Func(Func::Exp), vec![inner]));
            let atom = eg.find(atom);
            self.positive.insert(atom);
            out = out.mul(&Mono::atom(atom, e))?;
        }
        self.settle_poly(vec![(out, BigRational::one())])
    }

    /// A size as a form over the base dims: a product of distinct base dims (`N*K`) is a
    /// product of their atoms; any other size (`N + 1`, `N^2`) is one atom.
    fn dim_form(&mut self, eg: &mut EG, p: &DimPoly) -> Poly {
        let expanded = eg.analysis.dims.expand(p);
        if let Some(c) = expanded.as_constant() {
            return Poly::constant(c);
        }
        let vars = expanded.vars();
        let product = vars
            .iter()
            .fold(DimPoly::constant(1), |acc, &v| acc.mul(&DimPoly::var(v)));
        let parts: Vec<DimPoly> = if product == expanded {
            vars.iter().map(|&v| DimPoly::var(v)).collect()
        } else {
            vec![expanded]
        };
        let mut atoms: Vec<(Id, Exp)> = parts
            .iter()
            .map(|d| {
                let k = eg.analysis.tables.dim(d);
                let id = eg.add(ENode::leaf(EOp::Dim(k)));
                let id = eg.find(id);
                self.positive.insert(id);
                self.flat.insert(id);
                (id, Exp::ONE)
            })
            .collect();
        atoms.sort();
        Poly::term(Mono(atoms), BigRational::one())
    }

    /// The sum along the last axis (of size `last`) of a tensor whose form is `p`: factors
    /// constant along the row come out, a monomial of such factors only is multiplied by the
    /// size, and the rest of each monomial is summed as one new atom `rowsum(rest)`.
    fn row_sum(&mut self, eg: &mut EG, p: &Poly, last: &DimPoly, depth: Depth) -> Option<Poly> {
        let mut out = Poly::zero();
        for (m, c) in &p.0 {
            let (flat, rest): (Vec<_>, Vec<_>) =
                m.0.iter()
                    .cloned()
                    .partition(|(a, _)| self.flat.contains(a));
            let outer = Poly::term(Mono(flat), c.clone());
            let defined = match rest.as_slice() {
                [(a, e)] if *e == Exp::ONE && depth == Depth::Shallow && self.nesting < 8 => {
                    self.defs.get(a).filter(|def| !def.mentions(*a)).cloned()
                }
                _ => None,
            };
            // The row sum of a named tensor whose definition sums to a constant along the row
            // (`rowsum(xc)` is zero when `xc = x - mean(x)`).
            let constant = match defined {
                Some(def) => {
                    self.nesting += 1;
                    let sum = self.row_sum(eg, &def, last, depth);
                    self.nesting -= 1;
                    sum.filter(|s| s.as_constant().is_some())
                }
                None => None,
            };
            let unit_row =
                matches!(rest.as_slice(), [(a, e)] if *e == Exp::ONE && self.unit_rows.contains(a));
            let inner = if rest.is_empty() {
                self.dim_form(eg, last)
            } else if unit_row {
                Poly::constant(BigRational::one())
            } else if let Some(k) = constant {
                k
            } else {
                let body = render_term(eg, &BigRational::one(), &Mono(rest));
                let id = eg.add(ENode::new(EOp::RowSum, vec![body]));
                let id = eg.find(id);
                // A row sum known to be a constant (zero) on this pass is that constant.
                match self.forms(depth).get(&id) {
                    Some(f) if f.as_constant().is_some() => (**f).clone(),
                    _ => Poly::atom(id),
                }
            };
            out = out.add(&self.mul(&outer, &inner)?);
        }
        Some(out)
    }
}

/// The normal-form passes of one saturation run.
#[derive(Debug, Default)]
pub struct Normaliser {
    /// Look through named tensors' definitions (proofs) or stop at them (simplifying).
    through_names: bool,
    /// The nodes each form was printed as, kept across passes.
    rendered: HashMap<Rc<Poly>, Id>,
    /// Classes printed under names of their own (the gradients of named tensors): when
    /// their form is one product (`dxhat = g * dy`), what uses them sees the name.
    opaque: Vec<Id>,
    /// Atoms written through a named tensor defined as a multiple of them: `xc` is
    /// `xhat * sqrt(var + eps)` when `xhat = xc / sqrt(var + eps)`, so forms read in the
    /// user's normalised names. Found once and kept (ids are canonicalised every pass).
    through: Vec<Through>,
    /// Atoms written through a function of them that the rules found affine in them:
    /// `erf(x / sqrt(2))` is `2 * Phi(x) - 1`, so a GELU gradient reads in `Phi`.
    /// `(atom, function, c0, c1)`: atom = (function - c0) / c1.
    aliases: Vec<(Id, Id, BigRational, BigRational)>,
    /// The ids the passes made (ranges): a class the normaliser made for a part of a printed
    /// form (a partial sum or product) is not printed again in parts of its own, or every
    /// pass would make more.
    made: Vec<std::ops::Range<usize>>,
    /// Named leaves whose rows sum to one (declared `onehot`): `rowsum(Y) = 1`.
    onehot: Vec<String>,
    /// Classes that are atoms in every mode, whatever they contain: a proof about a
    /// gradient written through another gradient (`grad(h) = dy + f(grad(m))`) treats the
    /// inner gradient as an unknown tensor, so its expansion never has to be compared.
    atoms: Vec<Id>,
}

/// `atom = coefficient · by` (`by` a named tensor times factors constant along the row).
#[derive(Debug, Clone)]
struct Through {
    atom: Id,
    /// The named tensor.
    name: Option<Id>,
    by: Mono,
    coefficient: BigRational,
}

impl Normaliser {
    pub fn new(through_names: bool) -> Normaliser {
        Normaliser {
            through_names,
            ..Normaliser::default()
        }
    }

    /// The named leaves declared `onehot`: each row sums to one.
    pub fn with_onehot(mut self, names: Vec<String>) -> Normaliser {
        self.onehot = names;
        self
    }

    /// Treat `classes` as unknown tensors: their form is themselves.
    pub fn with_atoms(mut self, classes: Vec<Id>) -> Normaliser {
        self.atoms = classes;
        self
    }

    /// Treat `classes` (the gradients of named tensors) as printed under their own names.
    pub fn with_opaque(mut self, classes: Vec<Id>) -> Normaliser {
        self.opaque = classes;
        self
    }

    /// Run one pass over `eg`: compute every class's forms, merge the classes of one shape
    /// with equal keys, and print each class's shallow forms back into it. Returns whether
    /// the e-graph changed (it is rebuilt when it did).
    pub fn pass(&mut self, eg: &mut EG) -> bool {
        normalise(eg, self)
    }
}

fn normalise(eg: &mut EG, state: &mut Normaliser) -> bool {
    let first_new = eg.nodes().len();
    let through_names = state.through_names;
    let before = (eg.total_size(), eg.number_of_classes());
    let order = post_order(eg);
    let mut pass = Pass {
        deep: HashMap::new(),
        shallow: HashMap::new(),
        base_of: HashMap::new(),
        sum_of: HashMap::new(),
        positive: HashSet::new(),
        flat: HashSet::new(),
        through: HashMap::new(),
        defs: HashMap::new(),
        nesting: 0,
        back: HashMap::new(),
        numbers: HashMap::new(),
        aliases: HashMap::new(),
        unit_rows: state
            .onehot
            .iter()
            .filter_map(|n| eg.lookup(ENode::leaf(EOp::Name(n.into()))))
            .collect(),
    };
    for (atom, function, c0, c1) in &state.aliases {
        let f = Poly::atom(eg.find(*function)).add(&Poly::constant(-c0.clone()));
        pass.aliases.insert(eg.find(*atom), f.scale(&c1.recip()));
    }
    for t in &state.through {
        let by = canonical(eg, &t.by);
        let atom = eg.find(t.atom);
        pass.through
            .insert(atom, Poly::term(by, t.coefficient.clone()));
        // Back: the named tensor N is `atom / (coefficient · by / N)`.
        if let Some(n) = t.name.map(|n| eg.find(n)) {
            let rest = canonical(eg, &t.by).mul(&Mono::atom(n, Exp::ONE.neg()));
            if let Some(back) = rest
                .and_then(|r| r.pow(Exp::ONE.neg()))
                .and_then(|r| r.mul(&Mono::atom(atom, Exp::ONE)))
            {
                pass.back.insert(n, Poly::term(back, t.coefficient.recip()));
            }
        }
    }
    let opaque: HashSet<Id> = state.opaque.iter().map(|&c| eg.find(c)).collect();
    let atoms: HashSet<Id> = state.atoms.iter().map(|&c| eg.find(c)).collect();
    for &c in &order {
        let data = &eg[c].data;
        if data.positive {
            pass.positive.insert(c);
        }
        if data.shape.last().is_none_or(|d| eg.analysis.is_one(d)) {
            pass.flat.insert(c);
        }
    }
    // Every form each class has, by node: the key forms merge classes. Merges name the node
    // whose form it was (with explanations on, an id standing for that very node), so a proof
    // step "by algebra" joins two terms that are equal by algebra, not two classes.
    let explaining = eg.are_explanations_enabled();
    let node_id = |eg: &mut EG, c: Id, n: &Option<ENode>| match n {
        Some(n) if explaining => eg.add_uncanonical(n.clone()),
        _ => c,
    };
    let mut keys: HashMap<(u32, Rc<Poly>), (Id, Option<ENode>)> = HashMap::new();
    let mut merges: Vec<(Id, Option<ENode>, Id, Option<ENode>)> = Vec::new();
    let mut shallow_forms: Vec<(Id, Vec<Found>)> = Vec::new();
    let mut constants: Vec<(Id, Option<ENode>, BigRational)> = Vec::new();
    // Proofs merge by deep forms (through the names' definitions); simplification by shallow
    // ones, which are much smaller and keep the user's names.
    let key_depth = if through_names {
        Depth::Deep
    } else {
        Depth::Shallow
    };
    let depths: &[Depth] = if through_names {
        &[Depth::Deep, Depth::Shallow]
    } else {
        &[Depth::Shallow]
    };
    // Proofs: a first sweep of deep forms, so that a class a linear op made on an earlier
    // pass (a rule may have rewritten it since), which comes after its users in `order`, has
    // its form when they read it: `(D + O) @ G` is `D @ G + O @ G`, and `O @ G` a product.
    if through_names {
        for &c in &order {
            let nodes: Vec<ENode> = eg[c].nodes.clone();
            let smallest = nodes
                .iter()
                .filter_map(|n| pass.node_form(eg, n, Depth::Deep))
                .min_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
            let chosen = smallest
                .filter(|_| !atoms.contains(&c))
                .unwrap_or_else(|| Poly::atom(c));
            pass.deep.insert(c, Rc::new(chosen));
        }
    }
    for &c in &order {
        let nodes: Vec<ENode> = eg[c].nodes.clone();
        let named = nodes.iter().any(|n| matches!(n.op, EOp::Name(_)));
        for &depth in depths {
            let shallow = depth == Depth::Shallow;
            let mut found: Vec<Found> = Vec::new();
            for n in &nodes {
                if let Some(p) = pass.node_form(eg, n, depth) {
                    if shallow && named && !pass.defs.contains_key(&c) {
                        let def = pass.substituted(p.clone(), &pass.back);
                        pass.defs.insert(c, Rc::new(def));
                    }
                    let p = if shallow { pass.written_through(p) } else { p };
                    if !found.iter().any(|(f, _)| **f == p) {
                        found.push((Rc::new(p), Some(n.clone())));
                    }
                }
            }
            // Only when simplifying: in a proof, a step "by algebra" must be algebra alone,
            // not a definition or a rule used along the way.
            let printing = shallow && !through_names;
            if printing && named && state.through.len() < 64 {
                if let Some(t) = through_of(eg, &pass, c, &found) {
                    state.through.push(t);
                }
            }
            if printing && !named && state.aliases.len() < 64 {
                if let Some(alias) = alias_of(eg, &pass, c, &nodes, &found) {
                    state.aliases.push(alias);
                }
            }
            let smallest = found
                .iter()
                .min_by(|(a, _), (b, _)| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)))
                .map(|(p, _)| p.clone());
            // A named tensor is an atom in shallow forms: its definition's form is a key
            // (so `x - mean(x)` elsewhere is the class `xc`), but what uses it sees the name.
            // So is a gradient printed under its own name when it is one product.
            let atom = atoms.contains(&c)
                || shallow
                    && (named
                        || (opaque.contains(&c)
                            && smallest.as_ref().is_some_and(|p| pass.reads_as_name(p))));
            let chosen = if atom { None } else { smallest }
                .unwrap_or_else(|| Rc::new(pass.written_through(Poly::atom(c))));
            if depth == key_depth {
                let shape = eg[c].data.shape_key;
                let atom =
                    (!found.iter().any(|(p, _)| *p == chosen)).then(|| (chosen.clone(), None));
                for (p, n) in found.iter().chain(atom.iter()) {
                    match keys.get(&(shape, p.clone())) {
                        Some((other, m)) => merges.push((c, n.clone(), *other, m.clone())),
                        None => {
                            keys.insert((shape, p.clone()), (c, n.clone()));
                        }
                    }
                    if let Some(k) = p.as_constant() {
                        constants.push((c, n.clone(), k));
                    }
                }
            }
            if depth == Depth::Shallow && !named && !found.is_empty() {
                shallow_forms.push((c, found));
            }
            match depth {
                Depth::Deep => pass.deep.insert(c, chosen),
                Depth::Shallow => pass.shallow.insert(c, chosen),
            };
        }
    }
    // Constants and zeros: the number itself (broadcast to the class's shape).
    for (c, n, k) in constants {
        let num = eg.add(ENode::leaf(EOp::Num(k)));
        let num = broadcast_to(eg, num, c);
        merges.push((c, n, num, None));
    }
    let made = |c: Id| {
        let i = usize::from(c);
        state.made.iter().any(|r| r.contains(&i))
    };
    // Printing forms back is for extraction's choice; after a few passes only merging goes
    // on, so that a run always settles (each pass's merges change the forms of what uses the
    // merged classes, and printing those again would go on making nodes).
    let printing = state.made.len() < PRINTING_PASSES;
    for (c, forms) in shallow_forms {
        if !printing || (made(c) && eg[c].nodes.len() == 1) {
            continue;
        }
        for (p, n) in forms.iter().take(4) {
            // A form printed on an earlier pass is printed the same way now (its atoms are
            // the same classes, or its key would differ): reuse those nodes.
            let r = match state.rendered.get(p) {
                Some(&r) => eg.find(r),
                None => {
                    let r = render(eg, p);
                    state.rendered.insert(p.clone(), r);
                    r
                }
            };
            let r = broadcast_to(eg, r, c);
            merges.push((c, n.clone(), r, None));
        }
    }
    for (a, n, b, m) in merges {
        if eg.find(a) != eg.find(b) {
            let (a, b) = (node_id(eg, a, &n), node_id(eg, b, &m));
            eg.union_trusted(a, b, ALGEBRA);
        }
    }
    state.made.push(first_new..eg.nodes().len());
    let changed = (eg.total_size(), eg.number_of_classes()) != before;
    if changed {
        eg.rebuild();
    }
    changed
}

/// `m` with its atoms canonical (after merges).
fn canonical(eg: &EG, m: &Mono) -> Mono {
    m.0.iter()
        .try_fold(Mono::default(), |acc, &(a, e)| {
            acc.mul(&Mono::atom(eg.find(a), e))
        })
        .unwrap_or_else(|| m.clone())
}

/// The atom a named class `c` is a multiple of, when its definition is one product of a
/// single atom that varies along the row and factors that do not (`xhat = xc / sqrt(v)`).
fn through_of(eg: &EG, pass: &Pass, c: Id, found: &[Found]) -> Option<Through> {
    for (p, _) in found {
        let Some((m, k)) = p.single() else {
            continue;
        };
        let (rows, flats): (Vec<Factor>, Vec<Factor>) =
            m.0.iter().partition(|(a, _)| !pass.flat.contains(a));
        let [(atom, e)] = rows.as_slice() else {
            continue;
        };
        if *e != Exp::ONE
            || *atom == c
            || pass.through.contains_key(atom)
            || eg[c].data.shape_key != eg[*atom].data.shape_key
        {
            continue;
        }
        // atom = c / (k · flats)
        let by = Mono(flats.into_iter().map(|(a, e)| (a, e.neg())).collect())
            .mul(&Mono::atom(c, Exp::ONE))?;
        return Some(Through {
            atom: *atom,
            name: Some(c),
            by,
            coefficient: k.recip(),
        });
    }
    None
}

/// `(atom, c, c0, c1)` when class `c` is a function application (`Phi(x)`) with a form
/// `c0 + c1 · atom` for another function application `atom` (`erf(x / sqrt(2))`).
fn alias_of(
    eg: &EG,
    pass: &Pass,
    c: Id,
    nodes: &[ENode],
    found: &[Found],
) -> Option<(Id, Id, BigRational, BigRational)> {
    if !nodes
        .iter()
        .any(|n| matches!(n.op, EOp::Func(f) if f != Func::Sqrt))
    {
        return None;
    }
    for (p, _) in found {
        let c0 =
            p.0.iter()
                .find(|(m, _)| m.0.is_empty())
                .map(|(_, k)| k.clone())
                .unwrap_or_else(BigRational::zero);
        let linear: Vec<&(Mono, BigRational)> =
            p.0.iter().filter(|(m, _)| !m.0.is_empty()).collect();
        let [(m, c1)] = linear.as_slice() else {
            continue;
        };
        let [(atom, e)] = m.0.as_slice() else {
            continue;
        };
        let function = eg[*atom]
            .nodes
            .iter()
            .any(|n| matches!(n.op, EOp::Func(f) if f != Func::Sqrt));
        if *e == Exp::ONE
            && *atom != c
            && function
            && !pass.aliases.contains_key(atom)
            && !pass.aliases.contains_key(&c)
        {
            return Some((*atom, c, c0, c1.clone()));
        }
    }
    None
}

/// Classes children first (a class met again while its own children are being visited, a
/// cycle, comes after the class that closes it).
fn post_order(eg: &EG) -> Vec<Id> {
    let mut roots: Vec<Id> = eg.classes().map(|c| c.id).collect();
    roots.sort();
    let mut done: HashSet<Id> = HashSet::new();
    let mut entered: HashSet<Id> = HashSet::new();
    let mut out = Vec::with_capacity(roots.len());
    for r in roots {
        let mut stack = vec![(r, false)];
        while let Some((c, ready)) = stack.pop() {
            if ready {
                if done.insert(c) {
                    out.push(c);
                }
                continue;
            }
            if !entered.insert(c) {
                continue;
            }
            stack.push((c, true));
            for n in &eg[c].nodes {
                for &a in &n.args {
                    let a = eg.find(a);
                    if !entered.contains(&a) {
                        stack.push((a, false));
                    }
                }
            }
        }
    }
    out
}

/// `node` broadcast to the shape of class `c` when its own shape is smaller.
fn broadcast_to(eg: &mut EG, node: Id, c: Id) -> Id {
    if eg[node].data.shape_key == eg[c].data.shape_key {
        return node;
    }
    let want = eg[c].data.shape.clone();
    let k = eg.analysis.tables.shape(&want);
    eg.add(ENode::new(EOp::Expand(k), vec![node]))
}
