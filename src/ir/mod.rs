//! The typed tensor graph: what a `.ht` program means.
//!
//! Owns [`Program`]: the dims, a DAG of tensor operations ([`Graph`]) in which every node
//! knows its shape in dims, the named tensors (leaves, consts, statements and the locals of
//! inlined `fn` calls), the output or loss, and the claims and derivations to check.
//!
//! Invariants:
//! - node ids are topologically ordered: a node's arguments always have smaller ids, so
//!   every pass can iterate by index and none needs recursion (thousands of terms are fine);
//! - every node's shape was checked by the rules in [`shape`] when it was built;
//! - `fn` calls are fully inlined: the graph has no calls;
//! - [`Op::GradOf`] appears only under claims and derivations.
//!
//! Every op is declared once, in the op table ([`op`]); every op's shape rule is
//! [`op::infer`]. The ir neither prints nor evaluates; see `render` and `exact`.

pub mod dims;
pub mod einsum;
mod lower;
pub mod op;
pub mod shape;

use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast::LeafKind;
pub use dims::{DimDecl, DimDef, DimId, DimPoly, Dims};
pub use einsum::EinsumSpec;
pub use lower::{lower, normalize_text, LowerOptions, MAX_INLINE_DEPTH};
pub use op::{Func, Op, ReduceKind};
pub use shape::Shape;

/// Index of a node in the [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

/// Index of a named tensor in [`Program::tensors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub u32);

/// One operation with its arguments and shape.
#[derive(Debug, Clone)]
pub struct Node {
    pub op: Op,
    pub args: Vec<NodeId>,
    pub shape: Shape,
    /// The source text that produced it.
    pub span: Span,
}

/// The DAG of nodes, topologically ordered by id.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    nodes: Vec<Node>,
}

impl Graph {
    pub fn add(&mut self, node: Node) -> NodeId {
        debug_assert!(node.args.iter().all(|a| (a.0 as usize) < self.nodes.len()));
        self.nodes.push(node);
        NodeId(self.nodes.len() as u32 - 1)
    }

    /// Add `op` applied to `args`, its shape given by [`op::infer`] (the one shape rule).
    pub fn apply(
        &mut self,
        dims: &Dims,
        op: Op,
        args: Vec<NodeId>,
        span: Span,
    ) -> Result<NodeId, shape::ShapeError> {
        let shapes: Vec<&Shape> = args.iter().map(|&a| self.shape(a)).collect();
        let shape = op::infer(dims, &op, &shapes)?;
        Ok(self.add(Node {
            op,
            args,
            shape,
            span,
        }))
    }

    /// Drop every node from `len` on (a fn body checked generically leaves nothing behind).
    pub fn truncate(&mut self, len: usize) {
        self.nodes.truncate(len);
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }

    /// Change a node in place (tests use it to plant a wrong rule and see it located).
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.0 as usize]
    }

    pub fn shape(&self, id: NodeId) -> &Shape {
        &self.node(id).shape
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (NodeId(i as u32), n))
    }

    /// Does `root` depend on any node for which `pred` holds? (Iterative, no recursion.)
    pub fn depends_on(&self, root: NodeId, pred: impl Fn(&Node) -> bool) -> bool {
        let mut seen = vec![false; root.0 as usize + 1];
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id.0 as usize], true) {
                continue;
            }
            let node = self.node(id);
            if pred(node) {
                return true;
            }
            stack.extend(node.args.iter().copied());
        }
        false
    }
}

/// What kind of named tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorKind {
    Leaf(LeafKind),
    Const,
    /// `NAME = EXPR` (or `loss NAME = EXPR`) at top level.
    Statement,
    /// A local of an inlined fn call; the name is qualified (`h.S`).
    Local,
}

/// A named tensor.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    pub kind: TensorKind,
    pub node: NodeId,
    /// The declaration or statement.
    pub span: Span,
    /// The defining expression's span (the name's span for leaves).
    pub expr_span: Span,
    pub note: Option<String>,
}

