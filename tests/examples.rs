//! Every shipped example and proof: `show` and `check` succeed (library and binary), and the
//! printed `show` output is snapshot-tested.

mod common;

use handtrace::ir::LowerOptions;
use handtrace::verify::{check_program, Verdict};
use std::path::{Path, PathBuf};
use std::process::Command;

fn files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ht"))
        .collect();
    out.sort();
    out
}

fn shipped() -> Vec<PathBuf> {
    let mut all = files("examples");
    all.extend(files("proofs"));
    all
}

#[test]
fn the_required_examples_exist() {
    for name in [
        "attention",
        "mha",
        "layernorm",
        "rmsnorm",
        "gelu",
        "gelu_tanh",
        "ffn",
        "xent",
        "block",
    ] {
        assert!(
            Path::new(&format!("examples/{name}.ht")).exists(),
            "examples/{name}.ht"
        );
    }
    assert!(!files("proofs").is_empty());
}

#[test]
fn every_example_and_proof_loads_and_checks() {
    for path in shipped() {
        let program = handtrace::load_program(&path, &LowerOptions::default())
            .unwrap_or_else(|e| panic!("{}", e.render(false)));
        let results = check_program(&program, &path);
        for r in &results {
            assert_ne!(
                r.verdict,
                Verdict::Error,
                "{}:{}: {}",
                r.file,
                r.line,
                common::detail(&program, r)
            );
        }
        assert!(program.claim_errors().next().is_none());
    }
}

#[test]
fn the_binary_shows_and_checks_every_file() {
    let exe = env!("CARGO_BIN_EXE_handtrace");
    for path in shipped() {
        for cmd in ["show", "check"] {
            let out = Command::new(exe).arg(cmd).arg(&path).output().unwrap();
            // proofs/mistakes*.ht write their wrong claims with `!=`: refuted, as they say.
            assert_eq!(
                out.status.code(),
                Some(0),
                "handtrace {cmd} {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!out.stdout.is_empty());
        }
    }
}

#[test]
fn show_output_snapshots() {
    for path in shipped() {
        let program = handtrace::load_program(&path, &LowerOptions::default()).unwrap();
        let name = format!(
            "show_{}_{}",
            path.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy(),
            path.file_stem().unwrap().to_string_lossy()
        );
        insta::assert_snapshot!(name, handtrace::render::show::show(&program));
    }
}

#[test]
fn show_uses_the_sizes_given_by_dims() {
    let options = LowerOptions {
        dim_overrides: vec![("T".into(), 2), ("d".into(), 3)],
    };
    let program = handtrace::load_program(Path::new("examples/attention.ht"), &options).unwrap();
    let text = handtrace::render::show::show(&program);
    assert!(text.contains("dim T = 2"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("S =") && l.ends_with("# [T, T] = [2, 2]")),
        "{text}"
    );
}
