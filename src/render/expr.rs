//! Printing graph nodes as expressions in the language's own syntax.
//!
//! Owns [`Printer`]: a node is printed as the expression a person would write, with the
//! fewest parentheses the precedence rules allow (`+ -` < `* / @` < unary `-` < `**` <
//! postfix `.T`), stopping at nodes that have a name (forward tensors, named gradients).
//! Reductions print in their paper forms (`rowsum(x)`, `sum(x)`), the last axis as `-1`.
//! Invariant: the printed text parses back to the same computation (except the gradient-only
//! ops `tril`, `expand`, `eq`, `step`, which print as calls).

use crate::ir::shape::show_shape;
use crate::ir::{Dims, Graph, NodeId, Op, ReduceKind};
use std::cell::RefCell;
use std::collections::HashMap;

/// Nesting beyond which a subexpression gets its own temporary line (keeps lines readable
/// and the printer's recursion bounded).
const MAX_INLINE_DEPTH: usize = 48;

/// Precedence of a printed expression (higher binds tighter).
const ADD: u8 = 1;
const MUL: u8 = 2;
const NEG: u8 = 3;
const POW: u8 = 4;
const ATOM: u8 = 5;

pub struct Printer<'a> {
    pub graph: &'a Graph,
    pub dims: &'a Dims,
    /// Nodes printed as a name.
    pub names: &'a HashMap<NodeId, String>,
    /// Temporaries introduced for deeply nested subexpressions, in definition order.
    pub temps: RefCell<Vec<(String, NodeId, String)>>,
    /// Names temporaries must not take.
    pub reserved: RefCell<std::collections::HashSet<String>>,
}

