//! Names in expressions: parameters and locals of a fn body, dims as sizes, tensors, `pi`;
//! an unknown name says whether it is defined later and which name is closest.

use super::{Fail, Global, Lowerer, Scope, R};
use crate::diag::{suggest, Code, Diagnostic};
use crate::ir::dims::DimPoly;
use crate::ir::op::is_reserved;
use crate::ir::{NodeId, Op, TensorKind};
use crate::source::Span;

impl Lowerer<'_> {
    /// A name in an expression.
    pub(super) fn name(&mut self, n: &str, span: Span, scope: &Scope) -> R<NodeId> {
        if let Some(&id) = scope.names.get(n) {
            return Ok(id);
        }
        if n.contains('.') {
            return self.local_name(n, span, scope);
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

    /// `m.var`: the local `var` of the call labelled `m` (top level only: a fn body sees
    /// its own parameters and locals).
    fn local_name(&self, n: &str, span: Span, scope: &Scope) -> R<NodeId> {
        if let Some(f) = &scope.in_fn {
            return Err(Diagnostic::new(
                Code::UnknownName,
                span,
                format!("the body of `{f}` cannot see `{n}`, a local of another call"),
            )
            .with_label("not a parameter or local of this fn")
            .with_help(format!("pass it to `{f}` as a parameter"))
            .into());
        }
        if let Some(&t) = self.locals.get(n) {
            return Ok(self.tensors[t.0 as usize].node);
        }
        let (call, local) = n.rsplit_once('.').expect("a dotted name");
        let d = Diagnostic::new(Code::UnknownName, span, format!("unknown name `{n}`"));
        // The labels of the calls recorded so far (`show`'s call lines), for the error only.
        let mut labels: Vec<&str> = self
            .statements
            .iter()
            .filter_map(|s| match s {
                crate::ir::Statement::Call { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect();
        labels.sort_unstable();
        if labels.contains(&call) {
            let prefix = format!("{call}.");
            let mut names: Vec<&str> = self
                .locals
                .keys()
                .filter_map(|k| k.strip_prefix(prefix.as_str()))
                .filter(|k| !k.contains('.'))
                .collect();
            names.sort_unstable();
            let mut d = d
                .with_label(format!("the call `{call}` has no local `{local}`"))
                .with_note(format!(
                    "the locals of `{call}` are {}",
                    if names.is_empty() {
                        "none (its fn only returns)".to_string()
                    } else {
                        names.join(", ")
                    }
                ));
            if let Some(s) = suggest(local, names) {
                d = d.with_help(format!("did you mean `{call}.{s}`?"));
            }
            return Err(d.into());
        }
        let mut d = d
            .with_label(format!("no fn call is labelled `{call}`"))
            .with_note(
                "`CALL.local` names a local of an inlined fn call: CALL is the name the call is \
                 bound to (`m` in `m = layer_norm(...)`), or the fn's name for a call inside an \
                 expression (`attention`, then `attention2`, ...)",
            );
        if let Some(s) = suggest(call, labels) {
            d = d.with_help(format!("did you mean `{s}.{local}`?"));
        }
        Err(d.into())
    }

    pub(super) fn unknown_name(&self, n: &str, span: Span, scope: &Scope) -> Diagnostic {
        if is_reserved(n) && n != "pi" {
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
            if let Some(f) = &scope.in_fn {
                // A const a fn reads, defined after the call being expanded (e.g. in a file
                // `use`d at the end).
                return d
                    .with_label("not defined yet where the fn is called")
                    .with_secondary(*later, "defined later, here")
                    .with_note(format!("`{f}` is expanded where it is called, so what it reads must be defined before that call (put `use` lines first)"));
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
}