impl Tensor {
    /// Has a gradient: everything but `data` and `const`.
    pub fn differentiable(&self) -> bool {
        !matches!(
            self.kind,
            TensorKind::Leaf(LeafKind::Data | LeafKind::Tokens) | TensorKind::Const
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// `output NAME`: the upstream gradient is a free tensor.
    Output,
    /// `loss NAME`: scalar; the upstream gradient is 1.
    Loss,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub kind: TargetKind,
    pub tensor: TensorId,
    pub span: Span,
}

/// A fn's signature, for display.
#[derive(Debug, Clone)]
pub struct FnSig {
    pub name: String,
    pub params: Vec<(String, Shape)>,
    pub ret: Shape,
    pub span: Span,
}

/// `claim LHS = RHS`. `error` is set when it cannot be checked (its diagnostic).
#[derive(Debug, Clone)]
pub struct Claim {
    pub lhs: Option<NodeId>,
    pub rhs: Option<NodeId>,
    /// `claim LHS != RHS`: the file says the sides differ (a deliberate mistake).
    pub differ: bool,
    pub span: Span,
    pub text: String,
    pub error: Option<crate::diag::Diagnostic>,
}

/// One line of a derivation: the first expression (step 0) or `= EXPR` (step k ≥ 1).
#[derive(Debug, Clone)]
pub struct DerivationStep {
    pub node: Option<NodeId>,
    /// `!= EXPR`: the file says this line differs from the one before.
    pub differ: bool,
    pub span: Span,
    pub text: String,
    pub note: Option<String>,
    /// Why this step cannot be checked against the one before.
    pub error: Option<crate::diag::Diagnostic>,
}

#[derive(Debug, Clone)]
pub struct Derivation {
    pub span: Span,
    pub steps: Vec<DerivationStep>,
}

/// One line of the program as `show` prints it, in source order.
#[derive(Debug, Clone)]
pub enum Statement {
    Use {
        path: String,
        span: Span,
    },
    Dim(DimId, Span),
    /// A named tensor; `depth` > 0 for the locals of an inlined call (printed indented).
    Tensor {
        tensor: TensorId,
        depth: usize,
    },
    /// The start of an inlined fn call: how its parameters and dims were bound.
    Call {
        label: String,
        fn_name: String,
        /// `(parameter, argument as written)`.
        args: Vec<(String, String)>,
        /// `(signature dim, size it was bound to)`.
        dims: Vec<(String, String)>,
        depth: usize,
    },
    Target,
    Fn(usize),
    Claim(usize),
    Derivation(usize),
}

/// A `--wrt` name that cannot be differentiated with respect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrtError {
    /// No tensor has this name.
    Unknown(String),
    /// It is `data` or a `const`.
    NoGradient(String),
}

impl std::fmt::Display for WrtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WrtError::Unknown(n) => write!(f, "--wrt {n}: no tensor is named `{n}`"),
            WrtError::NoGradient(n) => {
                write!(f, "--wrt {n}: `{n}` is data or a const, it has no gradient")
            }
        }
    }
}

/// A resolved, shape-checked program.
#[derive(Debug)]
pub struct Program {
    pub sources: SourceMap,
    pub root: FileId,
    pub dims: Dims,
    pub graph: Graph,
    pub tensors: Vec<Tensor>,
    pub target: Option<Target>,
    pub fns: Vec<FnSig>,
    pub claims: Vec<Claim>,
    pub derivations: Vec<Derivation>,
    /// What the root file says, in order (used files appear as their `use` line).
    pub statements: Vec<Statement>,
    /// The parsed items it was lowered from, and the options (`--dims`) it was lowered with:
    /// what [`Program::resized`] lowers again at other sizes.
    pub items: std::sync::Arc<Vec<(FileId, crate::syntax::ast::Item)>>,
    pub options: LowerOptions,
    /// Leaves declared `onehot`: each row along the last axis is 0 but for a single 1 (so it
    /// sums to 1). The simplifier and proofs may use it; points satisfy it.
    pub onehot: Vec<TensorId>,
    /// The `tokens` leaves: token ids and what they range over.
    pub token_leaves: Vec<TokenLeaf>,
    /// The character vocabulary (`vocab V = "..."`), if the file declares one.
    pub vocab: Option<Vocab>,
    /// Leaves bound to a checkpoint tensor (`from "h.0.attn.c_attn.weight"`), with the span
    /// of the name.
    pub checkpoint_names: Vec<(TensorId, String, Span)>,
}

