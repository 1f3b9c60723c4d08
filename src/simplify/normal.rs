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
//! Invariants: a form is computed from the current classes each pass (never kept across
//! passes, where a merge of atoms would make it stale); classes are only merged at equal
//! shapes; exponents are combined on one atom (`x^a · x^b = x^(a+b)`, so `x / x = 1` where
//! defined), but a fractional power distributes over a product only when every factor is
//! positive and the coefficient has an exact rational root (`sqrt(x*x)` stays apart from `x`).
//! A product whose expansion passes [`MAX_TERMS`] stays an atom.

use super::analysis::EG;
use super::lang::{ENode, EOp};
use crate::ir::{DimPoly, Func, ReduceKind};
use egg::Id;
use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// The reason a merge by normal forms gives in explanations.
pub const ALGEBRA: &str = "algebra";

/// Largest number of terms a normal form may have; a product that expands further is an atom.
pub const MAX_TERMS: usize = 64;

/// Most terms a named tensor's gradient has and still is written out where it is used.
const OPEN_TERMS: usize = 4;

/// Passes that print forms back into their classes (see [`normalise`]).
const PRINTING_PASSES: usize = 4;

/// Largest integer power expanded (`(a + b)^n`).
const MAX_POWER: i64 = 8;

/// A small exact rational exponent, in lowest terms with a positive denominator; both
/// parts fit in an `i32`, so sums and products are exact in `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Exp {
    num: i64,
    den: i64,
}

impl Exp {
    const ONE: Exp = Exp { num: 1, den: 1 };
    const HALF: Exp = Exp { num: 1, den: 2 };

    fn new(num: i64, den: i64) -> Option<Exp> {
        if den == 0 {
            return None;
        }
        let g = num.gcd(&den).max(1);
        let sign = if den < 0 { -1 } else { 1 };
        let (num, den) = (sign * num / g, sign * den / g);
        let fits = |x: i64| i32::try_from(x).is_ok();
        (fits(num) && fits(den)).then_some(Exp { num, den })
    }

    fn from_rational(r: &BigRational) -> Option<Exp> {
        Exp::new(r.numer().to_i64()?, r.denom().to_i64()?)
    }

    fn to_rational(self) -> BigRational {
        BigRational::new(self.num.into(), self.den.into())
    }

    fn add(self, o: Exp) -> Option<Exp> {
        Exp::new(self.num * o.den + o.num * self.den, self.den * o.den)
    }

    fn mul(self, o: Exp) -> Option<Exp> {
        Exp::new(self.num * o.num, self.den * o.den)
    }

    fn neg(self) -> Exp {
        Exp {
            num: -self.num,
            den: self.den,
        }
    }

    fn abs(self) -> Exp {
        Exp {
            num: self.num.abs(),
            den: self.den,
        }
    }

    fn is_integer(self) -> bool {
        self.den == 1
    }

    fn is_positive(self) -> bool {
        self.num > 0
    }

    /// The integer part and the rest in `[0, 1)`.
    fn split(self) -> (i64, Exp) {
        let whole = self.num.div_euclid(self.den);
        (
            whole,
            Exp {
                num: self.num.rem_euclid(self.den),
                den: self.den,
            },
        )
    }
}

/// A product of atoms (e-classes) with nonzero exponents, sorted by atom.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mono(Vec<(Id, Exp)>);

/// A sum of monomials with nonzero exact coefficients, sorted by monomial, each once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Poly(Vec<(Mono, BigRational)>);

impl std::hash::Hash for Poly {
    /// By numerator and denominator: `Ratio`'s own hash walks a continued fraction, and
    /// forms are hashed on every pass.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for (m, c) in &self.0 {
            m.hash(state);
            c.numer().hash(state);
            c.denom().hash(state);
        }
    }
}

impl Mono {
    fn atom(id: Id, e: Exp) -> Mono {
        Mono(vec![(id, e)])
    }

