//! Why the simplifier could not do its work, as a type: callers (the gradient printer, the
//! checker's proofs, a diagnosis's tidying) match on the variant; the text is for people.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimplifyError {
    /// A rule merged classes whose shapes or constants differ: an unsound rule (a bug).
    Conflict(String),
    /// A term the e-graph cannot hold or give back (a fn parameter outside its fn, an
    /// unknown name, a class that was not extracted): a bug.
    Untranslatable(String),
    /// Extraction could not choose an acyclic program.
    Extraction(String),
    /// An explanation with no terms.
    EmptyExplanation,
    /// The extracted program costs more than the raw one (so the raw one is kept).
    NotCheaper { flops: u128 },
}

impl fmt::Display for SimplifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimplifyError::Conflict(c) => write!(f, "a rule merged unequal shapes ({c})"),
            SimplifyError::Untranslatable(w) => write!(f, "{w}"),
            SimplifyError::Extraction(w) => write!(f, "{w}"),
            SimplifyError::EmptyExplanation => write!(f, "an empty explanation"),
            SimplifyError::NotCheaper { flops } => write!(
                f,
                "the extracted program ({flops} FLOPs) was not cheaper than the raw one"
            ),
        }
    }
}
