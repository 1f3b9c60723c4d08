//! The content of a worked solution (`handtrace latex`), computed before it is rendered.
//!
//! Owns [`Solution::build`]: the program's simplified gradients and their program lines, the
//! claims and derivation steps checked (with their proofs and counterexamples), and a tiny
//! numeric example: the same parsed file lowered again with every base dim of size 2, its
//! forward values and gradients evaluated exactly at the seeded random point 0.
//!
//! Invariant: nothing here is formatted; `render::latex` only prints what this computed, so
//! every number in the document is the exact evaluator's.

use crate::diag::Diagnostic;
use crate::diff::program::{backward_program, GradLine};
use crate::diff::Gradients;
use crate::exact::num::Num;
use crate::exact::run::{GradientError, RunError};
use crate::exact::tensor::Tensor;
use crate::ir::{DimDef, LowerOptions, Program, TensorId};
use crate::syntax::Loaded;
use crate::verify::CheckResult;
use std::collections::HashMap;

/// Exact values at a tiny size.
pub struct Example {
    /// The program at the tiny size.
    pub program: Program,
    /// Every named tensor's value (forward), in declaration order.
    pub values: Vec<(TensorId, Tensor<Num>)>,
    /// ∂L/∂NAME for every named tensor that has one (the output's is the upstream gradient).
    pub gradients: HashMap<TensorId, Tensor<Num>>,
}

/// Why a document has no numeric example.
#[derive(Debug, Clone)]
pub enum NoExample {
    /// The file does not lower at the tiny sizes (e.g. a reshape that needs other sizes).
    Sizes(Vec<Diagnostic>),
    /// The forward pass failed at the seeded point.
    Forward(RunError),
    /// The backward pass failed at the seeded point.
    Backward(GradientError),
}

/// Why a solution cannot be written.
#[derive(Debug, Clone)]
pub enum SolutionError {
    /// Differentiating the program failed.
    Derive(Box<Diagnostic>),
    /// The simplifier failed (an unsound rule was caught).
    Simplify(Box<Diagnostic>),
}

impl SolutionError {
    pub fn diagnostic(&self) -> &Diagnostic {
        match self {
            SolutionError::Derive(d) | SolutionError::Simplify(d) => d,
        }
    }
}

pub struct Solution {
    pub program: Program,
    /// The file as the reader knows it (as given on the command line).
    pub file: String,
    /// Simplified gradients (the raw ones when the simplifier kept them).
    pub gradients: Option<Gradients>,
    /// The backward program: a line for the gradient of every named tensor, in order.
    pub lines: Vec<GradLine>,
    /// Tensors differentiated with respect to (the program's inputs and params by default).
    pub wrt: Vec<TensorId>,
    /// The tiny numeric example, or why there is none.
    pub example: Result<Example, NoExample>,
    pub checks: Vec<CheckResult>,
}

/// Sizes of the tiny numeric example: every base dim 2.
const TINY: u64 = 2;

impl Solution {
    /// Everything the document shows. `program` is `loaded` lowered at the sizes in use
    /// (the file is read once: the tiny example lowers `loaded` again at other sizes); `wrt`
    /// names tensors to differentiate (empty: every input and param).
    pub fn build(
        loaded: &Loaded,
        program: Program,
        file: &str,
        wrt: &[TensorId],
        check: &crate::verify::CheckOptions,
    ) -> Result<Solution, SolutionError> {
        let (gradients, lines) = match &program.target {
            None => (None, Vec::new()),
            Some(_) => {
                let raw = crate::diff::derive(&program)
                    .map_err(|d| SolutionError::Derive(Box::new(d)))?;
                // Every step of the backward pass: the gradient of every named tensor the
                // target depends on, not only the requested ones, so the document can go
                // through dS, dP, ... one rule at a time.
                let mut steps: Vec<TensorId> = (0..program.tensors.len() as u32)
                    .map(TensorId)
                    .filter(|&t| {
                        program.tensor(t).differentiable()
                            && raw.of(&program, t).is_some()
                            && program.target.as_ref().is_none_or(|g| g.tensor != t)
                    })
                    .collect();
                for &t in wrt {
                    if !steps.contains(&t) {
                        steps.push(t);
                    }
                }
                let simplified =
                    crate::simplify::simplify(&program, &raw, &steps, &Default::default())
                        .map_err(|d| SolutionError::Simplify(Box::new(d)))?;
                let lines = backward_program(&program, &simplified.gradients, &steps).lines;
                (Some(simplified.gradients), lines)
            }
        };
        let checks = crate::verify::check_program_with(&program, std::path::Path::new(file), check);
        // The tiny example: every base dim 2.
        let overrides: Vec<(String, u64)> = program
            .dims
            .declared()
            .filter(|(_, d)| matches!(d.def, DimDef::Base))
            .map(|(_, d)| (d.name.clone(), TINY))
            .collect();
        let tiny = crate::ir::lower(
            loaded.clone(),
            &LowerOptions {
                dim_overrides: overrides,
            },
        );
        let example = match tiny {
            Ok(tiny) => evaluate(tiny),
            Err((_, diagnostics)) => Err(NoExample::Sizes(diagnostics)),
        };
        let wrt = if wrt.is_empty() {
            program.differentiable_leaves().collect()
        } else {
            wrt.to_vec()
        };
        Ok(Solution {
            file: file.to_string(),
            program,
            gradients,
            lines,
            wrt,
            example,
            checks,
        })
    }
}

fn evaluate(program: Program) -> Result<Example, NoExample> {
    crate::exact::run::check_budget(&program, &program.graph).map_err(NoExample::Forward)?;
    let leaves = crate::exact::inputs::leaf_values(&program, 0, &HashMap::new());
    let bits = crate::exact::run::DEFAULT_TARGET_BITS;
    let trace =
        crate::exact::run::trace(&program, leaves.clone(), bits).map_err(NoExample::Forward)?;
    let gradients = if program.target.is_some() {
        crate::exact::run::trace_gradients(&program, &leaves, None, 0, bits)
            .map_err(NoExample::Backward)?
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };
    Ok(Example {
        values: trace.values,
        gradients,
        program,
    })
}
