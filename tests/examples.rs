//! Every shipped example and proof: `show` and `check` succeed (library and binary), and the
//! printed `show` output is snapshot-tested.

mod common;

use common::{files, shipped, Failures};
use handtrace::verify::Verdict;
use std::path::Path;

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
    let mut failures = Failures::new();
    for path in shipped() {
        let name = path.display().to_string();
        let Some((program, results)) = failures.attempt(&name, || common::check(&path)) else {
            continue;
        };
        for r in &results {
            failures.check(r.verdict != Verdict::Error, || {
                format!("{}:{}: {}", r.file, r.line, common::detail(&program, r))
            });
        }
        failures.check(program.claim_errors().next().is_none(), || {
            format!("{name}: a claim has an error")
        });
    }
    failures.finish();
}

#[test]
fn the_binary_shows_and_checks_every_file() {
    let mut failures = Failures::new();
    for path in shipped() {
        for cmd in ["show", "check"] {
            let out = common::run(&[cmd, path.to_str().unwrap()]);
            // proofs/mistakes*.ht write their wrong claims with `!=`: refuted, as they say.
            failures.check(out.status.code() == Some(0), || {
                format!(
                    "handtrace {cmd} {}: exit status {:?}\n{}",
                    path.display(),
                    out.status.code(),
                    common::stderr(&out)
                )
            });
            failures.check(!out.stdout.is_empty(), || {
                format!("handtrace {cmd} {}: nothing on stdout", path.display())
            });
        }
    }
    failures.finish();
}

/// The printed `show` output of every example is its snapshot `show_examples@FILE`; a file
/// that fails to load is reported once the others have run.
#[test]
fn show_output_of_the_examples() {
    let mut failures = Failures::new();
    insta::glob!("../examples", "*.ht", |path| {
        let path = common::relative(path);
        failures.run(&path.display().to_string(), || {
            let text = handtrace::render::show::show(&common::load(&path));
            insta::assert_snapshot!("show_examples", text);
        });
    });
    failures.finish();
}

/// The printed `show` output of every proof file is its snapshot `show_proofs@FILE`.
#[test]
fn show_output_of_the_proofs() {
    let mut failures = Failures::new();
    insta::glob!("../proofs", "*.ht", |path| {
        let path = common::relative(path);
        failures.run(&path.display().to_string(), || {
            let text = handtrace::render::show::show(&common::load(&path));
            insta::assert_snapshot!("show_proofs", text);
        });
    });
    failures.finish();
}

#[test]
fn show_uses_the_sizes_given_by_dims() {
    let program = common::load_at("examples/attention.ht", &[("T", 2), ("d", 3)]);
    let text = handtrace::render::show::show(&program);
    assert!(text.contains("dim T = 2"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("S =") && l.ends_with("# [T, T] = [2, 2]")),
        "{text}"
    );
}
