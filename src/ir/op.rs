//! The op table: every operation of the language and of gradient graphs, declared once.
//!
//! Owns [`Op`] (a node's operation), the elementwise functions ([`Func`]) and reductions
//! ([`ReduceKind`]), and for each its [`OpSpec`]: its name (the built-in's name in the
//! language, the head the printers write, the symbol the e-graph uses), how it is written in
//! text and in TeX, what it costs, and the rule its gradient follows in words. The built-ins
//! a person can call ([`builtins`]) and their signatures live here too, so `lower` reads a
//! call's arguments from the table, `help builtins` lists it, and the printers print a call
//! back in the same form (the inverse of [`Builtin::build`] is [`Op::call_parts`]).
//!
//! What stays hand-written per op, outside this file, is only what cannot be a table row:
//! its vector–Jacobian product (`diff::rules`) and its evaluation (`exact::eval`), each an
//! exhaustive `match` without a `_` arm, so the compiler names every place a new op needs.
//! Shape inference for every op is [`infer`], used by lowering, the gradient builder and the
//! e-graph analysis alike.
//!
//! Invariant: every `match` on [`Op`], [`Func`] and [`ReduceKind`] in this file is
//! exhaustive; a row's `name` is unique among ops a person can write.

use super::dims::DimPoly;
use super::dims::Dims;
use super::einsum::EinsumSpec;
use super::shape::{self, Shape, ShapeError};
use super::TensorId;
use num_rational::BigRational;

