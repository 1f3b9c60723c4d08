//! Float against exact: a [`Report`] of `float::compare` as text and JSON.
//!
//! Text: a header naming the format and how accumulation is done; one line per named tensor
//! in program order (name, line, shape, largest error in ulps and relative, flags for
//! overflow and underflow); a closing summary naming the first tensor that overflows (with
//! exp's threshold when it is an exp) and the one that loses the most precision. JSON: the
//! same data, with `null` for numbers that are not finite.

use crate::float::{Format, Report, Row};
use crate::ir::shape::{show_shape, show_sizes};
use crate::ir::{Func, Op, Program, TensorId};
use serde_json::{json, Value};

/// How the float run computes, in one sentence.
pub fn method(format: Format) -> String {
    format!(
        "every op rounded to {f} (nearest, ties to even); sums, means and matrix products \
         accumulate in f32 (one rounding per multiply-add), then round to {f}; elementwise \
         functions in f64, rounded once; softmax and the norms in f32 as PyTorch's kernels",
        f = format.name()
    )
}

fn name(program: &Program, t: TensorId) -> &str {
    &program.tensor(t).name
}

fn line(program: &Program, t: TensorId) -> usize {
    program.sources.line(program.tensor(t).span)
}

fn shape_text(program: &Program, t: TensorId) -> String {
    let shape = program.shape_of(t);
    let symbolic = show_shape(&program.dims, shape);
    match show_sizes(&program.dims, shape) {
        Some(sizes) if sizes != symbolic => format!("{symbolic} = {sizes}"),
        _ => symbolic,
    }
}

fn index_text(index: &[usize]) -> String {
    let parts: Vec<String> = index.iter().map(|i| i.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// `3.5 ulp`, `1.2e6 ulp`, `2.6e-3 ulp`.
fn ulps_text(u: f64) -> String {
    if !u.is_finite() {
        format!("{u} ulp")
    } else if u == 0.0 {
        "0 ulp".into()
    } else if !(0.1..1e4).contains(&u) {
        format!("{u:.1e} ulp")
    } else {
        format!("{} ulp", trim(format!("{u:.1}")))
    }
}

fn trim(s: String) -> String {
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// `2.1e-7`.
fn rel_text(r: f64) -> String {
    if r == 0.0 {
        "0".into()
    } else {
        format!("{r:.1e}")
    }
}

/// The largest errors over the entries measured (those not overflowed).
fn error_text(row: &Row) -> String {
    if row.overflow >= row.entries && row.entries > 0 {
        "- (no finite entry)".into()
    } else if row.max_ulps == 0.0 && row.max_rel == 0.0 && row.overflow == 0 {
        "exact".into()
    } else {
        format!("{}  {}", ulps_text(row.max_ulps), rel_text(row.max_rel))
    }
}

fn flags(row: &Row) -> String {
    let mut out = Vec::new();
    if row.overflow > 0 {
        let first = row
            .first_overflow
            .as_deref()
            .map(|i| format!(" (first at {})", index_text(i)))
            .unwrap_or_default();
        let entries = if row.overflow == 1 {
            "entry"
        } else {
            "entries"
        };
        out.push(format!("OVERFLOW {} {entries}{first}", row.overflow));
    }
    if row.underflow > 0 {
        out.push(format!("underflow {}", row.underflow));
    }
    if row.zero_abs > 0.0 {
        out.push(format!(
            "exactly 0 at {} (float |f| ≤ {})",
            if row.zeros == 1 {
                "1 entry".to_string()
            } else {
                format!("{} entries", row.zeros)
            },
            rel_text(row.zero_abs)
        ));
    }
    out.join("  ")
}

/// What the first overflow is, in words.
fn overflow_words(program: &Program, report: &Report, t: TensorId) -> String {
    let tensor = program.tensor(t);
    let expr = crate::ir::normalize_text(program.sources.slice(tensor.expr_span));
    let format = report.format;
    match program.graph.node(tensor.node).op {
        Op::Func(Func::Exp) => format!(
            "{expr} overflows {} above {:.2}",
            format.name(),
            format.max().ln()
        ),
        _ => {
            let at = report
                .row(t)
                .and_then(|r| r.first_overflow.as_deref())
                .map(|i| format!(" at {}", index_text(i)))
                .unwrap_or_default();
            format!(
                "{expr} is inf or NaN{at} where the exact value is finite (the largest finite {} is {:.4e})",
                format.name(),
                format.max()
            )
        }
    }
}

/// The report as text.
pub fn text(program: &Program, report: &Report) -> String {
    let mut out = format!(
        "float {} against exact: {}\n",
        report.format.name(),
        method(report.format)
    );
    let names: Vec<&str> = report
        .rows
        .iter()
        .map(|r| name(program, r.tensor))
        .collect();
    let shapes: Vec<String> = report
        .rows
        .iter()
        .map(|r| shape_text(program, r.tensor))
        .collect();
    let lines: Vec<String> = report
        .rows
        .iter()
        .map(|r| format!("line {}", line(program, r.tensor)))
        .collect();
    let width = |v: &[String]| v.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let name_w = names.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let (line_w, shape_w) = (width(&lines), width(&shapes));
    for (i, row) in report.rows.iter().enumerate() {
        let mut entry = format!(
            "  {:<name_w$}  {:<line_w$}  {:<shape_w$}  {}",
            names[i],
            lines[i],
            shapes[i],
            error_text(row)
        );
        let f = flags(row);
        if !f.is_empty() {
            entry.push_str("  ");
            entry.push_str(&f);
        }
        out.push_str(entry.trim_end());
        out.push('\n');
    }
    match report.first_overflow {
        Some(t) => out.push_str(&format!(
            "first overflow: `{}` (line {}): {}\n",
            name(program, t),
            line(program, t),
            overflow_words(program, report, t)
        )),
        None => out.push_str(&format!("no overflow in {}\n", report.format.name())),
    }
    match report.largest_loss.and_then(|t| report.row(t)) {
        Some(row) => {
            let t = row.tensor;
            out.push_str(&format!(
                "largest precision loss: `{}` (line {}): relative error {} where its inputs' is at most {}\n",
                name(program, t),
                line(program, t),
                rel_text(row.max_rel),
                rel_text(row.input_rel.unwrap_or(0.0)),
            ));
        }
        None => out.push_str("no precision lost beyond rounding\n"),
    }
    out
}

fn number(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// The report as JSON: `{"format", "method", "tensors": [{"name", "line", "shape",
/// "entries", "max_ulps", "max_rel", "overflow", "underflow", "zeros", "zero_abs",
/// "first_overflow", "worst"}],
/// "first_overflow", "largest_loss"}`.
pub fn json(program: &Program, report: &Report) -> Value {
    let tensors: Vec<Value> = report
        .rows
        .iter()
        .map(|r| {
            let shape = program
                .dims
                .sizes(program.shape_of(r.tensor))
                .unwrap_or_default();
            json!({
                "name": name(program, r.tensor),
                "line": line(program, r.tensor),
                "shape": shape,
                "entries": r.entries,
                "max_ulps": number(r.max_ulps),
                "max_rel": number(r.max_rel),
                "overflow": r.overflow,
                "underflow": r.underflow,
                "zeros": r.zeros,
                "zero_abs": number(r.zero_abs),
                "first_overflow": r.first_overflow,
                "worst": r.worst,
            })
        })
        .collect();
    json!({
        "format": report.format.name(),
        "method": method(report.format),
        "tensors": tensors,
        "first_overflow": report.first_overflow.map(|t| name(program, t)),
        "largest_loss": report.largest_loss.map(|t| name(program, t)),
    })
}
