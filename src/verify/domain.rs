//! Where a claim's sides are defined: a sign analysis of expressions, to tell whether a proof
//! by normal forms may have cancelled something that vanishes (`x / x = 1` holds only where
//! `x ≠ 0`).
//!
//! Owns [`may_be_undefined`]. Signs are inferred bottom-up from facts that hold for every
//! value: sizes, π, positive numbers, `exp` and `sigmoid` are positive; even powers and means
//! of squares are nonnegative; sums, products and quotients combine them. Anything else is
//! unknown.
//!
//! Invariant: `Positive` and `NonNegative` are only claimed when they hold at every point
//! where the expression is defined; "unknown" is always a safe answer.

use crate::ir::{Func, Graph, NodeId, Op, ReduceKind};
use num_traits::{Signed, Zero};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    Positive,
    NonNegative,
    Unknown,
}

fn at_least_nonnegative(s: Sign) -> bool {
    matches!(s, Sign::Positive | Sign::NonNegative)
}

/// The sign of every node `root` needs.
fn signs(graph: &Graph, root: NodeId, memo: &mut HashMap<NodeId, Sign>) -> Sign {
    let mut stack = vec![(root, false)];
    while let Some((n, ready)) = stack.pop() {
        if memo.contains_key(&n) {
            continue;
        }
        let node = graph.node(n);
        if !ready {
            stack.push((n, true));
            stack.extend(node.args.iter().map(|&a| (a, false)));
            continue;
        }
        let arg = |i: usize| memo.get(&node.args[i]).copied().unwrap_or(Sign::Unknown);
        let both = |f: fn(Sign, Sign) -> Sign| f(arg(0), arg(1));
        let sign = match &node.op {
            Op::Literal(c) if c.is_positive() => Sign::Positive,
            Op::Literal(c) if c.is_zero() => Sign::NonNegative,
            Op::DimSize(_) | Op::Pi => Sign::Positive,
            Op::Func(Func::Exp | Func::Sigmoid) => Sign::Positive,
            Op::Func(Func::Sqrt | Func::Relu | Func::Step) => match arg(0) {
                Sign::Positive if matches!(node.op, Op::Func(Func::Sqrt)) => Sign::Positive,
                _ => Sign::NonNegative,
            },
            Op::Pow(p) if p.is_integer() && (p.to_integer() % 2u32).is_zero() => {
                if arg(0) == Sign::Positive {
                    Sign::Positive
                } else {
                    Sign::NonNegative
                }
            }
            Op::Pow(_) if arg(0) == Sign::Positive => Sign::Positive,
            Op::Add => both(|a, b| match (a, b) {
                (Sign::Positive, s) | (s, Sign::Positive) if at_least_nonnegative(s) => {
                    Sign::Positive
                }
                (Sign::NonNegative, Sign::NonNegative) => Sign::NonNegative,
                _ => Sign::Unknown,
            }),
            Op::Mul | Op::Div => both(|a, b| match (a, b) {
                (Sign::Positive, Sign::Positive) => Sign::Positive,
                (a, b) if at_least_nonnegative(a) && at_least_nonnegative(b) => Sign::NonNegative,
                _ => Sign::Unknown,
            }),
            Op::Reduce {
                kind: ReduceKind::Sum | ReduceKind::Mean | ReduceKind::Max | ReduceKind::Min,
                ..
            }
            | Op::Expand(_)
            | Op::Reshape(_)
            | Op::Permute(_)
            | Op::SwapAxes(..) => arg(0),
            _ => Sign::Unknown,
        };
        memo.insert(n, sign);
    }
    memo[&root]
}

/// Could a side cancel something that vanishes somewhere: a division by what is not
/// positive, a root or log of what is not nonnegative (positive for a log), a negative or
/// fractional power of what is not positive?
pub fn may_be_undefined(graph: &Graph, roots: &[NodeId]) -> bool {
    let mut memo = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<NodeId> = roots.to_vec();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        let node = graph.node(n);
        let mut arg = |i: usize| signs(graph, node.args[i], &mut memo);
        let partial = match &node.op {
            Op::Div => arg(1) != Sign::Positive,
            Op::Func(Func::Log) => arg(0) != Sign::Positive,
            Op::Func(Func::Sqrt) => !at_least_nonnegative(arg(0)),
            Op::Pow(p) if p.is_negative() || !p.is_integer() => arg(0) != Sign::Positive,
            _ => false,
        };
        if partial {
            return true;
        }
        stack.extend(node.args.iter().copied());
    }
    false
}