    fn mul(&self, other: &Mono) -> Option<Mono> {
        let mut out: Vec<(Id, Exp)> = Vec::with_capacity(self.0.len() + other.0.len());
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() || j < other.0.len() {
            let left = self.0.get(i);
            let right = other.0.get(j);
            match (left, right) {
                (Some(l), Some(r)) if l.0 == r.0 => {
                    let e = l.1.add(r.1)?;
                    if e.num != 0 {
                        out.push((l.0, e));
                    }
                    i += 1;
                    j += 1;
                }
                (Some(l), Some(r)) if l.0 < r.0 => {
                    out.push(*l);
                    i += 1;
                }
                (Some(l), None) => {
                    out.push(*l);
                    i += 1;
                }
                (_, Some(r)) => {
                    out.push(*r);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        Some(Mono(out))
    }

    fn pow(&self, p: Exp) -> Option<Mono> {
        self.0
            .iter()
            .map(|(a, e)| Some((*a, e.mul(p)?)))
            .collect::<Option<_>>()
            .map(Mono)
    }
}

impl Poly {
    pub fn zero() -> Poly {
        Poly::default()
    }

    pub fn constant(c: BigRational) -> Poly {
        let mut p = Poly::zero();
        p.add_term(Mono::default(), c);
        p
    }

    fn atom(id: Id) -> Poly {
        Poly::term(Mono::atom(id, Exp::ONE), BigRational::one())
    }

    fn term(m: Mono, c: BigRational) -> Poly {
        let mut p = Poly::zero();
        p.add_term(m, c);
        p
    }

    fn add_term(&mut self, m: Mono, c: BigRational) {
        if c.is_zero() {
            return;
        }
        match self.0.binary_search_by(|(x, _)| x.cmp(&m)) {
            Ok(i) => {
                self.0[i].1 += c;
                if self.0[i].1.is_zero() {
                    self.0.remove(i);
                }
            }
            Err(i) => self.0.insert(i, (m, c)),
        }
    }

    /// A form from terms in any order, equal monomials combined.
    fn from_terms(mut terms: Vec<(Mono, BigRational)>) -> Poly {
        terms.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Mono, BigRational)> = Vec::with_capacity(terms.len());
        for (m, c) in terms {
            match out.last_mut() {
                Some(last) if last.0 == m => last.1 += c,
                _ => out.push((m, c)),
            }
        }
        out.retain(|(_, c)| !c.is_zero());
        Poly(out)
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// The constant value, if no atom occurs.
    pub fn as_constant(&self) -> Option<BigRational> {
        match self.0.len() {
            0 => Some(BigRational::zero()),
            1 => self.0[0].0 .0.is_empty().then(|| self.0[0].1.clone()),
            _ => None,
        }
    }

    fn single(&self) -> Option<(&Mono, &BigRational)> {
        match self.0.as_slice() {
            [(m, c)] => Some((m, c)),
            _ => None,
        }
    }

    fn add(&self, other: &Poly) -> Poly {
        Poly::from_terms(self.0.iter().chain(&other.0).cloned().collect())
    }

    fn scale(&self, k: &BigRational) -> Poly {
        if k.is_zero() {
            return Poly::zero();
        }
        Poly(self.0.iter().map(|(m, c)| (m.clone(), c * k)).collect())
    }

    pub fn terms(&self) -> impl Iterator<Item = (&Mono, &BigRational)> {
        self.0.iter().map(|(m, c)| (m, c))
    }

    fn mentions(&self, atom: Id) -> bool {
        self.0
            .iter()
            .any(|(m, _)| m.0.iter().any(|(x, _)| *x == atom))
    }
}

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

/// An atom and its exponent.
type Factor = (Id, Exp);

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
    through: HashMap<Id, (Mono, BigRational)>,
    /// Named classes' own definitions (shallow forms, before [`Pass::written_through`]).
    defs: HashMap<Id, Rc<Poly>>,
    /// How many definitions a row sum is looking through (bounded).
    nesting: u32,
    /// The reverse of `through`: a named tensor in terms of the atom it is a multiple of.
    back: HashMap<Id, (Mono, BigRational)>,
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
        if self.aliases.is_empty()
            || !p
                .0
                .iter()
                .any(|(m, _)| m.0.iter().any(|(a, _)| self.aliases.contains_key(a)))
        {
            return p;
        }
        // Each aliased atom at a positive integer power becomes its affine replacement.
        let mut out = Poly::zero();
        for (m, c) in &p.0 {
            let mut term = Poly::constant(c.clone());
            for &(a, e) in &m.0 {
                let factor = match self.aliases.get(&a) {
                    Some(f) if e.is_integer() && e.is_positive() && e.num <= MAX_POWER => {
                        (0..e.num).try_fold(Poly::constant(BigRational::one()), |acc, _| {
                            self.mul_plain(&acc, f)
                        })
                    }
                    _ => Some(Poly::term(Mono::atom(a, e), BigRational::one())),
                };
                match factor.and_then(|f| self.mul(&term, &f)) {
                    Some(t) => term = t,
                    None => return p,
                }
            }
            out = out.add(&term);
        }
        out
    }

    /// `p` with each atom `a` of `map` (at an integer power `e`) replaced by
    /// `(coefficient · mono)^e`; `p` itself when that fails.
    fn substituted(&self, p: Poly, map: &HashMap<Id, (Mono, BigRational)>) -> Poly {
        let mentions = |m: &Mono| m.0.iter().any(|(a, _)| map.contains_key(a));
        if map.is_empty() || !p.0.iter().any(|(m, _)| mentions(m)) {
            return p;
        }
        let rewrite = |m: &Mono, c: &BigRational| -> Option<(Mono, BigRational)> {
            let mut out = Mono::default();
            let mut c = c.clone();
            for &(a, e) in &m.0 {
                match map.get(&a) {
                    Some((by, k)) if e.is_integer() => {
                        out = out.mul(&by.pow(e)?)?;
                        c *= pow_rational(k, e.num)?;
                    }
                    _ => out = out.mul(&Mono::atom(a, e))?,
                }
            }
            Some((out, c))
        };
        let terms: Option<Vec<(Mono, BigRational)>> =
            p.0.iter().map(|(m, c)| rewrite(m, c)).collect();
        match terms.and_then(|t| self.settle_poly(t)) {
            Some(q) => q,
            None => p,
        }
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
        for (c, m, ids) in combos {
            let id = eg.add(ENode::new(node.op.clone(), ids));
            terms.push((m.mul(&Mono::atom(eg.find(id), Exp::ONE))?, c));
        }
        self.settle_poly(terms)
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

fn pow_rational(c: &BigRational, n: i64) -> Option<BigRational> {
    if n.unsigned_abs() > 64 || (n < 0 && c.is_zero()) {
        return None;
    }
    let mut r = BigRational::one();
    for _ in 0..n.unsigned_abs() {
        r *= c;
    }
    Some(if n < 0 { r.recip() } else { r })
}

/// `c ^ e` for a positive `c`, when it is rational.
fn root_rational(c: &BigRational, e: Exp) -> Option<BigRational> {
    let q = u32::try_from(e.den).ok().filter(|&q| q <= 16)?;
    let root = |x: &BigInt| -> Option<BigInt> {
        let r = x.nth_root(q);
        (num_traits::pow(r.clone(), q as usize) == *x).then_some(r)
    };
    let base = BigRational::new(root(c.numer())?, root(c.denom())?);
    pow_rational(&base, e.num)
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
        pass.through.insert(atom, (by, t.coefficient.clone()));
        // Back: the named tensor N is `atom / (coefficient · by / N)`.
        if let Some(n) = t.name.map(|n| eg.find(n)) {
            let rest = canonical(eg, &t.by).mul(&Mono::atom(n, Exp::ONE.neg()));
            if let Some(back) = rest
                .and_then(|r| r.pow(Exp::ONE.neg()))
                .and_then(|r| r.mul(&Mono::atom(atom, Exp::ONE)))
            {
                pass.back.insert(n, (back, t.coefficient.recip()));
            }
        }
    }
    let opaque: HashSet<Id> = state.opaque.iter().map(|&c| eg.find(c)).collect();
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
            let atom = shallow
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

/// The order terms are printed in: positive before negative, fewer factors first, then a
/// fixed order.
fn term_order(a: &(&Mono, &BigRational), b: &(&Mono, &BigRational)) -> std::cmp::Ordering {
    (b.1.is_positive())
        .cmp(&a.1.is_positive())
        .then(a.0 .0.len().cmp(&b.0 .0.len()))
        .then(a.0.cmp(b.0))
}

/// `p` with a number under a root moved below the line when the coefficient divides by it
/// (`sqrt(2) / 2` is printed `1 / sqrt(2)`), so that `1/sqrt(2*pi)` reads as it is written.
/// The value is unchanged; only the split between coefficient and atom moves.
fn numbers_for_print(eg: &EG, p: &Poly) -> Poly {
    let value = |a: Id| {
        eg[a].nodes.iter().find_map(|n| match &n.op {
            EOp::Num(v) if v.is_integer() && v.is_positive() && !v.is_one() => Some(v.to_integer()),
            _ => None,
        })
    };
    let terms = p.0.iter().map(|(m, c)| {
        let mut c = c.clone();
        let mut out = Vec::with_capacity(m.0.len());
        for &(a, e) in &m.0 {
            match value(a) {
                Some(v) if e.is_positive() && e.den > 1 && (c.denom() % &v).is_zero() => {
                    c *= BigRational::from_integer(v);
                    out.push((a, e.add(Exp::ONE.neg()).unwrap_or(e)));
                }
                _ => out.push((a, e)),
            }
        }
        (Mono(out), c)
    });
    Poly::from_terms(terms.collect())
}

/// The constant factor of a sum: the gcd of the numerators over the lcm of the
/// denominators, with the sign of the term printed first (so what is left is primitive and
/// starts with a plus).
fn content(p: &Poly) -> BigRational {
    let gcd =
        p.0.iter()
            .fold(BigInt::zero(), |g, (_, c)| g.gcd(c.numer()));
    let lcm = p.0.iter().fold(BigInt::one(), |l, (_, c)| l.lcm(c.denom()));
    let k = BigRational::new(gcd, lcm);
    match p.terms().min_by(term_order) {
        Some((_, c)) if c.is_negative() => -k,
        _ => k,
    }
}

/// The factor every term of `p` shares among the atoms `pick` accepts: each such atom that
/// every term has with exponents of one sign, at the exponent nearest zero.
fn common_factor(p: &Poly, pick: impl Fn(Id) -> bool) -> Mono {
    let Some((first, _)) = p.0.first() else {
        return Mono::default();
    };
    let mut common: Vec<Factor> = Vec::new();
    for &(a, e) in &first.0 {
        if !pick(a) {
            continue;
        }
        let mut best = e;
        let all = p.0.iter().all(|(m, _)| {
            m.0.iter().any(|&(b, f)| {
                let same_sign = f.is_positive() == e.is_positive();
                if b == a && same_sign && f.abs() < best.abs() {
                    best = f;
                }
                b == a && same_sign
            })
        });
        if all {
            common.push((a, best));
        }
    }
    Mono(common)
}

/// Nodes for the form `p` in `eg`: the constant and the factor common to every term taken
/// out (`(a - b) / s`, `2 * x / N`), terms in [`term_order`].
fn render(eg: &mut EG, p: &Poly) -> Id {
    let printed = numbers_for_print(eg, p);
    let p = &printed;
    let mut terms: Vec<(&Mono, &BigRational)> = p.terms().collect();
    terms.sort_by(term_order);
    let Some(first) = terms.first() else {
        return eg.add(ENode::leaf(EOp::Num(BigRational::zero())));
    };
    if terms.len() == 1 {
        return render_term(eg, first.1, first.0);
    }
    // The content: a rational factor with the first term's sign, and each atom every term
    // has with exponents of one sign, at the exponent nearest zero.
    let k = content(p);
    let common = common_factor(p, |_| true);
    let split = |common: &Mono| -> Option<Poly> {
        let inverse = common.pow(Exp::ONE.neg())?;
        let mut inner = Poly::zero();
        for (m, c) in &terms {
            inner.add_term(m.mul(&inverse)?, *c / &k);
        }
        Some(inner)
    };
    let mut common = common;
    let inner = split(&common).unwrap_or_else(|| {
        common = Mono::default();
        p.scale(&k.recip())
    });
    let mut inner_terms: Vec<(&Mono, &BigRational)> = inner.terms().collect();
    inner_terms.sort_by(term_order);
    let mut acc: Option<Id> = None;
    for (m, c) in inner_terms {
        let t = render_term(eg, &c.abs(), m);
        acc = Some(match acc {
            None if c.is_negative() => eg.add(ENode::new(EOp::Neg, vec![t])),
            None => t,
            Some(a) if c.is_negative() => eg.add(ENode::new(EOp::Sub, vec![a, t])),
            Some(a) => eg.add(ENode::new(EOp::Add, vec![a, t])),
        });
    }
    let sum = acc.expect("a sum of two or more terms");
    if common.0.is_empty() && k.is_one() {
        return sum;
    }
    product(eg, &k, &common, Some(sum))
}

/// Nodes for `c · m`.
fn render_term(eg: &mut EG, c: &BigRational, m: &Mono) -> Id {
    product(eg, c, m, None)
}

/// Nodes for `k · m · extra`. The factors with fewer entries than the largest (constants,
/// scalars, a row's statistics) are combined first, sign included, and the large ones
/// multiplied by that once: `xc * (mean(d) / s)`, not `-(xc * mean(d) / s)`, which pays for
/// the division and the negation at every entry.
fn product(eg: &mut EG, k: &BigRational, m: &Mono, extra: Option<Id>) -> Id {
    let mut num: Vec<Id> = Vec::new();
    let mut den: Vec<Id> = Vec::new();
    let kn = k.numer().abs();
    if !kn.is_one() {
        num.push(eg.add(ENode::leaf(EOp::Num(BigRational::from_integer(kn)))));
    }
    if !k.denom().is_one() {
        den.push(eg.add(ENode::leaf(EOp::Num(BigRational::from_integer(
            k.denom().clone(),
        )))));
    }
    // Square roots on each side of the line go under one root (`sqrt(2 * pi)`).
    let (mut num_roots, mut den_roots) = (Vec::new(), Vec::new());
    for (a, e) in &as_means(eg, m).0 {
        // `exp(u)^e` prints as `exp(e * u)` (`exp(-(x ** 2 / 2))`).
        if *e != Exp::ONE {
            if let Some(u) = exp_argument(eg, *a) {
                let scaled = product(eg, &e.to_rational(), &Mono::atom(u, Exp::ONE), None);
                num.push(eg.add(ENode::new(EOp::Func(Func::Exp), vec![scaled])));
                continue;
            }
        }
        if e.abs() == Exp::HALF {
            if e.is_positive() {
                &mut num_roots
            } else {
                &mut den_roots
            }
            .push(*a);
            continue;
        }
        let f = power(eg, *a, e.abs());
        if e.is_positive() {
            num.push(f);
        } else {
            den.push(f);
        }
    }
    for (roots, side) in [(num_roots, &mut num), (den_roots, &mut den)] {
        let mut it = roots.into_iter();
        if let Some(first) = it.next() {
            let inside = it.fold(first, |acc, x| eg.add(ENode::new(EOp::Mul, vec![acc, x])));
            side.push(eg.add(ENode::new(EOp::Func(Func::Sqrt), vec![inside])));
        }
    }
    num.extend(extra);
    let largest = num
        .iter()
        .chain(&den)
        .map(|id| eg[*id].data.entries)
        .max()
        .unwrap_or(1);
    let small = |eg: &EG, id: &Id| eg[*id].data.entries < largest;
    let (small_num, big_num): (Vec<Id>, Vec<Id>) = num.iter().partition(|id| small(eg, id));
    let (small_den, big_den): (Vec<Id>, Vec<Id>) = den.iter().partition(|id| small(eg, id));
    let fold = |eg: &mut EG, ids: &[Id]| -> Option<Id> {
        let mut it = ids.iter();
        let first = *it.next()?;
        Some(it.fold(first, |acc, &x| eg.add(ENode::new(EOp::Mul, vec![acc, x]))))
    };
    let quotient = |eg: &mut EG, top: Option<Id>, bottom: Option<Id>| match (top, bottom) {
        (top, Some(bottom)) => {
            let top = top.unwrap_or_else(|| eg.add(ENode::leaf(EOp::Num(BigRational::one()))));
            Some(eg.add(ENode::new(EOp::Div, vec![top, bottom])))
        }
        (top, None) => top,
    };
    // Without a small numerator, the small denominators divide (`S @ K / sqrt(d)`).
    let (small_den, big_den) = if small_num.is_empty() {
        (vec![], [big_den, small_den].concat())
    } else {
        (small_den, big_den)
    };
    let (sn, sd) = (fold(eg, &small_num), fold(eg, &small_den));
    let mut coefficient = quotient(eg, sn, sd);
    let mut negate = k.is_negative();
    if negate && !big_num.is_empty() {
        if let Some(c) = coefficient {
            coefficient = Some(eg.add(ENode::new(EOp::Neg, vec![c])));
            negate = false;
        }
    }
    let (bn, bd) = (fold(eg, &big_num), fold(eg, &big_den));
    let top = match (bn, coefficient) {
        (Some(b), Some(c)) => Some(eg.add(ENode::new(EOp::Mul, vec![b, c]))),
        (b, c) => b.or(c),
    };
    let value =
        quotient(eg, top, bd).unwrap_or_else(|| eg.add(ENode::leaf(EOp::Num(BigRational::one()))));
    if negate {
        eg.add(ENode::new(EOp::Neg, vec![value]))
    } else {
        value
    }
}

/// `m` with each row sum over a row of size `n` that is divided by `n` written as the row's
/// mean (`rowsum(x) / D` is `mean(x)`): the atom becomes a mean node.
fn as_means(eg: &mut EG, m: &Mono) -> Mono {
    let mut out = m.clone();
    for &(a, e) in &m.0 {
        if e != Exp::ONE {
            continue;
        }
        let Some(arg) = eg[a]
            .nodes
            .iter()
            .find(|n| n.op == EOp::RowSum)
            .map(|n| n.args[0])
        else {
            continue;
        };
        let Some(last) = eg[arg].data.shape.last().cloned() else {
            continue;
        };
        let k = eg.analysis.tables.dim(&last);
        let Some(size) = eg.lookup(ENode::leaf(EOp::Dim(k))) else {
            continue;
        };
        let divides = out.0.iter().any(|&(b, f)| b == size && !f.is_positive());
        if !divides {
            continue;
        }
        let mean = eg.add(ENode::new(EOp::RowMean, vec![arg]));
        let swap = Mono::atom(a, Exp::ONE.neg())
            .mul(&Mono::atom(size, Exp::ONE))
            .and_then(|s| s.mul(&Mono::atom(mean, Exp::ONE)));
        if let Some(next) = swap.and_then(|s| out.mul(&s)) {
            out = next;
        }
    }
    out
}

/// `u` when class `a` is `exp(u)`.
fn exp_argument(eg: &EG, a: Id) -> Option<Id> {
    eg[a].nodes.iter().find_map(|n| match n.op {
        EOp::Func(Func::Exp) => Some(n.args[0]),
        _ => None,
    })
}

/// Nodes for `a ^ e`, `e > 0`: the atom, its square root, or a power.
fn power(eg: &mut EG, a: Id, e: Exp) -> Id {
    if e == Exp::ONE {
        a
    } else if e == Exp::HALF {
        eg.add(ENode::new(EOp::Func(Func::Sqrt), vec![a]))
    } else {
        eg.add(ENode::new(EOp::Pow(e.to_rational()), vec![a]))
    }
}
