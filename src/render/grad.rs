//! `handtrace grad`: the gradient program, one line per gradient, in the forward pass's names.
//!
//! Owns printing the backward program (`diff::program` decides its lines and names): each
//! line's expression in the language's syntax with its shape, the simplifier's note, the
//! `--cost` line, the JSON, and the `--check` report.

use super::expr::Printer;
use crate::diff::program::{backward_program, BackwardProgram};
use crate::diff::Gradients;
use crate::ir::shape::show_shape;
use crate::ir::{NodeId, Op, Program, TargetKind, TensorId};
use serde_json::json;

/// One printed line of the gradient program.
#[derive(Debug, Clone)]
pub struct PrintedLine {
    /// The forward tensor (`None` for a shared gradient or a temporary `t1 = ...` line).
    pub tensor: Option<TensorId>,
    /// `dX`
    pub name: String,
    pub expr: String,
    /// Said after the shape (why a gradient is zero).
    pub note: Option<String>,
    pub shape: String,
    /// Shape as dim names, for JSON.
    pub shape_dims: Vec<String>,
}

/// The backward program's lines with their expressions in the language's syntax (a very
/// deep expression gets temporaries `t1 = ...` on lines of their own).
pub fn printed_lines(
    program: &Program,
    grads: &Gradients,
    bp: &BackwardProgram,
) -> Vec<PrintedLine> {
    let printer = Printer::new(&grads.graph, &program.dims, &bp.names);
    printer
        .reserved
        .borrow_mut()
        .extend(bp.taken.iter().cloned());
    let mut lines = Vec::new();
    let push = |lines: &mut Vec<PrintedLine>,
                tensor: Option<TensorId>,
                name: String,
                node: NodeId,
                expr: String| {
        let shape = grads.graph.shape(node).clone();
        lines.push(PrintedLine {
            tensor,
            name,
            expr,
            note: None,
            shape: show_shape(&program.dims, &shape),
            shape_dims: shape.iter().map(|d| program.dims.show(d)).collect(),
        });
    };
    for l in &bp.lines {
        let expr = match (&grads.graph.node(l.node).op, l.tensor) {
            (Op::GradOf(t), Some(x)) if *t == x => format!("grad({})", program.tensor(x).name),
            _ if l.alias => bp.names[&l.node].clone(),
            _ => printer.definition(l.node),
        };
        for (tname, node, texpr) in printer.take_temps() {
            push(&mut lines, None, tname, node, texpr);
        }
        push(&mut lines, l.tensor, l.name.clone(), l.node, expr);
    }
    let forward = crate::diff::program::names_in_use(program);
    for &t in &bp.independent {
        let tensor = program.tensor(t);
        let shape = program.shape_of(t);
        let target = program
            .target
            .as_ref()
            .map(|g| program.tensor(g.tensor).name.as_str())
            .unwrap_or("the target");
        lines.push(PrintedLine {
            tensor: Some(t),
            name: crate::diff::program::grad_name(&forward, &tensor.name),
            expr: "0".into(),
            note: Some(format!("{target} does not depend on {}", tensor.name)),
            shape: show_shape(&program.dims, shape),
            shape_dims: shape.iter().map(|d| program.dims.show(d)).collect(),
        });
    }
    lines
}

/// The printed gradient program for `wrt` (every input and param when empty).
pub fn program_lines(program: &Program, grads: &Gradients, wrt: &[TensorId]) -> Vec<PrintedLine> {
    printed_lines(program, grads, &backward_program(program, grads, wrt))
}

/// What `grad` prints besides the lines: the simplifier's report and the FLOP counts.
#[derive(Debug, Clone, Default)]
pub struct Extras<'a> {
    pub simplify: Option<&'a crate::simplify::Report>,
    pub cost: Option<crate::simplify::Cost>,
    /// `--check` results, for JSON (text prints them as they come, with [`check_line`]), and
    /// the file as given on the command line.
    pub check: Option<(&'a [crate::verify::gradients::GradCheck], &'a str)>,
}

/// One comment line on how the simplifier ended, when the reader should know.
fn simplify_note(report: &crate::simplify::Report) -> Option<String> {
    if let Some(why) = &report.kept_raw {
        return Some(format!(
            "# the e-graph found no cheaper program ({why}); these are the rules' gradients"
        ));
    }
    report.stop.hit_limit().then(|| {
        format!(
            "# simplified by the e-graph, which {}: a simpler form may exist",
            report.stop.describe()
        )
    })
}

/// Text: `dV = P.T @ dO   # [T, d]`.
pub fn text(program: &Program, lines: &[PrintedLine], extras: &Extras) -> String {
    let mut out = String::new();
    if let Some(target) = &program.target {
        let name = &program.tensor(target.tensor).name;
        match target.kind {
            TargetKind::Output => out.push_str(&format!("# gradients of the output {name}; d{name} = grad({name}) is the upstream gradient\n")),
            TargetKind::Loss => out.push_str(&format!("# gradients of the loss {name} (dX means ∂{name}/∂X)\n")),
        }
    }
    if let Some(note) = extras.simplify.and_then(simplify_note) {
        out.push_str(&note);
        out.push('\n');
    }
    for l in lines {
        let text = format!("{} = {}", l.name, l.expr);
        let width = text.chars().count();
        let pad = if width < 44 { 44 - width } else { 2 };
        let note = l
            .note
            .as_ref()
            .map(|n| format!("; {n}"))
            .unwrap_or_default();
        out.push_str(&format!("{text}{}# {}{note}\n", " ".repeat(pad), l.shape));
    }
    if let Some(c) = extras.cost {
        let ratio = if c.forward == 0 {
            String::new()
        } else {
            format!(
                " ({:.2}× the forward)",
                c.backward as f64 / c.forward as f64
            )
        };
        out.push_str(&format!(
            "# cost at {}: forward {} FLOPs, backward {} FLOPs{ratio}\n",
            super::sizes_text(program),
            c.forward,
            c.backward
        ));
    }
    out
}

