//! Sharing-aware extraction: one e-node per class, chosen for the whole program.
//!
//! Owns [`extract`]. Each class is priced by the *set* of classes its cheapest term needs
//! (with each class's own FLOPs), not by a tree sum, so a subterm used twice (dS feeds dQ
//! and dK) is paid once and a form that reuses something already needed is preferred. Saved
//! classes (the forward pass's values) cost nothing. Ties go to the term that reads best:
//! fewer nodes, then a fixed order of operators, then the text, so results are reproducible.
//!
//! Invariant: the choice is acyclic (a term never needs its own class); [`extract`] checks
//! and reports a cycle rather than returning one.

use super::analysis::EG;
use super::cost::{entries, op_flops, scaling_cost, ScalingUser, Work};
use super::error::SimplifyError;
use super::lang::{ENode, EOp};
use crate::ir::op::Cost;
use crate::ir::ReduceKind;
use egg::{Id, Language};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

/// What a class was extracted as.
#[derive(Debug, Clone)]
pub enum Pick {
    /// A forward value: free.
    Saved,
    Node(ENode),
}

/// The result of extraction.
#[derive(Debug, Clone)]
pub struct Extraction {
    pub picks: HashMap<Id, Pick>,
}

/// The FLOPs of one e-node in class `class`.
pub fn enode_flops(eg: &EG, enode: &ENode, class: Id) -> u128 {
    let dims = &eg.analysis.dims;
    let out = eg[class].data.entries;
    let read = enode.args.first().map(|a| eg[*a].data.entries).unwrap_or(0);
    let work = match enode.op.spec().cost {
        Cost::Free => Work::Free,
        Cost::MatMul => Work::MatMul {
            inner: eg[enode.args[0]].data.last,
        },
        Cost::Read => Work::Read,
        Cost::Write => Work::Write,
        Cost::Einsum => {
            let EOp::Einsum(i) = &enode.op else {
                return op_flops(Work::Write, out, read);
            };
            let spec = &eg.analysis.tables.einsums[*i as usize];
            let mut sizes = BTreeMap::new();
            for (letters, a) in spec.inputs.iter().zip(&enode.args) {
                for (c, d) in letters.iter().zip(&eg[*a].data.shape) {
                    sizes.insert(*c, entries(dims, std::slice::from_ref(d)));
                }
            }
            Work::Einsum {
                product: sizes.values().fold(1u128, |a, &s| a.saturating_mul(s)),
                operands: spec.inputs.len() as u128,
            }
        }
    };
    op_flops(work, out, read)
}

/// Readability rank of an operator for ties (lower reads better): plain arithmetic in its
/// written form before its normalised forms (`a / b` before `a * (1 / b)`, `a - b` before
/// `a + -b`).
fn op_rank(op: &EOp) -> u8 {
    match op {
        EOp::Name(_) | EOp::Grad(_) | EOp::Num(_) | EOp::Dim(_) | EOp::Pi => 0,
        EOp::Sub | EOp::Div | EOp::MatMul | EOp::T => 1,
        EOp::Add | EOp::Mul | EOp::RowSum | EOp::RowMean => 2,
        EOp::Neg => 3,
        EOp::Pow(_) => 4,
        // Every other op reads as well as a product.
        _ => 2,
    }
}

#[derive(Clone)]
struct Best {
    total: u128,
    /// Classes needed, each with its own FLOPs.
    need: Rc<BTreeMap<Id, u128>>,
    /// Nodes of the term as a tree (capped): fewer reads better.
    size: u64,
    rank: u8,
    text: String,
    pick: Pick,
}

impl Best {
    fn key(&self) -> (u128, u64, u8, &str) {
        (self.total, self.size, self.rank, &self.text)
    }
}