/// Declares an enum of payload-free ops together with its table: each variant and its row
/// in one place; `ALL` lists the variants and `spec()` returns the row.
macro_rules! table {
    (
        $(#[$meta:meta])*
        pub enum $Enum:ident : $Row:ident {
            $( $(#[$vmeta:meta])* $Variant:ident => $row:expr, )*
        }
    ) => {
        $(#[$meta])*
        pub enum $Enum { $( $(#[$vmeta])* $Variant, )* }

        impl $Enum {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$Enum] = &[$($Enum::$Variant),*];

            /// This variant's row of the table.
            pub fn spec(self) -> &'static $Row {
                match self {
                    $( $Enum::$Variant => { const ROW: $Row = $row; &ROW } )*
                }
            }

            pub fn name(self) -> &'static str {
                self.spec().op.name
            }
        }
    };
}

/// How an op is written in the language (and by the text printer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// Printed from its payload: a name, a number, `pi`, a size.
    Value,
    /// `-a`.
    Prefix,
    /// `a OP b`; the precedence level is [`Text::ADD`] or [`Text::MUL`].
    Infix(u8),
    /// `a ** p`.
    Power,
    /// `a.T` when it swaps the last two axes, else a call.
    Transpose,
    /// `NAME(arguments, keywords)`.
    Call,
}

impl Text {
    /// Precedence of `+ -`.
    pub const ADD: u8 = 1;
    /// Precedence of `* / @`.
    pub const MUL: u8 = 2;
}

/// How an op is written in TeX math.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tex {
    /// Printed from its payload.
    Value,
    /// `-a`.
    Prefix,
    /// `a + b`, `a - b`.
    Infix(&'static str),
    /// `a \odot b`, or `a\,b` when a side is a scalar.
    Product,
    /// `\frac{a}{b}`.
    Fraction,
    /// `A\,B`.
    Juxtapose,
    /// `a^{p}`.
    Power,
    /// `a^{\top}` when it swaps the last two axes, else a call with this head.
    Transpose(&'static str),
    /// `HEAD_{subscript}(arguments)`.
    Call(&'static str),
    /// `HEAD(x; parameters)`.
    Norm(&'static str),
    /// `\sqrt{x}`.
    Sqrt,
    /// `S + M` (the causal mask as the matrix M).
    Mask,
    /// `[a = b]` (Iverson bracket).
    Iverson,
    /// A broadcast, implicit in the notation: prints as its argument.
    Implicit,
    /// `I`.
    Identity,
}

/// What an op costs, in the FLOP model (see `simplify::cost`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// No arithmetic: names, numbers, moves of data.
    Free,
    /// `2 × output entries × inner size`.
    MatMul,
    /// One per entry read.
    Read,
    /// One per entry written.
    Write,
    /// `operands × product of every index's size`.
    Einsum,
}

/// Who writes an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A person, in a `.ht` file (and the gradient engine).
    Surface,
    /// Only the gradient engine (`tril`, `expand`, `eq`, `step`): printed, never parsed.
    Gradient,
    /// Internal to lowering (`fn` parameters while a body is checked).
    Internal,
}

/// One row of the op table.
#[derive(Debug, Clone, Copy)]
pub struct OpSpec {
    /// The built-in's name, the printers' head, the e-graph's symbol.
    pub name: &'static str,
    pub text: Text,
    pub tex: Tex,
    pub cost: Cost,
    pub role: Role,
    /// The op only moves entries (a transpose, permute, reshape, broadcast): its gradient
    /// moves back the same way.
    pub moves: bool,
    /// The rule its gradient follows, for a worked solution (TeX math in `$ $`).
    pub rule: &'static str,
}

const fn row(name: &'static str, text: Text, tex: Tex, cost: Cost, rule: &'static str) -> OpSpec {
    OpSpec {
        name,
        text,
        tex,
        cost,
        role: Role::Surface,
        moves: false,
        rule,
    }
}

const fn value(name: &'static str) -> OpSpec {
    row(name, Text::Value, Tex::Value, Cost::Free, "")
}

const fn gradient_only(spec: OpSpec) -> OpSpec {
    OpSpec {
        role: Role::Gradient,
        ..spec
    }
}

const fn moving(spec: OpSpec) -> OpSpec {
    OpSpec {
        moves: true,
        cost: Cost::Free,
        rule: "a move of entries: the gradient moves back the same way",
        ..spec
    }
}

/// A row of the elementwise functions' table.
#[derive(Debug, Clone, Copy)]
pub struct FuncSpec {
    pub op: OpSpec,
    /// Positive wherever it is defined (the e-graph's analysis uses it).
    pub positive: bool,
    /// What it computes, for `help builtins`.
    pub summary: &'static str,
}

const fn func(name: &'static str, tex: Tex, rule: &'static str, summary: &'static str) -> FuncSpec {
    FuncSpec {
        op: row(name, Text::Call, tex, Cost::Write, rule),
        positive: false,
        summary,
    }
}

const fn positive(spec: FuncSpec) -> FuncSpec {
    FuncSpec {
        positive: true,
        ..spec
    }
}

table! {
    /// Elementwise functions of one argument.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Func: FuncSpec {
        Exp => positive(func("exp", Tex::Call("\\exp"), "the chain rule through $\\exp$", "e to the x")),
        Log => func("log", Tex::Call("\\log"), "the chain rule through $\\log$", "natural logarithm (x > 0)"),
        Sqrt => func("sqrt", Tex::Sqrt, "the chain rule through $\\sqrt{\\cdot}$", "square root (x >= 0)"),
        Tanh => func("tanh", Tex::Call("\\tanh"), "the chain rule through $\\tanh$", "hyperbolic tangent"),
        Erf => func("erf", Tex::Call("\\operatorname{erf}"), "the chain rule through $\\operatorname{erf}$", "the error function"),
        Sigmoid => positive(func("sigmoid", Tex::Call("\\operatorname{sigmoid}"), "the chain rule through $\\operatorname{sigmoid}$", "1 / (1 + exp(-x))")),
        Relu => func("relu", Tex::Call("\\operatorname{relu}"), "the chain rule through $\\operatorname{relu}$", "max(x, 0); its gradient is undefined at 0"),
        Gelu => func("gelu", Tex::Call("\\operatorname{gelu}"), "the chain rule through $\\operatorname{gelu}$", "x * Phi(x), the exact GELU"),
        GeluTanh => func("gelu_tanh", Tex::Call("\\operatorname{gelu\\_tanh}"), "the chain rule through $\\operatorname{gelu\\_tanh}$", "x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))), GPT-2's GELU"),
        Silu => func("silu", Tex::Call("\\operatorname{silu}"), "the chain rule through $\\operatorname{silu}$", "x * sigmoid(x) (swish)"),
        Phi => func("Phi", Tex::Call("\\Phi"), "the chain rule through $\\Phi$", "the standard normal CDF, (1 + erf(x / sqrt(2))) / 2"),
        /// The Heaviside step (1 for x > 0, 0 for x < 0): relu's derivative, so a printed
        /// relu gradient reads back in the language.
        Step => func("step", Tex::Call("\\operatorname{step}"), "the chain rule through $\\operatorname{step}$", "1 for x > 0, 0 for x < 0, undefined at 0 (relu's derivative)"),
    }
}

/// A row of the reductions' table.
#[derive(Debug, Clone, Copy)]
pub struct ReduceSpec {
    pub op: OpSpec,
    /// Linear in its argument (a sum or a mean): the e-graph's linearity rules hold.
    pub linear: bool,
    pub summary: &'static str,
}

const fn reduce(
    name: &'static str,
    tex: &'static str,
    linear: bool,
    rule: &'static str,
    summary: &'static str,
) -> ReduceSpec {
    ReduceSpec {
        op: row(name, Text::Call, Tex::Call(tex), Cost::Read, rule),
        linear,
        summary,
    }
}

table! {
    /// Reductions over some axes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum ReduceKind: ReduceSpec {
        Sum => reduce("sum", "\\operatorname{sum}", true, "the broadcast rule: a sum sends its gradient back to every entry it summed", "sum over the axes"),
        Mean => reduce("mean", "\\operatorname{mean}", true, "the broadcast rule: a mean sends $1/n$ of its gradient back to each of the $n$ entries it averaged", "mean over the axes"),
        Max => reduce("max", "\\operatorname{max}", false, "the max/min rule: the gradient goes to the entries that attain it", "largest entry over the axes; the gradient is split evenly between ties"),
        Min => reduce("min", "\\operatorname{min}", false, "the max/min rule: the gradient goes to the entries that attain it", "smallest entry over the axes; the gradient is split evenly between ties"),
        LogSumExp => reduce("logsumexp", "\\operatorname{logsumexp}", false, "the log-sum-exp rule: each entry gets the upstream gradient times its softmax weight $\\exp(x - \\operatorname{logsumexp}(x))$", "log(sum(exp(x))) over the axes, without overflow"),
    }
}

/// The operation of a node. Argument order is given per variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// A declared `input`, `param` or `data` leaf (no arguments).
    Leaf(TensorId),
    /// An exact number (scalar).
    Literal(BigRational),
    /// π (scalar).
    Pi,
    /// A size used as a scalar, e.g. `sqrt(d)`.
    DimSize(DimPoly),
    /// `-a`.
    Neg,
    /// Elementwise with broadcasting: `a + b`, `a - b`, `a * b`, `a / b`.
    Add,
    Sub,
    Mul,
    Div,
    /// `a @ b`, batched like `torch.matmul`.
    MatMul,
    /// `a ** p` with a rational constant exponent.
    Pow(BigRational),
    /// An elementwise function of `a`.
    Func(Func),
    /// Reduction of `a` over `axes` (sorted, distinct; every axis when `sum(x)` has no axis).
    Reduce {
        kind: ReduceKind,
        axes: Vec<usize>,
        keepdims: bool,
    },
    Softmax {
        axis: usize,
    },
    LogSoftmax {
        axis: usize,
    },
    /// `causal(S)`: −∞ strictly above the diagonal of the last two axes.
    Causal,
    /// Swap two axes of `a` (`.T` swaps the last two).
    SwapAxes(usize, usize),
    /// Reshape `a` to this shape (same number of entries for every size).
    Reshape(Shape),
    /// Reorder axes: output axis `i` is input axis `perm[i]`.
    Permute(Vec<usize>),
    Einsum(EinsumSpec),
    /// Trace over the last two axes.
    Trace,
    /// The identity matrix of this size (no arguments).
    Eye(DimPoly),
    /// `layernorm(x, g, b, eps)` over the last axis.
    LayerNorm,
    /// `rmsnorm(x, g, eps)` over the last axis.
    RmsNorm,
    /// `onehot(ids, n)`: token ids (whole numbers in `0..n`) as rows of `n` entries, 1 at the
    /// id and 0 elsewhere: shape `[.., n]`.
    OneHot(DimPoly),
    /// `arange(n)`: the positions 0, 1, …, n−1 as a vector (constant: no gradient).
    Arange(DimPoly),
    /// `embedding(E, ids)`: the rows of `E` (`[V, d]`) at the token ids (`[T]`): `[T, d]`.
    Embedding,
    /// `rope(x)`: the rotary position embedding of `x` (`[.., T, d]`, d even): the feature
    /// pair (2i, 2i+1) at position p (its index along the second-to-last axis, from 0) is
    /// rotated by the angle p·10000^(−2i/d).
    Rope,
    /// `unrope(x)`: each pair rotated back by its angle, the inverse and the transpose of
    /// `rope` (rope's gradient).
    Unrope,
    /// `repeat(x, n, axis=k)`: each entry along axis k repeated n times in place (torch's
    /// `repeat_interleave`): grouped-query attention's K/V heads shared by n query heads.
    Repeat {
        axis: usize,
        times: DimPoly,
    },
    /// `slice(x, start, end, axis=k)`: the entries `start..end` along axis k (GPT-2's fused
    /// query/key/value matrix split into its three parts).
    Slice {
        axis: usize,
        start: DimPoly,
        end: DimPoly,
    },
    /// `pad(x, before, after, axis=k)`: `x` with `before` zeros ahead of it and `after` zeros
    /// behind it along axis k (a slice's gradient).
    Pad {
        axis: usize,
        before: DimPoly,
        after: DimPoly,
    },
    /// `concat(a, b, ..., axis=k)`: the arguments side by side along axis k.
    Concat {
        axis: usize,
    },
    /// `grad(NAME)`: the true gradient of a named tensor (claims and derivations only); in a
    /// gradient graph, `grad(O)` of the output is the free upstream gradient.
    GradOf(TensorId),
    /// Broadcast `a` to this shape (numpy rules). Gradient graphs only.
    Expand(Shape),
    /// `a` with the entries strictly above the diagonal of the last two axes set to 0 (the
    /// gradient through `causal`). Gradient graphs only.
    Tril,
    /// Elementwise `a == b` as 1 or 0, with broadcasting (where max/min's gradient goes).
    /// Gradient graphs only.
    Eq,
    /// A fn parameter while a fn body is checked generically, or (`usize::MAX`) the result
    /// of a call of a fn already checked (never in a program's graph).
    FnParam(usize),
}

impl Op {
    /// This op's row of the table.
    pub fn spec(&self) -> OpSpec {
        const SUM_RULE: &str = "the sum rule";
        match self {
            Op::Leaf(_) => value("leaf"),
            Op::Literal(_) => value("number"),
            Op::Pi => value("pi"),
            Op::DimSize(_) => value("size"),
            Op::GradOf(_) => value("grad"),
            Op::FnParam(_) => OpSpec {
                role: Role::Internal,
                ..value("parameter")
            },
            Op::Neg => row("neg", Text::Prefix, Tex::Prefix, Cost::Write, "a change of sign"),
            Op::Add => row("+", Text::Infix(Text::ADD), Tex::Infix("+"), Cost::Write, SUM_RULE),
            Op::Sub => row("-", Text::Infix(Text::ADD), Tex::Infix("-"), Cost::Write, SUM_RULE),
            Op::Mul => row(
                "*",
                Text::Infix(Text::MUL),
                Tex::Product,
                Cost::Write,
                "the product rule, entry by entry",
            ),
            Op::Div => row(
                "/",
                Text::Infix(Text::MUL),
                Tex::Fraction,
                Cost::Write,
                "the quotient rule",
            ),
            Op::MatMul => row(
                "@",
                Text::Infix(Text::MUL),
                Tex::Juxtapose,
                Cost::MatMul,
                "the matrix product rule",
            ),
            Op::Pow(_) => row("**", Text::Power, Tex::Power, Cost::Write, "the power rule"),
            Op::Func(f) => f.spec().op,
            Op::Reduce { kind, .. } => kind.spec().op,
            Op::Softmax { .. } => row(
                "softmax",
                Text::Call,
                Tex::Call("\\operatorname{softmax}"),
                Cost::Write,
                "the softmax Jacobian",
            ),
            Op::LogSoftmax { .. } => row(
                "logsoftmax",
                Text::Call,
                Tex::Call("\\operatorname{logsoftmax}"),
                Cost::Write,
                "the log-softmax Jacobian: $\\bar{z} = \\bar{y} - \\operatorname{softmax}(z) \\odot \\operatorname{rowsum}(\\bar{y})$",
            ),
            Op::Causal => row("causal", Text::Call, Tex::Mask, Cost::Write, "the mask"),
            Op::Tril => gradient_only(row(
                "tril",
                Text::Call,
                Tex::Call("\\operatorname{tril}"),
                Cost::Write,
                "the mask",
            )),
            Op::SwapAxes(..) => moving(row(
                "transpose",
                Text::Transpose,
                Tex::Transpose("\\operatorname{swap}"),
                Cost::Free,
                "",
            )),
            Op::Permute(_) => moving(row(
                "permute",
                Text::Call,
                Tex::Transpose("\\operatorname{permute}"),
                Cost::Free,
                "",
            )),
            Op::Reshape(_) => moving(row(
                "reshape",
                Text::Call,
                Tex::Call("\\operatorname{reshape}"),
                Cost::Free,
                "",
            )),
            Op::Expand(_) => gradient_only(moving(row(
                "expand",
                Text::Call,
                Tex::Implicit,
                Cost::Free,
                "",
            ))),
            Op::Einsum(_) => row(
                "einsum",
                Text::Call,
                Tex::Call("\\operatorname{einsum}"),
                Cost::Einsum,
                "the einsum rule: contract the upstream gradient with the other operands",
            ),
            Op::Trace => row(
                "trace",
                Text::Call,
                Tex::Call("\\operatorname{tr}"),
                Cost::Read,
                "the trace rule: $\\partial \\operatorname{tr}(A) / \\partial A = I$",
            ),
            Op::Eye(_) => row("eye", Text::Call, Tex::Identity, Cost::Free, ""),
            Op::LayerNorm => row(
                "layernorm",
                Text::Call,
                Tex::Norm("\\operatorname{LN}"),
                Cost::Write,
                "the chain rule through layer norm (its closed form)",
            ),
            Op::RmsNorm => row(
                "rmsnorm",
                Text::Call,
                Tex::Norm("\\operatorname{RMSNorm}"),
                Cost::Write,
                "the chain rule through RMSNorm (its closed form)",
            ),
            Op::Eq => row("eq", Text::Call, Tex::Iverson, Cost::Write, "the chain rule"),
            Op::OneHot(_) => row(
                "onehot",
                Text::Call,
                Tex::Call("\\operatorname{onehot}"),
                Cost::Write,
                "",
            ),
            Op::Arange(_) => row("arange", Text::Call, Tex::Call("\\operatorname{arange}"), Cost::Free, ""),
            Op::Embedding => row(
                "embedding",
                Text::Call,
                Tex::Call("\\operatorname{embed}"),
                Cost::Free,
                "the lookup rule: each row of $\\bar{E}$ is the sum of the gradients of the positions that read it, $\\bar{E} = \\operatorname{onehot}(\\mathit{ids})^{\\top} \\bar{X}$",
            ),
            Op::Rope => row(
                "rope",
                Text::Call,
                Tex::Call("\\operatorname{RoPE}"),
                Cost::Write,
                "the rotation rule: a rotation's transpose is its inverse, so the gradient is rotated back, $\\operatorname{RoPE}^{-1}$",
            ),
            Op::Unrope => row(
                "unrope",
                Text::Call,
                Tex::Call("\\operatorname{RoPE}^{-1}"),
                Cost::Write,
                "the rotation rule: the gradient is rotated forward again",
            ),
            Op::Repeat { .. } => row(
                "repeat",
                Text::Call,
                Tex::Call("\\operatorname{repeat}"),
                Cost::Free,
                "the repeat rule: the gradients of the copies of an entry are summed back into it",
            ),
            Op::Slice { .. } => row(
                "slice",
                Text::Call,
                Tex::Call("\\operatorname{slice}"),
                Cost::Free,
                "the slice rule: the gradient goes back to the entries read, with zeros around it",
            ),
            Op::Pad { .. } => row(
                "pad",
                Text::Call,
                Tex::Call("\\operatorname{pad}"),
                Cost::Write,
                "the pad rule: the gradient of the padded entries is sliced back out",
            ),
            Op::Concat { .. } => row(
                "concat",
                Text::Call,
                Tex::Call("\\operatorname{concat}"),
                Cost::Write,
                "the concat rule: each argument gets its own slice of the gradient",
            ),
        }
    }

    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// Does this op swap the last two axes of an argument of rank `rank` (a `.T`)?
    pub fn is_transpose(&self, rank: usize) -> bool {
        match self {
            Op::SwapAxes(i, j) => rank >= 2 && ((*i).min(*j), (*i).max(*j)) == (rank - 2, rank - 1),
            Op::Permute(p) => {
                let r = p.len();
                r >= 2
                    && p[r - 2] == r - 1
                    && p[r - 1] == r - 2
                    && p[..r - 2].iter().enumerate().all(|(i, &x)| i == x)
            }
            _ => false,
        }
    }

    /// The parts of a call to this op besides its tensor arguments, as the language writes
    /// them (the inverse of [`Builtin::build`]); `ranks` are the arguments' ranks and
    /// `size` prints a symbolic size.
    pub fn call_parts(&self, ranks: &[usize], size: &dyn Fn(&DimPoly) -> String) -> CallParts {
        let rank = ranks.first().copied().unwrap_or(0);
        let axis = |a: usize| -> String {
            if a + 1 == rank {
                "-1".into()
            } else {
                a.to_string()
            }
        };
        let list = |items: Vec<String>| format!("[{}]", items.join(", "));
        let mut parts = CallParts::default();
        match self {
            Op::Reduce {
                kind,
                axes,
                keepdims,
            } => {
                if *kind == ReduceKind::Sum && *keepdims && axes.len() == 1 && axes[0] + 1 == rank {
                    parts.name = Some("rowsum");
                } else if axes.len() != rank || *keepdims {
                    let ax = match axes.as_slice() {
                        [a] => axis(*a),
                        _ => list(axes.iter().map(|&a| axis(a)).collect()),
                    };
                    parts.keywords.push(("axis", ax));
                    if *keepdims {
                        parts.keywords.push(("keepdims", "true".into()));
                    }
                }
            }
            Op::Softmax { axis: a } | Op::LogSoftmax { axis: a } => {
                parts.keywords.push(("axis", axis(*a)));
            }
            Op::SwapAxes(i, j) => parts.after = vec![i.to_string(), j.to_string()],
            Op::Permute(p) => parts.after = vec![list(p.iter().map(|x| x.to_string()).collect())],
            Op::Reshape(s) | Op::Expand(s) => {
                parts.after = vec![list(s.iter().map(size).collect())]
            }
            Op::Einsum(spec) => {
                let ins: Vec<String> = spec.inputs.iter().map(|l| l.iter().collect()).collect();
                let out: String = spec.output.iter().collect();
                parts.before = vec![format!("\"{}->{}\"", ins.join(","), out)];
            }
            Op::Eye(n) | Op::OneHot(n) | Op::Arange(n) => parts.after = vec![size(n)],
            Op::Repeat { axis: a, times } => {
                parts.after = vec![size(times)];
                parts.keywords.push(("axis", axis(*a)));
            }
            Op::Slice {
                axis: a,
                start: x,
                end: y,
            }
            | Op::Pad {
                axis: a,
                before: x,
                after: y,
            } => {
                parts.after = vec![size(x), size(y)];
                parts.keywords.push(("axis", axis(*a)));
            }
            Op::Concat { axis: a } => parts.keywords.push(("axis", axis(*a))),
            Op::Leaf(_)
            | Op::Literal(_)
            | Op::Pi
            | Op::DimSize(_)
            | Op::Neg
            | Op::Add
            | Op::Sub
            | Op::Mul
            | Op::Div
            | Op::MatMul
            | Op::Pow(_)
            | Op::Func(_)
            | Op::Causal
            | Op::Trace
            | Op::LayerNorm
            | Op::RmsNorm
            | Op::Embedding
            | Op::Rope
            | Op::Unrope
            | Op::GradOf(_)
            | Op::Tril
            | Op::Eq
            | Op::FnParam(_) => {}
        }
        parts
    }

    /// The TeX subscript of a call to this op (the axes of a reduction that is not over
    /// everything, a reshape's shape, einsum's subscripts), if it has one; `size` and
    /// `shape` print sizes and shapes as math.
    pub fn tex_subscript(
        &self,
        ranks: &[usize],
        shape: &dyn Fn(&[DimPoly]) -> String,
    ) -> Option<String> {
        let rank = ranks.first().copied().unwrap_or(0);
        let axis = |a: usize| -> String {
            if a + 1 == rank {
                "-1".into()
            } else {
                a.to_string()
            }
        };
        match self {
            Op::Reduce { axes, keepdims, .. } => (axes.len() != rank || *keepdims)
                .then(|| axes.iter().map(|&a| axis(a)).collect::<Vec<_>>().join(",")),
            Op::Softmax { axis: a } | Op::LogSoftmax { axis: a } => {
                (a + 1 != rank).then(|| a.to_string())
            }
            Op::SwapAxes(i, j) => Some(format!("{i},{j}")),
            Op::Permute(p) => Some(format!(
                "({})",
                p.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            Op::Reshape(s) => Some(shape(s)),
            Op::Einsum(spec) => {
                let ins: Vec<String> = spec.inputs.iter().map(|l| l.iter().collect()).collect();
                let out: String = spec.output.iter().collect();
                Some(format!("\\mathtt{{{}\\to {}}}", ins.join(","), out))
            }
            Op::Repeat { axis: a, times } => Some(format!(
                "\\times {};\\, {}",
                shape(std::slice::from_ref(times)),
                axis(*a)
            )),
            Op::Slice {
                axis: a,
                start,
                end,
            } => Some(format!(
                "{}{{:}}{};\\, {}",
                shape(std::slice::from_ref(start)),
                shape(std::slice::from_ref(end)),
                axis(*a)
            )),
            Op::Pad {
                axis: a,
                before,
                after,
            } => Some(format!(
                "{}, {};\\, {}",
                shape(std::slice::from_ref(before)),
                shape(std::slice::from_ref(after)),
                axis(*a)
            )),
            Op::Concat { axis: a } => Some(axis(*a)),
            Op::Leaf(_)
            | Op::Literal(_)
            | Op::Pi
            | Op::DimSize(_)
            | Op::Neg
            | Op::Add
            | Op::Sub
            | Op::Mul
            | Op::Div
            | Op::MatMul
            | Op::Pow(_)
            | Op::Func(_)
            | Op::Causal
            | Op::Trace
            | Op::Eye(_)
            | Op::LayerNorm
            | Op::RmsNorm
            | Op::OneHot(_)
            | Op::Arange(_)
            | Op::Embedding
            | Op::Rope
            | Op::Unrope
            | Op::GradOf(_)
            | Op::Expand(_)
            | Op::Tril
            | Op::Eq
            | Op::FnParam(_) => None,
        }
    }
}

/// A call written out: another name (`rowsum` for a sum over the last axis that keeps it),
/// arguments before and after the tensors, keywords.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallParts {
    pub name: Option<&'static str>,
    pub before: Vec<String>,
    pub after: Vec<String>,
    pub keywords: Vec<(&'static str, String)>,
}

/// A positional parameter of a built-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// A tensor expression.
    Tensor(&'static str),
    /// A constant scalar expression (no input, param or data in it): a normalisation's eps.
    Constant(&'static str),
    /// One or more tensor expressions (the operands of einsum).
    Tensors(&'static str),
    /// An axis, a whole number (negative counts from the end).
    Axis(&'static str),
    /// A list of axes `[1, 0, 2]`.
    AxisList(&'static str),
    /// A list of sizes `[T, h, dk]`.
    SizeList(&'static str),
    /// A size `d`.
    Size(&'static str),
    /// A size that may be 0: where a slice starts, how much a pad adds.
    Offset(&'static str),
    /// einsum's subscripts string.
    Subscripts,
    /// The name of a tensor (`grad`).
    Name,
}

impl Param {
    pub fn label(self) -> &'static str {
        match self {
            Param::Tensor(n)
            | Param::Constant(n)
            | Param::Tensors(n)
            | Param::Axis(n)
            | Param::AxisList(n)
            | Param::SizeList(n)
            | Param::Size(n)
            | Param::Offset(n) => n,
            Param::Subscripts => "\"subscripts\"",
            Param::Name => "NAME",
        }
    }
}

/// A keyword argument of a built-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// `axis=k`: one axis.
    Axis,
    /// `axis=k` or `axis=[i, j]`: one or more axes (default: every axis).
    Axes,
    /// `keepdims=true|false` (default false).
    KeepDims,
}

impl Keyword {
    pub fn name(self) -> &'static str {
        match self {
            Keyword::Axis | Keyword::Axes => "axis",
            Keyword::KeepDims => "keepdims",
        }
    }
}

/// The arguments of a call, read and checked by lowering.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Shapes of the tensor arguments, in order.
    pub shapes: Vec<Shape>,
    /// The positional axes (`transpose(x, 0, 2)`) or the axis list (`permute`), normalised.
    pub axes: Vec<usize>,
    /// `axis=`, normalised against the first tensor's rank and sorted.
    pub axis: Option<Vec<usize>>,
    pub keepdims: bool,
    /// The sizes of `reshape`'s list or `eye`'s size.
    pub sizes: Vec<DimPoly>,
    pub subscripts: Option<EinsumSpec>,
}

impl Args {
    fn rank(&self) -> usize {
        self.shapes.first().map_or(0, |s| s.len())
    }

    /// The `axis=` keyword's single axis, or the last axis.
    pub fn axis_or_last(&self) -> Result<usize, ShapeError> {
        match &self.axis {
            Some(a) => Ok(a[0]),
            None if self.rank() == 0 => Err(ShapeError::NoAxes { arg: 0 }),
            None => Ok(self.rank() - 1),
        }
    }
}

/// How a call becomes an op.
#[derive(Debug, Clone, Copy)]
pub enum Build {
    Func(Func),
    Reduce(ReduceKind),
    Op(fn(&Args) -> Result<Op, ShapeError>),
    /// `grad(NAME)`: resolved by lowering (it names a tensor).
    Grad,
}

/// A built-in function of the language.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    pub name: &'static str,
    pub params: &'static [Param],
    /// How many of `params` must be given (the rest are optional; [`Param::Tensors`] takes
    /// one or more).
    pub required: usize,
    pub keywords: &'static [Keyword],
    pub build: Build,
    pub summary: &'static str,
}

impl Builtin {
    /// `x, g, b, eps` — the parameters as a signature lists them.
    pub fn params_text(&self) -> String {
        let mut out: Vec<String> = self.params.iter().map(|p| p.label().to_string()).collect();
        if matches!(self.params.last(), Some(Param::Tensors(_))) {
            if let Some(last) = out.last_mut() {
                last.push_str("...");
            }
        }
        out.join(", ")
    }

    /// `softmax(x, axis=k)` — the call as the reference writes it.
    pub fn signature(&self) -> String {
        let mut parts = vec![self.params_text()];
        for k in self.keywords {
            parts.push(match k {
                Keyword::Axis => "axis=k".into(),
                Keyword::Axes => "axis=k|[i, j]".into(),
                Keyword::KeepDims => "keepdims=false".into(),
            });
        }
        parts.retain(|p| !p.is_empty());
        format!("{}({})", self.name, parts.join(", "))
    }
}

const X: &[Param] = &[Param::Tensor("x")];

/// The built-ins that are not elementwise functions or reductions, in the reference's order.
const OTHER_BUILTINS: &[Builtin] = &[
    Builtin {
        name: "rowsum",
        params: X,
        required: 1,
        keywords: &[],
        build: Build::Op(|a| {
            let r = a.rank();
            if r == 0 {
                return Err(ShapeError::NoAxes { arg: 0 });
            }
            Ok(Op::Reduce {
                kind: ReduceKind::Sum,
                axes: vec![r - 1],
                keepdims: true,
            })
        }),
        summary: "sum over the last axis, kept as size 1: sum(x, axis=-1, keepdims=true)",
    },
    Builtin {
        name: "softmax",
        params: X,
        required: 1,
        keywords: &[Keyword::Axis],
        build: Build::Op(|a| Ok(Op::Softmax { axis: a.axis_or_last()? })),
        summary: "exp(x) / sum(exp(x)) along the axis (default: the last); a masked -inf gets exactly 0",
    },
    Builtin {
        name: "logsoftmax",
        params: X,
        required: 1,
        keywords: &[Keyword::Axis],
        build: Build::Op(|a| Ok(Op::LogSoftmax { axis: a.axis_or_last()? })),
        summary: "x - logsumexp(x) along the axis (default: the last)",
    },
    Builtin {
        name: "eq",
        params: &[Param::Tensor("a"), Param::Tensor("b")],
        required: 2,
        keywords: &[],
        build: Build::Op(|_| Ok(Op::Eq)),
        summary: "1 where a equals b, 0 elsewhere (broadcasting); the mask of max's gradient",
    },
    Builtin {
        name: "causal",
        params: &[Param::Tensor("S")],
        required: 1,
        keywords: &[],
        build: Build::Op(|_| Ok(Op::Causal)),
        summary: "S with -inf strictly above the diagonal of the last two axes (the causal mask)",
    },
    Builtin {
        name: "transpose",
        params: &[Param::Tensor("x"), Param::Axis("axis1"), Param::Axis("axis2")],
        required: 1,
        keywords: &[],
        build: Build::Op(|a| {
            let r = a.rank();
            match a.axes.as_slice() {
                [i, j] => Ok(Op::SwapAxes(*i, *j)),
                _ if r < 2 => Err(ShapeError::TooFewAxes { arg: 0, need: 2 }),
                _ => Ok(Op::SwapAxes(r - 2, r - 1)),
            }
        }),
        summary: "swap two axes (default: the last two, like x.T)",
    },
    Builtin {
        name: "reshape",
        params: &[Param::Tensor("x"), Param::SizeList("[dims]")],
        required: 2,
        keywords: &[],
        build: Build::Op(|a| Ok(Op::Reshape(a.sizes.clone()))),
        summary: "the same entries in row-major order, in a shape with as many entries for every size of the dims",
    },
    Builtin {
        name: "permute",
        params: &[Param::Tensor("x"), Param::AxisList("[axes]")],
        required: 2,
        keywords: &[],
        build: Build::Op(|a| Ok(Op::Permute(a.axes.clone()))),
        summary: "reorder the axes: output axis i is input axis axes[i]",
    },
    Builtin {
        name: "einsum",
        params: &[Param::Subscripts, Param::Tensors("operands")],
        required: 2,
        keywords: &[],
        build: Build::Op(|a| match &a.subscripts {
            Some(s) => Ok(Op::Einsum(s.clone())),
            None => Err(ShapeError::Einsum("no subscripts".into())),
        }),
        summary: "Einstein summation, e.g. einsum(\"ij,jk->ik\", A, B); a repeated letter in one operand takes a diagonal",
    },
    Builtin {
        name: "trace",
        params: &[Param::Tensor("A")],
        required: 1,
        keywords: &[],
        build: Build::Op(|_| Ok(Op::Trace)),
        summary: "the sum of the diagonal of the last two (square) axes",
    },
    Builtin {
        name: "eye",
        params: &[Param::Size("n")],
        required: 1,
        keywords: &[],
        build: Build::Op(|a| Ok(Op::Eye(a.sizes[0].clone()))),
        summary: "the n x n identity matrix",
    },
    Builtin {
        name: "layernorm",
        params: &[
            Param::Tensor("x"),
            Param::Tensor("g"),
            Param::Tensor("b"),
            Param::Constant("eps"),
        ],
        required: 4,
        keywords: &[],
        build: Build::Op(|_| Ok(Op::LayerNorm)),
        summary: "g * (x - mean) / sqrt(var + eps) + b over the last axis (var is the biased variance)",
    },
    Builtin {
        name: "rmsnorm",
        params: &[Param::Tensor("x"), Param::Tensor("g"), Param::Constant("eps")],
        required: 3,
        keywords: &[],
        build: Build::Op(|_| Ok(Op::RmsNorm)),
        summary: "g * x / sqrt(mean(x**2) + eps) over the last axis",
    },
    Builtin {
        name: "onehot",
        params: &[Param::Tensor("ids"), Param::Size("n")],
        required: 2,
        keywords: &[],
        build: Build::Op(|a| Ok(Op::OneHot(a.sizes[0].clone()))),
        summary: "token ids (whole numbers in 0..n) as one-hot rows of n entries: shape [.., n]",
    },
    Builtin {
        name: "arange",
        params: &[Param::Size("n")],
        required: 1,
        keywords: &[],
        build: Build::Op(|a| Ok(Op::Arange(a.sizes[0].clone()))),
        summary: "the positions 0, 1, ..., n-1 as a vector (ids for a position embedding: embedding(wpe, arange(T)))",
    },
    Builtin {
        name: "embedding",
        params: &[Param::Tensor("E"), Param::Tensor("ids")],
        required: 2,
        keywords: &[],
        build: Build::Op(|_| Ok(Op::Embedding)),
        summary: "the rows of E ([V, d]) at the token ids ([T]): [T, d]; the gradient sums back into the rows read, repeated ids added",
    },
    Builtin {
        name: "rope",
        params: X,
        required: 1,
        keywords: &[],
        build: Build::Op(|_| Ok(Op::Rope)),
        summary: "rotary position embedding of x ([.., T, d], d even): features (2i, 2i+1) at position p rotated by p * 10000^(-2i/d)",
    },
    Builtin {
        name: "unrope",
        params: X,
        required: 1,
        keywords: &[],
        build: Build::Op(|_| Ok(Op::Unrope)),
        summary: "each pair rotated back by its angle: the inverse and transpose of rope (its gradient)",
    },
    Builtin {
        name: "repeat",
        params: &[Param::Tensor("x"), Param::Size("n")],
        required: 2,
        keywords: &[Keyword::Axis],
        build: Build::Op(|a| {
            Ok(Op::Repeat {
                axis: a.axis_or_last()?,
                times: a.sizes[0].clone(),
            })
        }),
        summary: "each entry along the axis repeated n times in place (repeat_interleave): K/V heads shared by n query heads; the gradient sums the copies",
    },
    Builtin {
        name: "slice",
        params: &[Param::Tensor("x"), Param::Offset("start"), Param::Offset("end")],
        required: 3,
        keywords: &[Keyword::Axis],
        build: Build::Op(|a| {
            Ok(Op::Slice {
                axis: a.axis_or_last()?,
                start: a.sizes[0].clone(),
                end: a.sizes[1].clone(),
            })
        }),
        summary: "the entries start..end (end excluded) along the axis (default: the last): slice(qkv, d, 2*d) is the middle third of a fused [T, 3*d]",
    },
    Builtin {
        name: "pad",
        params: &[Param::Tensor("x"), Param::Offset("before"), Param::Offset("after")],
        required: 3,
        keywords: &[Keyword::Axis],
        build: Build::Op(|a| {
            Ok(Op::Pad {
                axis: a.axis_or_last()?,
                before: a.sizes[0].clone(),
                after: a.sizes[1].clone(),
            })
        }),
        summary: "x with `before` zeros ahead and `after` zeros behind along the axis (default: the last): a slice's gradient",
    },
    Builtin {
        name: "concat",
        params: &[Param::Tensors("x")],
        required: 1,
        keywords: &[Keyword::Axis],
        build: Build::Op(|a| Ok(Op::Concat { axis: a.axis_or_last()? })),
        summary: "the arguments side by side along the axis (default: the last); their other axes must agree",
    },
    Builtin {
        name: "grad",
        params: &[Param::Name],
        required: 1,
        keywords: &[],
        build: Build::Grad,
        summary: "the gradient of the loss (or the output's vector-Jacobian product) with respect to a named tensor; claims and derivations only",
    },
];

/// Every built-in function of the language: the elementwise functions, the reductions, then
/// the rest.
pub fn builtins() -> impl Iterator<Item = Builtin> {
    let funcs = Func::ALL
        .iter()
        .filter(|f| f.spec().op.role == Role::Surface)
        .map(|&f| Builtin {
            name: f.name(),
            params: X,
            required: 1,
            keywords: &[],
            build: Build::Func(f),
            summary: f.spec().summary,
        });
    let reductions = ReduceKind::ALL.iter().map(|&k| Builtin {
        name: k.name(),
        params: X,
        required: 1,
        keywords: &[Keyword::Axes, Keyword::KeepDims],
        build: Build::Reduce(k),
        summary: k.spec().summary,
    });
    funcs
        .chain(reductions)
        .chain(OTHER_BUILTINS.iter().copied())
}

/// The built-in called `name`.
pub fn builtin(name: &str) -> Option<Builtin> {
    builtins().find(|b| b.name == name)
}

/// Names a person cannot define: the built-ins and `pi`.
pub fn is_reserved(name: &str) -> bool {
    name == "pi" || builtin(name).is_some()
}

/// The shape of `op` applied to arguments of shapes `args`: the shape rule of every op, in one
/// place (lowering, the gradient builder and the e-graph analysis all use it).
pub fn infer(dims: &Dims, op: &Op, args: &[&Shape]) -> Result<Shape, ShapeError> {
    let want = |n: usize| -> Result<(), ShapeError> {
        if args.len() != n {
            return Err(ShapeError::Arity {
                expected: n,
                found: args.len(),
            });
        }
        Ok(())
    };
    let first = || -> Result<&Shape, ShapeError> {
        want(1)?;
        Ok(args[0])
    };
    Ok(match op {
        Op::Leaf(_) | Op::GradOf(_) | Op::FnParam(_) => return Err(ShapeError::Declared),
        Op::Literal(_) | Op::Pi | Op::DimSize(_) => {
            want(0)?;
            vec![]
        }
        Op::Neg | Op::Pow(_) | Op::Func(_) => first()?.clone(),
        Op::Tril | Op::Causal => {
            let s = first()?;
            shape::square_last_two(dims, s, 0)?;
            s.clone()
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Eq => {
            want(2)?;
            shape::broadcast(dims, args[0], args[1])?
        }
        Op::MatMul => {
            want(2)?;
            shape::matmul(dims, args[0], args[1])?
        }
        Op::Reduce { axes, keepdims, .. } => {
            let s = first()?;
            for &a in axes {
                shape::in_range(a, s.len())?;
            }
            shape::reduced(s, axes, *keepdims)
        }
        Op::Softmax { axis } | Op::LogSoftmax { axis } => {
            let s = first()?;
            shape::in_range(*axis, s.len())?;
            s.clone()
        }
        Op::SwapAxes(i, j) => {
            let mut s = first()?.clone();
            shape::in_range((*i).max(*j), s.len())?;
            s.swap(*i, *j);
            s
        }
        Op::Permute(perm) => {
            let s = first()?;
            let mut seen = vec![false; s.len()];
            let valid = perm.len() == s.len()
                && perm
                    .iter()
                    .all(|&p| p < s.len() && !std::mem::replace(&mut seen[p], true));
            if !valid {
                return Err(ShapeError::Permutation {
                    rank: s.len(),
                    perm: perm.clone(),
                });
            }
            perm.iter().map(|&i| s[i].clone()).collect()
        }
        Op::Reshape(to) => {
            let s = first()?;
            if !dims.same(&shape::entries(s), &shape::entries(to)) {
                return Err(ShapeError::ReshapeCount {
                    from: s.clone(),
                    to: to.clone(),
                });
            }
            to.clone()
        }
        Op::Expand(to) => {
            let s = first()?;
            match shape::broadcast(dims, s, to) {
                Ok(b) if shape::same_shape(dims, &b, to) => to.clone(),
                _ => {
                    return Err(ShapeError::Expand {
                        from: s.clone(),
                        to: to.clone(),
                    })
                }
            }
        }
        Op::Einsum(spec) => spec.shape(dims, args).map_err(ShapeError::Einsum)?,
        Op::Trace => {
            let s = first()?;
            shape::square_last_two(dims, s, 0)?;
            s[..s.len() - 2].to_vec()
        }
        Op::Eye(n) => {
            want(0)?;
            vec![n.clone(), n.clone()]
        }
        Op::Arange(n) => {
            want(0)?;
            vec![n.clone()]
        }
        Op::OneHot(n) => {
            let mut s = first()?.clone();
            s.push(n.clone());
            s
        }
        Op::Embedding => {
            want(2)?;
            let (table, ids) = (args[0], args[1]);
            if table.len() != 2 || ids.len() != 1 {
                return Err(ShapeError::Embedding {
                    table: table.clone(),
                    ids: ids.clone(),
                });
            }
            vec![ids[0].clone(), table[1].clone()]
        }
        Op::Rope | Op::Unrope => {
            let s = first()?;
            if s.len() < 2 {
                return Err(ShapeError::TooFewAxes { arg: 0, need: 2 });
            }
            let last = &s[s.len() - 1];
            if dims
                .sizes(std::slice::from_ref(last))
                .is_some_and(|n| n[0] % 2 == 1)
            {
                return Err(ShapeError::RopePairs { last: last.clone() });
            }
            s.clone()
        }
        Op::Repeat { axis, times } => {
            let mut s = first()?.clone();
            shape::in_range(*axis, s.len())?;
            s[*axis] = dims.named(&s[*axis].mul(times));
            s
        }
        Op::Slice { axis, start, end } => {
            let mut s = first()?.clone();
            shape::in_range(*axis, s.len())?;
            shape::within(dims, start, end, &s[*axis])?;
            s[*axis] = end.sub(start);
            s
        }
        Op::Pad {
            axis,
            before,
            after,
        } => {
            let mut s = first()?.clone();
            shape::in_range(*axis, s.len())?;
            s[*axis] = dims.named(&before.add(&s[*axis]).add(after));
            s
        }
        Op::Concat { axis } => {
            let mut s = shape::concat(dims, args, *axis)?;
            s[*axis] = dims.named(&s[*axis]);
            s
        }
        Op::LayerNorm | Op::RmsNorm => {
            let params: &[&str] = if *op == Op::LayerNorm {
                &["g", "b"]
            } else {
                &["g"]
            };
            want(params.len() + 2)?;
            let x = args[0];
            let Some(last) = x.last() else {
                return Err(ShapeError::NoAxes { arg: 0 });
            };
            for (k, name) in params.iter().enumerate() {
                let s = args[k + 1];
                let ok = s.len() <= 1
                    && s.first()
                        .is_none_or(|d| dims.same(d, last) || dims.is_one(d));
                if !ok {
                    return Err(ShapeError::NormParam {
                        arg: k + 1,
                        name,
                        last: last.clone(),
                        found: s.clone(),
                    });
                }
            }
            let eps = args.len() - 1;
            if !args[eps].is_empty() {
                return Err(ShapeError::NotScalar {
                    arg: eps,
                    found: args[eps].clone(),
                });
            }
            x.clone()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn builtin_names_are_unique_and_surface_ops() {
        let mut seen = HashSet::new();
        for b in builtins() {
            assert!(seen.insert(b.name), "{} twice", b.name);
        }
        assert!(builtin("logsumexp").is_some());
        // relu's and max's gradients read back in the language.
        assert!(builtin("step").is_some());
        assert!(builtin("eq").is_some());
        assert!(builtin("tril").is_none());
    }

    #[test]
    fn signatures_read_like_the_reference() {
        assert_eq!(
            builtin("softmax").unwrap().signature(),
            "softmax(x, axis=k)"
        );
        assert_eq!(
            builtin("sum").unwrap().signature(),
            "sum(x, axis=k|[i, j], keepdims=false)"
        );
        assert_eq!(
            builtin("einsum").unwrap().signature(),
            "einsum(\"subscripts\", operands...)"
        );
        assert_eq!(builtin("layernorm").unwrap().params_text(), "x, g, b, eps");
    }
}
