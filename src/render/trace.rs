//! `handtrace trace`: every named tensor of the forward pass with its exact values.
//!
//! Text: a header per tensor (`S  [T, T] = [4, 4]  line 7`), then its entries as
//! right-aligned columns; exact values as fractions, enclosures as the decimal digits the
//! enclosure certifies (`0.8807970779…`), −∞ as `-inf`. Tensors of rank ≥ 3 print one matrix
//! per leading index. A tensor of more than [`WHOLE_ENTRIES`] entries prints as a summary
//! (its smallest and largest entry, its first rows and columns) unless it is asked for
//! whole ([`Shown`]). Forward values come first, then the gradients (backward). JSON: the
//! shape of docs/json.md, always every entry.

use crate::exact::num::{certified_digits, Num};
use crate::exact::run::Trace;
use crate::exact::tensor::Tensor;
use crate::ir::shape::{show_shape, show_sizes};
use crate::ir::{DimDef, Program, TensorId, TensorKind};
use serde_json::{json, Map, Value};

/// Significant digits shown for an enclosure in text (the JSON has the full interval).
const TEXT_DIGITS: i64 = 12;

/// Tensors up to this many entries print whole; larger ones as a summary.
pub const WHOLE_ENTRIES: usize = 64;

/// Rows and columns a summary shows.
const SUMMARY_ROWS: usize = 3;
const SUMMARY_COLS: usize = 6;

/// Which tensors print whole.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    /// Every tensor (`--full`).
    pub all: bool,
    /// These tensors (`--show NAME`; `dNAME` for a gradient).
    pub names: Vec<String>,
}

impl Shown {
    fn whole(&self, name: &str, entries: usize) -> bool {
        self.all || entries <= WHOLE_ENTRIES || self.names.iter().any(|n| n == name)
    }
}

pub fn entry_text(n: &Num) -> String {
    match n {
        Num::Exact(r) => r.to_string(),
        Num::Range { lo, hi } => {
            certified_digits(&lo.to_rational(), &hi.to_rational(), TEXT_DIGITS)
        }
        Num::NegInf => "-inf".into(),
    }
}

/// Two different entries, each with enough certified digits that the texts differ (up to
/// 60 digits; beyond, the enclosures' endpoints).
pub fn pair_text(a: &Num, b: &Num) -> (String, String) {
    let digits = |n: &Num, k: i64| match n {
        Num::Range { lo, hi } => certified_digits(&lo.to_rational(), &hi.to_rational(), k),
        other => entry_text(other),
    };
    for k in [TEXT_DIGITS, 20, 30, 45, 60] {
        let (x, y) = (digits(a, k), digits(b, k));
        if x != y {
            return (x, y);
        }
    }
    let raw = |n: &Num| match n {
        Num::Range { lo, hi } => format!("[{}, {}]", lo.to_rational(), hi.to_rational()),
        other => entry_text(other),
    };
    (raw(a), raw(b))
}

pub fn entry_json(n: &Num) -> Value {
    match n {
        Num::Exact(r) => Value::String(r.to_string()),
        Num::Range { lo, hi } => {
            json!({"lo": lo.to_rational().to_string(), "hi": hi.to_rational().to_string()})
        }
        Num::NegInf => Value::String("-inf".into()),
    }
}

pub fn tensor_json(t: &Tensor<Num>) -> Value {
    json!({
        "shape": t.shape(),
        "data": t.as_standard_layout().iter().map(entry_json).collect::<Vec<_>>(),
    })
}

pub fn dims_json(program: &Program) -> Value {
    let mut dims = Map::new();
    for (_, d) in program.dims.declared() {
        if let Some(s) = d.size {
            dims.insert(d.name.clone(), json!(s));
        }
    }
    Value::Object(dims)
}

/// The trace as JSON (docs/json.md): `{"dims", "values", "grads"}`.
pub fn json(program: &Program, trace: &Trace, grads: &[(TensorId, Tensor<Num>)]) -> String {
    let mut values = Map::new();
    for (id, t) in &trace.values {
        values.insert(program.tensor(*id).name.clone(), tensor_json(t));
    }
    let mut grad_values = Map::new();
    for (id, t) in grads {
        grad_values.insert(program.tensor(*id).name.clone(), tensor_json(t));
    }
    let doc = json!({"dims": dims_json(program), "values": Value::Object(values), "grads": Value::Object(grad_values)});
    serde_json::to_string_pretty(&doc).expect("serialises") + "\n"
}