impl<'a> Printer<'a> {
    pub fn new(
        graph: &'a Graph,
        dims: &'a Dims,
        names: &'a HashMap<NodeId, String>,
    ) -> Printer<'a> {
        Printer {
            graph,
            dims,
            names,
            temps: RefCell::new(Vec::new()),
            reserved: RefCell::new(std::collections::HashSet::new()),
        }
    }

    /// Take the temporaries defined so far (`name`, node, definition).
    pub fn take_temps(&self) -> Vec<(String, NodeId, String)> {
        std::mem::take(&mut self.temps.borrow_mut())
    }

    /// `node` as an expression; a named node prints its definition, not its own name.
    pub fn definition(&self, node: NodeId) -> String {
        self.print(node, 0, true).0
    }

    fn named(&self, n: NodeId, top: bool) -> Option<&String> {
        if top {
            None
        } else {
            self.names.get(&n)
        }
    }

    fn print(&self, n: NodeId, depth: usize, top: bool) -> (String, u8) {
        if let Some(name) = self.named(n, top) {
            return (name.clone(), ATOM);
        }
        if depth > MAX_INLINE_DEPTH {
            if let Some((name, _, _)) = self.temps.borrow().iter().find(|(_, id, _)| *id == n) {
                return (name.clone(), ATOM);
            }
            let definition = self.print(n, 0, true).0;
            let mut temps = self.temps.borrow_mut();
            let mut reserved = self.reserved.borrow_mut();
            let mut k = temps.len();
            let name = loop {
                k += 1;
                let candidate = format!("t{k}");
                if !reserved.contains(&candidate) {
                    break candidate;
                }
            };
            reserved.insert(name.clone());
            temps.push((name.clone(), n, definition));
            return (name, ATOM);
        }
        let node = self.graph.node(n);
        let arg = |i: usize, min: u8| -> String {
            let (s, p) = self.print(node.args[i], depth + 1, false);
            if p < min {
                format!("({s})")
            } else {
                s
            }
        };
        let plain = |i: usize| self.print(node.args[i], depth + 1, false).0;
        let rank = |i: usize| self.graph.shape(node.args[i]).len();
        let axis = |ax: usize, r: usize| -> String {
            if ax + 1 == r {
                "-1".into()
            } else {
                ax.to_string()
            }
        };
        match &node.op {
            Op::Leaf(_) | Op::FnParam(_) => (
                self.names.get(&n).cloned().unwrap_or_else(|| "?".into()),
                ATOM,
            ),
            Op::GradOf(_) => (
                self.names
                    .get(&n)
                    .cloned()
                    .unwrap_or_else(|| "grad(?)".into()),
                ATOM,
            ),
            Op::Literal(r) => {
                let text = r.to_string();
                let p = if text.starts_with('-') {
                    NEG
                } else if text.contains('/') {
                    MUL
                } else {
                    ATOM
                };
                (text, p)
            }
            Op::Pi => ("pi".into(), ATOM),
            Op::DimSize(d) => {
                let text = self.dims.show(d);
                let p = if text.contains(" + ") || text.contains(" - ") {
                    ADD
                } else if text.contains(['*', '/']) {
                    MUL
                } else {
                    ATOM
                };
                (text, p)
            }
            Op::Neg => (format!("-{}", arg(0, NEG)), NEG),
            Op::Add => (format!("{} + {}", arg(0, ADD), arg(1, MUL)), ADD),
            Op::Sub => (format!("{} - {}", arg(0, ADD), arg(1, MUL)), ADD),
            Op::Mul => (format!("{} * {}", arg(0, MUL), arg(1, NEG)), MUL),
            Op::Div => (format!("{} / {}", arg(0, MUL), arg(1, NEG)), MUL),
            Op::MatMul => (format!("{} @ {}", arg(0, MUL), arg(1, NEG)), MUL),
            Op::Pow(p) => {
                let e = p.to_string();
                let e = if e.contains('/') || e.starts_with('-') {
                    format!("({e})")
                } else {
                    e
                };
                (format!("{} ** {e}", arg(0, ATOM)), POW)
            }
            Op::Func(f) => (format!("{}({})", f.name(), plain(0)), ATOM),
            Op::Reduce {
                kind,
                axes,
                keepdims,
            } => {
                let r = rank(0);
                let name = match kind {
                    ReduceKind::Sum => "sum",
                    ReduceKind::Mean => "mean",
                    ReduceKind::Max => "max",
                    ReduceKind::Min => "min",
                };
                let all = axes.len() == r;
                if *kind == ReduceKind::Sum && *keepdims && axes.len() == 1 && axes[0] + 1 == r {
                    return (format!("rowsum({})", plain(0)), ATOM);
                }
                if all && !keepdims {
                    return (format!("{name}({})", plain(0)), ATOM);
                }
                let ax = if axes.len() == 1 {
                    axis(axes[0], r)
                } else {
                    format!(
                        "[{}]",
                        axes.iter()
                            .map(|&a| axis(a, r))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let keep = if *keepdims { ", keepdims=true" } else { "" };
                (format!("{name}({}, axis={ax}{keep})", plain(0)), ATOM)
            }
            Op::Softmax { axis: a } => (
                format!("softmax({}, axis={})", plain(0), axis(*a, rank(0))),
                ATOM,
            ),
            Op::LogSoftmax { axis: a } => (
                format!("logsoftmax({}, axis={})", plain(0), axis(*a, rank(0))),
                ATOM,
            ),
            Op::Causal => (format!("causal({})", plain(0)), ATOM),
            Op::Tril => (format!("tril({})", plain(0)), ATOM),
            Op::SwapAxes(i, j) => {
                let r = rank(0);
                if (*i, *j) == (r - 2, r - 1) {
                    (format!("{}.T", arg(0, ATOM)), ATOM)
                } else {
                    (format!("transpose({}, {i}, {j})", plain(0)), ATOM)
                }
            }
            Op::Reshape => (
                format!(
                    "reshape({}, {})",
                    plain(0),
                    show_shape(self.dims, &node.shape)
                ),
                ATOM,
            ),
            Op::Expand => (
                format!(
                    "expand({}, {})",
                    plain(0),
                    show_shape(self.dims, &node.shape)
                ),
                ATOM,
            ),
            Op::Permute(p) => (
                format!(
                    "permute({}, [{}])",
                    plain(0),
                    p.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ATOM,
            ),
            Op::Einsum(spec) => {
                let ins: Vec<String> = spec.inputs.iter().map(|l| l.iter().collect()).collect();
                let out: String = spec.output.iter().collect();
                let args: Vec<String> = (0..node.args.len()).map(plain).collect();
                (
                    format!(
                        "einsum(\"{}->{}\", {})",
                        ins.join(","),
                        out,
                        args.join(", ")
                    ),
                    ATOM,
                )
            }
            Op::Trace => (format!("trace({})", plain(0)), ATOM),
            Op::Eye => (format!("eye({})", self.dims.show(&node.shape[0])), ATOM),
            Op::Eq => (format!("eq({}, {})", plain(0), plain(1)), ATOM),
            Op::LayerNorm => (
                format!(
                    "layernorm({}, {}, {}, {})",
                    plain(0),
                    plain(1),
                    plain(2),
                    plain(3)
                ),
                ATOM,
            ),
            Op::RmsNorm => (
                format!("rmsnorm({}, {}, {})", plain(0), plain(1), plain(2)),
                ATOM,
            ),
        }
    }
}
