//! The abstract syntax tree of one `.ht` file, with source spans.
//!
//! Owns the shape of what a person wrote, nothing more: no name resolution, no shapes.
//! Invariants: every node carries the [`Span`] of its source text; chains of `+ -` and of
//! `* / @` are kept flat ([`ExprKind::Chain`]) and repeated prefix `-` / postfix `.T` are
//! counted rather than nested, so the tree's depth is bounded by bracket nesting (see
//! `lexical::MAX_NESTING`), never by the length of an expression.

use crate::source::Span;
use num_rational::BigRational;

/// A parsed file.
#[derive(Debug, Clone)]
pub struct Module {
    pub items: Vec<Item>,
}

/// A name as written, with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One top-level line (or block) of a file.
#[derive(Debug, Clone)]
pub struct Item {
    pub kind: ItemKind,
    pub span: Span,
    /// The trailing `# comment` of the item's (last) line, if any.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKind {
    Input,
    Param,
    Data,
    /// `tokens`: token ids, whole numbers in the vocabulary's range (not differentiated).
    Tokens,
}

impl LeafKind {
    pub fn keyword(self) -> &'static str {
        match self {
            LeafKind::Input => "input",
            LeafKind::Param => "param",
            LeafKind::Data => "data",
            LeafKind::Tokens => "tokens",
        }
    }

    /// Not differentiated: `data` and `tokens`.
    pub fn is_data(self) -> bool {
        matches!(self, LeafKind::Data | LeafKind::Tokens)
    }
}

#[derive(Debug, Clone)]
pub enum ItemKind {
    Use {
        path: String,
        path_span: Span,
    },
    Dim {
        name: Ident,
        value: DimExpr,
    },
    Leaf {
        kind: LeafKind,
        name: Ident,
        shape: ShapeExpr,
        /// `onehot`: each row along the last axis is 0 but for a single 1.
        onehot: bool,
        /// `from "h.0.attn.c_attn.weight"`: the checkpoint tensor `--weights` reads.
        source: Option<(String, Span)>,
        /// For `tokens`: the vocabulary's size (`in V`) and `= next(ids)`.
        tokens: Option<TokenFacts>,
    },
    /// `vocab V = "abc"`: a character vocabulary; `V` is a dim of its size.
    Vocab {
        name: Ident,
        chars: Vec<char>,
        text_span: Span,
    },
    Const {
        name: Ident,
        value: Expr,
    },
    Output {
        name: Ident,
    },
    /// `loss L = EXPR`, or `loss L` naming a tensor defined earlier.
    Loss {
        name: Ident,
        value: Option<Expr>,
    },
    Assign {
        name: Ident,
        value: Expr,
    },
    Fn(FnDef),
    Claim {
        lhs: Expr,
        rhs: Expr,
        /// `claim LHS != RHS`: the file says the sides differ.
        differ: bool,
    },
    Derive(Derivation),
    /// `return` outside a `fn` body: parsed so that the error can say exactly that.
    StrayReturn {
        value: Expr,
    },
}

/// What a `tokens` declaration says besides its shape.
#[derive(Debug, Clone)]
pub struct TokenFacts {
    /// `in V`: ids are whole numbers in `0..V`.
    pub range: DimExpr,
    /// `= next(ids)`: the next token, at each position, of the text `ids` reads.
    pub next_of: Option<Ident>,
}

/// `derive FIRST = STEP = STEP ...`, one step per line.
#[derive(Debug, Clone)]
pub struct Derivation {
    pub first: Expr,
    pub first_note: Option<String>,
    pub steps: Vec<Step>,
}

/// One `= EXPR  # justification` line of a derivation.
#[derive(Debug, Clone)]
pub struct Step {
    pub expr: Expr,
    pub span: Span,
    pub note: Option<String>,
    /// `!= EXPR`: the file says this line differs from the one before.
    pub differ: bool,
}

#[derive(Debug, Clone)]
pub struct FnDef {
    pub name: Ident,
    pub params: Vec<FnParam>,
    pub ret: ShapeExpr,
    pub body: Vec<FnStmt>,
    pub ret_value: Expr,
    /// The span of `return EXPR`.
    pub ret_span: Span,
}

#[derive(Debug, Clone)]
pub struct FnParam {
    pub name: Ident,
    pub shape: ShapeExpr,
}

/// `NAME = EXPR` inside a fn body.
#[derive(Debug, Clone)]
pub struct FnStmt {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `[d1, d2, ...]` in a declaration or signature.
#[derive(Debug, Clone)]
pub struct ShapeExpr {
    pub dims: Vec<DimExpr>,
    pub span: Span,
}

/// A size expression: whole numbers and dim names under `+ - * /` and parentheses.
#[derive(Debug, Clone)]
pub struct DimExpr {
    pub kind: DimExprKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum DimExprKind {
    Int(num_bigint::BigInt),
    Name(String),
    /// `t0 (op t1)*`, op one of `+ - * /`, evaluated left to right within one precedence level.
    Chain {
        first: Box<DimExpr>,
        rest: Vec<(DimOp, DimExpr)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::MatMul => "@",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    /// An exact number literal, with its text.
    /// A number and its text; `None` when the text is out of range (`1e200000`), which
    /// lowering reports at the number.
    Number(Option<BigRational>, String),
    /// A name; dotted (`m.var`, `attention.P`) for a local of an inlined fn call.
    Name(String),
    Call {
        name: Ident,
        args: Vec<Arg>,
    },
    /// A flat chain of one precedence level: `first op e1 op e2 ...`, left-associative.
    Chain {
        first: Box<Expr>,
        rest: Vec<(BinOp, Span, Expr)>,
    },
    /// `count` prefix minus signs.
    Neg {
        count: usize,
        operand: Box<Expr>,
    },
    Pow {
        base: Box<Expr>,
        exponent: Box<Expr>,
    },
    /// `count` postfix `.T`.
    Transpose {
        count: usize,
        operand: Box<Expr>,
    },
    /// A parenthesised expression (kept so spans and re-printing match the source).
    Paren(Box<Expr>),
}

/// An argument of a call.
#[derive(Debug, Clone)]
pub enum Arg {
    Positional(Expr),
    Keyword { name: Ident, value: KwValue },
    List(Vec<Expr>, Span),
    Str(String, Span),
}

#[derive(Debug, Clone)]
pub enum KwValue {
    Expr(Expr),
    Bool(bool, Span),
    List(Vec<Expr>, Span),
}

impl Arg {
    pub fn span(&self) -> Span {
        match self {
            Arg::Positional(e) => e.span,
            Arg::Keyword { name, value } => name.span.join(value.span()),
            Arg::List(_, s) | Arg::Str(_, s) => *s,
        }
    }
}

impl KwValue {
    pub fn span(&self) -> Span {
        match self {
            KwValue::Expr(e) => e.span,
            KwValue::Bool(_, s) | KwValue::List(_, s) => *s,
        }
    }
}

impl Expr {
    /// The expression without any enclosing parentheses.
    pub fn unparen(&self) -> &Expr {
        let mut e = self;
        while let ExprKind::Paren(inner) = &e.kind {
            e = inner;
        }
        e
    }
}
