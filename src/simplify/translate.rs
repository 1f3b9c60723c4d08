//! Moving terms between the IR's graphs and the e-graph.
//!
//! Owns [`to_enode`] (an IR node with its children's classes → an e-node), [`to_ir`] (an
//! extracted e-node with its children's IR nodes → an IR node), and [`Loader`], which puts a
//! program's forward pass into an e-graph: every forward node becomes a class, every named
//! tensor a `Name` node joined to its definition (justified "definition of NAME"), so rewrites
//! can see that `P @ V` is `O`.
//!
//! Invariant: `to_ir(to_enode(n))` is `n`'s operation again; ops the rules special-case
//! (`.T`, `rowsum`, softmax over the last axis) are normalised to their own variants.

use super::analysis::EG;
use super::error::SimplifyError;
use super::lang::{ENode, EOp, Sym};
use crate::ir::{Graph, Node, NodeId, Op, Program, ReduceKind, Shape, TensorKind};
use egg::{Id, Symbol};
use std::collections::HashMap;

/// The e-node for IR node `n` whose arguments are in classes `args`.
pub fn to_enode(
    program: &Program,
    graph: &Graph,
    eg: &mut EG,
    n: NodeId,
    args: Vec<Id>,
) -> Result<ENode, SimplifyError> {
    let node = graph.node(n);
    let rank_of = |i: usize| graph.shape(node.args[i]).len();
    let tables = &mut eg.analysis.tables;
    let op = match &node.op {
        Op::Leaf(t) => EOp::Name(Sym::from(&program.tensor(*t).name)),
        Op::GradOf(t) => EOp::Grad(Sym::from(&program.tensor(*t).name)),
        Op::Literal(r) => EOp::Num(r.clone()),
        Op::Pi => EOp::Pi,
        Op::DimSize(p) => EOp::Dim(tables.dim(p)),
        Op::Neg => EOp::Neg,
        Op::Add => EOp::Add,
        Op::Sub => EOp::Sub,
        Op::Mul => EOp::Mul,
        Op::Div => EOp::Div,
        Op::MatMul => EOp::MatMul,
        Op::Pow(p) => EOp::Pow(p.clone()),
        Op::Func(f) => EOp::Func(*f),
        Op::Reduce {
            kind,
            axes,
            keepdims,
        } => {
            let r = rank_of(0);
            match kind {
                ReduceKind::Sum if *keepdims && r >= 1 && axes[..] == [r - 1] => EOp::RowSum,
                ReduceKind::Mean if *keepdims && r >= 1 && axes[..] == [r - 1] => EOp::RowMean,
                _ => EOp::Reduce(*kind, axes.iter().map(|&a| a as u8).collect(), *keepdims),
            }
        }
        Op::Softmax { axis } if *axis + 1 == rank_of(0) => EOp::Softmax,
        Op::Softmax { axis } => EOp::SoftmaxAxis(*axis as u8),
        Op::LogSoftmax { axis } if *axis + 1 == rank_of(0) => EOp::LogSoftmax,
        Op::LogSoftmax { axis } => EOp::LogSoftmaxAxis(*axis as u8),
        Op::Causal => EOp::Causal,
        Op::Tril => EOp::Tril,
        Op::Eq => EOp::Eq,
        Op::Trace => EOp::Trace,
        Op::SwapAxes(i, j) => {
            let r = rank_of(0);
            let (i, j) = ((*i).min(*j), (*i).max(*j));
            if r >= 2 && (i, j) == (r - 2, r - 1) {
                EOp::T
            } else {
                EOp::Swap(i as u8, j as u8)
            }
        }
        Op::Permute(p) => {
            let r = p.len();
            let swaps_last_two = r >= 2
                && p[r - 2] == r - 1
                && p[r - 1] == r - 2
                && p[..r - 2].iter().enumerate().all(|(i, &x)| i == x);
            if swaps_last_two {
                EOp::T
            } else {
                EOp::Permute(p.iter().map(|&a| a as u8).collect())
            }
        }
        Op::Reshape(to) => EOp::Reshape(tables.shape(to)),
        Op::Expand(to) => EOp::Expand(tables.shape(to)),
        Op::Eye(_) => EOp::Eye(tables.shape(&node.shape)),
        Op::Einsum(spec) => EOp::Einsum(tables.einsum(spec)),
        Op::LayerNorm => EOp::LayerNorm,
        Op::RmsNorm => EOp::RmsNorm,
        Op::OneHot(n) => EOp::OneHot(tables.shape(&vec![n.clone()])),
        Op::Arange(_) => EOp::Arange(tables.shape(&node.shape)),
        Op::Embedding => EOp::Embedding,
        Op::Rope => EOp::Rope,
        Op::Unrope => EOp::Unrope,
        Op::Repeat { axis, times } => EOp::Repeat(*axis as u8, tables.shape(&vec![times.clone()])),
        Op::Slice { axis, start, end } => {
            EOp::Slice(*axis as u8, tables.shape(&vec![start.clone(), end.clone()]))
        }
        Op::Pad {
            axis,
            before,
            after,
        } => EOp::Pad(
            *axis as u8,
            tables.shape(&vec![before.clone(), after.clone()]),
        ),
        Op::Concat { axis } => EOp::Concat(*axis as u8),
        Op::FnParam(_) => {
            return Err(SimplifyError::Untranslatable(
                "a fn parameter outside a fn".into(),
            ))
        }
    };
    Ok(ENode::new(op, args))
}

