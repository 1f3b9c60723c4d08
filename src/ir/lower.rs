//! Lowering: from the AST of a loaded program to the typed tensor graph.
//!
//! Owns name resolution (one global namespace for dims, tensors and fns; fn bodies see only
//! their parameters, locals, dims and consts), dim declarations and `--dims` overrides, shape
//! checking of every expression, `fn` inlining (signature dims are generic and unified per
//! call; each fn body is also checked once generically where it is defined, so a library of
//! fns is checked even if nothing calls it), claims and derivations.
//!
//! Error policy: a failing statement records one diagnostic and poisons its name, so later
//! uses of that name fail silently instead of cascading. Errors in claims and derivation
//! steps are kept on the claim (its verdict will be `error`); every other error is fatal.

use super::builtins::BUILTINS;
use super::dims::{DimDecl, DimDef, DimId, DimPoly, Dims};
use super::shape::{self, show_shape, Shape};
use super::*;
use crate::diag::{suggest, Code, Diagnostic};
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast::{
    self, DimExpr, DimExprKind, DimOp, Expr, ExprKind, FnDef, Item, ItemKind,
};
use crate::syntax::Loaded;
use num_rational::BigRational;
use num_traits::{One, Zero};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// Deepest chain of fns calling fns (inlining is recursive).
pub const MAX_INLINE_DEPTH: usize = 32;

/// Options of lowering.
#[derive(Debug, Clone, Default)]
pub struct LowerOptions {
    /// `--dims T=2,d=3`: sizes for base dims, replacing the declared ones.
    pub dim_overrides: Vec<(String, u64)>,
}

/// Why an expression could not be lowered.
pub(super) enum Fail {
    /// A new error to report.
    Diag(Box<Diagnostic>),
    /// It uses a name whose definition already failed (reported there).
    Poisoned,
}

impl From<Diagnostic> for Fail {
    fn from(d: Diagnostic) -> Fail {
        Fail::Diag(Box::new(d))
    }
}

pub(super) type R<T> = Result<T, Fail>;

#[derive(Debug, Clone, Copy)]
pub(super) enum Global {
    Dim(DimId),
    Tensor(TensorId),
    Fn,
    Poisoned,
}

/// What an expression can see.
pub(super) struct Scope {
    /// Fn-generic dims bound in this body.
    pub dims: HashMap<String, DimPoly>,
    /// Parameters and locals of a fn body.
    pub names: HashMap<String, NodeId>,
    /// The fn whose body this is.
    pub in_fn: Option<String>,
    /// Prefix of local names (`h.`), empty at top level.
    pub label: String,
    /// Record locals as named tensors and `show` lines (false while checking a fn generically).
    pub record: bool,
    pub depth: usize,
    /// `grad(NAME)` is allowed (claims and derivations).
    pub allow_grad: bool,
}

impl Scope {
    fn global() -> Scope {
        Scope {
            dims: HashMap::new(),
            names: HashMap::new(),
            in_fn: None,
            label: String::new(),
            record: true,
            depth: 0,
            allow_grad: false,
        }
    }
}

pub(super) struct Lowerer<'s> {
    pub sources: &'s SourceMap,
    pub root: FileId,
    pub dims: Dims,
    pub graph: Graph,
    pub tensors: Vec<Tensor>,
    pub target: Option<Target>,
    pub fn_sigs: Vec<FnSig>,
    pub claims: Vec<Claim>,
    pub derivations: Vec<Derivation>,
    pub statements: Vec<Statement>,
    pub globals: HashMap<String, (Global, Span)>,
    pub fn_defs: HashMap<String, Rc<FnDef>>,
    /// Every top-level name with its definition, for "used before it is defined".
    pub later: HashMap<String, Span>,
    pub diags: Vec<Diagnostic>,
    pub inline_stack: Vec<String>,
    pub call_counts: HashMap<String, usize>,
    pub overrides: HashMap<String, u64>,
    pub used_overrides: HashSet<String>,
}

/// Resolve and shape-check a loaded program.
pub fn lower(
    loaded: Loaded,
    options: &LowerOptions,
) -> Result<Program, (SourceMap, Vec<Diagnostic>)> {
    let Loaded {
        sources,
        root,
        items,
    } = loaded;
    let mut l = Lowerer {
        sources: &sources,
        root,
        dims: Dims::default(),
        graph: Graph::default(),
        tensors: Vec::new(),
        target: None,
        fn_sigs: Vec::new(),
        claims: Vec::new(),
        derivations: Vec::new(),
        statements: Vec::new(),
        globals: HashMap::new(),
        fn_defs: HashMap::new(),
        later: HashMap::new(),
        diags: Vec::new(),
        inline_stack: Vec::new(),
        call_counts: HashMap::new(),
        overrides: HashMap::new(),
        used_overrides: HashSet::new(),
    };
    for (name, size) in &options.dim_overrides {
        if *size == 0 {
            l.diags.push(Diagnostic::global(
                Code::BadDim,
                format!("--dims {name}=0: a size must be a positive whole number"),
            ));
        }
        l.overrides.insert(name.clone(), *size);
    }
    l.hoist(&items);
    for (file, item) in &items {
        l.item(*file, item);
    }
    l.finish();
    let Lowerer {
        dims,
        graph,
        tensors,
        target,
        fn_sigs,
        claims,
        derivations,
        statements,
        diags,
        ..
    } = l;
    if !diags.is_empty() {
        return Err((sources, diags));
    }
    Ok(Program {
        sources,
        root,
        dims,
        graph,
        tensors,
        target,
        fns: fn_sigs,
        claims,
        derivations,
        statements,
    })
}

