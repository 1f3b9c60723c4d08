//! One entry of a gradient worked by hand from the numeric example's values, as a student
//! checks a formula: the softmax's input (`\bar{S}_{21} = P_{21}(\bar{P}_{21} - \sum_k
//! \bar{P}_{2k} P_{2k})`), else a weight of a matrix product (`\bar{W}_{11} = \sum_k X_{k1}
//! \bar{Y}_{k1}`), else a row-vector scale of a norm (`\bar{g}_1 = \sum_i \bar{y}_{i1}
//! \hat{x}_{i1}`).
//!
//! Invariant: every number shown is an entry of a value the evaluator computed (the factors
//! and the result); the formula only arranges them.

use super::math::{bar, name};
use super::{idx, numbers, tensor_of, transposed};
use crate::exact::num::Num;
use crate::exact::tensor::Tensor;
use crate::ir::{Graph, NodeId, Op, TensorId, TensorKind};
use crate::syntax::ast::LeafKind;

/// An entry as a factor: a negative number in parentheses.
fn factor(n: &Num) -> String {
    let t = numbers::entry(n);
    if t.starts_with('-') || t.contains("\\pm") {
        format!("({t})")
    } else {
        t
    }
}

/// A 2-D tensor's entry `(i, j)` (0-based).
fn at(t: &Tensor<Num>, i: usize, j: usize) -> Option<&Num> {
    let shape = t.shape();
    (shape.len() == 2 && i < shape[0] && j < shape[1]).then(|| t.iter().nth(i * shape[1] + j))?
}

/// `a_1 \cdot b_1 + a_2 \cdot b_2 + ...` of entries (`None` when one is missing).
fn sum_of_products<'a>(
    pairs: impl Iterator<Item = (Option<&'a Num>, Option<&'a Num>)>,
) -> Option<String> {
    let terms = pairs
        .map(|(a, b)| Some(format!("{} \\cdot {}", factor(a?), factor(b?))))
        .collect::<Option<Vec<_>>>()?;
    Some(terms.join(" + "))
}

/// The forward value of a named tensor in the example.
fn value(e: &crate::solution::Example, t: TensorId) -> Option<&Tensor<Num>> {
    e.values.iter().find(|(u, _)| *u == t).map(|(_, v)| v)
}

/// One gradient entry worked by hand from the values above, the first kind that fits (see
/// the module doc).
pub(super) fn entry(e: &crate::solution::Example) -> Option<String> {
    softmax(e).or_else(|| matmul(e)).or_else(|| scale(e))
}

/// The input `S` of a softmax `P` over the last axis: `\bar{S}_{21}` from `P` and `\bar{P}`.
fn softmax(e: &crate::solution::Example) -> Option<String> {
    let p = &e.program;
    let g = &p.graph;
    let tensor = |n: NodeId| tensor_of(p, n);
    // A softmax over the last axis of a named tensor.
    for (ti, t) in p.tensors.iter().enumerate() {
        let node = g.node(t.node);
        let Op::Softmax { axis } = node.op else {
            continue;
        };
        if axis + 1 != node.shape.len() || node.shape.len() != 2 {
            continue;
        }
        let mut z = node.args[0];
        while g.node(z).op == Op::Causal {
            z = g.node(z).args[0];
        }
        let (Some(zt), pt) = (tensor(z), TensorId(ti as u32)) else {
            continue;
        };
        let (Some(pv), Some(pbv), Some(zbv)) =
            (value(e, pt), e.gradients.get(&pt), e.gradients.get(&zt))
        else {
            continue;
        };
        let cols = pv.shape()[1];
        let i = 1.min(pv.shape()[0] - 1);
        let j = 0;
        let (pn, pb, zb) = (name(&t.name), bar(&t.name), bar(&p.tensor(zt).name));
        let ix = |m: &str, a: usize, b: usize| idx(m, &format!("{}{}", a + 1, b + 1));
        // The row's terms, masked entries (exactly 0) left out.
        let ks: Vec<usize> = (0..cols)
            .filter(
                |&k| !matches!(at(pv, i, k), Some(Num::Exact(r)) if num_traits::Zero::is_zero(r)),
            )
            .collect();
        let symbolic: Vec<String> = ks
            .iter()
            .map(|&k| format!("{} {}", ix(&pb, i, k), ix(&pn, i, k)))
            .collect();
        let numeric = sum_of_products(ks.iter().map(|&k| (at(pbv, i, k), at(pv, i, k))))?;
        let masked = if ks.len() < cols {
            " (the masked entries of the row are $0$ and drop out)"
        } else {
            ""
        };
        return Some(format!(
            "\\paragraph{{One entry by hand.}} The softmax rule, entry by entry:\n\
             \\begin{{equation*}}\n  \\fitline{{{zbij} = {pij} \\big({pbij} - \\sum_{{k}} {pbik} {pik}\\big)}}\n\\end{{equation*}}\n\
             {{\\raggedright For $i = {i1}$, $j = {j1}$, from the values of ${pn}$ and ${pb}$ above{masked}:\\par}}\n\
             \\begin{{multline*}}\n  \\fitline{{{zb_} = {pij_} \\big({pbij_} - ({sym})\\big)}} \\\\\n  \\fitline{{= {pval} \\big({pbval} - ({num})\\big) = {result}}}\n\\end{{multline*}}\n",
            zbij = idx(&zb, "ij"),
            pij = idx(&pn, "ij"),
            pbij = idx(&pb, "ij"),
            pbik = idx(&pb, "ik"),
            pik = idx(&pn, "ik"),
            i1 = i + 1,
            j1 = j + 1,
            zb_ = ix(&zb, i, j),
            pij_ = ix(&pn, i, j),
            pbij_ = ix(&pb, i, j),
            sym = symbolic.join(" + "),
            pval = factor(at(pv, i, j)?),
            pbval = factor(at(pbv, i, j)?),
            num = numeric,
            result = numbers::entry(at(zbv, i, j)?),
        ));
    }
    None
}

