//! `fn`s in lowering: each body checked once generically where it is defined, and inlined
//! at every call with its signature dims unified against the arguments' shapes.

use super::{
    axes_word, normalize_text, plural, redefinition, Fail, Global, Lowerer, Scope, MAX_GRAPH_NODES,
    MAX_INLINE_DEPTH, R,
};
use crate::diag::{Code, Diagnostic};
use crate::ir::dims::{DimDecl, DimDef, DimPoly};
use crate::ir::shape::{self, show_shape};
use crate::ir::{FnSig, Node, NodeId, Op, Statement, TensorKind};
use crate::source::Span;
use crate::syntax::ast::{self, DimExprKind, ExprKind, FnDef};
use std::collections::HashMap;
use std::rc::Rc;

impl Lowerer<'_> {
    /// Check a fn body once with generic dims; record its signature.
    pub(super) fn fn_item(&mut self, def: &FnDef) -> R<usize> {
        let Some(def_rc) = self.fn_defs.get(&def.name.name).cloned() else {
            // Its name clashed (reported while hoisting).
            return Err(Fail::Poisoned);
        };
        let mut scope = Scope {
            dims: HashMap::new(),
            names: HashMap::new(),
            in_fn: Some(def.name.name.clone()),
            label: String::new(),
            record: false,
            depth: 1,
            allow_grad: false,
            calls: HashMap::new(),
        };
        // Generic dims: every bare name in the signature, in order of appearance.
        for p in &def.params {
            for d in &p.shape.dims {
                if let DimExprKind::Name(n) = &d.kind {
                    if !scope.dims.contains_key(n) {
                        let id = self.dims.add(DimDecl {
                            name: n.clone(),
                            def: DimDef::Generic,
                            size: None,
                        });
                        scope.dims.insert(n.clone(), DimPoly::var(id));
                    }
                }
            }
        }
        let mut params = Vec::new();
        // The body is checked on top of the program's graph (so a `const` it reads is the
        // program's node), and every node it added is dropped afterwards.
        let mark = self.graph.len();
        let result = (|| -> R<()> {
            for (i, p) in def.params.iter().enumerate() {
                let shape = self.shape_expr(&p.shape, &scope)?;
                if scope.names.contains_key(&p.name.name) {
                    return Err(Diagnostic::new(
                        Code::Redefinition,
                        p.name.span,
                        format!("parameter `{}` appears twice", p.name.name),
                    )
                    .with_label("repeated parameter")
                    .into());
                }
                let node = self.graph.add(Node {
                    op: Op::FnParam(i),
                    args: vec![],
                    shape: shape.clone(),
                    span: p.name.span,
                });
                scope.names.insert(p.name.name.clone(), node);
                params.push((p.name.name.clone(), shape));
            }
            self.inline_stack.push(def.name.name.clone());
            let r = self.fn_body(&def_rc, &mut scope);
            self.inline_stack.pop();
            r.map(|_| ())
        })();
        self.graph.truncate(mark);
        result?;
        let ret = self.shape_expr(&def.ret, &scope)?;
        self.fn_sigs.push(FnSig {
            name: def.name.name.clone(),
            params,
            ret,
            span: def.name.span,
        });
        Ok(self.fn_sigs.len() - 1)
    }

    /// Lower a fn body in a scope holding its parameters; check the returned shape.
    pub(super) fn fn_body(&mut self, def: &FnDef, scope: &mut Scope) -> R<NodeId> {
        for stmt in &def.body {
            let n = &stmt.name.name;
            if scope.names.contains_key(n) || scope.dims.contains_key(n) {
                return Err(Diagnostic::new(
                    Code::Redefinition,
                    stmt.name.span,
                    format!("`{n}` is already defined in `{}`", def.name.name),
                )
                .with_label("defined again")
                .with_help("give the new value a new name")
                .into());
            }
            if let Some((Global::Dim(_) | Global::Fn, prev)) = self.globals.get(n) {
                return Err(redefinition(n, stmt.name.span, *prev, self.sources).into());
            }
            let node = match stmt.value.unparen().kind {
                // `NAME = f(...)` in a body labels the call's locals `NAME.local`, as at top level.
                ExprKind::Call {
                    name: ref callee,
                    ref args,
                } if self.fn_defs.contains_key(&callee.name) => {
                    let callee = self.fn_defs[&callee.name].clone();
                    self.call_fn(callee, stmt.value.span, args, scope, Some(n.clone()))?
                }
                _ => self.expr(&stmt.value, scope)?,
            };
            scope.names.insert(n.clone(), node);
            if scope.record {
                let name = format!("{}.{}", scope.label, n);
                let tensor = self.push_tensor(
                    name.clone(),
                    TensorKind::Local,
                    node,
                    stmt.span,
                    stmt.value.span,
                    None,
                );
                self.locals.insert(name, tensor);
                self.statements.push(Statement::Tensor {
                    tensor,
                    depth: scope.depth,
                });
            }
        }
        let node = self.expr(&def.ret_value, scope)?;
        let declared = self.shape_expr(&def.ret, scope)?;
        let actual = self.graph.shape(node);
        if !shape::same_shape(&self.dims, actual, &declared) {
            return Err(Diagnostic::new(
                Code::ShapeMismatch,
                def.ret_value.span,
                format!(
                    "`{}` returns shape {}, but its signature says {}",
                    def.name.name,
                    show_shape(&self.dims, actual),
                    show_shape(&self.dims, &declared)
                ),
            )
            .with_label(format!("this has shape {}", show_shape(&self.dims, actual)))
            .with_secondary(def.ret.span, "declared here")
            .into());
        }
        Ok(node)
    }

    /// The label of a call not bound to a name, unique in its scope: the fn's name, then
    /// `attention2`, `attention3`, ... for later calls (skipping a name the scope defines,
    /// so `NAME.local` always means one tensor). Counted per scope: the top level, or one
    /// expansion of a body.
    fn anonymous_label(&mut self, fname: &str, scope: &mut Scope) -> String {
        loop {
            let counter = match scope.in_fn {
                None => &mut self.top_calls,
                Some(_) => &mut scope.calls,
            };
            let k = counter.entry(fname.to_string()).or_insert(0);
            *k += 1;
            let candidate = match *k {
                1 => fname.to_string(),
                k => format!("{fname}{k}"),
            };
            let defined = match &scope.in_fn {
                None => self.later.contains_key(&candidate),
                Some(f) => self.fn_defs[f]
                    .body
                    .iter()
                    .any(|s| s.name.name == candidate),
            };
            if !defined {
                return candidate;
            }
        }
    }

    /// Inline a call of a user fn: unify its signature dims with the arguments' shapes.
    pub(super) fn call_fn(
        &mut self,
        def: Rc<FnDef>,
        span: Span,
        args: &[ast::Arg],
        scope: &mut Scope,
        label: Option<String>,
    ) -> R<NodeId> {
        let fname = def.name.name.clone();
        if let Some(pos) = self.inline_stack.iter().position(|f| *f == fname) {
            let mut chain = self.inline_stack[pos..].to_vec();
            chain.push(fname.clone());
            return Err(Diagnostic::new(
                Code::Recursion,
                span,
                format!("recursive call: {}", chain.join(" -> ")),
            )
            .with_label("calls a fn that is still being expanded")
            .with_note("fns are inlined, so a fn cannot call itself, directly or through others")
            .into());
        }
        if self.graph.len() > MAX_GRAPH_NODES {
            return Err(Diagnostic::new(
                Code::TooLarge,
                span,
                format!(
                    "the program grows past {MAX_GRAPH_NODES} operations while expanding `{fname}`"
                ),
            )
            .with_label("expanding this call")
            .with_note(
                "fns are inlined: a fn that calls another twice doubles its size at every level",
            )
            .into());
        }
        if self.inline_stack.len() >= MAX_INLINE_DEPTH {
            return Err(Diagnostic::new(
                Code::TooDeep,
                span,
                format!("fn calls nested more than {MAX_INLINE_DEPTH} deep"),
            )
            .with_label("too deep")
            .with_help("flatten the chain of fns calling fns")
            .into());
        }
        let mut arg_nodes = Vec::new();
        for a in args {
            match a {
                ast::Arg::Positional(e) => arg_nodes.push((self.expr(e, scope)?, e.span)),
                other => {
                    return Err(Diagnostic::new(
                        Code::BadArgument,
                        other.span(),
                        format!("`{fname}` takes tensors as plain positional arguments"),
                    )
                    .with_label("not a tensor argument")
                    .into())
                }
            }
        }
        if arg_nodes.len() != def.params.len() {
            let names: Vec<&str> = def.params.iter().map(|p| p.name.name.as_str()).collect();
            return Err(Diagnostic::new(
                Code::Arity,
                span,
                format!(
                    "`{fname}` takes {} argument{} ({}), found {}",
                    def.params.len(),
                    plural(def.params.len()),
                    names.join(", "),
                    arg_nodes.len()
                ),
            )
            .with_label("wrong number of arguments")
            .with_secondary(def.name.span, "defined here")
            .into());
        }
        // Unify: bind each bare signature name on first use, compare afterwards.
        let mut bindings: HashMap<String, DimPoly> = HashMap::new();
        let mut bound_by: HashMap<String, String> = HashMap::new();
        for (param, &(node, arg_span)) in def.params.iter().zip(&arg_nodes) {
            let actual = self.graph.shape(node).clone();
            let expected_text = self.sources.slice(param.shape.span).to_string();
            let mismatch = |l: &Self, why: String| -> Fail {
                Diagnostic::new(
                    Code::ShapeMismatch,
                    arg_span,
                    format!(
                        "argument `{}` of `{fname}` has shape {}, but the fn expects {expected_text}",
                        param.name.name,
                        show_shape(&l.dims, &actual)
                    ),
                )
                .with_label(format!("shape {}", show_shape(&l.dims, &actual)))
                .with_secondary(param.shape.span, "expected shape")
                .with_note(why)
                .into()
            };
            if actual.len() != param.shape.dims.len() {
                let why = format!(
                    "it has {} ax{}; the parameter has {}",
                    actual.len(),
                    axes_word(actual.len()),
                    param.shape.dims.len()
                );
                return Err(mismatch(self, why));
            }
            for (d, size) in param.shape.dims.iter().zip(&actual) {
                if let DimExprKind::Name(n) = &d.kind {
                    match bindings.get(n) {
                        None => {
                            bindings.insert(n.clone(), size.clone());
                            bound_by.insert(n.clone(), param.name.name.clone());
                        }
                        Some(prev) if self.dims.same(prev, size) => {}
                        Some(prev) => {
                            let why = format!(
                                "`{n}` is {} (from argument `{}`) but {} here",
                                self.dims.show(prev),
                                bound_by[n],
                                self.dims.show(size)
                            );
                            return Err(mismatch(self, why));
                        }
                    }
                    continue;
                }
                let bound = Scope {
                    dims: bindings.clone(),
                    ..Scope::global()
                };
                let want = self.dim_expr(d, &bound)?;
                if !self.dims.same(&want, size) {
                    let why = format!(
                        "{} is {} here, but {} is expected",
                        self.sources.slice(d.span),
                        self.dims.show(size),
                        self.dims.show(&want)
                    );
                    return Err(mismatch(self, why));
                }
            }
        }
        // Checking a body generically needs only shapes: a fn already checked stands for its
        // result, so a chain of fns calling fns is not expanded once per level here.
        if !scope.record && self.fn_sigs.iter().any(|f| f.name == fname) {
            let bound = Scope {
                dims: bindings,
                ..Scope::global()
            };
            let shape = self.shape_expr(&def.ret, &bound)?;
            return Ok(self.node(Op::FnParam(usize::MAX), vec![], shape, span));
        }
        let local = match label {
            Some(name) => name,
            // Only recorded calls name tensors (a generic check of a body names nothing).
            None if scope.record => self.anonymous_label(&fname, scope),
            None => fname.clone(),
        };
        let label = if scope.label.is_empty() {
            local
        } else {
            format!("{}.{}", scope.label, local)
        };
        if scope.record {
            let mut dims: Vec<(String, String)> = bindings
                .iter()
                .map(|(n, p)| (n.clone(), self.dims.show(p)))
                .collect();
            dims.sort();
            self.statements.push(Statement::Call {
                label: label.clone(),
                fn_name: fname.clone(),
                args: def
                    .params
                    .iter()
                    .zip(&arg_nodes)
                    .map(|(p, &(_, s))| {
                        (p.name.name.clone(), normalize_text(self.sources.slice(s)))
                    })
                    .collect(),
                dims,
                depth: scope.depth + 1,
            });
        }
        let mut body_scope = Scope {
            dims: bindings,
            names: def
                .params
                .iter()
                .zip(&arg_nodes)
                .map(|(p, &(n, _))| (p.name.name.clone(), n))
                .collect(),
            in_fn: Some(fname.clone()),
            label,
            record: scope.record,
            depth: scope.depth + 1,
            allow_grad: false,
            calls: HashMap::new(),
        };
        self.inline_stack.push(fname.clone());
        let result = self.fn_body(&def, &mut body_scope);
        self.inline_stack.pop();
        let location = self.sources.location(span);
        result.map_err(|f| match f {
            Fail::Diag(d)
                if d.span.is_some_and(|s| {
                    s.start < span.start || s.end > span.end || s.file != span.file
                }) =>
            {
                Fail::Diag(Box::new(d.with_note(format!(
                    "while expanding the call of `{fname}` at {location}"
                ))))
            }
            other => other,
        })
    }
}
