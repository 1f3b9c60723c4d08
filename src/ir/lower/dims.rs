//! Dims in lowering: `dim` declarations (with `--dims` overrides), size expressions in
//! shapes and in `reshape`/`eye` arguments, and declared shapes.

use super::{Fail, Global, Lowerer, Scope, R};
use crate::diag::{suggest, Code, Diagnostic};
use crate::ir::dims::{DimDecl, DimDef, DimId, DimPoly, MAX_SIZE};
use crate::ir::shape::Shape;
use crate::source::Span;
use crate::syntax::ast::{self, DimExpr, DimExprKind, DimOp};
use num_rational::BigRational;

impl Lowerer<'_> {
    pub(super) fn dim_decl(&mut self, name: &ast::Ident, value: &DimExpr, span: Span) -> R<DimId> {
        self.check_new_name(name)?;
        let poly = self.dim_expr(value, &Scope::global())?;
        let override_size = self.overrides.get(&name.name).copied();
        let decl = if let Some(c) = poly.as_constant() {
            let Some(declared) = DimPoly::positive_integer(&c) else {
                let why = if c.is_integer() && c > BigRational::from_integer(MAX_SIZE.into()) {
                    format!(
                        "dim `{}` = {c} is larger than the largest size handtrace takes (2^40)",
                        name.name
                    )
                } else {
                    format!(
                        "dim `{}` must be a positive whole number, found {c}",
                        name.name
                    )
                };
                return Err(Diagnostic::new(Code::BadDim, value.span, why)
                    .with_label("not a valid size")
                    .into());
            };
            if let Some(size) = override_size.filter(|&s| s > MAX_SIZE) {
                return Err(Diagnostic::new(
                    Code::BadDim,
                    value.span,
                    format!(
                        "--dims sets `{}` to {size}, larger than the largest size handtrace takes (2^40)",
                        name.name
                    ),
                )
                .with_label("this dim")
                .into());
            }
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
            DimExprKind::Int(n) => Ok(DimPoly::constant(n.clone())),
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

    pub(super) fn dim_name(&self, n: &str, span: Span, scope: &Scope) -> R<DimPoly> {
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
                if let Some(f) = &scope.in_fn {
                    d = d.with_note(format!(
                        "a generic dim of `{f}` is a name that stands alone in a parameter's shape (`x: [N, {n}]`); inside an expression like `2*{n}` it must already be bound"
                    ));
                }
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
}