/// JSON (docs/json.md): `{"gradients": [{"name", "shape", "expr"}], "cost": {...}}`, and
/// `"simplify"` with the e-graph's report when it ran.
pub fn json(program: &Program, lines: &[PrintedLine], extras: &Extras) -> String {
    let gradients: Vec<_> = lines
        .iter()
        .map(|l| {
            let name = l
                .tensor
                .map(|t| program.tensor(t).name.clone())
                .unwrap_or_else(|| l.name.clone());
            json!({"name": name, "grad": l.name, "shape": l.shape_dims, "expr": l.expr})
        })
        .collect();
    let mut doc = serde_json::Map::new();
    doc.insert("gradients".into(), json!(gradients));
    if let Some(c) = extras.cost {
        doc.insert(
            "cost".into(),
            json!({
                "forward_flops": c.forward,
                "backward_flops": c.backward,
                "dims": super::trace::dims_json(program),
            }),
        );
    }
    if let Some(r) = extras.simplify {
        doc.insert(
            "simplify".into(),
            json!({
                "stop": r.stop.describe(),
                "hit_limit": r.stop.hit_limit(),
                "iterations": r.iterations,
                "enodes": r.enodes,
                "raw_backward_flops": r.raw_flops,
                "backward_flops": r.flops,
                "kept_raw": r.kept_raw.as_ref().map(|w| w.to_string()),
            }),
        );
    }
    if let Some((checks, file)) = extras.check {
        let forward = crate::diff::program::names_in_use(program);
        let items: Vec<_> = checks
            .iter()
            .map(|c| {
                use crate::verify::gradients::Outcome;
                let name = &program.tensor(c.tensor).name;
                let outcome = match c.outcome {
                    Outcome::Verified { .. } => "verified",
                    Outcome::Mismatch { .. } => "mismatch",
                    Outcome::Undecided { .. } => "undecided",
                    Outcome::Unusable { .. } => "unusable",
                };
                json!({
                    "name": name,
                    "grad": crate::diff::program::grad_name(&forward, name),
                    "outcome": outcome,
                    "detail": check_line(program, file, c).trim_end(),
                })
            })
            .collect();
        doc.insert("check".into(), json!(items));
    }
    serde_json::to_string_pretty(&serde_json::Value::Object(doc)).expect("serialises") + "\n"
}

/// One `--check` result: `check: dX verified against forward mode at 3 random points`, or
/// the mismatch with the point, both values, the rule found wrong, and the command that
/// shows the point (`file` as given on the command line).
pub fn check_line(
    program: &Program,
    file: &str,
    r: &crate::verify::gradients::GradCheck,
) -> String {
    use crate::verify::gradients::{ops_on_path, Outcome};
    let forward = crate::diff::program::names_in_use(program);
    let name = crate::diff::program::grad_name(&forward, &program.tensor(r.tensor).name);
    let show = |seed: u64| super::reproduce(program, file, seed);
    let line = match &r.outcome {
        Outcome::Verified { points } => {
            format!(
                "check: {name} verified against forward mode at {points} random point{}",
                if *points == 1 { "" } else { "s" }
            )
        }
        Outcome::Mismatch {
            reverse,
            forward,
            point_seed,
            culprit,
        } => {
            let blame = match culprit {
                Some(c) => {
                    let consumers: Vec<String> = c
                        .consumers
                        .iter()
                        .map(|&n| {
                            let node = program.graph.node(n);
                            format!(
                                "`{}` at {}",
                                node.op.name(),
                                program.sources.location(node.span)
                            )
                        })
                        .collect();
                    format!("the gradient rule of {}", consumers.join(" or "))
                }
                None => format!(
                    "a rule on its path (ops: {})",
                    ops_on_path(program, r.tensor).join(", ")
                ),
            };
            format!(
                "check: {name} MISMATCH at point seed {point_seed}: <grad, V> = {}, forward mode gives {}; wrong: {blame} (`{}` shows the point)",
                super::trace::entry_text(reverse),
                super::trace::entry_text(forward),
                show(*point_seed)
            )
        }
        Outcome::Undecided {
            reverse,
            forward,
            point_seed,
        } => format!(
            "check: {name} undecided at point seed {point_seed}: <grad, V> = {} and the forward derivative {} overlap but are not tight",
            super::trace::entry_text(reverse),
            super::trace::entry_text(forward)
        ),
        Outcome::Unusable {
            usable,
            points,
            last,
        } => format!(
            "check: {name} could not be checked: only {usable} of {points} random points were usable{}",
            last.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
        ),
    };
    line + "\n"
}