/// Choose one e-node per class reachable from `roots`. `saved` classes are free; the first
/// `loaded` e-nodes of the e-graph are the program as derived (before any rule ran);
/// `named` classes (the gradients of named tensors) print as their names where they are
/// used, so between programs of equal cost one that reads them wins.
pub fn extract(
    eg: &EG,
    roots: &[Id],
    saved: &HashSet<Id>,
    loaded: usize,
    named: &[Id],
) -> Result<Extraction, SimplifyError> {
    let names: HashSet<Id> = roots.iter().chain(named).map(|&c| eg.find(c)).collect();
    // When each e-node first appeared: the derived program's nodes first, then in the order
    // rules made them (a rule's own right-hand side before its commuted variants).
    let mut births: HashMap<ENode, usize> = HashMap::new();
    for (i, n) in eg.nodes().iter().enumerate() {
        births
            .entry(n.clone().map_children(|a| eg.find(a)))
            .or_insert(i);
    }
    let mut best: HashMap<Id, Best> = HashMap::new();
    let mut classes: Vec<Id> = eg.classes().map(|c| c.id).collect();
    classes.sort();
    for &c in &classes {
        if saved.contains(&c) {
            best.insert(
                c,
                Best {
                    total: 0,
                    need: Rc::new(BTreeMap::new()),
                    size: 1,
                    rank: 0,
                    text: String::new(),
                    pick: Pick::Saved,
                },
            );
        }
    }
    // Relax until nothing improves (bounded: each round must lower some key).
    for _round in 0..16 {
        let mut changed = false;
        for &c in &classes {
            if saved.contains(&c) {
                continue;
            }
            for enode in eg[c].nodes.iter() {
                let children: Option<Vec<&Best>> =
                    enode.args.iter().map(|a| best.get(&eg.find(*a))).collect();
                let Some(children) = children else { continue };
                // A cheap lower bound first: the dearest child alone (plus this node's own
                // FLOPs) cannot beat the current best, so skip building the set.
                if let Some(cur) = best.get(&c) {
                    let lower = children.iter().map(|b| b.total).max().unwrap_or(0);
                    if lower > cur.total {
                        continue;
                    }
                }
                let mut need: BTreeMap<Id, u128> = children
                    .iter()
                    .max_by_key(|b| b.need.len())
                    .map(|b| (*b.need).clone())
                    .unwrap_or_default();
                for b in &children {
                    for (k, v) in b.need.iter() {
                        need.entry(*k).or_insert(*v);
                    }
                }
                if need.contains_key(&c) {
                    continue; // the term would need itself
                }
                // Optimistic about GEMM's α: a scalar factor on a product is taken as fused
                // (the whole-program cost below checks the product has no other use).
                let fused = scaled_product(eg, enode).is_some_and(|p| {
                    matches!(best.get(&p), Some(Best { pick: Pick::Node(m), .. }) if m.op == EOp::MatMul)
                });
                need.insert(c, if fused { 0 } else { enode_flops(eg, enode, c) });
                let total = need.values().fold(0u128, |a, &v| a.saturating_add(v));
                let size = children
                    .iter()
                    .fold(1u64, |a, b| a.saturating_add(b.size))
                    .min(1 << 40);
                let candidate = Best {
                    total,
                    need: Rc::new(need),
                    size,
                    rank: op_rank(&enode.op),
                    text: enode.op.to_string(),
                    pick: Pick::Node(enode.clone()),
                };
                let better = match best.get(&c) {
                    None => true,
                    Some(cur) => candidate.key() < cur.key(),
                };
                if better {
                    best.insert(c, candidate);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut greedy = Picks::new(eg);
    for (c, b) in best {
        greedy.insert(c, b.pick);
    }
    improve(eg, roots, &names, saved, &births, &mut greedy);
    // A second start: the program as derived (the first `loaded` e-nodes, one per class),
    // completed by the greedy picks. Local search from it never ends above the raw cost.
    let mut derived = greedy.clone();
    for (i, n) in eg.nodes().iter().enumerate().take(loaded).rev() {
        let c = eg.find(Id::from(i));
        if !saved.contains(&c) {
            derived.insert(c, Pick::Node(n.clone().map_children(|a| eg.find(a))));
        }
    }
    let mut candidates = vec![greedy];
    if program_cost(eg, roots, &derived).is_some() {
        improve(eg, roots, &names, saved, &births, &mut derived);
        candidates.push(derived);
    }
    let (_, mut picks) = candidates
        .into_iter()
        .filter_map(|p| program_cost(eg, roots, &p).map(|c| (c, p)))
        .min_by_key(|(c, _)| *c)
        .ok_or_else(|| SimplifyError::Extraction("extraction chose a cycle".into()))?;
    let picks = reachable(eg, roots, &picks)
        .into_iter()
        .filter_map(|c| picks.take(c).map(|p| (c, p)))
        .collect();
    Ok(Extraction { picks })
}

/// One pick per class, indexed by class id (the extractor's inner loops look these up
/// constantly).
#[derive(Clone)]
struct Picks(Vec<Option<Pick>>);

impl Picks {
    fn new(eg: &EG) -> Picks {
        Picks(vec![None; eg.nodes().len()])
    }

    fn get(&self, c: &Id) -> Option<&Pick> {
        self.0.get(usize::from(*c)).and_then(|p| p.as_ref())
    }

    fn contains_key(&self, c: &Id) -> bool {
        self.get(c).is_some()
    }

    fn insert(&mut self, c: Id, p: Pick) {
        self.0[usize::from(c)] = Some(p);
    }

    fn take(&mut self, c: Id) -> Option<Pick> {
        self.0.get_mut(usize::from(c)).and_then(|p| p.take())
    }
}

/// Classes the roots reach through the picks.
fn reachable(eg: &EG, roots: &[Id], picks: &Picks) -> HashSet<Id> {
    let mut seen = HashSet::new();
    let mut stack: Vec<Id> = roots.iter().map(|r| eg.find(*r)).collect();
    while let Some(c) = stack.pop() {
        if !seen.insert(c) {
            continue;
        }
        if let Some(Pick::Node(n)) = picks.get(&c) {
            stack.extend(n.args.iter().map(|a| eg.find(*a)));
        }
    }
    seen
}

/// The cost of the program the picks give (each class once), or `None` if the picks reach
/// a cycle or a class without a pick. The cost is FLOPs (see [`super::cost`]: a scalar
/// factor on a product used only there, or on an operand used only by products, is GEMM's
/// α, free; on an operand of sums, paid on their results), then, in the low bits, the
/// number of layout ops (transposes), so that between equal FLOPs fewer transposes win.
fn program_cost(eg: &EG, roots: &[Id], picks: &Picks) -> Option<u128> {
    // Reachable classes in DFS order, with cycle detection; dense arrays indexed by class id
    // (this runs once per candidate e-node, so it is the extractor's inner loop).
    const NEW: u8 = 0;
    const ENTERED: u8 = 1;
    const DONE: u8 = 2;
    let n = eg.nodes().len();
    let mut state: Vec<u8> = vec![NEW; n];
    let mut users: Vec<u32> = vec![0; n];
    // What a scaling costs when its users take it: an operand of `@` in GEMM's α (free), of
    // a sum or mean after it (the result's entries); `None` once any other op (or the
    // program's output) reads it.
    let mut epilogue: Vec<Option<u128>> = vec![Some(0); n];
    let mut order: Vec<(Id, &ENode)> = Vec::new();
    let ix = |c: Id| usize::from(c);
    for &root in roots {
        let root = eg.find(root);
        users[ix(root)] += 1;
        epilogue[ix(root)] = None;
        let mut stack = vec![(root, false)];
        while let Some((c, exit)) = stack.pop() {
            if exit {
                state[ix(c)] = DONE;
                continue;
            }
            match state[ix(c)] {
                DONE => continue,
                ENTERED => return None,
                _ => {}
            }
            state[ix(c)] = ENTERED;
            stack.push((c, true));
            if let Pick::Node(node) = picks.get(&c)? {
                order.push((c, node));
                for a in &node.args {
                    let a = eg.find(*a);
                    users[ix(a)] += 1;
                    let user = match node.op {
                        EOp::MatMul => ScalingUser::Product,
                        EOp::RowSum
                        | EOp::RowMean
                        | EOp::Reduce(ReduceKind::Sum | ReduceKind::Mean, ..) => ScalingUser::Sum,
                        _ => ScalingUser::Other,
                    };
                    epilogue[ix(a)] = user.takes(epilogue[ix(a)], eg[c].data.entries);
                    match state[ix(a)] {
                        DONE => {}
                        ENTERED => return None,
                        _ => stack.push((a, false)),
                    }
                }
            }
        }
    }
    let mut flops: u128 = 0;
    let mut layout: u128 = 0;
    for (c, node) in order {
        let fused = scaled_product(eg, node).is_some_and(|product| {
            users[ix(product)] == 1
                && matches!(picks.get(&product), Some(Pick::Node(m)) if m.op == EOp::MatMul)
        }) || negated_scaling(eg, node).is_some_and(|scaled| {
            users[ix(scaled)] == 1
                && matches!(picks.get(&scaled), Some(Pick::Node(m)) if scaled_product(eg, m).is_some())
        });
        let own = enode_flops(eg, node, c);
        let cost = if scaled_product(eg, node).is_some() {
            scaling_cost(own, epilogue[ix(c)])
        } else {
            own
        };
        if !fused {
            flops = flops.saturating_add(cost);
        }
        if matches!(node.op, EOp::T | EOp::Swap(..) | EOp::Permute(_)) {
            layout += 1;
        }
    }
    Some(flops.saturating_mul(1 << 32).saturating_add(layout))
}

/// For `p * s`, `s * p` or `p / s` with `s` a scalar: the class of `p`.
fn scaled_product(eg: &EG, n: &ENode) -> Option<Id> {
    let scalar = |a: Id| eg[a].data.shape.is_empty();
    match (&n.op, n.args.as_slice()) {
        (EOp::Mul, [a, b]) if scalar(*b) && !scalar(*a) => Some(eg.find(*a)),
        (EOp::Mul, [a, b]) if scalar(*a) && !scalar(*b) => Some(eg.find(*b)),
        (EOp::Div, [a, b]) if scalar(*b) && !scalar(*a) => Some(eg.find(*a)),
        _ => None,
    }
}

/// For `-p`: the class of `p` (free when `p` is a scaling used only here: the sign goes into
/// the scalar, `-(x / 2)` is `x * -1/2`).
fn negated_scaling(eg: &EG, n: &ENode) -> Option<Id> {
    match (&n.op, n.args.as_slice()) {
        (EOp::Neg, [a]) if !eg[*a].data.shape.is_empty() => Some(eg.find(*a)),
        _ => None,
    }
}

/// Nodes of the term of class `c` as a tree (capped), under the picks.
/// Other roots and named classes count as one node: they print as their names.
fn term_size(
    eg: &EG,
    c: Id,
    picks: &Picks,
    roots: &HashSet<Id>,
    memo: &mut HashMap<Id, u64>,
) -> u64 {
    let top = eg.find(c);
    let mut stack = vec![(top, false)];
    while let Some((c, ready)) = stack.pop() {
        if memo.contains_key(&c) {
            continue;
        }
        let args: Vec<Id> = match picks.get(&c) {
            Some(Pick::Node(n)) if c == top || !roots.contains(&c) => {
                n.args.iter().map(|a| eg.find(*a)).collect()
            }
            _ => vec![],
        };
        if !ready {
            // Guard against cycles: a provisional size while the children are visited.
            stack.push((c, true));
            for a in args {
                if !memo.contains_key(&a) && !stack.iter().any(|(x, _)| *x == a) {
                    stack.push((a, false));
                }
            }
            continue;
        }
        let size = args
            .iter()
            .fold(1u64, |acc, a| {
                acc.saturating_add(*memo.get(a).unwrap_or(&1))
            })
            .min(1 << 40);
        memo.insert(c, size);
    }
    memo[&eg.find(c)]
}

/// Local search on the whole program: for each class the program uses, take the e-node that
/// makes the whole program cheapest given every other choice (so a form that reuses a value
/// another gradient needs anyway wins); ties go to the smaller term, then to e-nodes of the
/// program as derived (no gratuitous reordering), then to the better-reading operator.
fn improve(
    eg: &EG,
    roots: &[Id],
    names: &HashSet<Id>,
    saved: &HashSet<Id>,
    births: &HashMap<ENode, usize>,
    picks: &mut Picks,
) {
    let Some(mut current) = program_cost(eg, roots, picks) else {
        return;
    };
    for _round in 0..4 {
        let mut changed = false;
        let mut classes: Vec<Id> = reachable(eg, roots, picks).into_iter().collect();
        classes.sort();
        for c in classes {
            if saved.contains(&c) {
                continue;
            }
            let Some(Pick::Node(chosen)) = picks.get(&c).cloned() else {
                continue;
            };
            let key = |eg: &EG, n: &ENode, cost: u128, picks: &Picks| {
                let size = term_size(eg, c, picks, names, &mut HashMap::new());
                let canon = n.clone().map_children(|a| eg.find(a));
                // `a + (b + c)` prints with brackets; `(a + b) + c` reads as `a + b + c`.
                let right = n.args.get(1).and_then(|r| match picks.get(&eg.find(*r)) {
                    Some(Pick::Node(m)) => Some(&m.op),
                    _ => None,
                });
                let bracketed = matches!(
                    (&n.op, right),
                    (EOp::Add | EOp::Sub, Some(EOp::Add | EOp::Sub))
                        | (EOp::Mul | EOp::Div | EOp::MatMul, Some(EOp::Mul | EOp::Div))
                );
                // `dS @ K / sqrt(d)` (the scalar on the product, as papers print it), not
                // `dS / sqrt(d) @ K`, which costs the same.
                let scaled_operand = n.op == EOp::MatMul
                    && n.args.iter().any(|a| {
                        matches!(picks.get(&eg.find(*a)), Some(Pick::Node(m)) if scaled_product(eg, m).is_some())
                    });
                (
                    cost,
                    size,
                    bracketed || scaled_operand,
                    births.get(&canon).copied().unwrap_or(usize::MAX),
                    op_rank(&n.op),
                    n.op.to_string(),
                )
            };
            let mut best = (key(eg, &chosen, current, picks), chosen.clone());
            // Commuted e-nodes (`a + b`, `b + a`) cost the same: price each set of children
            // once.
            let mut priced: HashMap<(EOp, Vec<Id>), Option<u128>> = HashMap::new();
            for n in eg[c].nodes.iter() {
                if *n == chosen || n.args.iter().any(|a| !picks.contains_key(&eg.find(*a))) {
                    continue;
                }
                picks.insert(c, Pick::Node(n.clone()));
                let mut children: Vec<Id> = n.args.iter().map(|a| eg.find(*a)).collect();
                if matches!(n.op, EOp::Add | EOp::Mul) {
                    children.sort();
                }
                let cost = *priced
                    .entry((n.op.clone(), children))
                    .or_insert_with(|| program_cost(eg, roots, picks));
                if let Some(cost) = cost {
                    // The full key (term size etc.) only matters on a tie in cost.
                    if cost <= best.0 .0 {
                        let k = key(eg, n, cost, picks);
                        if k < best.0 {
                            best = (k, n.clone());
                        }
                    }
                }
            }
            if best.1 != chosen {
                changed = true;
                current = best.0 .0;
            }
            picks.insert(c, Pick::Node(best.1));
        }
        if !changed {
            break;
        }
    }
}