/// A `tokens` leaf: whole numbers in `0..range`; `next_of`: the leaf whose text it continues,
/// one position on (the targets of next-token prediction).
#[derive(Debug, Clone)]
pub struct TokenLeaf {
    pub tensor: TensorId,
    pub range: DimPoly,
    pub next_of: Option<TensorId>,
}

/// A character vocabulary: token id `i` is `chars[i]`; `dim` is the dim of its size.
#[derive(Debug, Clone)]
pub struct Vocab {
    pub dim: String,
    pub chars: Vec<char>,
    pub span: Span,
}

impl Vocab {
    /// The ids of `text`'s characters, or the first character (and its position) that the
    /// vocabulary lacks.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>, (usize, char)> {
        text.chars()
            .enumerate()
            .map(|(i, c)| self.chars.iter().position(|&d| d == c).ok_or((i, c)))
            .collect()
    }
}

impl Program {
    /// The same program at other sizes of its base dims (`sizes` replace the ones in use).
    pub fn resized(
        &self,
        sizes: &[(String, u64)],
    ) -> Result<Program, Vec<crate::diag::Diagnostic>> {
        let mut options = self.options.clone();
        for (name, size) in sizes {
            options.dim_overrides.retain(|(n, _)| n != name);
            options.dim_overrides.push((name.clone(), *size));
        }
        lower::lower_items(
            self.sources.clone(),
            self.root,
            self.items.clone(),
            &options,
        )
        .map_err(|(_, d)| d)
    }

    /// The base dims (declared with a number) at the sizes in use, in declaration order.
    pub fn base_sizes(&self) -> Vec<(String, u64)> {
        self.dims
            .declared()
            .filter(|(_, d)| matches!(d.def, DimDef::Base))
            .filter_map(|(_, d)| d.size.map(|s| (d.name.clone(), s)))
            .collect()
    }

    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id.0 as usize]
    }

    pub fn tensor_by_name(&self, name: &str) -> Option<TensorId> {
        self.tensors
            .iter()
            .rposition(|t| t.name == name)
            .map(|i| TensorId(i as u32))
    }

    pub fn shape_of(&self, id: TensorId) -> &Shape {
        self.graph.shape(self.tensor(id).node)
    }

    /// The differentiable leaves (`input` and `param`), in declaration order.
    pub fn differentiable_leaves(&self) -> impl Iterator<Item = TensorId> + '_ {
        self.tensors.iter().enumerate().filter_map(|(i, t)| {
            matches!(t.kind, TensorKind::Leaf(LeafKind::Input | LeafKind::Param))
                .then_some(TensorId(i as u32))
        })
    }

    /// The tensors named in `--wrt` (each must have a gradient), in the order given.
    pub fn resolve_wrt(&self, names: &[String]) -> Result<Vec<TensorId>, WrtError> {
        let mut out = Vec::new();
        for name in names {
            match self.tensor_by_name(name) {
                Some(t) if self.tensor(t).differentiable() => {
                    if !out.contains(&t) {
                        out.push(t);
                    }
                }
                Some(_) => return Err(WrtError::NoGradient(name.clone())),
                None => return Err(WrtError::Unknown(name.clone())),
            }
        }
        Ok(out)
    }

    /// Every diagnostic attached to claims and derivation steps.
    pub fn claim_errors(&self) -> impl Iterator<Item = &crate::diag::Diagnostic> {
        self.claims.iter().filter_map(|c| c.error.as_ref()).chain(
            self.derivations
                .iter()
                .flat_map(|d| d.steps.iter().filter_map(|s| s.error.as_ref())),
        )
    }
}
