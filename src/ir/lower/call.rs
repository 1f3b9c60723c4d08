//! Calls of built-in functions: arguments read by the op table's signature.
//!
//! Owns turning `NAME(args)` into a node: the built-in's row ([`op::builtin`]) says which
//! positional parameters and keywords it takes; each argument is read by its kind (a tensor,
//! a constant scalar, an axis, a list of axes or sizes, a size, einsum's subscripts), the
//! row's `build` makes the op, and [`op::infer`] gives its shape. Every misuse is a
//! diagnostic naming the function and the argument; a shape error points at the argument it
//! is about.

use super::{axes_word, plural, Fail, Global, Lowerer, Scope, R};
use crate::diag::{suggest, Code, Diagnostic};
use crate::ir::dims::DimPoly;
use crate::ir::einsum::EinsumSpec;
use crate::ir::op::{self, Args, Build, Builtin, Keyword, Param};
use crate::ir::shape::{self, normalize_axis, show_shape, Shape, ShapeError};
use crate::ir::{NodeId, Op, TensorKind};
use crate::source::Span;
use crate::syntax::ast::{self, Arg, Expr, ExprKind, KwValue};
use num_traits::{One, ToPrimitive, Zero};

/// Names from other tools that the language spells differently, and how.
const FOREIGN: &[(&[&str], &str)] = &[
    (
        &["matmul", "mm", "bmm", "dot"],
        "matrix products are written with `@`: `a @ b`",
    ),
    (&["pow", "power"], "powers are written `x ** p`"),
    (&["square"], "write `x ** 2`"),
    (
        &["var", "std"],
        "write it with means: `mean((x - mean(x, axis=-1, keepdims=true)) ** 2, axis=-1, keepdims=true)`",
    ),
    (&["t", "T"], "a transpose is written `x.T` (it swaps the last two axes)"),
    (
        &["layer_norm", "LayerNorm"],
        "layer norm is `layernorm(x, g, b, eps)`",
    ),
    (&["rms_norm", "RMSNorm"], "RMS norm is `rmsnorm(x, g, eps)`"),
    (&["log_softmax"], "it is `logsoftmax(x, axis=-1)`"),
];

/// A call's arguments, split into positional ones (in order) and keywords.
struct CallArgs<'a> {
    positional: Vec<&'a Arg>,
    keywords: Vec<(&'a ast::Ident, &'a KwValue)>,
}

impl CallArgs<'_> {
    fn keyword(&self, name: &str) -> Option<&KwValue> {
        self.keywords
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, v)| *v)
    }
}

