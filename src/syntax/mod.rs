//! Syntax: the `.ht` language's parser, AST and `use` resolution.
//!
//! Knows nothing about shapes or gradients; see `ir` for meaning.

pub mod ast;
mod hints;
pub mod lexical;
pub mod loader;
pub mod parser;

pub use loader::{load_file, load_text, Loaded};
pub use parser::parse_module;
