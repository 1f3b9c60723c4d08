//! Printing graph nodes as expressions in the language's own syntax.
//!
//! Owns [`Printer`]: a node is printed as the expression a person would write (its notation,
//! name and call form come from the op table, `ir::op`), with the
//! fewest parentheses the precedence rules allow (`+ -` < `* / @` < unary `-` < `**` <
//! postfix `.T`), stopping at nodes that have a name (forward tensors, named gradients).
//! Reductions print in their paper forms (`rowsum(x)`, `sum(x)`), the last axis as `-1`.
//! Invariant: the printed text parses back to the same computation (except the gradient-only
//! ops `tril`, `expand`, `eq`, `step`, which print as calls).

use crate::ir::op::Text;
use crate::ir::{Dims, Graph, NodeId, Op};
use std::cell::RefCell;
use std::collections::HashMap;

/// Nesting beyond which a subexpression gets its own temporary line (keeps lines readable
/// and the printer's recursion bounded).
const MAX_INLINE_DEPTH: usize = 48;

/// Precedence of a printed expression (higher binds tighter); `+ -` and `* / @` are the
/// op table's levels.
const ADD: u8 = Text::ADD;
const MUL: u8 = Text::MUL;
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
        let ranks: Vec<usize> = node
            .args
            .iter()
            .map(|&a| self.graph.shape(a).len())
            .collect();
        let spec = node.op.spec();
        match spec.text {
            Text::Value => self.value(n, &node.op),
            Text::Prefix => (format!("-{}", arg(0, NEG)), NEG),
            Text::Infix(prec) => (
                format!("{} {} {}", arg(0, prec), spec.name, arg(1, prec + 1)),
                prec,
            ),
            Text::Power => {
                let e = match &node.op {
                    Op::Pow(p) => p.to_string(),
                    other => other.name().to_string(),
                };
                let e = if e.contains('/') || e.starts_with('-') {
                    format!("({e})")
                } else {
                    e
                };
                (format!("{} ** {e}", arg(0, ATOM)), POW)
            }
            Text::Transpose if node.op.is_transpose(ranks[0]) => {
                (format!("{}.T", arg(0, ATOM)), ATOM)
            }
            Text::Transpose | Text::Call => {
                let parts = node.op.call_parts(&ranks, &|d| self.dims.show(d));
                let mut items = parts.before;
                items.extend((0..node.args.len()).map(plain));
                items.extend(parts.after);
                items.extend(parts.keywords.iter().map(|(k, v)| format!("{k}={v}")));
                let name = parts.name.unwrap_or(spec.name);
                (format!("{name}({})", items.join(", ")), ATOM)
            }
        }
    }

    /// An op printed from its payload: a name, a number, `pi`, a size.
    fn value(&self, n: NodeId, op: &Op) -> (String, u8) {
        match op {
            Op::GradOf(_) => (
                self.names
                    .get(&n)
                    .cloned()
                    .unwrap_or_else(|| "grad(?)".into()),
                ATOM,
            ),
            Op::Literal(r) => {
                let text = crate::decimal::as_decimal(r).unwrap_or_else(|| r.to_string());
                let p = if text.starts_with('-') {
                    NEG
                } else if text.contains('/') {
                    MUL
                } else {
                    ATOM
                };
                (text, p)
            }
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
            // Leaves and fn parameters print as their names; `pi` as itself.
            other => (
                self.names
                    .get(&n)
                    .cloned()
                    .unwrap_or_else(|| other.name().to_string()),
                ATOM,
            ),
        }
    }
}
