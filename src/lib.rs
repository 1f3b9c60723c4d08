//! handtrace: symbolic differentiation and exact checking of the arithmetic inside
//! transformer blocks.
//!
//! The pipeline, one module per stage, data flowing one way (see ARCHITECTURE.md):
//! [`syntax`] (parse `.ht` files, resolve `use`) → [`ir`] (the typed tensor graph) →
//! [`verify`] (claims) → [`render`] (text, JSON). [`diag`] and [`source`] are shared by all.
//!
//! The library is the product; the `handtrace` binary is a thin shell over [`load_program`]
//! and the renderers.

// Diagnostics are large and built only on the error path; boxing every `Result` for them
// would cost clarity for no measurable gain.
#![allow(clippy::result_large_err)]

pub mod decimal;
pub mod diag;
pub mod diff;
pub mod exact;
pub mod float;
pub mod ir;
pub mod render;
pub mod simplify;
pub mod solution;
pub mod source;
pub mod syntax;
pub mod verify;

use diag::Diagnostic;
use ir::{LowerOptions, Program};
use source::SourceMap;
use std::path::Path;

/// A program that could not be loaded: the sources read so far and what was wrong.
#[derive(Debug)]
pub struct LoadError {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadError {
    /// Every diagnostic, rendered with source snippets.
    pub fn render(&self, color: bool) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.sources, color))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Read, parse, resolve and shape-check the program in `path`.
pub fn load_program(path: &Path, options: &LowerOptions) -> Result<Program, LoadError> {
    lower_loaded(read_program(path)?, options)
}

/// Read and parse the program in `path` and the files it uses (no shapes yet): what
/// [`lower_program`] lowers, once or at several sizes.
pub fn read_program(path: &Path) -> Result<syntax::Loaded, LoadError> {
    syntax::load_file(path).map_err(|(sources, d)| LoadError {
        sources,
        diagnostics: vec![d],
    })
}

/// Resolve and shape-check a parsed program at the sizes `options` give.
pub fn lower_program(
    loaded: &syntax::Loaded,
    options: &LowerOptions,
) -> Result<Program, LoadError> {
    lower_loaded(loaded.clone(), options)
}

/// Like [`load_program`], with the root file's text given (its `use`s are read from disk,
/// relative to `path`).
pub fn load_program_text(
    path: &Path,
    text: &str,
    options: &LowerOptions,
) -> Result<Program, LoadError> {
    let loaded = syntax::load_text(path, text).map_err(|(sources, d)| LoadError {
        sources,
        diagnostics: vec![d],
    })?;
    lower_loaded(loaded, options)
}

fn lower_loaded(loaded: syntax::Loaded, options: &LowerOptions) -> Result<Program, LoadError> {
    ir::lower(loaded, options).map_err(|(sources, diagnostics)| LoadError {
        sources,
        diagnostics,
    })
}
