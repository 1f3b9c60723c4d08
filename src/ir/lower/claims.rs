//! Claims and derivations in lowering: both sides lowered with `grad(NAME)` allowed and
//! their shapes compared; an error stays on its claim or step (its verdict is `error`).

use super::{normalize_text, Fail, Lowerer, Scope};
use crate::diag::{Code, Diagnostic};
use crate::ir::shape::{self, show_shape};
use crate::ir::{Claim, Derivation, DerivationStep, NodeId, Statement};
use crate::source::Span;
use crate::syntax::ast::{self, Expr};

impl Lowerer<'_> {
    pub(super) fn claim(&mut self, lhs: &Expr, rhs: &Expr, differ: bool, span: Span) {
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

    pub(super) fn claim_sides(
        &mut self,
        lhs: &Expr,
        rhs: &Expr,
    ) -> Result<(NodeId, NodeId), Diagnostic> {
        let l = self.claim_expr(lhs)?;
        let r = self.claim_expr(rhs)?;
        self.compatible_sides(l, r, lhs.span, rhs.span, "the two sides of the claim")?;
        Ok((l, r))
    }

    pub(super) fn claim_expr(&mut self, e: &Expr) -> Result<NodeId, Diagnostic> {
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

    pub(super) fn compatible_sides(
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

    pub(super) fn derive(&mut self, d: &ast::Derivation, span: Span) {
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
}