impl Lowerer<'_> {
    /// A call of a built-in (or an unknown function).
    pub(super) fn builtin(
        &mut self,
        name: &ast::Ident,
        args: &[Arg],
        span: Span,
        scope: &mut Scope,
    ) -> R<NodeId> {
        let Some(b) = op::builtin(&name.name) else {
            return Err(self.unknown_function(name).into());
        };
        let call = self.split(&b, args, span)?;
        if let Build::Grad = b.build {
            return self.grad_call(&call, span, scope);
        }
        let mut read = Args::default();
        let mut tensors: Vec<(NodeId, Span)> = Vec::new();
        let mut subscripts_span = span;
        let mut list_span = None;
        for (k, arg) in call.positional.iter().enumerate() {
            let param = b.params[k.min(b.params.len() - 1)];
            match param {
                Param::Tensor(_) | Param::Tensors(_) => {
                    let n = self.tensor_arg(arg, b.name, scope)?;
                    tensors.push((n, arg.span()));
                }
                Param::Constant(p) => {
                    let n = self.tensor_arg(arg, b.name, scope)?;
                    self.constant_arg(n, b.name, p, arg.span())?;
                    tensors.push((n, arg.span()));
                }
                Param::Axis(_) => {
                    let rank = self.first_rank(&tensors);
                    let axis = self.axis_arg(arg, rank, b.name, scope)?;
                    read.axes.push(axis);
                }
                Param::AxisList(_) => {
                    let rank = self.first_rank(&tensors);
                    let (items, s) = self.list_arg(arg, b.name, "a list of axes like [1, 0, 2]")?;
                    list_span = Some(s);
                    read.axes = self.axis_list(items, rank, b.name, scope)?;
                }
                Param::SizeList(_) => {
                    let (items, s) =
                        self.list_arg(arg, b.name, "a list of sizes like [T, h, dk]")?;
                    list_span = Some(s);
                    for e in items {
                        read.sizes.push(self.expr_dim(e, scope)?);
                    }
                }
                Param::Size(_) | Param::Offset(_) => {
                    let e = match arg {
                        Arg::Positional(e) => e,
                        other => {
                            return Err(Diagnostic::new(
                                Code::BadArgument,
                                other.span(),
                                format!("`{}` takes a size, e.g. {}(d)", b.name, b.name),
                            )
                            .with_label("expected a size")
                            .into())
                        }
                    };
                    let zero = matches!(param, Param::Offset(_)) && is_zero(e);
                    read.sizes.push(if zero {
                        DimPoly::constant(0)
                    } else {
                        self.expr_dim(e, scope)?
                    });
                }
                Param::Subscripts => {
                    let (spec, s) = self.subscripts_arg(arg)?;
                    subscripts_span = s;
                    read.subscripts = Some(spec);
                }
                Param::Name => unreachable!("only grad takes a name, handled above"),
            }
        }
        read.shapes = tensors
            .iter()
            .map(|&(n, _)| self.graph.shape(n).clone())
            .collect();
        let rank = read.shapes.first().map_or(0, |s| s.len());
        for k in b.keywords {
            let Some(v) = call.keyword(k.name()) else {
                continue;
            };
            match k {
                Keyword::Axis => read.axis = Some(vec![self.single_axis(v, rank, b.name, scope)?]),
                Keyword::Axes => read.axis = Some(self.axes(v, rank, b.name, scope)?),
                Keyword::KeepDims => read.keepdims = self.boolean(v, "keepdims")?,
            }
        }
        let op = match b.build {
            Build::Func(f) => Ok(Op::Func(f)),
            Build::Reduce(kind) => Ok(Op::Reduce {
                kind,
                axes: read.axis.clone().unwrap_or_else(|| (0..rank).collect()),
                keepdims: read.keepdims,
            }),
            Build::Op(build) => build(&read),
            Build::Grad => unreachable!("handled above"),
        };
        let spans = ArgSpans {
            call: span,
            tensors: tensors.iter().map(|&(_, s)| s).collect(),
            list: list_span,
            subscripts: subscripts_span,
        };
        let op = op.map_err(|e| self.shape_error(&b, e, &spans, &read.shapes))?;
        self.positions_fit(&op, &tensors)?;
        let nodes = tensors.iter().map(|&(n, _)| n).collect();
        self.graph
            .apply(&self.dims, op, nodes, span)
            .map_err(|e| self.shape_error(&b, e, &spans, &read.shapes))
    }

    /// Positions (`arange(n)`) used as ids must be rows of the table they read: `n` at most
    /// its rows at the sizes in use (a context longer than the position embedding is an
    /// error here, not a bad token id at evaluation).
    fn positions_fit(&self, op: &Op, tensors: &[(NodeId, Span)]) -> R<()> {
        let (rows, (ids, at)) = match (op, tensors) {
            (Op::Embedding, [(table, _), ids]) => (self.graph.shape(*table)[0].clone(), *ids),
            (Op::OneHot(n), [ids]) => (n.clone(), *ids),
            _ => return Ok(()),
        };
        let Op::Arange(count) = &self.graph.node(ids).op else {
            return Ok(());
        };
        match (self.dims.eval(count), self.dims.eval(&rows)) {
            (Some(c), Some(r)) if c > r => Err(Diagnostic::new(
                Code::ShapeMismatch,
                at,
                format!(
                    "`arange({})` gives {c} positions, more than the {} = {r} rows it indexes at the sizes in use",
                    self.dims.show(count),
                    self.dims.show(&rows)
                ),
            )
            .with_label(format!("{} = {c} positions", self.dims.show(count)))
            .into()),
            _ => Ok(()),
        }
    }

    fn first_rank(&self, tensors: &[(NodeId, Span)]) -> usize {
        tensors
            .first()
            .map_or(0, |&(n, _)| self.graph.shape(n).len())
    }

    /// A shape rule's complaint as a diagnostic at the argument it is about.
    fn shape_error(&self, b: &Builtin, e: ShapeError, spans: &ArgSpans, shapes: &[Shape]) -> Fail {
        let message = e.message(&self.dims, b.name);
        let at = |arg: usize| spans.tensors.get(arg).copied().unwrap_or(spans.call);
        let shown = |arg: usize| {
            shapes
                .get(arg)
                .map(|s| show_shape(&self.dims, s))
                .unwrap_or_default()
        };
        let d = match &e {
            ShapeError::NoAxes { arg } => {
                Diagnostic::new(Code::BadAxis, at(*arg), message).with_label("a scalar")
            }
            ShapeError::TooFewAxes { arg, .. } => {
                let r = shapes.get(*arg).map_or(0, |s| s.len());
                Diagnostic::new(
                    Code::BadAxis,
                    at(*arg),
                    format!("{message}, found shape {}", shown(*arg)),
                )
                .with_label(format!("{r} ax{}", axes_word(r)))
            }
            ShapeError::NotSquare { arg, .. } | ShapeError::NormParam { arg, .. } => {
                Diagnostic::new(Code::ShapeMismatch, at(*arg), message)
                    .with_label(format!("shape {}", shown(*arg)))
            }
            ShapeError::Embedding { .. } => Diagnostic::new(Code::ShapeMismatch, spans.call, message)
                .with_label(format!("E {}, ids {}", shown(0), shown(1))),
            ShapeError::RopePairs { .. } => Diagnostic::new(Code::ShapeMismatch, at(0), message)
                .with_label(format!("shape {}", shown(0))),
            ShapeError::Slice { .. } => Diagnostic::new(Code::ShapeMismatch, spans.call, message)
                .with_label("outside the axis")
                .with_secondary(at(0), format!("shape {}", shown(0))),
            ShapeError::Concat { arg, .. } => Diagnostic::new(Code::ShapeMismatch, at(*arg), message)
                .with_label(format!("shape {}", shown(*arg)))
                .with_secondary(at(0), format!("shape {}", shown(0))),
            ShapeError::NotScalar { arg, .. } => {
                Diagnostic::new(Code::NotScalar, at(*arg), message).with_label("not a scalar")
            }
            ShapeError::ReshapeCount { from, to } => {
                let mut d = Diagnostic::new(
                    Code::ReshapeSize,
                    spans.list.unwrap_or(spans.call),
                    message,
                )
                .with_label("different number of entries")
                .with_secondary(at(0), format!("shape {}", shown(0)));
                let (x, y) = (
                    self.dims.eval(&shape::entries(from)),
                    self.dims.eval(&shape::entries(to)),
                );
                if let (Some(x), Some(y)) = (x, y) {
                    d = if x == y {
                        d.with_note(format!("the counts agree at the declared sizes ({x}), but not for every size of the dims; define one dim from the others, e.g. `dim d = h*dk`"))
                    } else {
                        d.with_note(format!("at the sizes in use: {x} entries vs {y}"))
                    };
                }
                d
            }
            ShapeError::Permutation { rank, perm } => Diagnostic::new(
                Code::BadAxis,
                spans.list.unwrap_or(spans.call),
                format!(
                    "`{}` needs one axis per axis of the tensor: {} has {rank} ax{}, the list has {}",
                    b.name,
                    shown(0),
                    axes_word(*rank),
                    perm.len()
                ),
            )
            .with_label("wrong length"),
            ShapeError::Einsum(why) => {
                let listed: Vec<String> = shapes.iter().map(|s| show_shape(&self.dims, s)).collect();
                Diagnostic::new(
                    Code::BadEinsum,
                    spans.subscripts,
                    format!(
                        "einsum {} does not fit its operands: {why}",
                        self.sources.slice(spans.subscripts)
                    ),
                )
                .with_label("subscripts")
                .with_note(format!("operand shapes: {}", listed.join(", ")))
            }
            ShapeError::AxisOutOfRange { .. } => {
                Diagnostic::new(Code::BadAxis, spans.call, format!("bad axis for `{}`: {message}", b.name))
                    .with_label("out of range")
            }
            ShapeError::Broadcast { .. }
            | ShapeError::MatMulScalar
            | ShapeError::MatMulInner { .. }
            | ShapeError::MatMulBatch(_)
            | ShapeError::Expand { .. }
            | ShapeError::Arity { .. }
            | ShapeError::Declared => Diagnostic::new(
                Code::ShapeMismatch,
                spans.call,
                format!("`{}` does not fit its arguments: {message}", b.name),
            )
            .with_label("here"),
        };
        d.into()
    }

    /// `grad(NAME)` in a claim or derivation.
    fn grad_call(&mut self, call: &CallArgs, span: Span, scope: &Scope) -> R<NodeId> {
        if !scope.allow_grad {
            return Err(Diagnostic::new(
                Code::Misplaced,
                span,
                "`grad(...)` can only be used in a `claim` or a `derive`",
            )
            .with_label("not allowed here")
            .with_help(
                "a statement computes the forward pass; gradients are derived by `handtrace grad`",
            )
            .into());
        }
        let target = match call.positional[0] {
            Arg::Positional(e) => match &e.unparen().kind {
                ExprKind::Name(n) => (n.as_str(), e.span),
                _ => return Err(grad_of_expression(e.span)),
            },
            other => return Err(grad_of_expression(other.span())),
        };
        let Some(t) = self.tensor_named(target.0) else {
            let mut d = Diagnostic::new(
                Code::UnknownName,
                target.1,
                format!("grad() of unknown tensor `{}`", target.0),
            )
            .with_label("no tensor has this name");
            let names: Vec<&str> = self.tensors.iter().map(|t| t.name.as_str()).collect();
            if let Some(s) = suggest(target.0, names) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            return Err(d.into());
        };
        let tensor = &self.tensors[t.0 as usize];
        if !tensor.differentiable() {
            let what = if tensor.kind == TensorKind::Const {
                "a const"
            } else {
                "data"
            };
            return Err(Diagnostic::new(
                Code::NoGradient,
                target.1,
                format!("`{}` is {what}: it has no gradient", target.0),
            )
            .with_label("not differentiated")
            .with_secondary(tensor.span, "declared here")
            .with_help("only inputs, params and computed tensors have gradients")
            .into());
        }
        let shape = self.graph.shape(tensor.node).clone();
        Ok(self.node(Op::GradOf(t), vec![], shape, span))
    }

    fn tensor_named(&self, n: &str) -> Option<crate::ir::TensorId> {
        if let Some(&t) = self.locals.get(n) {
            return Some(t);
        }
        match self.globals.get(n) {
            Some((Global::Tensor(t), _)) => Some(*t),
            _ => None,
        }
    }

    fn unknown_function(&self, name: &ast::Ident) -> Diagnostic {
        let f = name.name.as_str();
        let mut d = Diagnostic::new(
            Code::UnknownFunction,
            name.span,
            format!("unknown function `{f}`"),
        )
        .with_label("not a built-in or a fn");
        if let Some((_, hint)) = FOREIGN.iter().find(|(names, _)| names.contains(&f)) {
            return d.with_help(*hint);
        }
        let builtins: Vec<&str> = op::builtins().map(|b| b.name).collect();
        let names: Vec<&str> = builtins
            .iter()
            .copied()
            .chain(self.fn_defs.keys().map(|s| s.as_str()))
            .collect();
        d = match suggest(f, names) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(
                "define it with `fn NAME(x: [dims]) -> [dims] { ... }`; `handtrace help builtins` lists the built-ins",
            ),
        };
        d
    }

    /// Split and count the arguments of built-in `b`.
    fn split<'a>(&self, b: &Builtin, args: &'a [Arg], span: Span) -> R<CallArgs<'a>> {
        let f = b.name;
        let keywords: Vec<&str> = b.keywords.iter().map(|k| k.name()).collect();
        let mut out = CallArgs {
            positional: Vec::new(),
            keywords: Vec::new(),
        };
        for a in args {
            match a {
                Arg::Keyword { name: k, value } => {
                    if !keywords.contains(&k.name.as_str()) {
                        return Err(unknown_keyword(f, k, &keywords).into());
                    }
                    if out.keyword(&k.name).is_some() {
                        return Err(Diagnostic::new(
                            Code::BadArgument,
                            k.span,
                            format!("`{}` is given twice", k.name),
                        )
                        .with_label("repeated keyword")
                        .into());
                    }
                    out.keywords.push((k, value));
                }
                other => {
                    if !out.keywords.is_empty() {
                        return Err(Diagnostic::new(
                            Code::BadArgument,
                            other.span(),
                            "a positional argument cannot follow a keyword argument",
                        )
                        .with_label("move it before the keywords")
                        .into());
                    }
                    out.positional.push(other);
                }
            }
        }
        let (min, max) = match b.params.last() {
            Some(Param::Tensors(_)) => (b.required, usize::MAX),
            _ => (b.required, b.params.len()),
        };
        let n = out.positional.len();
        let params = b.params_text();
        if n < min || n > max {
            let expected = if min == max {
                format!("{min} argument{}", plural(min))
            } else if max == usize::MAX {
                format!("at least {min} arguments")
            } else {
                format!("{min} to {max} arguments")
            };
            let at = if n > max {
                out.positional[max].span()
            } else {
                span
            };
            let mut d = Diagnostic::new(
                Code::Arity,
                at,
                format!("`{f}` takes {expected} ({params}), found {n}"),
            )
            .with_label(if n > max {
                "extra argument"
            } else {
                "too few arguments"
            });
            // `mean(x, -1)`: the axis is a keyword here, as in numpy.
            if n > max && keywords.contains(&"axis") && is_number(out.positional[max]) {
                let text = self.sources.slice(out.positional[max].span());
                d = d.with_help(format!(
                    "the axis is a keyword argument: `{f}(…, axis={text})`"
                ));
            }
            return Err(d.into());
        }
        // Optional axes come all together or not at all (`transpose(x)` or
        // `transpose(x, 0, 2)`).
        if n > min
            && n < b.params.len()
            && b.params[n..].iter().all(|p| matches!(p, Param::Axis(_)))
        {
            return Err(Diagnostic::new(
                Code::Arity,
                span,
                format!(
                    "`{f}` takes {} alone, or {params}",
                    b.params[..min]
                        .iter()
                        .map(|p| p.label())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_label(format!("found {n} argument{}", plural(n)))
            .into());
        }
        Ok(out)
    }

    fn tensor_arg(&mut self, a: &Arg, f: &str, scope: &mut Scope) -> R<NodeId> {
        match a {
            Arg::Positional(e) => self.expr(e, scope),
            other => {
                let what = match other {
                    Arg::List(..) => "a list",
                    Arg::Str(..) => "a string",
                    _ => "a keyword argument",
                };
                Err(Diagnostic::new(
                    Code::BadArgument,
                    other.span(),
                    format!("`{f}` expects a tensor here, found {what}"),
                )
                .with_label("expected a tensor")
                .into())
            }
        }
    }

    /// A constant scalar argument (eps): nothing in it may read an input, param or data.
    fn constant_arg(&self, n: NodeId, f: &str, param: &str, span: Span) -> R<()> {
        if self.graph.depends_on(n, |x| {
            matches!(x.op, Op::Leaf(_) | Op::FnParam(_) | Op::GradOf(_))
        }) {
            return Err(Diagnostic::new(
                Code::NotConstant,
                span,
                format!("`{f}`'s {param} must be a constant, e.g. 1/100000"),
            )
            .with_label("depends on a tensor")
            .into());
        }
        Ok(())
    }

    fn subscripts_arg(&self, a: &Arg) -> R<(EinsumSpec, Span)> {
        let (text, span) =
            match a {
                Arg::Str(s, sp) => (s.as_str(), *sp),
                other => return Err(Diagnostic::new(
                    Code::BadArgument,
                    other.span(),
                    "the first argument of `einsum` is the subscripts string, e.g. \"ij,jk->ik\"",
                )
                .with_label("expected a string")
                .into()),
            };
        let spec = EinsumSpec::parse(text).map_err(|why| {
            Diagnostic::new(
                Code::BadEinsum,
                span,
                format!("bad einsum subscripts: {why}"),
            )
            .with_label("here")
        })?;
        Ok((spec, span))
    }

    fn list_arg<'a>(&self, a: &'a Arg, f: &str, what: &str) -> R<(&'a [Expr], Span)> {
        match a {
            Arg::List(items, span) => Ok((items, *span)),
            other => Err(Diagnostic::new(
                Code::BadArgument,
                other.span(),
                format!("`{f}` expects {what} here"),
            )
            .with_label("expected a list in [ ]")
            .into()),
        }
    }

    fn boolean(&self, v: &KwValue, k: &str) -> R<bool> {
        match v {
            KwValue::Bool(b, _) => Ok(*b),
            other => Err(Diagnostic::new(
                Code::BadArgument,
                other.span(),
                format!("`{k}` must be true or false"),
            )
            .with_label("expected true or false")
            .into()),
        }
    }

    /// Axes in a list, each once, in the order written.
    fn axis_list(&mut self, items: &[Expr], rank: usize, f: &str, scope: &Scope) -> R<Vec<usize>> {
        let mut out = Vec::new();
        for e in items {
            let ax = self.axis_arg_expr(e, rank, f, scope)?;
            if out.contains(&ax) {
                return Err(Diagnostic::new(
                    Code::BadAxis,
                    e.span,
                    format!("axis {ax} appears twice in the list"),
                )
                .with_label("repeated axis")
                .into());
            }
            out.push(ax);
        }
        Ok(out)
    }

    /// `axis=k` or `axis=[i, j]`: sorted, distinct, normalised axes.
    fn axes(&mut self, v: &KwValue, rank: usize, f: &str, scope: &Scope) -> R<Vec<usize>> {
        let mut axes = match v {
            KwValue::Expr(e) => vec![self.axis_arg_expr(e, rank, f, scope)?],
            KwValue::List(items, span) => {
                if items.is_empty() {
                    return Err(
                        Diagnostic::new(Code::BadAxis, *span, "an empty list of axes")
                            .with_label("name at least one axis")
                            .into(),
                    );
                }
                self.axis_list(items, rank, f, scope)?
            }
            KwValue::Bool(_, span) => {
                return Err(Diagnostic::new(
                    Code::BadAxis,
                    *span,
                    "`axis` must be a whole number or a list of them",
                )
                .with_label("not an axis")
                .into())
            }
        };
        axes.sort_unstable();
        Ok(axes)
    }

    fn single_axis(&mut self, v: &KwValue, rank: usize, f: &str, scope: &Scope) -> R<usize> {
        match v {
            KwValue::Expr(e) => self.axis_arg_expr(e, rank, f, scope),
            other => Err(Diagnostic::new(
                Code::BadAxis,
                other.span(),
                format!("`{f}` takes one axis, a whole number like -1"),
            )
            .with_label("not a single axis")
            .into()),
        }
    }

    fn axis_arg(&mut self, a: &Arg, rank: usize, f: &str, scope: &Scope) -> R<usize> {
        match a {
            Arg::Positional(e) => self.axis_arg_expr(e, rank, f, scope),
            other => Err(Diagnostic::new(
                Code::BadAxis,
                other.span(),
                format!("`{f}` expects an axis here, a whole number"),
            )
            .with_label("not an axis")
            .into()),
        }
    }

    fn axis_arg_expr(&mut self, e: &Expr, rank: usize, f: &str, scope: &Scope) -> R<usize> {
        let v = self.const_rational(e, scope)?;
        let as_int = v.denom().is_one().then(|| v.numer().to_i64()).flatten();
        let Some(k) = as_int else {
            return Err(Diagnostic::new(
                Code::BadAxis,
                e.span,
                format!("an axis must be a whole number, found {v}"),
            )
            .with_label("not an axis")
            .into());
        };
        normalize_axis(k, rank).map_err(|why| {
            Diagnostic::new(
                Code::BadAxis,
                e.span,
                format!("bad axis for `{f}`: {}", why.message(&self.dims, f)),
            )
            .with_label("out of range")
            .into()
        })
    }

    /// A size written as an expression (in `reshape` lists and `eye`): dims, whole numbers,
    /// `+ - * /`, parentheses.
    fn expr_dim(&self, e: &Expr, scope: &Scope) -> R<DimPoly> {
        let bad = |why: &str| -> Fail {
            Diagnostic::new(
                Code::BadDim,
                e.span,
                format!("expected a size here (dims and whole numbers); {why}"),
            )
            .with_label("not a size")
            .into()
        };
        let p = match &e.kind {
            ExprKind::Number(r, text) => {
                let r = super::expr::number(r, text, e.span)?;
                if !r.denom().is_one() || r <= num_rational::BigRational::from_integer(0.into()) {
                    return Err(bad(&format!("{text} is not a positive whole number")));
                }
                DimPoly::constant(r.numer().clone())
            }
            ExprKind::Name(n) => {
                let d = ast::DimExpr {
                    kind: ast::DimExprKind::Name(n.to_string()),
                    span: e.span,
                };
                self.dim_expr(&d, scope)?
            }
            ExprKind::Paren(inner) => self.expr_dim(inner, scope)?,
            ExprKind::Chain { first, rest } => {
                let mut acc = self.expr_dim(first, scope)?;
                for (op, _, operand) in rest {
                    let v = self.expr_dim(operand, scope)?;
                    acc = match op {
                        ast::BinOp::Add => acc.add(&v),
                        ast::BinOp::Sub => acc.sub(&v),
                        ast::BinOp::Mul => acc.mul(&v),
                        ast::BinOp::Div => acc
                            .div(&v)
                            .ok_or_else(|| bad("it divides by a sum of dims"))?,
                        ast::BinOp::MatMul => return Err(bad("`@` is not size arithmetic")),
                    };
                }
                acc
            }
            ExprKind::Neg { .. } => {
                return Err(bad(
                    "sizes are positive (`-1` to infer a size is not supported; write the size)",
                ))
            }
            _ => return Err(bad("write dim names and whole numbers")),
        };
        if let Some(v) = self.dims.eval(&p) {
            if DimPoly::positive_integer(&v).is_none() {
                return Err(bad(&format!("it is {v} at the sizes in use")));
            }
        }
        Ok(p)
    }
}

