//! The content of a worked solution (`handtrace latex`), computed before it is rendered.
//!
//! Owns [`Solution::build`]: the program's simplified gradients and their program lines, the
//! result in textbook form (the program `grad` prints), a tiny numeric example, and the claims
//! and derivation steps checked (with their proofs and counterexamples).
//!
//! - The backward lines are in teaching order: the derived order, except that a parameter's or
//!   input's gradient comes as soon as every line it reads (and every line of a tensor that
//!   uses it) is there.
//! - The example is the same parsed file lowered again with every base dim small (at most 3
//!   where the declared size allows, distinct dims of distinct sizes), its forward values and
//!   gradients evaluated exactly at the first of the seeds N, N+4, N+8, ... (N from `--seed`,
//!   so one regime: by default the gentle one, nonzero multiples of 1/4 in [−1, 1], one-hot
//!   rows for one-hot data) whose point is well conditioned.
//! - Claims are checked on the example's program from the example's seed, so a refuting point
//!   is the document's own numeric point whenever the claim fails there (verdicts are about
//!   every size of the dims either way).
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
    /// The seed of the point (a seed of the gentle regime; the claims are checked from it).
    pub seed: u64,
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
    /// The result with data read through row sums taken as one-hot (see [`OneHotResult`]).
    pub onehot_result: Option<OneHotResult>,
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

/// The result again with data that it reads through row sums taken as one-hot (every row
/// sums to 1): the form courses teach (`(softmax(Z) − Y)/N`), for a file that does not
/// declare its targets `onehot`.
pub struct OneHotResult {
    /// The program lowered again with those data tensors one-hot.
    pub program: Program,
    /// The data tensors taken as one-hot.
    pub data: Vec<TensorId>,
    pub textbook: Textbook,
}

/// The size a base dim gets in the numeric example unless it is declared smaller or another
/// dim has it: 3 makes every row of a norm or softmax non-degenerate (at 2, a normalised row
/// is always ±1) and keeps matrices small.
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
        let raw = match &program.target {
            None => None,
            Some(_) => Some(
                crate::diff::derive(&program).map_err(|d| SolutionError::Derive(Box::new(d)))?,
            ),
        };
        let wrt = if wrt.is_empty() {
            program.differentiable_leaves().collect()
        } else {
            wrt.to_vec()
        };
        let simplify = |raw: &Gradients, steps: &[TensorId]| {
            let simplified = crate::simplify::simplify(&program, raw, steps, &Default::default())
                .map_err(|d| SolutionError::Simplify(Box::new(d)))?;
            let lines = backward_program(&program, &simplified.gradients, steps).lines;
            Ok::<_, SolutionError>((simplified.gradients, lines))
        };
        let (gradients, lines, textbook) = match &raw {
            None => (None, Vec::new(), None),
            Some(raw) => {
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
                for &t in &wrt {
                    if !steps.contains(&t) {
                        steps.push(t);
                    }
                }
                let (gradients, lines) = simplify(raw, &steps)?;
                let lines = teaching_order(&program, &gradients, lines);
                // The result: the requested gradients alone, as `grad` prints them.
                let (textbook, textbook_lines) = simplify(raw, &wrt)?;
                let textbook = Textbook {
                    gradients: textbook,
                    lines: textbook_lines,
                };
                (Some(gradients), lines, Some(textbook))
            }
        };
        let onehot_result = match &textbook {
            Some(tb) => one_hot_result(loaded, &program, tb, &wrt)?,
            None => None,
        };
        let example = match tiny_program(loaded, &program) {
            Ok(tiny) => well_conditioned_example(tiny, check.seed),
            Err(diagnostics) => Err(NoExample::Sizes(diagnostics)),
        };
        let (checked, seed) = match &example {
            Ok(e) => (&e.program, e.seed),
            Err(_) => (&program, check.seed),
        };
        let options = crate::verify::CheckOptions {
            seed,
            ..check.clone()
        };
        let checks =
            crate::verify::check_program_with(checked, std::path::Path::new(file), &options);
        Ok(Solution {
            file: file.to_string(),
            program,
            gradients,
            lines,
            textbook,
            onehot_result,
            wrt,
            example,
            checks,
        })
    }
}

