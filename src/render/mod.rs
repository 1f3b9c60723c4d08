//! Rendering: text and JSON views of what earlier stages computed.
//!
//! Owns output formats only; it computes nothing new (every shape and name comes from `ir`).

pub mod check;
pub mod expr;
pub mod grad;
pub mod latex;
pub mod proof;
pub mod show;
pub mod trace;

use crate::diag::Diagnostic;
use crate::ir::Program;

/// A diagnostic about a loaded program, without colour (for embedding in reports).
pub fn diag_text(program: &Program, d: &Diagnostic) -> String {
    d.render(&program.sources, false)
}
