//! Loading a program: read the root file, parse it, and resolve `use` recursively.
//!
//! Owns file reading (bytes must be UTF-8), `use` resolution (paths are relative to the file
//! that says `use`), cycle detection, and the order of items: a used file's items are spliced
//! in at its `use` line, each file at most once (a second `use` of the same file is a no-op,
//! so diamond-shaped libraries work). Invariant: a cycle is always an error naming the chain.

use super::ast::{Item, ItemKind, Module};
use super::parser::parse_module;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, SourceMap, Span};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Every item of a program in order, each tagged with the file it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub sources: SourceMap,
    pub root: FileId,
    pub items: Vec<(FileId, Item)>,
}

/// Read and parse `path` and everything it uses.
pub fn load_file(path: &Path) -> Result<Loaded, (SourceMap, Diagnostic)> {
    let mut sources = SourceMap::new();
    let bytes = match read_source(path) {
        Ok(b) => b,
        Err(e) => {
            let d = Diagnostic::global(Code::Io, format!("cannot read {}: {}", path.display(), e));
            return Err((sources, d));
        }
    };
    let result = load_bytes(&mut sources, path, bytes);
    match result {
        Ok((root, items)) => Ok(Loaded {
            sources,
            root,
            items,
        }),
        Err(d) => Err((sources, d)),
    }
}

/// The largest source file read (a program is text a person writes; this bounds what a
/// `use` of a device or a huge file can make handtrace read).
pub const MAX_SOURCE_BYTES: u64 = 8 << 20;

/// Read a source file: a regular file of at most [`MAX_SOURCE_BYTES`].
fn read_source(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read};
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_SOURCE_BYTES >> 20),
        ));
    }
    Ok(bytes)
}

/// Parse `text` as if it were the file `path` (used files are read from disk relative to it).
pub fn load_text(path: &Path, text: &str) -> Result<Loaded, (SourceMap, Diagnostic)> {
    let mut sources = SourceMap::new();
    match load_bytes(&mut sources, path, text.as_bytes().to_vec()) {
        Ok((root, items)) => Ok(Loaded {
            sources,
            root,
            items,
        }),
        Err(d) => Err((sources, d)),
    }
}

fn load_bytes(
    sources: &mut SourceMap,
    path: &Path,
    bytes: Vec<u8>,
) -> Result<(FileId, Vec<(FileId, Item)>), Diagnostic> {
    let mut state = LoadState {
        done: HashSet::new(),
        stack: Vec::new(),
        items: Vec::new(),
    };
    let root = state.load(sources, path, bytes, None)?;
    Ok((root, state.items))
}

struct LoadState {
    /// Canonical paths of files fully loaded.
    done: HashSet<PathBuf>,
    /// Files being loaded, outermost first, with the span of the `use` that brought each in.
    stack: Vec<(PathBuf, PathBuf)>,
    items: Vec<(FileId, Item)>,
}

impl LoadState {
    fn load(
        &mut self,
        sources: &mut SourceMap,
        path: &Path,
        bytes: Vec<u8>,
        _used_at: Option<Span>,
    ) -> Result<FileId, Diagnostic> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let file = sources.add(path.to_path_buf(), lossy);
                return Err(Diagnostic::new(
                    Code::NotUtf8,
                    Span::new(file, at, at + char::REPLACEMENT_CHARACTER.len_utf8()),
                    "the file is not valid UTF-8",
                )
                .with_label("this byte is not UTF-8")
                .with_help("save the file as UTF-8 text"));
            }
        };
        let file = sources.add(path.to_path_buf(), text);
        let module: Module = parse_module(file, &sources.file(file).text)?;
        if module.items.is_empty() {
            return Err(Diagnostic::new(
                Code::EmptyFile,
                Span::new(file, 0, 0),
                "the file has no statements",
            )
            .with_help("declare dims and tensors, e.g. `dim T = 4` and `input X : [T, T]`"));
        }
        self.stack.push((canonical.clone(), path.to_path_buf()));
        for item in module.items {
            if let ItemKind::Use {
                path: rel,
                path_span,
            } = &item.kind
            {
                let target = path.parent().unwrap_or(Path::new("")).join(rel);
                let target_canonical = std::fs::canonicalize(&target).ok();
                if let Some(tc) = &target_canonical {
                    if let Some(pos) = self.stack.iter().position(|(c, _)| c == tc) {
                        let chain: Vec<String> = self.stack[pos..]
                            .iter()
                            .map(|(_, p)| p.display().to_string())
                            .chain(std::iter::once(target.display().to_string()))
                            .collect();
                        return Err(Diagnostic::new(
                            Code::CyclicUse,
                            *path_span,
                            format!("`use` cycle: {}", chain.join(" -> ")),
                        )
                        .with_label("this brings the cycle back to its start")
                        .with_help(
                            "move what both files need into a third file that neither uses back",
                        ));
                    }
                    if self.done.contains(tc) {
                        self.items.push((file, item));
                        continue;
                    }
                }
                let bytes = match read_source(&target) {
                    Ok(b) => b,
                    Err(e) => {
                        return Err(Diagnostic::new(
                            Code::MissingUse,
                            *path_span,
                            format!("cannot read `{}`: {}", target.display(), e),
                        )
                        .with_label("used here")
                        .with_note("`use` paths are relative to the file that contains them"));
                    }
                };
                self.load(sources, &target, bytes, Some(*path_span))?;
                self.items.push((file, item));
            } else {
                self.items.push((file, item));
            }
        }
        self.stack.pop();
        self.done.insert(canonical);
        Ok(file)
    }
}