/// Data tensors (not declared one-hot) that the result reads inside a reduction: their row
/// sums stay in the result.
fn summed_data(program: &Program, tb: &Textbook) -> Vec<TensorId> {
    let g = &tb.gradients.graph;
    // Every node under a reduction of the result's lines.
    let mut under = std::collections::HashSet::new();
    let mut stack: Vec<(crate::ir::NodeId, bool)> =
        tb.lines.iter().map(|l| (l.node, false)).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some((n, reduced)) = stack.pop() {
        if !seen.insert((n, reduced)) {
            continue;
        }
        if reduced {
            under.insert(n);
        }
        let node = g.node(n);
        let below = reduced || matches!(node.op, crate::ir::Op::Reduce { .. });
        stack.extend(node.args.iter().map(|&a| (a, below)));
    }
    (0..program.tensors.len() as u32)
        .map(TensorId)
        .filter(|t| {
            let tensor = program.tensor(*t);
            matches!(
                tensor.kind,
                crate::ir::TensorKind::Leaf(crate::syntax::ast::LeafKind::Data)
            ) && !program.onehot.contains(t)
                && !g.shape(tensor.node).is_empty()
                && under.contains(&tensor.node)
        })
        .collect()
}

/// [`OneHotResult`] when the result reads data through its row sums.
fn one_hot_result(
    loaded: &Loaded,
    program: &Program,
    tb: &Textbook,
    wrt: &[TensorId],
) -> Result<Option<OneHotResult>, SolutionError> {
    let data = summed_data(program, tb);
    if data.is_empty() {
        return Ok(None);
    }
    // The same file at the same sizes, with the data one-hot.
    let Ok(mut again) = crate::ir::lower(
        loaded.clone(),
        &LowerOptions {
            dim_overrides: program.base_sizes(),
        },
    ) else {
        return Ok(None);
    };
    again.onehot.extend(data.iter().copied());
    let raw = crate::diff::derive(&again).map_err(|d| SolutionError::Derive(Box::new(d)))?;
    let simplified = crate::simplify::simplify(&again, &raw, wrt, &Default::default())
        .map_err(|d| SolutionError::Simplify(Box::new(d)))?;
    let lines = backward_program(&again, &simplified.gradients, wrt).lines;
    Ok(Some(OneHotResult {
        program: again,
        data,
        textbook: Textbook {
            gradients: simplified.gradients,
            lines,
        },
    }))
}

