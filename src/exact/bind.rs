//! Real data for a program's leaves: token ids (from text through the file's vocabulary, or
//! a list of ids) and tensors from a safetensors checkpoint.
//!
//! Owns [`token_ids`] (text or ids → checked ids), [`token_length`] (the size the text
//! gives the tokens' length dim), [`token_values`] (ids → the `tokens` leaves: a `next(ids)`
//! leaf reads the same text one position on) and [`checkpoint_values`] (each leaf bound to a
//! checkpoint tensor by its `from "name"`, else by its own name; shapes checked against the
//! declared shape at the sizes in use; values exact).
//!
//! Invariants: a leaf bound with `from` must be in the checkpoint (else an error naming both
//! names); a leaf without `from` that the checkpoint lacks keeps its random values and is
//! listed; every checkpoint tensor no leaf reads is listed; values are never rounded.

use super::inputs::concrete_shape;
use super::num::Num;
use super::tensor::{self, Tensor};
use super::weights::{Checkpoint, WeightsError};
use crate::ir::shape::show_shape;
use crate::ir::{Program, TensorId, TensorKind};
use crate::source::Span;
use std::collections::HashMap;

/// Where the token ids come from.
#[derive(Debug, Clone, Copy)]
pub enum TokenSource<'a> {
    /// `--text "..."`: each character through the file's `vocab`.
    Text(&'a str),
    /// `--tokens 3,1,4`.
    Ids(&'a [usize]),
}

/// Why real data does not fit the program.
#[derive(Debug, Clone, PartialEq)]
pub enum BindError {
    /// Token ids given, but the file declares no `tokens`.
    NoTokens,
    /// `--text` without a `vocab` in the file.
    NoVocab,
    /// A character of the text that the vocabulary lacks (0-based position).
    NotInVocab { position: usize, ch: char },
    /// An id outside the vocabulary's range.
    OutOfRange {
        position: usize,
        id: usize,
        range: usize,
    },
    /// Too few tokens for the declared length (or none).
    TooShort { needed: usize, found: usize },
    /// The tokens' length is not a dim the text can size (`[2*T]`).
    LengthNotADim { shape: String },
    /// `--dims` sets the tokens' length dim to another size than the tokens give.
    LengthSet {
        dim: String,
        given: u64,
        length: u64,
        count: usize,
    },
    /// The program does not lower at the length the tokens give.
    Resize(Vec<crate::diag::Diagnostic>),
    /// The checkpoint file is not readable or a tensor's values are not usable.
    Weights(WeightsError),
    /// A leaf bound by `from "name"` to a tensor the checkpoint lacks.
    Missing {
        leaf: String,
        tensor: String,
        span: Span,
        /// Checkpoint names that look alike.
        close: Vec<String>,
    },
    /// A checkpoint tensor whose shape is not the leaf's at the sizes in use.
    Shape {
        leaf: String,
        tensor: String,
        file: Vec<usize>,
        declared: String,
        sizes: Vec<usize>,
    },
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::NoTokens => write!(
                f,
                "token ids were given, but the file declares no `tokens NAME : [T] in V`"
            ),
            BindError::NoVocab => write!(
                f,
                "--text needs a character vocabulary in the file: `vocab V = \"...\"` (or give ids with --tokens)"
            ),
            BindError::NotInVocab { position, ch } => write!(
                f,
                "character {} of the text, {:?}, is not in the file's vocabulary",
                position + 1,
                ch
            ),
            BindError::OutOfRange { position, id, range } => write!(
                f,
                "token {} is {id}, outside the vocabulary's ids 0..{}",
                position + 1,
                range.saturating_sub(1)
            ),
            BindError::TooShort { needed, found } => write!(
                f,
                "{found} tokens given, but the file needs at least {needed}"
            ),
            BindError::LengthNotADim { shape } => write!(
                f,
                "the tokens' shape {shape} is not one dim, so the text cannot set its length; give --dims"
            ),
            BindError::LengthSet {
                dim,
                given,
                length,
                count,
            } => write!(
                f,
                "--dims sets {dim}={given}, but the {count} tokens give {dim}={length}"
            ),
            BindError::Resize(_) => write!(f, "the file does not lower at the tokens' length"),
            BindError::Weights(e) => write!(f, "{e}"),
            BindError::Missing {
                leaf,
                tensor,
                close,
                ..
            } => {
                write!(
                    f,
                    "`{leaf}` is bound to checkpoint tensor \"{tensor}\", which the weights file does not have"
                )?;
                if !close.is_empty() {
                    write!(f, " (similar names: {})", close.join(", "))?;
                }
                Ok(())
            }
            BindError::Shape {
                leaf,
                tensor,
                file,
                declared,
                sizes,
            } => write!(
                f,
                "checkpoint tensor \"{tensor}\" has shape {file:?}, but `{leaf}` is declared {declared} = {sizes:?} at the sizes in use"
            ),
        }
    }
}

/// The token ids of `source`, each checked against the vocabulary's range.
pub fn token_ids(program: &Program, source: TokenSource) -> Result<Vec<usize>, BindError> {
    let leaf = program.token_leaves.first().ok_or(BindError::NoTokens)?;
    let ids = match source {
        TokenSource::Text(text) => {
            let vocab = program.vocab.as_ref().ok_or(BindError::NoVocab)?;
            vocab
                .encode(text)
                .map_err(|(position, ch)| BindError::NotInVocab { position, ch })?
        }
        TokenSource::Ids(ids) => ids.to_vec(),
    };
    let range = program
        .dims
        .sizes(std::slice::from_ref(&leaf.range))
        .map_or(0, |s| s[0]);
    if let Some((position, &id)) = ids.iter().enumerate().find(|(_, &id)| id >= range) {
        return Err(BindError::OutOfRange {
            position,
            id,
            range,
        });
    }
    Ok(ids)
}

