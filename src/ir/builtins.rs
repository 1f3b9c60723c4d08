//! The built-in functions of the language: argument checking and shape rules.
//!
//! Owns the table of built-in names ([`BUILTINS`]) and, for each, how its arguments are read
//! (positional tensors, `axis=` / `keepdims=` keywords, dim lists, einsum strings) and the
//! shape of its result. Every misuse is a diagnostic naming the function and the argument.

use super::einsum::EinsumSpec;
use super::lower::{axes_word, plural, Fail, Lowerer, Scope, R};
use super::shape::{normalize_axis, show_shape, Shape};
use super::*;
use crate::diag::{suggest, Code, Diagnostic};
use crate::source::Span;
use crate::syntax::ast::{self, Arg, Expr, ExprKind, KwValue};
use num_traits::{One, ToPrimitive};

/// Every built-in function name.
pub const BUILTINS: &[&str] = &[
    "exp",
    "log",
    "sqrt",
    "tanh",
    "erf",
    "sigmoid",
    "relu",
    "gelu",
    "gelu_tanh",
    "silu",
    "Phi",
    "sum",
    "mean",
    "max",
    "min",
    "rowsum",
    "softmax",
    "logsoftmax",
    "causal",
    "transpose",
    "reshape",
    "permute",
    "einsum",
    "trace",
    "eye",
    "layernorm",
    "rmsnorm",
    "grad",
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
    pub(super) fn builtin(
        &mut self,
        name: &ast::Ident,
        args: &[Arg],
        span: Span,
        scope: &mut Scope,
    ) -> R<NodeId> {
        let f = name.name.as_str();
        if let Some(func) = Func::ALL.iter().copied().find(|x| x.name() == f) {
            let a = self.split(name, args, &[], 1, 1, span, "x")?;
            let x = self.tensor_arg(a.positional[0], f, scope)?;
            let shape = self.graph.shape(x).clone();
            return Ok(self.node(Op::Func(func), vec![x], shape, span));
        }
        match f {
            "sum" | "mean" | "max" | "min" => {
                let kind = match f {
                    "sum" => ReduceKind::Sum,
                    "mean" => ReduceKind::Mean,
                    "max" => ReduceKind::Max,
                    _ => ReduceKind::Min,
                };
                let a = self.split(name, args, &["axis", "keepdims"], 1, 1, span, "x")?;
                let x = self.tensor_arg(a.positional[0], f, scope)?;
                let shape = self.graph.shape(x).clone();
                let axes = match a.keyword("axis") {
                    Some(v) => self.axes(v, &shape, f, scope)?,
                    None => (0..shape.len()).collect(),
                };
                let keepdims = match a.keyword("keepdims") {
                    Some(v) => self.boolean(v, "keepdims")?,
                    None => false,
                };
                Ok(self.reduce(kind, x, axes, keepdims, span))
            }
            "rowsum" => {
                let a = self.split(name, args, &[], 1, 1, span, "x")?;
                let x = self.tensor_arg(a.positional[0], f, scope)?;
                let r = self.graph.shape(x).len();
                if r == 0 {
                    return Err(self.no_axes(f, a.positional[0].span()));
                }
                Ok(self.reduce(ReduceKind::Sum, x, vec![r - 1], true, span))
            }
            "softmax" | "logsoftmax" => {
                let a = self.split(name, args, &["axis"], 1, 1, span, "x")?;
                let x = self.tensor_arg(a.positional[0], f, scope)?;
                let shape = self.graph.shape(x).clone();
                let axis = match a.keyword("axis") {
                    Some(v) => self.single_axis(v, &shape, f, scope)?,
                    None => {
                        if shape.is_empty() {
                            return Err(self.no_axes(f, a.positional[0].span()));
                        }
                        shape.len() - 1
                    }
                };
                let op = if f == "softmax" {
                    Op::Softmax { axis }
                } else {
                    Op::LogSoftmax { axis }
                };
                Ok(self.node(op, vec![x], shape, span))
            }
            "causal" => {
                let a = self.split(name, args, &[], 1, 1, span, "S")?;
                let x = self.tensor_arg(a.positional[0], f, scope)?;
                let shape = self.graph.shape(x).clone();
                self.square_last_two(&shape, f, a.positional[0].span())?;
                Ok(self.node(Op::Causal, vec![x], shape, span))
            }
            "trace" => {
                let a = self.split(name, args, &[], 1, 1, span, "A")?;
                let x = self.tensor_arg(a.positional[0], f, scope)?;
                let mut shape = self.graph.shape(x).clone();
                self.square_last_two(&shape, f, a.positional[0].span())?;
                shape.truncate(shape.len() - 2);
                Ok(self.node(Op::Trace, vec![x], shape, span))
            }
            "transpose" => {
                let a = self.split(name, args, &[], 1, 3, span, "x, axis1, axis2")?;
                if a.positional.len() == 2 {
                    return Err(Diagnostic::new(Code::Arity, span, "`transpose` takes the tensor and two axes, or the tensor alone (last two axes)")
                        .with_label("found one axis")
                        .into());
                }
                let x = self.tensor_arg(a.positional[0], f, scope)?;
                let mut shape = self.graph.shape(x).clone();
                let r = shape.len();
                let (i, j) = if a.positional.len() == 3 {
                    let i = self.axis_arg(a.positional[1], r, f, scope)?;
                    let j = self.axis_arg(a.positional[2], r, f, scope)?;
                    (i, j)
                } else {
                    if r < 2 {
                        return Err(Diagnostic::new(
                            Code::BadAxis,
                            a.positional[0].span(),
                            format!(
                                "`transpose` needs at least two axes, found shape {}",
                                show_shape(&self.dims, &shape)
                            ),
                        )
                        .with_label(format!("{r} ax{}", axes_word(r)))
                        .into());
                    }
                    (r - 2, r - 1)
                };
                shape.swap(i, j);
                Ok(self.node(Op::SwapAxes(i, j), vec![x], shape, span))
            }
            "permute" => {
                let a = self.split(name, args, &[], 2, 2, span, "x, [axes]")?;
                let x = self.tensor_arg(a.positional[0], f, scope)?;
                let shape = self.graph.shape(x).clone();
                let (items, list_span) =
                    self.list_arg(a.positional[1], f, "a list of axes like [1, 0, 2]")?;
                if items.len() != shape.len() {
                    return Err(Diagnostic::new(
                        Code::BadAxis,
                        list_span,
                        format!("`permute` needs one axis per axis of the tensor: {} has {} ax{}, the list has {}", show_shape(&self.dims, &shape), shape.len(), axes_word(shape.len()), items.len()),
                    )
                    .with_label("wrong length")
                    .into());
                }
                let mut perm = Vec::new();
                for e in items {
                    let ax = self.axis_arg_expr(e, shape.len(), f, scope)?;
                    if perm.contains(&ax) {
                        return Err(Diagnostic::new(
                            Code::BadAxis,
                            e.span,
                            format!("axis {ax} appears twice in the permutation"),
                        )
                        .with_label("repeated axis")
                        .into());
                    }
                    perm.push(ax);
                }
                let out: Shape = perm.iter().map(|&i| shape[i].clone()).collect();
                Ok(self.node(Op::Permute(perm), vec![x], out, span))
            }
            "reshape" => {
                let a = self.split(name, args, &[], 2, 2, span, "x, [dims]")?;
                let x = self.tensor_arg(a.positional[0], f, scope)?;
                let shape = self.graph.shape(x).clone();
                let (items, list_span) =
                    self.list_arg(a.positional[1], f, "a list of sizes like [T, h, dk]")?;
                let mut target = Vec::new();
                for e in items {
                    target.push(self.expr_dim(e, scope)?);
                }
                let count = |s: &Shape| s.iter().fold(DimPoly::constant(1), |acc, d| acc.mul(d));
                let (from, to) = (count(&shape), count(&target));
                if !self.dims.same(&from, &to) {
                    let mut d = Diagnostic::new(
                        Code::ReshapeSize,
                        list_span,
                        format!(
                            "`reshape` must keep the number of entries: {} has {} entries, {} has {}",
                            show_shape(&self.dims, &shape),
                            self.dims.show(&from),
                            show_shape(&self.dims, &target),
                            self.dims.show(&to)
                        ),
                    )
                    .with_label("different number of entries")
                    .with_secondary(a.positional[0].span(), format!("shape {}", show_shape(&self.dims, &shape)));
                    if let (Some(x), Some(y)) = (self.dims.eval(&from), self.dims.eval(&to)) {
                        if x == y {
                            d = d.with_note(format!("the counts agree at the declared sizes ({x}), but not for every size of the dims; define one dim from the others, e.g. `dim d = h*dk`"));
                        } else {
                            d = d.with_note(format!("at the sizes in use: {x} entries vs {y}"));
                        }
                    }
                    return Err(d.into());
                }
                Ok(self.node(Op::Reshape, vec![x], target, span))
            }
            "einsum" => {
                if args.is_empty() {
                    return Err(Diagnostic::new(
                        Code::Arity,
                        span,
                        "`einsum` takes subscripts and operands: einsum(\"ij,jk->ik\", A, B)",
                    )
                    .with_label("no arguments")
                    .into());
                }
                let a = self.split(
                    name,
                    args,
                    &[],
                    2,
                    usize::MAX,
                    span,
                    "\"subscripts\", operands...",
                )?;
                let (spec_text, spec_span) = match a.positional[0] {
                    Arg::Str(s, sp) => (s.as_str(), *sp),
                    other => {
                        return Err(Diagnostic::new(Code::BadArgument, other.span(), "the first argument of `einsum` is the subscripts string, e.g. \"ij,jk->ik\"")
                            .with_label("expected a string")
                            .into())
                    }
                };
                let spec = EinsumSpec::parse(spec_text).map_err(|why| {
                    Diagnostic::new(
                        Code::BadEinsum,
                        spec_span,
                        format!("bad einsum subscripts: {why}"),
                    )
                    .with_label("here")
                })?;
                let mut ops = Vec::new();
                for arg in &a.positional[1..] {
                    ops.push(self.tensor_arg(arg, f, scope)?);
                }
                let shapes: Vec<Shape> = ops.iter().map(|&n| self.graph.shape(n).clone()).collect();
                let refs: Vec<&Shape> = shapes.iter().collect();
                let out = spec.shape(&self.dims, &refs).map_err(|why| {
                    let shown: Vec<String> =
                        shapes.iter().map(|s| show_shape(&self.dims, s)).collect();
                    Diagnostic::new(
                        Code::BadEinsum,
                        spec_span,
                        format!("einsum \"{spec_text}\" does not fit its operands: {why}"),
                    )
                    .with_label("subscripts")
                    .with_note(format!("operand shapes: {}", shown.join(", ")))
                })?;
                Ok(self.node(Op::Einsum(spec), ops, out, span))
            }
            "eye" => {
                let a = self.split(name, args, &[], 1, 1, span, "n")?;
                let e = match a.positional[0] {
                    Arg::Positional(e) => e,
                    other => {
                        return Err(Diagnostic::new(
                            Code::BadArgument,
                            other.span(),
                            "`eye` takes a size, e.g. eye(d)",
                        )
                        .with_label("expected a size")
                        .into())
                    }
                };
                let n = self.expr_dim(e, scope)?;
                Ok(self.node(Op::Eye, vec![], vec![n.clone(), n], span))
            }
            "layernorm" | "rmsnorm" => {
                let (count, params) = if f == "layernorm" {
                    (4, "x, g, b, eps")
                } else {
                    (3, "x, g, eps")
                };
                let a = self.split(name, args, &[], count, count, span, params)?;
                let mut nodes = Vec::new();
                for arg in &a.positional {
                    nodes.push(self.tensor_arg(arg, f, scope)?);
                }
                let x_shape = self.graph.shape(nodes[0]).clone();
                if x_shape.is_empty() {
                    return Err(self.no_axes(f, a.positional[0].span()));
                }
                let last = x_shape.last().unwrap().clone();
                for (i, pname) in (1..count - 1).zip(["g", "b"]) {
                    let s = self.graph.shape(nodes[i]).clone();
                    let ok = s.len() <= 1
                        && s.first()
                            .is_none_or(|d| self.dims.same(d, &last) || self.dims.is_one(d));
                    if !ok {
                        return Err(Diagnostic::new(
                            Code::ShapeMismatch,
                            a.positional[i].span(),
                            format!("`{f}` scales the last axis of x ({}): `{pname}` must have shape [{}], found {}", self.dims.show(&last), self.dims.show(&last), show_shape(&self.dims, &s)),
                        )
                        .with_label(format!("shape {}", show_shape(&self.dims, &s)))
                        .into());
                    }
                }
                let eps = nodes[count - 1];
                if !self.graph.shape(eps).is_empty() {
                    return Err(Diagnostic::new(
                        Code::NotScalar,
                        a.positional[count - 1].span(),
                        format!("`{f}`'s eps must be a scalar"),
                    )
                    .with_label("not a scalar")
                    .into());
                }
                if self.graph.depends_on(eps, |n| {
                    matches!(n.op, Op::Leaf(_) | Op::FnParam(_) | Op::GradOf(_))
                }) {
                    return Err(Diagnostic::new(
                        Code::NotConstant,
                        a.positional[count - 1].span(),
                        format!("`{f}`'s eps must be a constant, e.g. 1/100000"),
                    )
                    .with_label("depends on a tensor")
                    .into());
                }
                let op = if f == "layernorm" {
                    Op::LayerNorm
                } else {
                    Op::RmsNorm
                };
                Ok(self.node(op, nodes, x_shape, span))
            }
            "grad" => {
                let a = self.split(name, args, &[], 1, 1, span, "NAME")?;
                if !scope.allow_grad {
                    return Err(Diagnostic::new(Code::Misplaced, span, "`grad(...)` can only be used in a `claim` or a `derive`")
                        .with_label("not allowed here")
                        .with_help("a statement computes the forward pass; gradients are derived by `handtrace grad`")
                        .into());
                }
                let target = match a.positional[0] {
                    Arg::Positional(e) => match &e.unparen().kind {
                        ExprKind::Name(n) => (n.as_str(), e.span),
                        _ => return Err(self.grad_of_expression(e)),
                    },
                    other => return Err(self.grad_of_expression_span(other.span())),
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
            _ => {
                let mut d = Diagnostic::new(
                    Code::UnknownFunction,
                    name.span,
                    format!("unknown function `{f}`"),
                )
                .with_label("not a built-in or a fn");
                let names: Vec<&str> = BUILTINS
                    .iter()
                    .copied()
                    .chain(self.fn_defs.keys().map(|s| s.as_str()))
                    .collect();
                if let Some(s) = suggest(f, names) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                } else {
                    d = d.with_help("define it with `fn NAME(x: [dims]) -> [dims] { ... }`");
                }
                Err(d.into())
            }
        }
    }

    fn tensor_named(&self, n: &str) -> Option<TensorId> {
        match self.globals.get(n) {
            Some((super::lower::Global::Tensor(t), _)) => Some(*t),
            _ => None,
        }
    }

    fn grad_of_expression(&self, e: &Expr) -> Fail {
        self.grad_of_expression_span(e.span)
    }

    fn grad_of_expression_span(&self, span: Span) -> Fail {
        Diagnostic::new(Code::BadArgument, span, "grad() takes the name of a tensor")
            .with_label("not a name")
            .with_help("name the expression first: `S = ...`, then write grad(S)")
            .into()
    }

    fn reduce(
        &mut self,
        kind: ReduceKind,
        x: NodeId,
        axes: Vec<usize>,
        keepdims: bool,
        span: Span,
    ) -> NodeId {
        let shape = self.graph.shape(x).clone();
        let out: Shape = shape
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                if !axes.contains(&i) {
                    Some(d.clone())
                } else if keepdims {
                    Some(DimPoly::constant(1))
                } else {
                    None
                }
            })
            .collect();
        self.node(
            Op::Reduce {
                kind,
                axes,
                keepdims,
            },
            vec![x],
            out,
            span,
        )
    }

    /// Split and count the arguments of built-in `f`.
    #[allow(clippy::too_many_arguments)]
    fn split<'a>(
        &self,
        name: &ast::Ident,
        args: &'a [Arg],
        keywords: &[&str],
        min: usize,
        max: usize,
        span: Span,
        params: &str,
    ) -> R<CallArgs<'a>> {
        let f = &name.name;
        let mut out = CallArgs {
            positional: Vec::new(),
            keywords: Vec::new(),
        };
        for a in args {
            match a {
                Arg::Keyword { name: k, value } => {
                    if !keywords.contains(&k.name.as_str()) {
                        let mut d = Diagnostic::new(
                            Code::BadArgument,
                            k.span,
                            format!("`{f}` has no argument `{}`", k.name),
                        )
                        .with_label("unknown keyword");
                        d = match (
                            suggest(&k.name, keywords.iter().copied()),
                            keywords.is_empty(),
                        ) {
                            _ if k.name == "dim" && keywords.contains(&"axis") => {
                                d.with_help("the axis is named `axis` here, as in numpy: `axis=-1`")
                            }
                            (Some(s), _) => d.with_help(format!("did you mean `{s}`?")),
                            (None, true) => {
                                d.with_help(format!("`{f}` takes no keyword arguments"))
                            }
                            (None, false) => {
                                d.with_help(format!("its keywords are: {}", keywords.join(", ")))
                            }
                        };
                        return Err(d.into());
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
        let n = out.positional.len();
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
            return Err(Diagnostic::new(
                Code::Arity,
                at,
                format!("`{f}` takes {expected} ({params}), found {n}"),
            )
            .with_label(if n > max {
                "extra argument"
            } else {
                "too few arguments"
            })
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

    /// `axis=k` or `axis=[i, j]`: sorted, distinct, normalised axes.
    fn axes(&mut self, v: &KwValue, shape: &Shape, f: &str, scope: &Scope) -> R<Vec<usize>> {
        let mut axes = match v {
            KwValue::Expr(e) => vec![self.axis_arg_expr(e, shape.len(), f, scope)?],
            KwValue::List(items, span) => {
                if items.is_empty() {
                    return Err(
                        Diagnostic::new(Code::BadAxis, *span, "an empty list of axes")
                            .with_label("name at least one axis")
                            .into(),
                    );
                }
                let mut out = Vec::new();
                for e in items {
                    let ax = self.axis_arg_expr(e, shape.len(), f, scope)?;
                    if out.contains(&ax) {
                        return Err(Diagnostic::new(
                            Code::BadAxis,
                            e.span,
                            format!("axis {ax} is named twice"),
                        )
                        .with_label("repeated axis")
                        .into());
                    }
                    out.push(ax);
                }
                out
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

    fn single_axis(&mut self, v: &KwValue, shape: &Shape, f: &str, scope: &Scope) -> R<usize> {
        match v {
            KwValue::Expr(e) => self.axis_arg_expr(e, shape.len(), f, scope),
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
            Diagnostic::new(Code::BadAxis, e.span, format!("bad axis for `{f}`: {why}"))
                .with_label("out of range")
                .into()
        })
    }

    fn no_axes(&self, f: &str, span: Span) -> Fail {
        Diagnostic::new(
            Code::BadAxis,
            span,
            format!("`{f}` needs a tensor with at least one axis, found a scalar"),
        )
        .with_label("a scalar")
        .into()
    }

    fn square_last_two(&self, shape: &Shape, f: &str, span: Span) -> R<()> {
        let r = shape.len();
        if r < 2 || !self.dims.same(&shape[r - 2], &shape[r - 1]) {
            return Err(Diagnostic::new(
                Code::ShapeMismatch,
                span,
                format!(
                    "`{f}` needs square matrices in the last two axes, found shape {}",
                    show_shape(&self.dims, shape)
                ),
            )
            .with_label(format!("shape {}", show_shape(&self.dims, shape)))
            .into());
        }
        Ok(())
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
                if !r.denom().is_one() || r <= &num_rational::BigRational::from_integer(0.into()) {
                    return Err(bad(&format!("{text} is not a positive whole number")));
                }
                DimPoly::constant(r.numer().clone())
            }
            ExprKind::Name(n) => self.dim_name_pub(n, e.span, scope)?,
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

    fn dim_name_pub(&self, n: &str, span: Span, scope: &Scope) -> R<DimPoly> {
        let e = ast::DimExpr {
            kind: ast::DimExprKind::Name(n.to_string()),
            span,
        };
        self.dim_expr(&e, scope)
    }
}
