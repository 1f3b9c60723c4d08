//! Rendering: text, JSON and LaTeX views of what earlier stages computed.
//!
//! Owns output formats only; it computes nothing new (every shape and name comes from `ir`,
//! every verdict, proof, counterexample and diagnosis from `verify` as data).
//!
//! Architecture invariant: no module below `render` imports it (tests/architecture.rs holds
//! the source to that); a stage hands its result here as data.

pub mod check;
pub mod expr;
pub mod float;
pub mod grad;
pub mod help;
pub mod latex;
pub mod proof;
pub mod show;
pub mod trace;

use crate::diag::Diagnostic;
use crate::ir::{DimDef, Graph, NodeId, Op, Program};
use std::collections::HashMap;

/// A diagnostic about a loaded program, without colour (for embedding in reports).
pub fn diag_text(program: &Program, d: &Diagnostic) -> String {
    d.render(&program.sources, false)
}

/// `T=8, d=4`: every dim at its size in use.
pub fn sizes_text(program: &Program) -> String {
    program
        .dims
        .declared()
        .filter_map(|(_, d)| d.size.map(|s| format!("{}={s}", d.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--dims T=8,d=4`: the base dims at their sizes in use, as the command line takes them
/// (a derived dim follows from these).
pub fn dims_flag(program: &Program) -> String {
    let base: Vec<String> = program
        .dims
        .declared()
        .filter(|(_, d)| matches!(d.def, DimDef::Base))
        .filter_map(|(_, d)| d.size.map(|s| format!("{}={s}", d.name)))
        .collect();
    if base.is_empty() {
        String::new()
    } else {
        format!(" --dims {}", base.join(","))
    }
}

/// A file name as a shell word (quoted when it has characters a shell would read).
pub fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:=,@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The command that shows the random point of `seed` of `file` exactly, forward and
/// backward: `handtrace trace FILE --dims T=8,d=4 --seed 3 --grad`.
pub fn reproduce(program: &Program, file: &str, seed: u64) -> String {
    reproduce_at(program, file, &program.base_sizes(), seed)
}

/// [`reproduce`] at other sizes of the base dims.
pub fn reproduce_at(program: &Program, file: &str, sizes: &[(String, u64)], seed: u64) -> String {
    let grad = if program.target.is_some() {
        " --grad"
    } else {
        ""
    };
    format!(
        "handtrace trace {}{} --seed {seed}{grad}",
        shell_word(file),
        sizes_flag(sizes)
    )
}

/// ` --dims T=8,d=4` (empty when there are no base dims).
pub fn sizes_flag(sizes: &[(String, u64)]) -> String {
    if sizes.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = sizes.iter().map(|(n, s)| format!("{n}={s}")).collect();
    format!(" --dims {}", parts.join(","))
}

/// `T=8, d=4` for an assignment of sizes (`the sizes in use` when there are no dims).
pub fn sizes_words(sizes: &[(String, u64)]) -> String {
    if sizes.is_empty() {
        return "no dims".into();
    }
    sizes
        .iter()
        .map(|(n, s)| format!("{n}={s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The command that writes the worked solution of `file`: `handtrace latex FILE --dims ...`
/// (with `--wrt` and `--seed` when they were given).
pub fn latex_command(program: &Program, file: &str, wrt: &[String], seed: u64) -> String {
    let mut command = format!("handtrace latex {}{}", shell_word(file), dims_flag(program));
    if !wrt.is_empty() {
        command.push_str(&format!(" --wrt {}", wrt.join(",")));
    }
    if seed != 0 {
        command.push_str(&format!(" --seed {seed}"));
    }
    command
}

/// The names expressions print with in the language's syntax: the program's named
/// tensors, and `grad(NAME)` for every gradient symbol in `graph`.
pub fn code_names(program: &Program, graph: &Graph) -> HashMap<NodeId, String> {
    let mut names = HashMap::new();
    for t in &program.tensors {
        names.entry(t.node).or_insert_with(|| t.name.clone());
    }
    for (id, node) in graph.nodes() {
        if let Op::GradOf(t) = node.op {
            names.insert(id, format!("grad({})", program.tensor(t).name));
        }
    }
    names
}