impl<'s> Lowerer<'s> {
    /// Collect fn definitions (callable before their line) and where each name is defined.
    fn hoist(&mut self, items: &[(FileId, Item)]) {
        for (_, item) in items {
            let name = match &item.kind {
                ItemKind::Fn(def) => {
                    if let Some((_, prev)) = self.globals.get(&def.name.name) {
                        let d = redefinition(&def.name.name, def.name.span, *prev, self.sources);
                        self.diags.push(d);
                        continue;
                    }
                    if BUILTINS.contains(&def.name.name.as_str()) || def.name.name == "pi" {
                        self.diags.push(builtin_redefinition(&def.name));
                        continue;
                    }
                    self.fn_defs
                        .insert(def.name.name.clone(), Rc::new(def.clone()));
                    self.globals
                        .insert(def.name.name.clone(), (Global::Fn, def.name.span));
                    continue;
                }
                ItemKind::Dim { name, .. }
                | ItemKind::Leaf { name, .. }
                | ItemKind::Const { name, .. }
                | ItemKind::Assign { name, .. } => name,
                ItemKind::Loss {
                    name,
                    value: Some(_),
                } => name,
                _ => continue,
            };
            self.later.entry(name.name.clone()).or_insert(name.span);
        }
    }

    fn item(&mut self, file: FileId, item: &Item) {
        let is_root = file == self.root;
        match &item.kind {
            ItemKind::Use { path, path_span } => {
                if is_root {
                    self.statements.push(Statement::Use {
                        path: path.clone(),
                        span: *path_span,
                    });
                }
            }
            ItemKind::Dim { name, value } => {
                if let Some(id) = self.report(|l| l.dim_decl(name, value, item.span)) {
                    if is_root {
                        self.statements.push(Statement::Dim(id, item.span));
                    }
                }
            }
            ItemKind::Leaf { kind, name, shape } => {
                let result = self.report_named(name, |l| {
                    l.check_new_name(name)?;
                    let shape = l.shape_expr(shape, &Scope::global())?;
                    let tensor = TensorId(l.tensors.len() as u32);
                    let node = l.graph.add(Node {
                        op: Op::Leaf(tensor),
                        args: vec![],
                        shape,
                        span: name.span,
                    });
                    Ok((node, TensorKind::Leaf(*kind)))
                });
                if let Some((node, kind)) = result {
                    self.define(name, node, kind, item, item.span, is_root);
                }
            }
            ItemKind::Const { name, value } => {
                let result = self.report_named(name, |l| {
                    l.check_new_name(name)?;
                    let node = l.expr(value, &mut Scope::global())?;
                    if l.graph.depends_on(node, |n| matches!(n.op, Op::Leaf(_))) {
                        return Err(Diagnostic::new(
                            Code::NotConstant,
                            value.span,
                            format!("`const {}` depends on an input, param or data", name.name),
                        )
                        .with_label("not a constant")
                        .with_help(
                            "use a plain statement `NAME = EXPR` for values computed from tensors",
                        )
                        .into());
                    }
                    Ok(node)
                });
                if let Some(node) = result {
                    self.define(name, node, TensorKind::Const, item, value.span, is_root);
                }
            }
            ItemKind::Assign { name, value } => {
                let result = self.report_named(name, |l| {
                    l.check_new_name(name)?;
                    l.statement_value(name, value)
                });
                if let Some(node) = result {
                    self.define(name, node, TensorKind::Statement, item, value.span, is_root);
                }
            }
            ItemKind::Output { name } => {
                self.report(|l| l.set_target(TargetKind::Output, name, item.span));
                if is_root && self.target.is_some() {
                    self.statements.push(Statement::Target);
                }
            }
            ItemKind::Loss { name, value } => {
                if let Some(value) = value {
                    let result = self.report_named(name, |l| {
                        l.check_new_name(name)?;
                        l.statement_value(name, value)
                    });
                    let Some(node) = result else { return };
                    let span = item.span;
                    let tensor = self.push_tensor(
                        name.name.clone(),
                        TensorKind::Statement,
                        node,
                        span,
                        value.span,
                        item.note.clone(),
                    );
                    self.globals
                        .insert(name.name.clone(), (Global::Tensor(tensor), name.span));
                }
                self.report(|l| l.set_target(TargetKind::Loss, name, item.span));
                if is_root && self.target.is_some() {
                    self.statements.push(Statement::Target);
                }
            }
            ItemKind::Fn(def) => {
                if let Some(idx) = self.report(|l| l.fn_item(def)) {
                    if is_root {
                        self.statements.push(Statement::Fn(idx));
                    }
                }
            }
            ItemKind::Claim { lhs, rhs, differ } => {
                if is_root {
                    self.claim(lhs, rhs, *differ, item.span);
                }
            }
            ItemKind::Derive(d) => {
                if is_root {
                    self.derive(d, item.span);
                }
            }
            ItemKind::StrayReturn { .. } => {
                self.diags.push(
                    Diagnostic::new(Code::Misplaced, item.span, "`return` outside a fn body")
                        .with_label("only a fn body can return")
                        .with_help("write `NAME = EXPR` to name a result, or `output NAME` to mark it as the block's output"),
                );
            }
        }
    }

