//! Token ids in lowering: `vocab V = "..."` (a character vocabulary whose size is the dim
//! `V`) and the facts of `tokens ids : [T] in V = next(text)` declarations.
//!
//! Invariants: a vocabulary has at least one character and no character twice; token ids
//! are a vector; `next(x)` names an earlier `tokens` leaf of the same shape and range.

use super::{Global, Lowerer, Scope, R};
use crate::diag::{Code, Diagnostic};
use crate::ir::dims::{DimDecl, DimDef, DimId, DimPoly};
use crate::ir::{TensorId, TokenLeaf, Vocab};
use crate::source::Span;
use crate::syntax::ast::{self, TokenFacts};

impl Lowerer<'_> {
    /// `vocab V = "..."`: the dim `V`, sized by the number of characters.
    pub(super) fn vocab_decl(&mut self, name: &ast::Ident, chars: &[char], text: Span) -> R<DimId> {
        self.check_new_name(name)?;
        if let Some(prev) = &self.vocab {
            return Err(Diagnostic::new(
                Code::Redefinition,
                name.span,
                format!(
                    "a file has one vocabulary, and `{}` is declared already",
                    prev.dim
                ),
            )
            .with_secondary(prev.span, "the first vocabulary")
            .into());
        }
        if chars.is_empty() {
            return Err(Diagnostic::new(
                Code::BadDim,
                text,
                "a vocabulary needs at least one character",
            )
            .with_label("empty")
            .into());
        }
        for (i, c) in chars.iter().enumerate() {
            if let Some(j) = chars[..i].iter().position(|d| d == c) {
                return Err(Diagnostic::new(
                    Code::BadDim,
                    text,
                    format!(
                        "the vocabulary has {} twice (ids {j} and {i}): each character needs one id",
                        shown(*c)
                    ),
                )
                .with_label("a character twice")
                .into());
            }
        }
        let size = chars.len() as u64;
        if let Some(&given) = self.overrides.get(&name.name) {
            if given != size {
                return Err(Diagnostic::new(
                    Code::BadDim,
                    name.span,
                    format!(
                        "--dims sets `{}` to {given}, but it is the vocabulary's size, {size}",
                        name.name
                    ),
                )
                .with_label("the vocabulary")
                .into());
            }
            self.used_overrides.insert(name.name.clone());
        }
        let id = self.dims.add(DimDecl {
            name: name.name.clone(),
            def: DimDef::Base,
            size: Some(size),
        });
        self.globals
            .insert(name.name.clone(), (Global::Dim(id), name.span));
        self.vocab = Some(Vocab {
            dim: name.name.clone(),
            chars: chars.to_vec(),
            span: text,
        });
        Ok(id)
    }

    /// The facts of a `tokens` leaf about to be `tensor`, of shape `shape`.
    pub(super) fn token_leaf(
        &mut self,
        name: &ast::Ident,
        shape: &[DimPoly],
        facts: &TokenFacts,
        tensor: TensorId,
    ) -> R<()> {
        if shape.len() != 1 {
            return Err(Diagnostic::new(
                Code::ShapeMismatch,
                name.span,
                format!(
                    "token ids are a vector `[T]`; `{}` has {} axes",
                    name.name,
                    shape.len()
                ),
            )
            .into());
        }
        let range = self.dim_expr(&facts.range, &Scope::global())?;
        let next_of = match &facts.next_of {
            None => None,
            Some(text) => {
                let earlier = match self.globals.get(&text.name) {
                    Some((Global::Tensor(t), _)) => Some(*t),
                    _ => None,
                };
                let leaf = earlier.and_then(|t| self.token_leaves.iter().find(|l| l.tensor == t));
                let Some(leaf) = leaf else {
                    return Err(Diagnostic::new(
                        Code::UnknownName,
                        text.span,
                        format!(
                            "`next({})` needs `{}` declared earlier as `tokens`",
                            text.name, text.name
                        ),
                    )
                    .with_label("not a tokens declaration")
                    .into());
                };
                let same_shape = self.dims.same(
                    &self.graph.shape(self.tensors[leaf.tensor.0 as usize].node)[0],
                    &shape[0],
                );
                if !same_shape || !self.dims.same(&leaf.range, &range) {
                    return Err(Diagnostic::new(
                        Code::ShapeMismatch,
                        name.span,
                        format!(
                            "`{}` = next({}) needs the same shape and vocabulary as `{}`",
                            name.name, text.name, text.name
                        ),
                    )
                    .into());
                }
                Some(leaf.tensor)
            }
        };
        self.token_leaves.push(TokenLeaf {
            tensor,
            range,
            next_of,
        });
        Ok(())
    }
}

/// A character as a person reads it in a message.
fn shown(c: char) -> String {
    match c {
        '\n' => "`\\n`".into(),
        '\t' => "`\\t`".into(),
        c => format!("`{c}`"),
    }
}
