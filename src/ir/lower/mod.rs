//! Lowering: from the AST of a loaded program to the typed tensor graph.
//!
//! Owns name resolution (one global namespace for dims, tensors and fns; fn bodies see only
//! their parameters, locals, dims and consts), dim declarations and `--dims` overrides, shape
//! checking of every expression, `fn` inlining (signature dims are generic and unified per
//! call; each fn body is also checked once generically where it is defined, so a library of
//! fns is checked even if nothing calls it), claims and derivations.
//!
//! One file per concept, each an `impl Lowerer` block over the state defined here: `dims`
//! (dim declarations, size expressions), `names` (resolution), `expr` (expressions and
//! operators), `call` (built-in calls read from the op table), `fns` (fn checking and
//! inlining), `claims` (claims and derivations). They import from this file, never from each
//! other's internals.
//!
//! Error policy: a failing statement records one diagnostic and poisons its name, so later
//! uses of that name fail silently instead of cascading. Errors in claims and derivation
//! steps are kept on the claim (its verdict will be `error`); every other error is fatal.

mod call;
mod claims;
mod dims;
mod expr;
mod fns;
mod names;
mod tokens;

use super::dims::{DimId, DimPoly, Dims};
use super::op::is_reserved;
use super::shape::show_shape;
use super::*;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, SourceMap, Span};
use crate::syntax::ast::{self, Expr, ExprKind, FnDef, Item, ItemKind};
use crate::syntax::Loaded;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// Deepest chain of fns calling fns (inlining is recursive).
pub const MAX_INLINE_DEPTH: usize = 32;

/// Most operations a program may have once its fns are inlined (each copy is real work for
/// every later stage; a fn calling another twice per level doubles the count per level).
pub const MAX_GRAPH_NODES: usize = 500_000;

/// Options of lowering.
#[derive(Debug, Clone, Default)]
pub struct LowerOptions {
    /// `--dims T=2,d=3`: sizes for base dims, replacing the declared ones.
    pub dim_overrides: Vec<(String, u64)>,
}

/// Why an expression could not be lowered.
enum Fail {
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

type R<T> = Result<T, Fail>;

#[derive(Debug, Clone, Copy)]
enum Global {
    Dim(DimId),
    Tensor(TensorId),
    Fn,
    Poisoned,
}

/// What an expression can see.
struct Scope {
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
    /// Labels handed out to calls not bound to a name in this body, by fn.
    pub calls: HashMap<String, u32>,
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
            calls: HashMap::new(),
        }
    }
}

struct Lowerer<'s> {
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
    /// Labels handed out to calls not bound to a name at top level, by fn.
    pub top_calls: HashMap<String, u32>,
    /// The recorded locals of inlined calls by qualified name (`m.var`), for `m.var` and
    /// `grad(m.var)` at top level.
    pub locals: HashMap<String, TensorId>,
    pub overrides: HashMap<String, u64>,
    pub used_overrides: HashSet<String>,
    pub onehot: Vec<TensorId>,
    pub token_leaves: Vec<TokenLeaf>,
    pub vocab: Option<Vocab>,
    pub checkpoint_names: Vec<(TensorId, String, Span)>,
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
    lower_items(sources, root, std::sync::Arc::new(items), options)
}

/// [`lower`] of parsed items shared with the program it makes (so the program can be lowered
/// again at other sizes: [`Program::resized`]).
pub(crate) fn lower_items(
    sources: SourceMap,
    root: FileId,
    items: std::sync::Arc<Vec<(FileId, Item)>>,
    options: &LowerOptions,
) -> Result<Program, (SourceMap, Vec<Diagnostic>)> {
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
        top_calls: HashMap::new(),
        locals: HashMap::new(),
        overrides: HashMap::new(),
        used_overrides: HashSet::new(),
        onehot: Vec::new(),
        token_leaves: Vec::new(),
        vocab: None,
        checkpoint_names: Vec::new(),
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
    for (file, item) in items.iter() {
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
        onehot,
        token_leaves,
        vocab,
        checkpoint_names,
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
        items,
        options: options.clone(),
        onehot,
        token_leaves,
        vocab,
        checkpoint_names,
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
                    if is_reserved(&def.name.name) {
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
                // A failed dim poisons its name: its uses fail silently (one error, not one
                // per shape that mentions it).
                if let Some(id) = self.report_named(name, |l| l.dim_decl(name, value, item.span)) {
                    if is_root {
                        self.statements.push(Statement::Dim(id, item.span));
                    }
                }
            }
            ItemKind::Vocab {
                name,
                chars,
                text_span,
            } => {
                if let Some(id) = self.report_named(name, |l| l.vocab_decl(name, chars, *text_span))
                {
                    if is_root {
                        self.statements.push(Statement::Dim(id, item.span));
                    }
                }
            }
            ItemKind::Leaf {
                kind,
                name,
                shape,
                onehot,
                source,
                tokens,
            } => {
                let result = self.report_named(name, |l| {
                    l.check_new_name(name)?;
                    let shape = l.shape_expr(shape, &Scope::global())?;
                    if *onehot && shape.is_empty() {
                        return Err(Diagnostic::new(
                            Code::ShapeMismatch,
                            name.span,
                            format!(
                                "`{}` is declared onehot but is a scalar: one-hot rows need an axis",
                                name.name
                            ),
                        )
                        .into());
                    }
                    if *onehot {
                        l.onehot.push(TensorId(l.tensors.len() as u32));
                    }
                    let tensor = TensorId(l.tensors.len() as u32);
                    if let Some(facts) = tokens {
                        l.token_leaf(name, &shape, facts, tensor)?;
                    }
                    if let Some((checkpoint, span)) = source {
                        l.checkpoint_names.push((tensor, checkpoint.clone(), *span));
                    }
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
        if is_reserved(&name.name) {
            return Err(builtin_redefinition(name).into());
        }
        Ok(())
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
            if matches!(
                self.globals.get(name),
                Some((Global::Dim(_) | Global::Poisoned, _))
            ) {
                continue; // a derived dim: reported where it is declared
            }
            let declared: Vec<&str> = self.dims.declared().map(|(_, d)| d.name.as_str()).collect();
            let mut d = Diagnostic::global(
                Code::BadDim,
                format!("--dims sets `{name}`, which is not a dim of this program"),
            )
            .with_note(format!("its dims are: {}", declared.join(", ")));
            if let Some(s) = crate::diag::suggest(name, declared.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            self.diags.push(d);
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn axes_word(n: usize) -> &'static str {
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