    /// Run `f`; report a new error. `None` on any failure.
    fn report<T>(&mut self, f: impl FnOnce(&mut Self) -> R<T>) -> Option<T> {
        match f(self) {
            Ok(v) => Some(v),
            Err(Fail::Diag(d)) => {
                self.diags.push(*d);
                None
            }
            Err(Fail::Poisoned) => None,
        }
    }

    /// Like [`Self::report`], and on failure poison `name` so its uses fail silently.
    fn report_named<T>(
        &mut self,
        name: &ast::Ident,
        f: impl FnOnce(&mut Self) -> R<T>,
    ) -> Option<T> {
        let result = self.report(f);
        if result.is_none() && !self.globals.contains_key(&name.name) {
            self.globals
                .insert(name.name.clone(), (Global::Poisoned, name.span));
        }
        result
    }

    fn push_tensor(
        &mut self,
        name: String,
        kind: TensorKind,
        node: NodeId,
        span: Span,
        expr_span: Span,
        note: Option<String>,
    ) -> TensorId {
        self.tensors.push(Tensor {
            name,
            kind,
            node,
            span,
            expr_span,
            note,
        });
        TensorId(self.tensors.len() as u32 - 1)
    }

    fn define(
        &mut self,
        name: &ast::Ident,
        node: NodeId,
        kind: TensorKind,
        item: &Item,
        expr_span: Span,
        is_root: bool,
    ) {
        let tensor = self.push_tensor(
            name.name.clone(),
            kind,
            node,
            item.span,
            expr_span,
            item.note.clone(),
        );
        self.globals
            .insert(name.name.clone(), (Global::Tensor(tensor), name.span));
        if is_root {
            self.statements.push(Statement::Tensor { tensor, depth: 0 });
        }
    }

    /// The value of `NAME = EXPR`; a call of a fn labels its locals `NAME.local`.
    fn statement_value(&mut self, name: &ast::Ident, value: &Expr) -> R<NodeId> {
        let mut scope = Scope::global();
        if let ExprKind::Call { name: callee, args } = &value.unparen().kind {
            if let Some(def) = self.fn_defs.get(&callee.name).cloned() {
                return self.call_fn(def, value.span, args, &mut scope, Some(name.name.clone()));
            }
        }
        self.expr(value, &mut scope)
    }

    fn check_new_name(&self, name: &ast::Ident) -> R<()> {
        if let Some((_, prev)) = self.globals.get(&name.name) {
            return Err(redefinition(&name.name, name.span, *prev, self.sources).into());
        }
        if BUILTINS.contains(&name.name.as_str()) || name.name == "pi" {
            return Err(builtin_redefinition(name).into());
        }
        Ok(())
    }

