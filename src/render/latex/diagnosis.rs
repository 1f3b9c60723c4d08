//! A diagnosis in a worked solution: the mistake in words, its expressions in math.
//!
//! Owns [`sentence`]: the same mistakes `render::check` words in code, here with every
//! expression (the spot, the correction, a missing term) set as math by [`TexPrinter`], so a
//! reader sees $P^{\top}$ rather than `P.T`.
//!
//! Invariant: the output compiles in text mode; math is always inside `$ $`.

use super::math::TexPrinter;
use crate::ir::{NodeId, Program};
use crate::verify::diagnosis::{
    product_parts, Diagnosis, FactorName, Fix, Mistake, Part, Reference,
};

/// `\sqrt{d}`, `1/d`, `2` as math.
fn factor(f: &FactorName) -> String {
    let d = |n: &str| super::math::name(n);
    match f {
        FactorName::Size(n) => d(n),
        FactorName::Root(n) => format!("\\sqrt{{{}}}", d(n)),
        FactorName::InverseSize(n) => format!("1/{}", d(n)),
        FactorName::InverseRoot(n) => format!("1/\\sqrt{{{}}}", d(n)),
        FactorName::Number(n, 1) => n.to_string(),
        FactorName::Number(n, q) => format!("\\tfrac{{{n}}}{{{q}}}"),
        FactorName::Product {
            coefficient,
            up,
            down,
        } => {
            let math = |parts: Vec<Part>| -> Vec<String> {
                parts
                    .into_iter()
                    .map(|p| match p {
                        Part::Number(n) => n.to_string(),
                        Part::Dim(u) => d(u),
                    })
                    .collect()
            };
            let (top, bottom) = product_parts(*coefficient, up, down);
            let (top, bottom) = (math(top), math(bottom));
            if bottom.is_empty() {
                top.join("\\,")
            } else {
                format!("\\tfrac{{{}}}{{{}}}", top.join("\\,"), bottom.join("\\,"))
            }
        }
    }
}

fn whose(r: Reference) -> &'static str {
    match r {
        Reference::TrueGradient => "the true gradient",
        Reference::LeftSide => "the left side",
    }
}

/// The mistake that fits, as a sentence with math.
/// Why the mistake is wrong, or why nothing simpler caught it, in one sentence.
pub fn why(program: &Program, d: &Diagnosis) -> String {
    let square = |n: NodeId| {
        let s = d.graph.shape(n);
        s.len() >= 2 && s[s.len() - 1] == s[s.len() - 2]
    };
    let shape_of = |n: NodeId| super::math::shape(&program.dims, d.graph.shape(n));
    match &d.mistake {
        Mistake::SignFlipped => {
            "With the sign flipped, a step of gradient descent would climb the loss instead of descending it.".into()
        }
        Mistake::Transposed => "The gradient of a tensor has that tensor's shape and layout: entry $(i, j)$ of $\\bar{X}$ is $\\partial L / \\partial X_{ij}$, and a square gradient's shape cannot show the transpose.".into(),
        Mistake::ConstantFactor { .. } => "A constant factor keeps the shape and the direction of the gradient, so neither a shape check nor a sign check catches it; every entry is scaled wrongly.".into(),
        Mistake::Correction { fix, .. } => match fix {
            Fix::TransposeMissing { factor } if square(*factor) => {
                let names = super::forward_names(program, &d.graph);
                let printer = TexPrinter { graph: &d.graph, dims: &program.dims, names: &names };
                format!(
                    "${}$ is square (${}$), so the product has the right shape either way and only the values show the missing transpose.",
                    printer.expr(*factor),
                    shape_of(*factor)
                )
            }
            Fix::TransposeMissing { .. } | Fix::TransposeTooMany => "Entry $(i, j)$ of a matrix product sums over the shared index; with the transpose wrong, it sums the wrong entries, although the shapes agree here.".into(),
            Fix::FactorsSwapped => "Matrix products do not commute: the order of the factors follows the forward product.".into(),
            Fix::PartsSwapped => "Each slice's gradient goes back to the entries that slice read, so the parts of the concat follow the order of the slices in the forward pass.".into(),
            Fix::SumForMean => "A mean over $n$ entries sends back $1/n$ of its gradient to each, not all of it.".into(),
            Fix::MeanForSum => "A sum sends its whole gradient back to every entry it summed, not $1/n$ of it.".into(),
            Fix::TermSign { .. } => "Each term is one path of the chain rule, and its sign is the product of the signs along that path.".into(),
            Fix::StrayTerm { .. } => "Each term of a gradient is one use of the tensor in the forward pass; this one belongs to no use.".into(),
            Fix::StrayScale { .. } => "A scale belongs to the gradient only if the forward pass applies it on the way from this tensor to the output.".into(),
        },
        Mistake::Term { .. } => "A tensor used more than once gets the sum of the gradients through all its uses (the multivariable chain rule); a missing term is a use forgotten.".into(),
        Mistake::Factor { .. } => "The chain rule multiplies the local derivative of every step from the output back to the tensor; a missing factor is a step skipped.".into(),
        Mistake::RowsSumToOne { .. } => "The simplification uses that each row sums to $1$, which holds for one-hot or probability rows but is not declared in the file.".into(),
    }
}

