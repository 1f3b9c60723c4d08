//! Architecture invariants, held by reading the source: stages import one way.
//!
//! - No module below `render` imports it: stages return data, `render` prints it.
//! - Each stage imports only the stages before it (ARCHITECTURE.md's map).
//! - Within a module, sibling files import one way: no two files import each other, and no
//!   longer cycle either (a file may use its parent `mod.rs`, which declares it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The top-level module a file belongs to: `src/verify/claims.rs` → `verify`.
fn top_module(path: &Path) -> String {
    let rel = path.strip_prefix("src").unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The source without comments (doc comments mention other modules freely).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What each stage must not import (the stages after it, and `syntax` for `exact`).
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "source",
        &[
            "syntax", "ir", "diff", "simplify", "exact", "verify", "solution", "render",
        ],
    ),
    (
        "diag",
        &[
            "syntax", "ir", "diff", "simplify", "exact", "verify", "solution", "render",
        ],
    ),
    (
        "decimal",
        &[
            "syntax", "ir", "diff", "simplify", "exact", "verify", "solution", "render",
        ],
    ),
    (
        "syntax",
        &[
            "ir", "diff", "simplify", "exact", "verify", "solution", "render",
        ],
    ),
    (
        "ir",
        &["diff", "simplify", "exact", "verify", "solution", "render"],
    ),
    ("diff", &["simplify", "verify", "solution", "render"]),
    (
        "exact",
        &["syntax", "simplify", "verify", "solution", "render"],
    ),
    ("simplify", &["exact", "verify", "solution", "render"]),
    (
        "float",
        &["syntax", "diff", "simplify", "verify", "solution", "render"],
    ),
    ("verify", &["solution", "render"]),
    ("solution", &["render"]),
];

#[test]
fn no_module_below_render_imports_it_and_stages_import_one_way() {
    let mut broken = Vec::new();
    for path in rust_files(Path::new("src")) {
        if path.ends_with("main.rs") || path.ends_with("lib.rs") {
            continue;
        }
        let module = top_module(&path);
        let Some((_, forbidden)) = FORBIDDEN.iter().find(|(m, _)| *m == module) else {
            assert_eq!(
                module,
                "render",
                "{}: a module missing from FORBIDDEN",
                path.display()
            );
            continue;
        };
        let text = code(&path);
        for other in *forbidden {
            if text.contains(&format!("crate::{other}::"))
                || text.contains(&format!("crate::{other};"))
            {
                broken.push(format!("{} ({module}) imports {other}", path.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn sibling_files_import_one_way() {
    // Per directory: which sibling files each file names (`super::x`, `crate::dir::x`).
    let mut by_dir: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for path in rust_files(Path::new("src")) {
        by_dir
            .entry(path.parent().unwrap().to_path_buf())
            .or_default()
            .push(path);
    }
    let mut cycles = Vec::new();
    for (dir, files) in &by_dir {
        let stems: Vec<String> = files
            .iter()
            .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
            .filter(|s| s != "mod")
            .collect();
        let module_path = dir
            .strip_prefix("src")
            .unwrap()
            .to_string_lossy()
            .replace(['/', '\\'], "::");
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in files {
            let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
            if stem == "mod" || stem == "lib" || stem == "main" {
                continue;
            }
            let text = code(f);
            for other in &stems {
                if *other == stem {
                    continue;
                }
                let via_super = text.contains(&format!("super::{other}::"))
                    || text.contains(&format!("super::{other};"))
                    || text.contains(&format!("super::{{{other}"));
                let via_crate = !module_path.is_empty()
                    && (text.contains(&format!("crate::{module_path}::{other}::"))
                        || text.contains(&format!("crate::{module_path}::{other};")));
                if via_super || via_crate {
                    edges.entry(stem.clone()).or_default().insert(other.clone());
                }
            }
        }
        // A cycle is a path from a file back to itself.
        for start in edges.keys() {
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            let mut seen = BTreeSet::new();
            while let Some((at, path)) = stack.pop() {
                for next in edges.get(&at).into_iter().flatten() {
                    if next == start {
                        let mut cycle = path.clone();
                        cycle.push(next.clone());
                        cycles.push(format!("{}: {}", dir.display(), cycle.join(" -> ")));
                    } else if seen.insert(next.clone()) {
                        let mut p = path.clone();
                        p.push(next.clone());
                        stack.push((next.clone(), p));
                    }
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn an_op_is_declared_in_the_op_table_only() {
    // The built-ins' names are spelled once, in `ir/op.rs`: no other file lists them.
    let mut spelled = Vec::new();
    for path in rust_files(Path::new("src")) {
        if path.ends_with("ir/op.rs") {
            continue;
        }
        let text = code(&path);
        for name in [
            "\"logsumexp\"",
            "\"rmsnorm\"",
            "\"gelu_tanh\"",
            "\"logsoftmax\"",
        ] {
            if text.contains(name) {
                spelled.push(format!("{} spells {name}", path.display()));
            }
        }
    }
    assert!(spelled.is_empty(), "{}", spelled.join("\n"));
}