/// The file lowered at the example's sizes: each base dim at most [`TINY`] (its declared size
/// where smaller), and distinct dims of distinct sizes where they can be (3, then 4, 2, 5, ...:
/// at `T = d` a factor `√3` could be `√T` or `√d`, and a missing transpose of a `T × d` matrix
/// would pass unseen); if that does not lower (a reshape that needs other sizes), every base
/// dim 2.
fn tiny_program(
    loaded: &Loaded,
    program: &Program,
) -> Result<Program, Vec<crate::diag::Diagnostic>> {
    let mut taken: Vec<u64> = Vec::new();
    let mut distinct: Vec<(String, u64)> = Vec::new();
    // Smallest declared first: a dim declared small keeps its size.
    let mut base: Vec<_> = program
        .dims
        .declared()
        .filter(|(_, d)| matches!(d.def, DimDef::Base))
        .map(|(_, d)| d)
        .collect();
    base.sort_by_key(|d| d.size.unwrap_or(u64::MAX));
    for d in base {
        let first = d.size.map_or(TINY, |s| s.min(TINY));
        let size = [first, TINY, TINY + 1, 2, TINY + 2, TINY + 3]
            .into_iter()
            .find(|s| !taken.contains(s))
            .unwrap_or(first);
        taken.push(size);
        distinct.push((d.name.clone(), size));
    }
    let all_two: Vec<(String, u64)> = distinct.iter().map(|(n, _)| (n.clone(), 2)).collect();
    let lower = |overrides| {
        crate::ir::lower(
            loaded.clone(),
            &LowerOptions {
                dim_overrides: overrides,
            },
        )
        .map_err(|(_, diagnostics)| diagnostics)
    };
    lower(distinct).or_else(|_| lower(all_two))
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
    // A tensor's gradient also waits for the gradients of the tensors that use it: the text
    // explains it through them (x̄ after ȳ₁ and ȳ₂ even when x̄ is written with ȳ alone).
    let line_of_tensor: HashMap<TensorId, usize> = lines
        .iter()
        .enumerate()
        .filter_map(|(k, l)| l.tensor.map(|t| (t, k)))
        .collect();
    let named: HashMap<crate::ir::NodeId, TensorId> = (0..program.tensors.len() as u32)
        .map(|i| (program.tensor(TensorId(i)).node, TensorId(i)))
        .collect();
    let mut reads = reads;
    for (i, user) in program.tensors.iter().enumerate() {
        if !matches!(
            user.kind,
            crate::ir::TensorKind::Statement | crate::ir::TensorKind::Local
        ) {
            continue;
        }
        let Some(&user_line) = line_of_tensor.get(&TensorId(i as u32)) else {
            continue;
        };
        let mut stack = program.graph.node(user.node).args.clone();
        while let Some(n) = stack.pop() {
            match named.get(&n) {
                Some(t) => {
                    if let Some(&k) = line_of_tensor.get(t) {
                        if k != user_line && !reads[k].contains(&user_line) {
                            reads[k].push(user_line);
                        }
                    }
                }
                None => stack.extend(program.graph.node(n).args.iter().copied()),
            }
        }
    }
    let is_leaf = |l: &GradLine| {
        l.alias
            || l.tensor
                .is_some_and(|t| matches!(program.tensor(t).kind, crate::ir::TensorKind::Leaf(_)))
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
    let pulled: Vec<bool> = lines.iter().map(is_leaf).collect();
    let leaves: Vec<usize> = (0..lines.len()).filter(|&k| pulled[k]).collect();
    for (k, _) in pulled.iter().enumerate().filter(|(_, &p)| !p) {
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

/// How many seeds of the regime of `--seed` the example tries (N, N+4, ...: a seed's regime
/// is its value mod 4).
const EXAMPLE_SEEDS: u64 = 8;

/// Forward values and gradients at one point.
type Values = (Vec<(TensorId, Tensor<Num>)>, HashMap<TensorId, Tensor<Num>>);

/// The example at the first seed of `first`'s regime whose point teaches something (see
/// [`well_conditioned`]); `first`'s if none does.
fn well_conditioned_example(program: Program, first: u64) -> Result<Example, NoExample> {
    let example = |program: Program, (values, gradients): Values, seed: u64| Example {
        program,
        values,
        gradients,
        seed,
    };
    let at_first = evaluate(&program, first)?;
    if well_conditioned(&program, &at_first.0) {
        return Ok(example(program, at_first, first));
    }
    for k in 1..EXAMPLE_SEEDS {
        let seed = first.wrapping_add(4 * k);
        if let Ok(at) = evaluate(&program, seed) {
            if well_conditioned(&program, &at.0) {
                return Ok(example(program, at, seed));
            }
        }
    }
    Ok(example(program, at_first, first))
}

/// A point that teaches something: no probability of a softmax (that is not masked to
/// exactly 0) below 10⁻⁶, and no row of two or more entries that are all equal in an input
/// or a computed tensor (a constant row of a norm's input centres to zeros, a zero row
/// carries no signal, and a row of one value shows an elementwise function at one point).
fn well_conditioned(program: &Program, values: &[(TensorId, Tensor<Num>)]) -> bool {
    use num_traits::Zero;
    let tiny = num_rational::BigRational::new(1.into(), 1_000_000.into());
    values.iter().all(|(t, v)| {
        let tensor = program.tensor(*t);
        let node = program.graph.node(tensor.node);
        if matches!(node.op, crate::ir::Op::Softmax { .. }) {
            let small = v.iter().any(|n| match n {
                Num::Exact(r) => !r.is_zero() && *r < tiny,
                other => other.bounds().is_some_and(|(_, hi)| hi < tiny),
            });
            if small {
                return false;
            }
        }
        // Data (one-hot targets, constants) may repeat; inputs and computed rows may not.
        let looked_at = !matches!(
            tensor.kind,
            crate::ir::TensorKind::Leaf(
                crate::syntax::ast::LeafKind::Data | crate::syntax::ast::LeafKind::Tokens
            ) | crate::ir::TensorKind::Const
        );
        let width = v.shape().last().copied().unwrap_or(0);
        if !looked_at || width < 2 {
            return true;
        }
        // Equal values are computed alike, so their enclosures are equal too.
        let entries: Vec<&Num> = v.iter().collect();
        entries
            .chunks(width)
            .all(|row| !row.iter().all(|n| *n == row[0]))
    })
}

fn evaluate(program: &Program, seed: u64) -> Result<Values, NoExample> {
    crate::exact::run::check_budget(program, &program.graph).map_err(NoExample::Forward)?;
    let leaves = crate::exact::inputs::leaf_values(program, seed, &HashMap::new());
    let bits = crate::exact::run::DEFAULT_TARGET_BITS;
    let trace =
        crate::exact::run::trace(program, leaves.clone(), bits).map_err(NoExample::Forward)?;
    let gradients = if program.target.is_some() {
        crate::exact::run::trace_gradients(program, &leaves, None, seed, bits)
            .map_err(NoExample::Backward)?
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };
    Ok((trace.values, gradients))
}