/// The tokens' length dim and the size `count` tokens give it (one less when a `next(ids)`
/// leaf reads one position on).
pub fn token_length(program: &Program, count: usize) -> Result<(String, u64), BindError> {
    let leaf = program.token_leaves.first().ok_or(BindError::NoTokens)?;
    let shape = program.shape_of(leaf.tensor);
    let shifted = usize::from(program.token_leaves.iter().any(|l| l.next_of.is_some()));
    let dim = shape[0]
        .as_var()
        .filter(|&d| matches!(program.dims.get(d).def, crate::ir::DimDef::Base))
        .ok_or_else(|| BindError::LengthNotADim {
            shape: show_shape(&program.dims, shape),
        })?;
    if count < 1 + shifted {
        return Err(BindError::TooShort {
            needed: 1 + shifted,
            found: count,
        });
    }
    Ok((program.dims.name(dim).to_string(), (count - shifted) as u64))
}

/// The program at the length `source`'s tokens give (its length dim resized; `fixed` are
/// the sizes the person set, which must agree), with the `tokens` leaves' values.
pub fn fit_tokens(
    program: Program,
    source: TokenSource,
    fixed: &[(String, u64)],
) -> Result<(Program, HashMap<TensorId, Tensor<Num>>), BindError> {
    let ids = token_ids(&program, source)?;
    let (dim, length) = token_length(&program, ids.len())?;
    if let Some((_, given)) = fixed.iter().find(|(n, s)| *n == dim && *s != length) {
        return Err(BindError::LengthSet {
            dim,
            given: *given,
            length,
            count: ids.len(),
        });
    }
    let program = program
        .resized(&[(dim, length)])
        .map_err(BindError::Resize)?;
    let values = token_values(&program, &ids)?;
    Ok((program, values))
}

/// The `tokens` leaves' values from `ids` (a leaf `next(x)` reads x's text one position on).
pub fn token_values(
    program: &Program,
    ids: &[usize],
) -> Result<HashMap<TensorId, Tensor<Num>>, BindError> {
    let mut out = HashMap::new();
    for leaf in &program.token_leaves {
        let shape = concrete_shape(program, leaf.tensor);
        let start = usize::from(leaf.next_of.is_some());
        let needed = start + shape[0];
        if ids.len() < needed {
            return Err(BindError::TooShort {
                needed,
                found: ids.len(),
            });
        }
        let data = ids[start..needed]
            .iter()
            .map(|&k| Num::from_int(k as i64))
            .collect();
        out.insert(
            leaf.tensor,
            tensor::from_vec(&shape, data).expect("shape and data agree"),
        );
    }
    Ok(out)
}

/// Leaves read from a checkpoint.
#[derive(Debug, Default)]
pub struct Bound {
    pub leaves: HashMap<TensorId, Tensor<Num>>,
    /// `(leaf, checkpoint name)` of every leaf read.
    pub read: Vec<(TensorId, String)>,
    /// Checkpoint tensors no leaf reads, sorted.
    pub unused: Vec<String>,
    /// Leaves (not `tokens`, without `from`) the checkpoint lacks: they keep random values.
    pub absent: Vec<TensorId>,
}

/// Every leaf's values from `checkpoint`.
pub fn checkpoint_values(program: &Program, checkpoint: &Checkpoint) -> Result<Bound, BindError> {
    let names = checkpoint.names();
    let mut bound = Bound::default();
    for (i, t) in program.tensors.iter().enumerate() {
        let id = TensorId(i as u32);
        if !matches!(t.kind, TensorKind::Leaf(_)) {
            continue;
        }
        let tokens = program.token_leaves.iter().any(|l| l.tensor == id);
        let explicit = program
            .checkpoint_names
            .iter()
            .find(|(leaf, _, _)| *leaf == id);
        let name = match explicit {
            Some((_, name, span)) => {
                if checkpoint.info(name).is_none() {
                    return Err(BindError::Missing {
                        leaf: t.name.clone(),
                        tensor: name.clone(),
                        span: *span,
                        close: close_names(name, &names),
                    });
                }
                name.clone()
            }
            None if tokens => continue,
            None if checkpoint.info(&t.name).is_some() => t.name.clone(),
            None => {
                bound.absent.push(id);
                continue;
            }
        };
        let info = checkpoint.info(&name).expect("checked above");
        let shape = concrete_shape(program, id);
        if info.shape != shape {
            return Err(BindError::Shape {
                leaf: t.name.clone(),
                tensor: name,
                file: info.shape,
                declared: show_shape(&program.dims, program.shape_of(id)),
                sizes: shape,
            });
        }
        let values = checkpoint.values(&name).map_err(BindError::Weights)?;
        let data = values.into_iter().map(Num::exact).collect();
        bound.leaves.insert(
            id,
            tensor::from_vec(&shape, data).expect("shape and data agree"),
        );
        bound.read.push((id, name));
    }
    bound.unused = names
        .into_iter()
        .filter(|n| !bound.read.iter().any(|(_, r)| r == n))
        .collect();
    Ok(bound)
}

/// Up to three checkpoint names that share the most dotted parts with `name`.
fn close_names(name: &str, names: &[String]) -> Vec<String> {
    let parts: Vec<&str> = name.split('.').collect();
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (n.split('.').filter(|p| parts.contains(p)).count(), n))
        .filter(|(k, _)| *k > 0)
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, n)| n.clone()).collect()
}
