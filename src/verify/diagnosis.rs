//! What a diagnosis is: the mistake that fits a refuted claim, as data.
//!
//! Owns [`Diagnosis`] and [`Mistake`]. A mistake names its kind and the expressions it is
//! about as nodes of the diagnosis's own graph (the program's graph plus the corrected
//! expressions built while diagnosing), so each renderer prints them in its own notation:
//! code in text, math in LaTeX. Nothing here is text.
//!
//! Invariant: every node a mistake names is a node of [`Diagnosis::graph`].

use crate::exact::num::Num;
use crate::ir::{Graph, NodeId, TensorId};

/// The mistake that fits, with the graph its nodes live in.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub mistake: Mistake,
    pub graph: Graph,
}

/// Which side of the claim is the person's (the other is the reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The true gradient, `grad(X)`, derived by handtrace.
    TrueGradient,
    /// The left side of the claim (the previous line of a derivation).
    LeftSide,
}

/// A constant a factor may be named by: a size of the dims, its square root, their
/// inverses, or a small number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorName {
    Size(String),
    Root(String),
    InverseSize(String),
    InverseRoot(String),
    /// 2 or 1/2 (numerator, denominator).
    Number(i64, i64),
    /// A product of sizes with a small coefficient: `coefficient · Π up / Π down` (e.g.
    /// K/2, the factor between 2/(N·K) and 1/N; N·K; N/K).
    Product {
        coefficient: (i64, i64),
        up: Vec<String>,
        down: Vec<String>,
    },
}

/// A factor of a product's numerator or denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    Number(i64),
    Dim(&'a str),
}

/// The numerator's and denominator's factors of `coefficient · Π up / Π down`, in order:
/// the coefficient's numerator only when it is not 1 or nothing else is on top, its
/// denominator only when it is not 1.
pub fn product_parts<'a>(
    (n, d): (i64, i64),
    up: &'a [String],
    down: &'a [String],
) -> (Vec<Part<'a>>, Vec<Part<'a>>) {
    let mut top = Vec::new();
    if n != 1 || up.is_empty() {
        top.push(Part::Number(n));
    }
    top.extend(up.iter().map(|u| Part::Dim(u)));
    let mut bottom = Vec::new();
    if d != 1 {
        bottom.push(Part::Number(d));
    }
    bottom.extend(down.iter().map(|u| Part::Dim(u)));
    (top, bottom)
}

/// What a refuted claim gets wrong.
#[derive(Debug, Clone)]
pub enum Mistake {
    /// The right side is minus the left side.
    SignFlipped,
    /// The right side is the transpose of the left side.
    Transposed,
    /// The right side is `value` × the left side; `names` are every name the factor has at
    /// these sizes (the first is the likeliest), empty when it has none.
    ConstantFactor { value: Num, names: Vec<FactorName> },
    /// One spot of the person's expression corrected: `spot` (a node of what they wrote)
    /// is to be replaced by `corrected`, which fixes the mistake `fix`.
    Correction {
        spot: NodeId,
        corrected: NodeId,
        fix: Fix,
    },
    /// A term of the reference that the person's side lacks (`wrong_sign`: has with the
    /// wrong sign); `term` is printed in its simplest form, `negative` is its sign.
    Term {
        term: NodeId,
        negative: bool,
        wrong_sign: bool,
        whose: Reference,
    },
    /// A factor (or divisor) of the reference that the person's side lacks.
    Factor {
        factor: NodeId,
        division: bool,
        whose: Reference,
    },
    /// The claim holds only when each row of this input sums to 1.
    RowsSumToOne { input: TensorId },
}

/// The kind of a one-spot correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// A transpose that does not belong (the corrected expression drops it).
    TransposeTooMany,
    /// A factor of a matrix product needs a transpose; `factor` is the factor as written.
    TransposeMissing { factor: NodeId },
    /// The factors of a matrix product are in the wrong order.
    FactorsSwapped,
    /// Two parts of a concat are in each other's places (the gradient of one slice put where
    /// another was read).
    PartsSwapped,
    /// A sum where the truth takes the mean.
    SumForMean,
    /// A mean where the truth sums.
    MeanForSum,
    /// The sign of the term `term` is wrong.
    TermSign { term: NodeId },
    /// A term that does not belong.
    StrayTerm { term: NodeId },
    /// A scale that does not belong (`division`: a division by it).
    StrayScale { scale: NodeId, division: bool },
}