/// Where a call's arguments are, for pointing at the one a shape error is about.
struct ArgSpans {
    call: Span,
    /// The tensor arguments, in order.
    tensors: Vec<Span>,
    /// A list argument (`reshape`'s sizes, `permute`'s axes).
    list: Option<Span>,
    subscripts: Span,
}

/// Is this expression the number 0 (a slice from the start, a pad of nothing)?
fn is_zero(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Number(Some(r), _) => r.is_zero(),
        ExprKind::Paren(inner) => is_zero(inner),
        _ => false,
    }
}

/// Is this argument a number like `-1` or `2` (an axis written positionally)?
fn is_number(a: &Arg) -> bool {
    let Arg::Positional(e) = a else {
        return false;
    };
    match &e.unparen().kind {
        ExprKind::Number(..) => true,
        ExprKind::Neg { operand, .. } => matches!(operand.unparen().kind, ExprKind::Number(..)),
        _ => false,
    }
}

fn unknown_keyword(f: &str, k: &ast::Ident, keywords: &[&str]) -> Diagnostic {
    let d = Diagnostic::new(
        Code::BadArgument,
        k.span,
        format!("`{f}` has no argument `{}`", k.name),
    )
    .with_label("unknown keyword");
    match (
        suggest(&k.name, keywords.iter().copied()),
        keywords.is_empty(),
    ) {
        _ if k.name == "dim" && keywords.contains(&"axis") => {
            d.with_help("the axis is named `axis` here, as in numpy: `axis=-1`")
        }
        _ if k.name == "keepdim" && keywords.contains(&"keepdims") => {
            d.with_help("it is `keepdims` here, as in numpy: `keepdims=true`")
        }
        (Some(s), _) => d.with_help(format!("did you mean `{s}`?")),
        (None, true) => d.with_help(format!("`{f}` takes no keyword arguments")),
        (None, false) => d.with_help(format!("its keywords are: {}", keywords.join(", "))),
    }
}

fn grad_of_expression(span: Span) -> Fail {
    Diagnostic::new(Code::BadArgument, span, "grad() takes the name of a tensor")
        .with_label("not a name")
        .with_help("name the expression first: `S = ...`, then write grad(S)")
        .into()
}