    fn dim_decl(&mut self, name: &ast::Ident, value: &DimExpr, span: Span) -> R<DimId> {
        self.check_new_name(name)?;
        let poly = self.dim_expr(value, &Scope::global())?;
        let override_size = self.overrides.get(&name.name).copied();
        let decl = if let Some(c) = poly.as_constant() {
            let Some(declared) = DimPoly::positive_integer(&c) else {
                return Err(Diagnostic::new(
                    Code::BadDim,
                    value.span,
                    format!(
                        "dim `{}` must be a positive whole number, found {c}",
                        name.name
                    ),
                )
                .with_label("not a valid size")
                .into());
            };
            if override_size.is_some() {
                self.used_overrides.insert(name.name.clone());
            }
            DimDecl {
                name: name.name.clone(),
                def: DimDef::Base,
                size: Some(override_size.unwrap_or(declared)),
            }
        } else {
            if override_size.is_some() {
                return Err(Diagnostic::new(
                    Code::BadDim,
                    span,
                    format!(
                        "--dims sets `{}`, but it is defined from other dims as {}",
                        name.name,
                        self.dims.show(&poly)
                    ),
                )
                .with_label("derived here")
                .with_help("set the dims it is defined from instead")
                .into());
            }
            let value_at = self.dims.eval(&poly);
            let size = value_at.as_ref().and_then(DimPoly::positive_integer);
            let Some(size) = size else {
                let shown = value_at
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "undefined".into());
                return Err(Diagnostic::new(
                    Code::BadDim,
                    value.span,
                    format!(
                        "dim `{}` = {} is {} at the sizes in use, not a positive whole number",
                        name.name,
                        self.dims.show(&poly),
                        shown
                    ),
                )
                .with_label("not a valid size")
                .into());
            };
            DimDecl {
                name: name.name.clone(),
                def: DimDef::Derived(poly),
                size: Some(size),
            }
        };
        let id = self.dims.add(decl);
        self.globals
            .insert(name.name.clone(), (Global::Dim(id), name.span));
        Ok(id)
    }

    /// A size expression in `scope`.
    pub(super) fn dim_expr(&self, e: &DimExpr, scope: &Scope) -> R<DimPoly> {
        match &e.kind {
            DimExprKind::Int(n) => Ok(DimPoly::constant(*n)),
            DimExprKind::Name(n) => self.dim_name(n, e.span, scope),
            DimExprKind::Chain { first, rest } => {
                let mut acc = self.dim_expr(first, scope)?;
                for (op, operand) in rest {
                    let v = self.dim_expr(operand, scope)?;
                    acc = match op {
                        DimOp::Add => acc.add(&v),
                        DimOp::Sub => acc.sub(&v),
                        DimOp::Mul => acc.mul(&v),
                        DimOp::Div => acc.div(&v).ok_or_else(|| {
                            Diagnostic::new(
                                Code::BadDim,
                                operand.span,
                                "a size can only be divided by a nonzero product of dims",
                            )
                            .with_label("divides by a sum or by zero")
                        })?,
                    };
                }
                Ok(acc)
            }
        }
    }

    fn dim_name(&self, n: &str, span: Span, scope: &Scope) -> R<DimPoly> {
        if let Some(p) = scope.dims.get(n) {
            return Ok(p.clone());
        }
        match self.globals.get(n) {
            Some((Global::Dim(id), _)) => Ok(DimPoly::var(*id)),
            Some((Global::Poisoned, _)) => Err(Fail::Poisoned),
            Some((Global::Tensor(_), def)) => Err(Diagnostic::new(
                Code::UnknownName,
                span,
                format!("`{n}` is a tensor, not a dim"),
            )
            .with_label("a size is expected here")
            .with_secondary(*def, "defined as a tensor here")
            .into()),
            _ => {
                let mut d = Diagnostic::new(Code::UnknownName, span, format!("unknown dim `{n}`"))
                    .with_label("not a declared dim");
                let candidates: Vec<&str> = scope
                    .dims
                    .keys()
                    .map(|s| s.as_str())
                    .chain(self.dims.declared().map(|(_, d)| d.name.as_str()))
                    .collect();
                if let Some(s) = suggest(n, candidates) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                } else {
                    d = d.with_help(format!("declare it first: `dim {n} = 4`"));
                }
                Err(d.into())
            }
        }
    }

    /// A declared shape; each size must be a positive whole number where sizes are known.
    pub(super) fn shape_expr(&self, s: &ast::ShapeExpr, scope: &Scope) -> R<Shape> {
        let mut out = Vec::new();
        for d in &s.dims {
            let p = self.dim_expr(d, scope)?;
            if let Some(v) = self.dims.eval(&p) {
                if DimPoly::positive_integer(&v).is_none() {
                    return Err(Diagnostic::new(
                        Code::BadDim,
                        d.span,
                        format!(
                            "size {} is {v} at the sizes in use, not a positive whole number",
                            self.dims.show(&p)
                        ),
                    )
                    .with_label("not a valid size")
                    .into());
                }
            }
            out.push(p);
        }
        Ok(out)
    }

    fn set_target(&mut self, kind: TargetKind, name: &ast::Ident, span: Span) -> R<()> {
        if let Some(prev) = &self.target {
            let word = |k: TargetKind| {
                if k == TargetKind::Output {
                    "output"
                } else {
                    "loss"
                }
            };
            return Err(Diagnostic::new(
                Code::DuplicateTarget,
                span,
                format!(
                    "a second `{}`: a file has one output or one loss",
                    word(kind)
                ),
            )
            .with_label("second declaration")
            .with_secondary(
                prev.span,
                format!("the {} is declared here", word(prev.kind)),
            )
            .into());
        }
        let tensor = match self.globals.get(&name.name) {
            Some((Global::Tensor(t), _)) => *t,
            Some((Global::Poisoned, _)) => return Err(Fail::Poisoned),
            _ => {
                return Err(self
                    .unknown_name(&name.name, name.span, &Scope::global())
                    .into())
            }
        };
        if kind == TargetKind::Loss {
            let shape = self.graph.shape(self.tensors[tensor.0 as usize].node);
            if !shape.is_empty() {
                return Err(Diagnostic::new(
                    Code::NotScalar,
                    name.span,
                    format!(
                        "the loss must be a scalar [], but `{}` has shape {}",
                        name.name,
                        show_shape(&self.dims, shape)
                    ),
                )
                .with_label("not a scalar")
                .with_help("reduce it, e.g. `loss L = mean(...)` or `sum(...)`")
                .into());
            }
        }
        self.target = Some(Target { kind, tensor, span });
        Ok(())
    }

    /// Check a fn body once with generic dims; record its signature.
    fn fn_item(&mut self, def: &FnDef) -> R<usize> {
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
        let saved = std::mem::take(&mut self.graph);
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
        self.graph = saved;
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
    fn fn_body(&mut self, def: &FnDef, scope: &mut Scope) -> R<NodeId> {
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
            let node = self.expr(&stmt.value, scope)?;
            scope.names.insert(n.clone(), node);
            if scope.record {
                let name = format!("{}.{}", scope.label, n);
                let tensor = self.push_tensor(
                    name,
                    TensorKind::Local,
                    node,
                    stmt.span,
                    stmt.value.span,
                    None,
                );
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
        let count = self.call_counts.entry(fname.clone()).or_insert(0);
        *count += 1;
        let local = label.unwrap_or_else(|| format!("{fname}#{count}"));
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

    fn claim(&mut self, lhs: &Expr, rhs: &Expr, differ: bool, span: Span) {
        let text = normalize_text(self.sources.slice(span).trim_start_matches("claim").trim());
        let (l, r, error) = match self.claim_sides(lhs, rhs) {
            Ok((l, r)) => (Some(l), Some(r), None),
            Err(e) => (None, None, Some(e)),
        };
        self.claims.push(Claim {
            lhs: l,
            rhs: r,
            differ,
            span,
            text,
            error,
        });
        self.statements
            .push(Statement::Claim(self.claims.len() - 1));
    }

    fn claim_sides(&mut self, lhs: &Expr, rhs: &Expr) -> Result<(NodeId, NodeId), Diagnostic> {
        let l = self.claim_expr(lhs)?;
        let r = self.claim_expr(rhs)?;
        self.compatible_sides(l, r, lhs.span, rhs.span, "the two sides of the claim")?;
        Ok((l, r))
    }

    fn claim_expr(&mut self, e: &Expr) -> Result<NodeId, Diagnostic> {
        let mut scope = Scope {
            allow_grad: true,
            ..Scope::global()
        };
        self.expr(e, &mut scope).map_err(|f| match f {
            Fail::Diag(d) => *d,
            Fail::Poisoned => Diagnostic::new(
                Code::UnknownName,
                e.span,
                "this uses a name whose definition has an error",
            )
            .with_label("cannot be checked"),
        })
    }

    fn compatible_sides(
        &self,
        l: NodeId,
        r: NodeId,
        ls: Span,
        rs: Span,
        what: &str,
    ) -> Result<(), Diagnostic> {
        let (a, b) = (self.graph.shape(l), self.graph.shape(r));
        if a.is_empty() || b.is_empty() || shape::same_shape(&self.dims, a, b) {
            return Ok(());
        }
        Err(Diagnostic::new(
            Code::ShapeMismatch,
            rs,
            format!(
                "{what} have different shapes: {} and {}",
                show_shape(&self.dims, a),
                show_shape(&self.dims, b)
            ),
        )
        .with_label(format!("shape {}", show_shape(&self.dims, b)))
        .with_secondary(ls, format!("shape {}", show_shape(&self.dims, a))))
    }

    fn derive(&mut self, d: &ast::Derivation, span: Span) {
        let mut steps = Vec::new();
        let first_text = normalize_text(self.sources.slice(d.first.span));
        let (node, error) = match self.claim_expr(&d.first) {
            Ok(n) => (Some(n), None),
            Err(e) => (None, Some(e)),
        };
        steps.push(DerivationStep {
            node,
            differ: false,
            span: d.first.span,
            text: first_text,
            note: d.first_note.clone(),
            error,
        });
        for step in &d.steps {
            let text = normalize_text(self.sources.slice(step.expr.span));
            let prev = steps
                .last()
                .and_then(|s: &DerivationStep| s.node.map(|n| (n, s.span)));
            let result = self.claim_expr(&step.expr).and_then(|n| {
                if let Some((p, ps)) = prev {
                    self.compatible_sides(
                        p,
                        n,
                        ps,
                        step.expr.span,
                        "this step and the one before it",
                    )?;
                }
                Ok(n)
            });
            let (node, error) = match result {
                Ok(n) => (Some(n), None),
                Err(e) => (None, Some(e)),
            };
            steps.push(DerivationStep {
                node,
                differ: step.differ,
                span: step.span,
                text,
                note: step.note.clone(),
                error,
            });
        }
        self.derivations.push(Derivation { span, steps });
        self.statements
            .push(Statement::Derivation(self.derivations.len() - 1));
    }

    /// After every item: gradients need a target; `--dims` must name real dims.
    fn finish(&mut self) {
        if self.target.is_none() {
            let uses_grad = |g: &Graph, n: Option<NodeId>| {
                n.is_some_and(|n| g.depends_on(n, |x| matches!(x.op, Op::GradOf(_))))
            };
            let missing = |span: Span| {
                Diagnostic::new(
                    Code::MissingTarget,
                    span,
                    "`grad(...)` needs an `output` or a `loss` to differentiate",
                )
                .with_label("uses grad()")
                .with_help(
                    "declare `output NAME` or `loss NAME = EXPR` in this file or a file it uses",
                )
            };
            for c in &mut self.claims {
                if c.error.is_none()
                    && (uses_grad(&self.graph, c.lhs) || uses_grad(&self.graph, c.rhs))
                {
                    c.error = Some(missing(c.span));
                }
            }
            for d in &mut self.derivations {
                for s in &mut d.steps {
                    if s.error.is_none() && uses_grad(&self.graph, s.node) {
                        s.error = Some(missing(s.span));
                    }
                }
            }
        }
        let mut unused: Vec<&String> = self
            .overrides
            .keys()
            .filter(|k| !self.used_overrides.contains(*k))
            .collect();
        unused.sort();
        for name in unused {
            if matches!(self.globals.get(name), Some((Global::Dim(_), _))) {
                continue; // a derived dim: reported where it is declared
            }
            self.diags.push(
                Diagnostic::global(
                    Code::BadDim,
                    format!("--dims sets `{name}`, which is not a dim of this program"),
                )
                .with_note(format!(
                    "its dims are: {}",
                    self.dims
                        .declared()
                        .map(|(_, d)| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
    }

    /// A name in an expression.
    pub(super) fn name(&mut self, n: &str, span: Span, scope: &Scope) -> R<NodeId> {
        if let Some(&id) = scope.names.get(n) {
            return Ok(id);
        }
        if let Some(p) = scope.dims.get(n) {
            let p = p.clone();
            return Ok(self.scalar(Op::DimSize(p), span));
        }
        match self.globals.get(n).copied() {
            Some((Global::Dim(id), _)) => Ok(self.scalar(Op::DimSize(DimPoly::var(id)), span)),
            Some((Global::Tensor(t), def)) => {
                let tensor = &self.tensors[t.0 as usize];
                if let Some(f) = &scope.in_fn {
                    if tensor.kind != TensorKind::Const {
                        return Err(Diagnostic::new(
                            Code::UnknownName,
                            span,
                            format!("the body of `{f}` cannot see the tensor `{n}`"),
                        )
                        .with_label("not a parameter or local of this fn")
                        .with_secondary(def, "a top-level tensor")
                        .with_help(format!("pass `{n}` to `{f}` as a parameter"))
                        .into());
                    }
                }
                Ok(tensor.node)
            }
            Some((Global::Fn, _)) => Err(Diagnostic::new(
                Code::UnknownName,
                span,
                format!("`{n}` is a fn, not a tensor"),
            )
            .with_label("call it with arguments")
            .with_help(format!("write `{n}(...)`"))
            .into()),
            Some((Global::Poisoned, _)) => Err(Fail::Poisoned),
            None if n == "pi" => Ok(self.scalar(Op::Pi, span)),
            None => Err(self.unknown_name(n, span, scope).into()),
        }
    }

    fn unknown_name(&self, n: &str, span: Span, scope: &Scope) -> Diagnostic {
        if BUILTINS.contains(&n) {
            return Diagnostic::new(
                Code::UnknownName,
                span,
                format!("`{n}` is a built-in function, not a tensor"),
            )
            .with_label("call it with arguments")
            .with_help(format!("write `{n}(x)`"));
        }
        let mut d = Diagnostic::new(Code::UnknownName, span, format!("unknown name `{n}`"))
            .with_label("not defined");
        if let Some(later) = self.later.get(n) {
            if scope.in_fn.is_none() && (later.file != span.file || later.start > span.start) {
                return d
                    .with_label("used before it is defined")
                    .with_secondary(*later, "defined later, here")
                    .with_note("statements are read in order: define a name before using it (a definition cannot depend on itself)");
            }
        }
        let candidates: Vec<&str> = scope
            .names
            .keys()
            .chain(scope.dims.keys())
            .map(|s| s.as_str())
            .chain(self.globals.keys().map(|s| s.as_str()))
            .chain(std::iter::once("pi"))
            .collect();
        if let Some(s) = suggest(n, candidates) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        d
    }

    pub(super) fn scalar(&mut self, op: Op, span: Span) -> NodeId {
        self.graph.add(Node {
            op,
            args: vec![],
            shape: vec![],
            span,
        })
    }

    pub(super) fn node(&mut self, op: Op, args: Vec<NodeId>, shape: Shape, span: Span) -> NodeId {
        self.graph.add(Node {
            op,
            args,
            shape,
            span,
        })
    }

    /// Lower an expression.
    pub(super) fn expr(&mut self, e: &Expr, scope: &mut Scope) -> R<NodeId> {
        match &e.kind {
            ExprKind::Number(r, _) => Ok(self.scalar(Op::Literal(r.clone()), e.span)),
            ExprKind::Name(n) => self.name(n, e.span, scope),
            ExprKind::Paren(inner) => self.expr(inner, scope),
            ExprKind::Neg { count, operand } => {
                let mut node = self.expr(operand, scope)?;
                for _ in 0..*count {
                    let shape = self.graph.shape(node).clone();
                    node = self.node(Op::Neg, vec![node], shape, e.span);
                }
                Ok(node)
            }
            ExprKind::Transpose { count, operand } => {
                let mut node = self.expr(operand, scope)?;
                for _ in 0..*count {
                    let mut shape = self.graph.shape(node).clone();
                    let r = shape.len();
                    if r < 2 {
                        return Err(Diagnostic::new(
                            Code::BadAxis,
                            e.span,
                            format!(
                                "`.T` swaps the last two axes, but this has shape {}",
                                show_shape(&self.dims, &shape)
                            ),
                        )
                        .with_label(format!("{r} ax{}", axes_word(r)))
                        .with_help(
                            "a vector needs no transpose here; use reshape(x, [n, 1]) for a column",
                        )
                        .into());
                    }
                    shape.swap(r - 2, r - 1);
                    node = self.node(Op::SwapAxes(r - 2, r - 1), vec![node], shape, e.span);
                }
                Ok(node)
            }
            ExprKind::Pow { base, exponent } => {
                let b = self.expr(base, scope)?;
                let p = self.const_rational(exponent, scope)?;
                let shape = self.graph.shape(b).clone();
                Ok(self.node(Op::Pow(p), vec![b], shape, e.span))
            }
            ExprKind::Chain { first, rest } => {
                let mut acc = self.expr(first, scope)?;
                let mut acc_span = first.span;
                for (op, op_span, operand) in rest {
                    let rhs = self.expr(operand, scope)?;
                    acc = self.binary(*op, acc, rhs, *op_span, acc_span, operand.span)?;
                    acc_span = acc_span.join(operand.span);
                }
                Ok(acc)
            }
            ExprKind::Call { name, args } => {
                if let Some(def) = self.fn_defs.get(&name.name).cloned() {
                    return self.call_fn(def, e.span, args, scope, None);
                }
                self.builtin(name, args, e.span, scope)
            }
        }
    }

    fn binary(
        &mut self,
        op: ast::BinOp,
        a: NodeId,
        b: NodeId,
        op_span: Span,
        a_span: Span,
        b_span: Span,
    ) -> R<NodeId> {
        let (sa, sb) = (self.graph.shape(a).clone(), self.graph.shape(b).clone());
        let result = if op == ast::BinOp::MatMul {
            shape::matmul(&self.dims, &sa, &sb)
        } else {
            shape::broadcast(&self.dims, &sa, &sb)
        };
        let shape = result.map_err(|why| {
            let what = if op == ast::BinOp::MatMul {
                "cannot be multiplied"
            } else {
                "do not broadcast"
            };
            Diagnostic::new(
                Code::ShapeMismatch,
                op_span,
                format!(
                    "shape mismatch in `{}`: {} and {} {what}",
                    op.symbol(),
                    show_shape(&self.dims, &sa),
                    show_shape(&self.dims, &sb)
                ),
            )
            .with_label(format!("`{}` here", op.symbol()))
            .with_secondary(a_span, format!("left: {}", show_shape(&self.dims, &sa)))
            .with_secondary(b_span, format!("right: {}", show_shape(&self.dims, &sb)))
            .with_note(why)
        })?;
        let op = match op {
            ast::BinOp::Add => Op::Add,
            ast::BinOp::Sub => Op::Sub,
            ast::BinOp::Mul => Op::Mul,
            ast::BinOp::Div => Op::Div,
            ast::BinOp::MatMul => Op::MatMul,
        };
        Ok(self.node(op, vec![a, b], shape, op_span.join(a_span).join(b_span)))
    }

    /// An exact rational constant (exponents, axes): numbers, `const`s, `+ - * /`.
    pub(super) fn const_rational(&mut self, e: &Expr, scope: &Scope) -> R<BigRational> {
        let not_constant = |why: &str| -> Fail {
            Diagnostic::new(
                Code::NotConstant,
                e.span,
                format!("expected a rational constant here; {why}"),
            )
            .with_label("not a constant")
            .into()
        };
        match &e.kind {
            ExprKind::Number(r, _) => Ok(r.clone()),
            ExprKind::Paren(inner) => self.const_rational(inner, scope),
            ExprKind::Neg { count, operand } => {
                let v = self.const_rational(operand, scope)?;
                Ok(if count % 2 == 1 { -v } else { v })
            }
            ExprKind::Chain { first, rest } => {
                let mut acc = self.const_rational(first, scope)?;
                for (op, _, operand) in rest {
                    let v = self.const_rational(operand, scope)?;
                    acc = match op {
                        ast::BinOp::Add => acc + v,
                        ast::BinOp::Sub => acc - v,
                        ast::BinOp::Mul => acc * v,
                        ast::BinOp::Div if v.is_zero() => {
                            return Err(not_constant("it divides by zero"))
                        }
                        ast::BinOp::Div => acc / v,
                        ast::BinOp::MatMul => {
                            return Err(not_constant("`@` is not scalar arithmetic"))
                        }
                    };
                }
                Ok(acc)
            }
            ExprKind::Name(n) => {
                if let Some((Global::Tensor(t), _)) = self.globals.get(n) {
                    let tensor = &self.tensors[t.0 as usize];
                    if tensor.kind == TensorKind::Const {
                        if let Some(v) = rational_value(&self.graph, tensor.node) {
                            return Ok(v);
                        }
                    }
                }
                if scope.names.contains_key(n) || self.globals.contains_key(n) {
                    Err(not_constant(&format!("`{n}` is not a rational const")))
                } else {
                    Err(self.unknown_name(n, e.span, scope).into())
                }
            }
            _ => Err(not_constant("use a number like `2`, `-1` or `(1/2)`")),
        }
    }
}

/// The exact value of a scalar node built only from literals and `+ - * /`, `-`, integer `**`.
fn rational_value(graph: &Graph, root: NodeId) -> Option<BigRational> {
    let mut values: HashMap<NodeId, BigRational> = HashMap::new();
    let mut stack = vec![(root, false)];
    while let Some((id, ready)) = stack.pop() {
        if values.contains_key(&id) {
            continue;
        }
        let node = graph.node(id);
        if !node.shape.is_empty() {
            return None;
        }
        if !ready {
            stack.push((id, true));
            stack.extend(node.args.iter().map(|&a| (a, false)));
            continue;
        }
        let arg = |i: usize| values.get(&node.args[i]).cloned();
        let v = match &node.op {
            Op::Literal(r) => r.clone(),
            Op::Neg => -arg(0)?,
            Op::Add => arg(0)? + arg(1)?,
            Op::Sub => arg(0)? - arg(1)?,
            Op::Mul => arg(0)? * arg(1)?,
            Op::Div => {
                let d = arg(1)?;
                if d.is_zero() {
                    return None;
                }
                arg(0)? / d
            }
            Op::Pow(p) if p.denom().is_one() => {
                let base = arg(0)?;
                let e: i32 = p.numer().try_into().ok()?;
                if e < 0 && base.is_zero() {
                    return None;
                }
                num_traits::pow::Pow::pow(&base, e)
            }
            _ => return None,
        };
        values.insert(id, v);
    }
    values.remove(&root)
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub(super) fn axes_word(n: usize) -> &'static str {
    if n == 1 {
        "is"
    } else {
        "es"
    }
}

/// Collapse runs of whitespace (and drop comments) for one-line display of source text.
pub fn normalize_text(text: &str) -> String {
    let no_comments: String = text
        .lines()
        .map(|l| match l.find('#') {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join(" ");
    no_comments.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn redefinition(name: &str, span: Span, prev: Span, sources: &SourceMap) -> Diagnostic {
    let mut d = Diagnostic::new(
        Code::Redefinition,
        span,
        format!("`{name}` is already defined"),
    )
    .with_label("defined again here")
    .with_secondary(prev, "first defined here")
    .with_help("names are single-assignment: give the new value a new name");
    if prev.file != span.file {
        d = d.with_note(format!(
            "the first definition is at {}",
            sources.location(prev)
        ));
    }
    d
}

fn builtin_redefinition(name: &ast::Ident) -> Diagnostic {
    Diagnostic::new(
        Code::Redefinition,
        name.span,
        format!("`{}` is a built-in and cannot be redefined", name.name),
    )
    .with_label("built-in name")
    .with_help("choose another name")
}
