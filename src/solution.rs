//! The content of a worked solution (`handtrace latex`), computed before it is rendered.
//!
//! Owns [`Solution::build`]: the program's simplified gradients and their program lines, the
//! claims and derivation steps checked (with their proofs and counterexamples), and a tiny
//! numeric example: the same file loaded again with every base dim of size 2, its forward
//! values and gradients evaluated exactly at the seeded random point 0.
//!
//! Invariant: nothing here is formatted; `render::latex` only prints what this computed, so
//! every number in the document is the exact evaluator's.

use crate::diff::Gradients;
use crate::exact::num::Num;
use crate::exact::tensor::Tensor;
use crate::ir::{DimDef, LowerOptions, Program, TensorId};
use crate::render::grad::GradLine;
use crate::verify::CheckResult;
use std::collections::HashMap;
use std::path::Path;

/// Exact values at a tiny size.
pub struct Example {
    /// The program at the tiny size.
    pub program: Program,
    /// Every named tensor's value (forward), in declaration order.
    pub values: Vec<(TensorId, Tensor<Num>)>,
    /// ∂L/∂NAME for every named tensor that has one (the output's is the upstream gradient).
    pub gradients: HashMap<TensorId, Tensor<Num>>,
}

pub struct Solution {
    pub program: Program,
    /// The file as the reader knows it.
    pub file: String,
    /// Simplified gradients (the raw ones when the simplifier kept them).
    pub gradients: Option<Gradients>,
    pub lines: Vec<GradLine>,
    /// Tensors differentiated with respect to (the program's inputs and params by default).
    pub wrt: Vec<TensorId>,
    pub example: Option<Example>,
    /// Why there is no numeric example, when there is none.
    pub example_missing: Option<String>,
    pub checks: Vec<CheckResult>,
}

/// Sizes of the tiny numeric example: every base dim 2.
const TINY: u64 = 2;

impl Solution {
    /// Everything the document of `path` shows. `wrt` names tensors to differentiate (empty:
    /// every input and param). Errors are sentences for the user.
    pub fn build(path: &Path, wrt: &[String]) -> Result<Solution, String> {
        let load = |options: &LowerOptions| {
            crate::load_program(path, options).map_err(|e| e.render(false))
        };
        let program = load(&LowerOptions::default())?;
        let mut ids = Vec::new();
        for name in wrt {
            match program.tensor_by_name(name) {
                Some(t) if program.tensor(t).differentiable() => ids.push(t),
                Some(_) => {
                    return Err(format!(
                        "--wrt {name}: `{name}` is data or a const, it has no gradient"
                    ))
                }
                None => return Err(format!("--wrt {name}: no tensor is named `{name}`")),
            }
        }
        let (gradients, lines) = match &program.target {
            None => (None, Vec::new()),
            Some(_) => {
                let raw = crate::diff::derive(&program).map_err(|d| d.message.clone())?;
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
                for &t in &ids {
                    if !steps.contains(&t) {
                        steps.push(t);
                    }
                }
                let simplified =
                    crate::simplify::simplify(&program, &raw, &steps, &Default::default())
                        .map_err(|d| d.message.clone())?;
                let lines =
                    crate::render::grad::program_lines(&program, &simplified.gradients, &steps);
                (Some(simplified.gradients), lines)
            }
        };
        let checks = crate::verify::check_program(&program, path);
        // The tiny example: every base dim 2.
        let overrides: Vec<(String, u64)> = program
            .dims
            .declared()
            .filter(|(_, d)| matches!(d.def, DimDef::Base))
            .map(|(_, d)| (d.name.clone(), TINY))
            .collect();
        let (example, example_missing) = match load(&LowerOptions {
            dim_overrides: overrides,
        }) {
            Ok(tiny) => match evaluate(tiny) {
                Ok(e) => (Some(e), None),
                Err(why) => (None, Some(why)),
            },
            Err(why) => (None, Some(why)),
        };
        let wrt = if ids.is_empty() {
            program.differentiable_leaves().collect()
        } else {
            ids
        };
        Ok(Solution {
            file: path.display().to_string(),
            program,
            gradients,
            lines,
            wrt,
            example,
            example_missing,
            checks,
        })
    }
}

fn evaluate(program: Program) -> Result<Example, String> {
    let leaves = crate::exact::inputs::leaf_values(&program, 0, &HashMap::new());
    let bits = crate::exact::run::DEFAULT_TARGET_BITS;
    let trace = crate::exact::run::trace(&program, leaves.clone(), bits)
        .map_err(|e| e.message(&program))?;
    let gradients = if program.target.is_some() {
        crate::exact::run::trace_gradients(&program, &leaves, None, 0, bits)?
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
