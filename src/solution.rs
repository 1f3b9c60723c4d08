//! The content of a worked solution (`handtrace latex`), computed before it is rendered.
//!
//! Owns [`Solution::build`]: the program's simplified gradients and their program lines, the
//! claims and derivation steps checked (with their proofs and counterexamples), the result in
//! textbook form (the program `grad` prints), and a tiny numeric example: the same parsed
//! file lowered again with every base dim at most 3 (the declared size where it is smaller),
//! its forward values and gradients evaluated exactly at the seeded random point 0 (the gentle
//! regime: nonzero multiples of 1/4 in [−1, 1], one-hot rows for one-hot data).
//!
//! The backward lines are in teaching order: the derived order, except that a parameter's or
//! input's gradient comes as soon as every line it reads is there.
//!
//! Claims are checked on the program at the example's sizes, so a refuting point is the
//! document's own numeric point whenever the claim fails there (verdicts are about every size
//! of the dims either way).
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
    /// The backward program: a line for the gradient of every named tensor, in teaching order.
    pub lines: Vec<GradLine>,
    /// The result in textbook form: the gradients of `wrt` alone, simplified as `grad` does.
    pub textbook: Option<Textbook>,
    /// Tensors differentiated with respect to (the program's inputs and params by default).
    pub wrt: Vec<TensorId>,
    /// The tiny numeric example, or why there is none.
    pub example: Result<Example, NoExample>,
    pub checks: Vec<CheckResult>,
}

impl Solution {
    /// The program the claims were checked on (the example's when there is one): the sides
    /// and counterexamples of `checks` are in its terms.
    pub fn checked(&self) -> &Program {
        match &self.example {
            Ok(e) => &e.program,
            Err(_) => &self.program,
        }
    }
}

/// The gradients of the requested tensors alone, simplified as `grad` prints them.
pub struct Textbook {
    pub gradients: Gradients,
    pub lines: Vec<GradLine>,
}

/// Largest size of a base dim in the numeric example: 3 makes every row of a norm or softmax
/// non-degenerate (at 2, a normalised row is always ±1) and keeps matrices small.
const TINY: u64 = 3;

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
                let lines = teaching_order(&program, &simplified.gradients, lines);
                (Some(simplified.gradients), lines)
            }
        };
        let wrt = if wrt.is_empty() {
            program.differentiable_leaves().collect()
        } else {
            wrt.to_vec()
        };
        let textbook = match &program.target {
            None => None,
            Some(_) => {
                let raw = crate::diff::derive(&program)
                    .map_err(|d| SolutionError::Derive(Box::new(d)))?;
                let simplified =
                    crate::simplify::simplify(&program, &raw, &wrt, &Default::default())
                        .map_err(|d| SolutionError::Simplify(Box::new(d)))?;
                let lines = backward_program(&program, &simplified.gradients, &wrt).lines;
                Some(Textbook {
                    gradients: simplified.gradients,
                    lines,
                })
            }
        };
        let example = match tiny_program(loaded, &program) {
            Ok(tiny) => evaluate(tiny),
            Err(diagnostics) => Err(NoExample::Sizes(diagnostics)),
        };
        let checked = match &example {
            Ok(e) => &e.program,
            Err(_) => &program,
        };
        let checks = crate::verify::check_program_with(checked, std::path::Path::new(file), check);
        Ok(Solution {
            file: file.to_string(),
            program,
            gradients,
            lines,
            textbook,
            wrt,
            example,
            checks,
        })
    }
}

/// The file lowered at the example's sizes: each base dim at most [`TINY`] (its declared size
/// where smaller); if that does not lower (a reshape that needs other sizes), every base dim 2.
fn tiny_program(loaded: &Loaded, program: &Program) -> Result<Program, Vec<crate::diag::Diagnostic>> {
    let at = |cap: u64| -> Vec<(String, u64)> {
        program
            .dims
            .declared()
            .filter(|(_, d)| matches!(d.def, DimDef::Base))
            .map(|(_, d)| (d.name.clone(), d.size.map_or(cap, |s| s.min(cap))))
            .collect()
    };
    let lower = |overrides| {
        crate::ir::lower(
            loaded.clone(),
            &LowerOptions {
                dim_overrides: overrides,
            },
        )
        .map_err(|(_, diagnostics)| diagnostics)
    };
    lower(at(TINY)).or_else(|_| lower(at(2)))
}

/// The derived order with every parameter's and input's gradient (and every line that repeats
/// another's) moved up to just after the last line it reads: a person computes W̄ as soon as
/// its upstream gradient exists.
fn teaching_order(program: &Program, grads: &Gradients, lines: Vec<GradLine>) -> Vec<GradLine> {
    // The line that computes each node (an alias line reads another line's node).
    let mut owner: HashMap<crate::ir::NodeId, usize> = HashMap::new();
    for (k, l) in lines.iter().enumerate() {
        if !l.alias {
            owner.entry(l.node).or_insert(k);
        }
    }
    // The lines each line reads (through the unnamed nodes of its expression).
    let reads: Vec<Vec<usize>> = lines
        .iter()
        .map(|l| {
            if l.alias {
                return owner.get(&l.node).copied().into_iter().collect();
            }
            let mut seen = std::collections::HashSet::new();
            let mut stack = grads.graph.node(l.node).args.clone();
            let mut out = Vec::new();
            while let Some(n) = stack.pop() {
                if !seen.insert(n) {
                    continue;
                }
                match owner.get(&n) {
                    Some(&k) => out.push(k),
                    None => stack.extend(grads.graph.node(n).args.iter().copied()),
                }
            }
            out
        })
        .collect();
    // Pulled up: leaves' gradients, and a line that only repeats another's (`dy1 = dy2`).
    let is_leaf = |l: &GradLine| {
        l.alias
            || l.tensor.is_some_and(|t| {
                matches!(program.tensor(t).kind, crate::ir::TensorKind::Leaf(_))
            })
    };
    let mut done = vec![false; lines.len()];
    let mut order: Vec<usize> = Vec::with_capacity(lines.len());
    fn emit(k: usize, reads: &[Vec<usize>], done: &mut [bool], order: &mut Vec<usize>) {
        if done[k] {
            return;
        }
        done[k] = true;
        for &r in &reads[k] {
            emit(r, reads, done, order);
        }
        order.push(k);
    }
    let leaves: Vec<usize> = (0..lines.len()).filter(|&k| is_leaf(&lines[k])).collect();
    for k in 0..lines.len() {
        if is_leaf(&lines[k]) {
            continue;
        }
        emit(k, &reads, &mut done, &mut order);
        for &p in &leaves {
            if !done[p] && reads[p].iter().all(|&r| done[r]) {
                emit(p, &reads, &mut done, &mut order);
            }
        }
    }
    for k in 0..lines.len() {
        emit(k, &reads, &mut done, &mut order);
    }
    let mut slots: Vec<Option<GradLine>> = lines.into_iter().map(Some).collect();
    order.into_iter().filter_map(|k| slots[k].take()).collect()
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