fn kind_word(kind: &TensorKind) -> &'static str {
    match kind {
        TensorKind::Leaf(k) => k.keyword(),
        TensorKind::Const => "const",
        TensorKind::Statement | TensorKind::Local => "",
    }
}

/// Rows of a matrix (or one row for a vector, one cell for a scalar), right-aligned.
fn matrix(rows: &[Vec<String>], indent: &str) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|j| {
            rows.iter()
                .filter_map(|r| r.get(j))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        out.push_str(indent);
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{}{s}", " ".repeat(w - s.chars().count())))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The entries' smallest and largest (by their midpoints), a few leading rows and columns.
fn summary_text(t: &Tensor<Num>) -> String {
    let std = t.as_standard_layout();
    // Each entry's midpoint once: only to pick the entries to print (their digits are certified).
    let finite: Vec<(f64, &Num)> = std
        .iter()
        .filter(|n| !n.is_neg_inf())
        .map(|n| (n.to_f64(), n))
        .collect();
    let mut out = String::new();
    if let (Some((_, lo)), Some((_, hi))) = (
        finite.iter().min_by(|a, b| a.0.total_cmp(&b.0)),
        finite.iter().max_by(|a, b| a.0.total_cmp(&b.0)),
    ) {
        let how = if std.iter().all(|n| n.is_exact() || n.is_neg_inf()) {
            "exact"
        } else {
            "certified digits end in …"
        };
        out.push_str(&format!(
            "    min {}  max {}  ({} entries, {how})\n",
            entry_text(lo),
            entry_text(hi),
            std.len()
        ));
    }
    let shape = t.shape();
    let r = shape.len();
    let (m, n) = match r {
        0 => (1, 1),
        1 => (1, shape[0]),
        _ => (shape[r - 2], shape[r - 1]),
    };
    // Only the entries shown are written out (certified digits cost a division each).
    let first: Vec<&Num> = std.iter().take(m * n).collect();
    let mut rows: Vec<Vec<String>> = (0..m.min(SUMMARY_ROWS))
        .map(|i| {
            let mut row: Vec<String> = first[i * n..i * n + n.min(SUMMARY_COLS)]
                .iter()
                .map(|x| entry_text(x))
                .collect();
            if n > SUMMARY_COLS {
                row.push("…".into());
            }
            row
        })
        .collect();
    if m > SUMMARY_ROWS {
        rows.push(vec!["⋮".into()]);
    }
    if r > 2 {
        out.push_str(&format!("    [{}:, :]\n", "0, ".repeat(r - 2)));
    }
    out.push_str(&matrix(&rows, if r > 2 { "      " } else { "    " }));
    out
}

fn tensor_text(t: &Tensor<Num>) -> String {
    let std = t.as_standard_layout();
    let cells: Vec<String> = std.iter().map(entry_text).collect();
    let shape = t.shape();
    match shape.len() {
        0 => matrix(&[vec![cells[0].clone()]], "    "),
        1 => matrix(&[cells], "    "),
        r => {
            let (m, n) = (shape[r - 2], shape[r - 1]);
            let blocks = cells.len() / (m * n).max(1);
            let mut out = String::new();
            for b in 0..blocks {
                if r > 2 {
                    // The leading index of this block, row-major.
                    let mut idx = Vec::new();
                    let mut rest = b;
                    for &s in shape[..r - 2].iter().rev() {
                        idx.push(rest % s);
                        rest /= s;
                    }
                    idx.reverse();
                    let head: Vec<String> = idx.iter().map(|i| i.to_string()).collect();
                    out.push_str(&format!("    [{}, :, :]\n", head.join(", ")));
                }
                let rows: Vec<Vec<String>> = (0..m)
                    .map(|i| cells[b * m * n + i * n..b * m * n + (i + 1) * n].to_vec())
                    .collect();
                out.push_str(&matrix(&rows, if r > 2 { "      " } else { "    " }));
            }
            out
        }
    }
}

/// The trace as text.
pub fn text(
    program: &Program,
    trace: &Trace,
    grads: &[(TensorId, Tensor<Num>)],
    seed: u64,
    given: &[(TensorId, String)],
    shown: &Shown,
) -> String {
    let mut out = String::new();
    let dims: Vec<String> = program
        .dims
        .declared()
        .map(|(_, d)| match (&d.def, d.size) {
            (DimDef::Derived(_), Some(s)) => format!("{} = {}", d.name, s),
            (_, Some(s)) => format!("{} = {s}", d.name),
            _ => d.name.clone(),
        })
        .collect();
    let leaves = program
        .tensors
        .iter()
        .filter(|t| matches!(t.kind, crate::ir::TensorKind::Leaf(_)))
        .count();
    let inputs = inputs_text(program, given, leaves, seed);
    out.push_str(&format!(
        "# dims: {}; {inputs}; fractions are exact, `…` marks certified digits of an enclosure\n",
        dims.join(", ")
    ));
    for (id, t) in &trace.values {
        let tensor = program.tensor(*id);
        let shape = program.graph.shape(tensor.node);
        let sym = show_shape(&program.dims, shape);
        let sizes = show_sizes(&program.dims, shape).unwrap_or_default();
        let mut head = format!("\n{}  {}", tensor.name, sym);
        if sizes != sym && !shape.is_empty() {
            head.push_str(&format!(" = {sizes}"));
        }
        head.push_str(&format!("  line {}", program.sources.line(tensor.span)));
        let kind = kind_word(&tensor.kind);
        if !kind.is_empty() {
            head.push_str(&format!("  ({kind})"));
        }
        if trace.too_wide.contains(id) {
            head.push_str("  [some enclosures are wider than the asked precision]");
        }
        out.push_str(&head);
        out.push('\n');
        out.push_str(&entries_text(t, shown.whole(&tensor.name, t.len())));
    }
    if !grads.is_empty() {
        out.push_str("\n# gradients dNAME = ∂L/∂NAME (for an output O, L = ⟨grad(O), O⟩ with the upstream gradient dO)\n");
    }
    for (id, t) in grads {
        let tensor = program.tensor(*id);
        let shape = program.graph.shape(tensor.node);
        out.push_str(&format!(
            "\nd{}  {}  line {}\n",
            tensor.name,
            show_shape(&program.dims, shape),
            program.sources.line(tensor.span)
        ));
        let name = format!("d{}", tensor.name);
        out.push_str(&entries_text(t, shown.whole(&name, t.len())));
    }
    out
}

/// Where the leaves' values come from: `given` names a source per leaf (`--inputs`,
/// `--text`, the checkpoint); the rest are random from the seed.
fn inputs_text(
    program: &Program,
    given: &[(TensorId, String)],
    leaves: usize,
    seed: u64,
) -> String {
    if given.is_empty() {
        return format!("random inputs from seed {seed}");
    }
    let mut sources: Vec<&str> = Vec::new();
    for (_, s) in given {
        if !sources.contains(&s.as_str()) {
            sources.push(s);
        }
    }
    let mut parts: Vec<String> = Vec::new();
    for source in sources {
        let names: Vec<&str> = given
            .iter()
            .filter(|(_, s)| s == source)
            .map(|(t, _)| program.tensor(*t).name.as_str())
            .collect();
        parts.push(
            if given.len() >= leaves && parts.is_empty() && names.len() == given.len() {
                format!("inputs from {source}")
            } else if names.len() <= 3 {
                format!("{} from {source}", names.join(", "))
            } else {
                format!("{} leaves from {source}", names.len())
            },
        );
    }
    if given.len() < leaves {
        let other = if parts.len() == 1 && parts[0].contains("--inputs") {
            "the other inputs"
        } else {
            "the other leaves"
        };
        parts.push(format!("{other} random from seed {seed}"));
    }
    parts.join(", ")
}

fn entries_text(t: &Tensor<Num>, whole: bool) -> String {
    if whole {
        tensor_text(t)
    } else {
        summary_text(t)
    }
}