/// The IR op of an extracted e-node, given its arguments' shapes (for the ops whose axes
/// depend on rank). Names and `grad(NAME)` are resolved by the caller.
pub fn to_ir_op(eg: &EG, enode: &ENode, arg_shapes: &[&Shape]) -> Result<Op, SimplifyError> {
    let ranks: Vec<usize> = arg_shapes.iter().map(|s| s.len()).collect();
    enode
        .op
        .to_ir(&eg.analysis.tables, &ranks)
        .ok_or_else(|| SimplifyError::Untranslatable("names are resolved by the caller".into()))
}

/// Puts IR nodes into an e-graph, remembering each node's class. A node that a named tensor
/// stands for (a statement, a local, a const) enters as its `Name`, and its definition is a
/// separate fact ([`Loader::define`]), so terms read like the program: `P @ V`, not the
/// whole forward pass inlined.
pub struct Loader<'p> {
    pub program: &'p Program,
    /// Class of each IR node added so far.
    pub class_of: HashMap<NodeId, Id>,
    /// The name each named forward node enters as.
    pub name_of: HashMap<NodeId, Symbol>,
    /// Join classes with justifications (needed when explanations are on).
    pub explained: bool,
}

impl<'p> Loader<'p> {
    pub fn new(program: &'p Program, explained: bool) -> Loader<'p> {
        let mut name_of = HashMap::new();
        for t in &program.tensors {
            if matches!(
                t.kind,
                TensorKind::Statement | TensorKind::Local | TensorKind::Const
            ) {
                name_of
                    .entry(t.node)
                    .or_insert_with(|| Symbol::from(&t.name));
            }
        }
        Loader {
            program,
            class_of: HashMap::new(),
            name_of,
            explained,
        }
    }

    fn add_enode(&self, eg: &mut EG, enode: ENode) -> Id {
        if self.explained {
            eg.add_uncanonical(enode)
        } else {
            eg.add(enode)
        }
    }

    /// Record the shapes of every named tensor (names and `grad(NAME)` look them up).
    pub fn declare_names(&self, eg: &mut EG) {
        for t in &self.program.tensors {
            let shape = self.program.graph.shape(t.node).clone();
            eg.analysis.names.insert(Symbol::from(&t.name), shape);
        }
    }

    /// Add `root` and everything it depends on in `graph` (iteratively, in id order),
    /// stopping at named nodes (they enter as names).
    pub fn add(&mut self, graph: &Graph, eg: &mut EG, root: NodeId) -> Result<Id, SimplifyError> {
        if let Some(&id) = self.class_of.get(&root) {
            return Ok(id);
        }
        let mut todo = vec![root];
        let mut need = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while let Some(n) = todo.pop() {
            if self.class_of.contains_key(&n) || !seen.insert(n) {
                continue;
            }
            need.push(n);
            if !self.name_of.contains_key(&n) {
                todo.extend(graph.node(n).args.iter().copied());
            }
        }
        need.sort();
        for n in need {
            let id = match self.name_of.get(&n) {
                Some(name) => self.add_enode(eg, ENode::leaf(EOp::Name(Sym(*name)))),
                None => {
                    let args = graph
                        .node(n)
                        .args
                        .iter()
                        .map(|a| self.class_of[a])
                        .collect();
                    let enode = to_enode(self.program, graph, eg, n, args)?;
                    self.add_enode(eg, enode)
                }
            };
            self.class_of.insert(n, id);
        }
        Ok(self.class_of[&root])
    }

    /// Join every named node among `nodes` to its definition (in terms of names), and every
    /// further name of the same node (`B = A`) to the first. Definitions of the names a
    /// definition uses are added too, down to the leaves.
    pub fn define(&mut self, eg: &mut EG, nodes: &[NodeId]) -> Result<(), SimplifyError> {
        let graph = &self.program.graph;
        let mut todo: Vec<NodeId> = nodes.to_vec();
        let mut done = std::collections::HashSet::new();
        while let Some(n) = todo.pop() {
            // Nodes past the program's own graph (a gradient graph's) define no names.
            if (n.0 as usize) >= graph.len() || !done.insert(n) {
                continue;
            }
            let Some(name) = self.name_of.get(&n).copied() else {
                // Not named: its arguments may be.
                todo.extend(graph.node(n).args.iter().copied());
                continue;
            };
            let name_class = self.add(graph, eg, n)?;
            let node = graph.node(n);
            let mut args = Vec::new();
            for &a in &node.args {
                args.push(self.add(graph, eg, a)?);
                todo.push(a);
            }
            let enode = to_enode(self.program, graph, eg, n, args)?;
            let def = self.add_enode(eg, enode);
            eg.union_trusted(name_class, def, format!("definition of {name}"));
            for t in &self.program.tensors {
                if t.node == n && t.name != name.as_str() && t.differentiable() {
                    let alias = self.add_enode(eg, ENode::leaf(EOp::Name(Sym::from(&t.name))));
                    eg.union_trusted(alias, name_class, format!("definition of {}", t.name));
                }
            }
        }
        Ok(())
    }
}

/// A node with the given op, args and shape (span: `span`).
pub fn ir_node(op: Op, args: Vec<NodeId>, shape: Shape, span: crate::source::Span) -> Node {
    Node {
        op,
        args,
        shape,
        span,
    }
}