pub fn sentence(program: &Program, d: &Diagnosis) -> String {
    let names = super::forward_names(program, &d.graph);
    let printer = TexPrinter {
        graph: &d.graph,
        dims: &program.dims,
        names: &names,
    };
    let m = |n: NodeId| format!("${}$", printer.expr(n));
    match &d.mistake {
        Mistake::SignFlipped => "the sign is flipped: the right side is minus the left side.".into(),
        Mistake::Transposed => {
            "off by a transpose: the right side is the transpose of the left side.".into()
        }
        Mistake::ConstantFactor { value, names } => match names.first() {
            Some(f) => format!(
                "off by a constant factor: the right side is ${}$ times the left side.",
                factor(f)
            ),
            None => format!(
                "off by a constant factor: the right side is ${}$ times the left side.",
                super::numbers::entry(value)
            ),
        },
        Mistake::Correction {
            spot,
            corrected,
            fix,
        } => {
            let (spot, corrected) = (m(*spot), m(*corrected));
            match fix {
                Fix::TransposeTooMany => format!(
                    "it holds with {corrected} in place of {spot}: that transpose does not belong."
                ),
                Fix::TransposeMissing { factor } => format!(
                    "it holds with {corrected} in place of {} in {spot}: a transpose is missing.",
                    m(*factor)
                ),
                Fix::FactorsSwapped => format!(
                    "it holds with {corrected} in place of {spot}: the factors are in the wrong order."
                ),
                Fix::PartsSwapped => format!(
                    "it holds with {corrected} in place of {spot}: the parts are in the wrong order."
                ),
                Fix::SumForMean => format!(
                    "it holds with {corrected} in place of {spot}: a sum where the truth takes the mean."
                ),
                Fix::MeanForSum => format!(
                    "it holds with {corrected} in place of {spot}: a mean where the truth sums."
                ),
                Fix::TermSign { term } => format!(
                    "it holds with {corrected} in place of {spot}: the sign of {} is wrong.",
                    m(*term)
                ),
                Fix::StrayTerm { term } => format!(
                    "it holds without the term {} in {spot}: that term does not belong.",
                    m(*term)
                ),
                Fix::StrayScale { scale, division } => format!(
                    "it holds without the {} {} in {spot}: that scale does not belong there.",
                    if *division { "division by" } else { "factor" },
                    m(*scale)
                ),
            }
        }
        Mistake::Term {
            term,
            negative,
            wrong_sign,
            whose: w,
        } => {
            let sign = if *negative { "-" } else { "" };
            let term = format!("${sign}{}$", printer.expr(*term));
            if *wrong_sign {
                format!("the term {term} of {} has the wrong sign.", whose(*w))
            } else {
                format!("it matches {} without the term {term}.", whose(*w))
            }
        }
        Mistake::Factor {
            factor,
            division,
            whose: w,
        } => format!(
            "it matches {} but for the {} {}, which is missing.",
            whose(*w),
            if *division { "division by" } else { "factor" },
            m(*factor)
        ),
        Mistake::RowsSumToOne { input } => format!(
            "correct only when each row of ${}$ sums to $1$: it holds at points where they do, not in general.",
            super::math::name(&program.tensor(*input).name)
        ),
    }
}
