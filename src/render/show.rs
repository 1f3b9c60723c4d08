//! `handtrace show`: every statement of a program with its inferred shape.
//!
//! One line per statement of the root file, in source order, the statement as written
//! (whitespace normalised) and a `# [T, d] = [4, 8]` column: the shape in dims and at the sizes
//! in use. The locals of an inlined fn call are listed, indented and qualified (`h.S`), just
//! before the statement that calls it.

use crate::ir::normalize_text;
use crate::ir::shape::{show_shape, show_sizes};
use crate::ir::{DimDef, Program, Statement, TargetKind, TensorKind};
use serde_json::json;

/// Column where the shape comment starts (statements longer than this get two spaces).
const SHAPE_COLUMN: usize = 44;

pub fn show(program: &Program) -> String {
    let mut lines: Vec<(String, String)> = Vec::new();
    let dims = &program.dims;
    let shape_note = |shape: &[crate::ir::DimPoly]| -> String {
        let symbolic = show_shape(dims, shape);
        match show_sizes(dims, shape) {
            Some(sizes) if sizes != symbolic => format!("{symbolic} = {sizes}"),
            _ => symbolic,
        }
    };
    let src = |span| normalize_text(program.sources.slice(span));
    for st in &program.statements {
        match st {
            Statement::Use { path, .. } => lines.push((format!("use \"{path}\""), String::new())),
            Statement::Dim(id, span) => {
                let d = dims.get(*id);
                let note = match (&d.def, d.size) {
                    (DimDef::Derived(_), Some(s)) => format!("= {s}"),
                    _ => String::new(),
                };
                let text = match (&d.def, d.size) {
                    // Show the size in use (it differs from the source under --dims).
                    (DimDef::Base, Some(s)) => format!("dim {} = {s}", d.name),
                    _ => src(*span),
                };
                lines.push((text, note));
            }
            Statement::Tensor { tensor, depth } => {
                let t = program.tensor(*tensor);
                let shape = program.graph.shape(t.node);
                let text = match t.kind {
                    TensorKind::Local => {
                        format!("{}{} = {}", "  ".repeat(*depth), t.name, src(t.expr_span))
                    }
                    _ => src(t.span),
                };
                lines.push((text, shape_note(shape)));
            }
            Statement::Call {
                label,
                fn_name,
                args,
                dims: bound,
                depth,
            } => {
                let args: Vec<String> = args
                    .iter()
                    .map(|(p, a)| {
                        if p == a {
                            p.clone()
                        } else {
                            format!("{p} = {a}")
                        }
                    })
                    .collect();
                let bound: Vec<String> = bound.iter().map(|(n, v)| format!("{n} = {v}")).collect();
                lines.push((
                    format!(
                        "{}# {label}: {fn_name}({}) with {}",
                        "  ".repeat(*depth),
                        args.join(", "),
                        bound.join(", ")
                    ),
                    String::new(),
                ));
            }
            Statement::Target => {
                let Some(target) = &program.target else {
                    continue;
                };
                let t = program.tensor(target.tensor);
                let shape = program.graph.shape(t.node);
                let text = match target.kind {
                    TargetKind::Output => format!("output {}", t.name),
                    TargetKind::Loss if t.span == target.span => src(target.span),
                    TargetKind::Loss => format!("loss {}", t.name),
                };
                lines.push((text, shape_note(shape)));
            }
            Statement::Fn(i) => {
                let f = &program.fns[*i];
                let params: Vec<String> = f
                    .params
                    .iter()
                    .map(|(n, s)| format!("{n}: {}", show_shape(dims, s)))
                    .collect();
                lines.push((
                    format!(
                        "fn {}({}) -> {}",
                        f.name,
                        params.join(", "),
                        show_shape(dims, &f.ret)
                    ),
                    String::new(),
                ));
            }
            Statement::Claim(i) => {
                let c = &program.claims[*i];
                let note = match (c.error.as_ref(), c.lhs) {
                    (Some(_), _) | (None, None) => "error (see below)".to_string(),
                    (None, Some(l)) => {
                        let (ls, rs) = (
                            program.graph.shape(l),
                            c.rhs.map(|r| program.graph.shape(r)),
                        );
                        // A scalar side broadcasts: show the larger shape.
                        let shown = match rs {
                            Some(r) if ls.is_empty() => r,
                            _ => ls,
                        };
                        shape_note(shown)
                    }
                };
                lines.push((format!("claim {}", c.text), note));
            }
            Statement::Derivation(i) => {
                let d = &program.derivations[*i];
                for (k, step) in d.steps.iter().enumerate() {
                    let text = if k == 0 {
                        format!("derive {}", step.text)
                    } else {
                        let rel = if step.differ { "!=" } else { "=" };
                        format!("  {rel} {}", step.text)
                    };
                    let note = match (&step.error, step.node) {
                        (None, Some(n)) => shape_note(program.graph.shape(n)),
                        _ => "error (see below)".into(),
                    };
                    lines.push((text, note));
                }
            }
        }
    }
    let mut out = String::new();
    for (text, note) in lines {
        if note.is_empty() {
            out.push_str(&text);
        } else {
            let width = text.chars().count();
            let pad = if width < SHAPE_COLUMN {
                SHAPE_COLUMN - width
            } else {
                2
            };
            out.push_str(&format!("{text}{}# {note}", " ".repeat(pad)));
        }
        out.push('\n');
    }
    out
}

/// `show --format json`: the dims at their sizes, every named tensor (leaves, consts,
/// statements, the locals of inlined calls) with its kind and shape, and the output or loss.
pub fn json(program: &Program) -> String {
    let dims = &program.dims;
    let tensors: Vec<serde_json::Value> = program
        .tensors
        .iter()
        .map(|t| {
            let shape = program.graph.shape(t.node);
            let kind = match t.kind {
                TensorKind::Leaf(k) => k.keyword(),
                TensorKind::Const => "const",
                TensorKind::Statement => "statement",
                TensorKind::Local => "local",
            };
            json!({
                "name": t.name,
                "kind": kind,
                "file": program.sources.path(t.span.file).display().to_string(),
                "line": program.sources.line(t.span),
                "shape": shape.iter().map(|d| dims.show(d)).collect::<Vec<_>>(),
                "sizes": dims.sizes(shape),
            })
        })
        .collect();
    let target = program.target.as_ref().map(|t| {
        json!({
            "kind": if t.kind == TargetKind::Output { "output" } else { "loss" },
            "name": program.tensor(t.tensor).name,
        })
    });
    let doc = json!({
        "dims": super::trace::dims_json(program),
        "tensors": tensors,
        "target": target,
        "claims": program.claims.len(),
        "derivations": program.derivations.len(),
    });
    serde_json::to_string_pretty(&doc).expect("serialises") + "\n"
}