/// A row-vector scale `g` of `Y = g ⊙ X (+ b)`, broadcast over the rows:
/// `\bar{g}_{1} = Σ_i \bar{Y}_{i1} X_{i1}`.
fn scale(e: &crate::solution::Example) -> Option<String> {
    let p = &e.program;
    let g = &p.graph;
    for (ti, t) in p.tensors.iter().enumerate() {
        let products = summands(g, t.node)
            .into_iter()
            .map(|n| g.node(n))
            .filter(|node| node.op == Op::Mul);
        for node in products {
            for (a, b) in [(node.args[0], node.args[1]), (node.args[1], node.args[0])] {
                let (Some(st), Some(xt)) = (tensor_of(p, a), tensor_of(p, b)) else {
                    continue;
                };
                let leaf = matches!(p.tensor(st).kind, TensorKind::Leaf(LeafKind::Param));
                if !leaf || g.shape(a).len() != 1 || g.shape(b).len() != 2 {
                    continue;
                }
                let yt = TensorId(ti as u32);
                let (Some(xv), Some(ybv), Some(sbv)) =
                    (value(e, xt), e.gradients.get(&yt), e.gradients.get(&st))
                else {
                    continue;
                };
                let (sn, xn, yb) = (&p.tensor(st).name, name(&p.tensor(xt).name), bar(&t.name));
                let rows = 0..xv.shape()[0];
                let numeric = sum_of_products(rows.map(|i| (at(ybv, i, 0), at(xv, i, 0))))?;
                let first = sbv.iter().next()?;
                return Some(format!(
                    "{{\\raggedright\\paragraph{{One entry by hand.}} ${s}$ scales every row, so its gradient sums over the rows: \
                     ${sbj} = \\sum_{{i}} {yij} {xij}$. For $j = 1$, from the values of ${xn}$ and ${yb}$ above:\\par}}\n\
                     \\begin{{equation*}}\n  \\fitline{{{sb1} = {num} = {result}}}\n\\end{{equation*}}\n",
                    s = name(sn),
                    sbj = idx(&bar(sn), "j"),
                    yij = idx(&yb, "ij"),
                    xij = idx(&xn, "ij"),
                    sb1 = idx(&bar(sn), "1"),
                    num = numeric,
                    result = numbers::entry(first),
                ));
            }
        }
    }
    None
}

/// The terms of `root` that have its gradient: itself, and down through `+` (both sides) and
/// the left side of `-`, those of its shape (a broadcast term's gradient is summed).
fn summands(g: &Graph, root: NodeId) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if g.shape(n) != g.shape(root) {
            continue;
        }
        out.push(n);
        let node = g.node(n);
        match node.op {
            Op::Add => stack.extend(node.args.iter().copied()),
            Op::Sub => stack.push(node.args[0]),
            _ => {}
        }
    }
    out
}

/// A weight W of a product Y = A W: \bar{W}_{11} = Σ_k A_{k1} \bar{Y}_{k1}.
fn matmul(e: &crate::solution::Example) -> Option<String> {
    let p = &e.program;
    let g = &p.graph;
    let tensor = |n: NodeId| tensor_of(p, n);
    for (ti, t) in p.tensors.iter().enumerate() {
        // `Y = A W` or `Y = A W + b`: the product's gradient is Y's.
        let Some(node) = summands(g, t.node)
            .into_iter()
            .map(|n| g.node(n))
            .find(|n| n.op == Op::MatMul && n.shape.len() == 2)
        else {
            continue;
        };
        let (Some(at_), Some(wt)) = (tensor(node.args[0]), tensor(node.args[1])) else {
            continue;
        };
        if !matches!(p.tensor(wt).kind, TensorKind::Leaf(_)) {
            continue;
        }
        let yt = TensorId(ti as u32);
        let (Some(av), Some(ybv), Some(wbv)) =
            (value(e, at_), e.gradients.get(&yt), e.gradients.get(&wt))
        else {
            continue;
        };
        let rows = av.shape()[0];
        let (an, yb, wb) = (
            name(&p.tensor(at_).name),
            bar(&t.name),
            bar(&p.tensor(wt).name),
        );
        let ix = |m: &str, a: &str, b: &str| idx(m, &format!("{a}{b}"));
        let numeric = sum_of_products((0..rows).map(|k| (at(av, k, 0), at(ybv, k, 0))))?;
        return Some(format!(
            "{{\\raggedright\\paragraph{{One entry by hand.}} ${wb} = {at_t}\\,{yb}$, so ${wbij} = \\sum_{{k}} {aki} {ykj}$. \
             For $i = j = 1$, from the values of ${an}$ and ${yb}$ above:\\par}}\n\
             \\begin{{equation*}}\n  \\fitline{{{wb11} = {num} = {result}}}\n\\end{{equation*}}\n",
            at_t = transposed(&an),
            wbij = ix(&wb, "i", "j"),
            aki = ix(&an, "k", "i"),
            ykj = ix(&yb, "k", "j"),
            wb11 = ix(&wb, "1", "1"),
            num = numeric,
            result = numbers::entry(at(wbv, 0, 0)?),
        ));
    }
    None
}
