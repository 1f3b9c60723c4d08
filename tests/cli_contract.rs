//! The command line as a contract: the same flag means the same thing on every command, a
//! closed pipe ends a run quietly, every counterexample names a command that reproduces it,
//! a file with no output gets a clear note, one wrong `--dims` gives one error.

mod common;

use common::{run, scratch, stderr, stdout};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    // An output far larger than a pipe's buffer (~470 KB), so the run must still be writing
    // when the reader goes away, however fast it computes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_handtrace"))
        .args([
            "trace",
            "examples/attention.ht",
            "--dims",
            "T=120,d=4",
            "--full",
        ])
        .env("HANDTRACE_NO_PROGRESS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone (like `| head -1`); the next result cannot be written.
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with("# dims: T = 120, d = 4"), "{first}");
    assert_eq!(out.status.code(), Some(141));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn wrt_takes_a_comma_list_or_repeats() {
    let a = run(&["grad", "examples/attention.ht", "--wrt", "Wq,Wk"]);
    let b = run(&[
        "grad",
        "examples/attention.ht",
        "--wrt",
        "Wq",
        "--wrt",
        "Wk",
    ]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
    let text = stdout(&a);
    assert!(
        text.contains("\ndWq = ") && text.contains("\ndWk = "),
        "{text}"
    );
    assert!(!text.contains("\ndWv = "), "{text}");
    let bad = run(&["grad", "examples/attention.ht", "--wrt", "Wq,Nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("no tensor is named `Nope`"));
}

#[test]
fn dims_and_seed_mean_the_same_on_every_command() {
    for args in [
        &["show", "examples/attention.ht"][..],
        &["grad", "examples/attention.ht"],
        &["trace", "examples/attention.ht"],
        &["check", "proofs/attention.ht"],
        &["latex", "examples/attention.ht"],
    ] {
        let help = run(&["help", args[0]]);
        assert!(
            stdout(&help).contains("--dims"),
            "{} has no --dims",
            args[0]
        );
    }
    for command in ["grad", "trace", "check", "latex"] {
        let help = run(&["help", command]);
        assert!(stdout(&help).contains("--seed"), "{command} has no --seed");
    }
    let tex = run(&["latex", "examples/attention.ht", "--dims", "T=3,d=2"]);
    assert_eq!(tex.status.code(), Some(0), "{}", stderr(&tex));
    let tex = stdout(&tex);
    assert!(
        tex.contains("--dims T=3,\\allowbreak{}d=2"),
        "the document names its command"
    );
    let show = run(&["show", "examples/attention.ht", "--dims", "T=3,d=2"]);
    assert!(stdout(&show).contains("# [T, d] = [3, 2]"));
}

#[test]
fn check_seed_moves_the_points_and_the_counterexample_reproduces() {
    let out = run(&["check", "proofs/mistakes.ht", "--seed", "5"]);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("counterexample at the random point of seed 5"))
        .unwrap_or_else(|| panic!("{text}"));
    // The command it names, run as written, shows the left side's value.
    let command = line.split('`').nth(1).unwrap();
    let left = line
        .split("left side ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[..2], ["handtrace", "trace"]);
    assert!(command.ends_with("--seed 5 --grad"), "{command}");
    let shown = run(&words[1..]);
    assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
    assert!(
        stdout(&shown).contains(left),
        "{left} not in the trace of `{command}`"
    );
}

#[test]
fn help_lists_the_builtins_from_the_op_table() {
    let out = run(&["help", "builtins"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for b in handtrace::ir::op::builtins() {
        assert!(text.contains(&b.signature()), "{} missing:\n{text}", b.name);
    }
    assert!(text.contains("logsumexp(x, axis=k|[i, j], keepdims=false)"));
    let bad = run(&["help", "nonsense"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_file_with_no_output_gets_a_clear_note() {
    let path = scratch(
        "identities.ht",
        "dim n = 2\ninput x : [n]\nclaim x + x = 2 * x\n",
    );
    let file = path.to_str().unwrap();
    let tex = run(&["latex", file]);
    assert_eq!(tex.status.code(), Some(0));
    assert!(
        stderr(&tex).contains("declares no `output` and no `loss`"),
        "{}",
        stderr(&tex)
    );
    assert!(stdout(&tex).contains("\\end{document}"));
    for args in [&["grad", file][..], &["trace", file, "--grad"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("error[missing-target]"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn one_wrong_dims_gives_one_error() {
    // `d` is defined from h and dk: setting it is one error, not one per shape using d.
    let out = run(&["show", "examples/mha.ht", "--dims", "d=5"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).matches("error[").count(),
        1,
        "{}",
        stderr(&out)
    );
    let out = run(&["show", "examples/attention.ht", "--dims", "t=5"]);
    assert_eq!(stderr(&out).matches("error[").count(), 1);
    assert!(stderr(&out).contains("did you mean `T`?"));
    let out = run(&["show", "examples/attention.ht", "--dims", "T=0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn nothing_but_results_on_a_pipe() {
    // Not a terminal: no progress bars, no colour; stderr stays empty on a clean run.
    let out = run(&["check", "proofs/attention.ht"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let out = run(&["grad", "examples/attention.ht", "--check", "--points", "1"]);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn show_json_lists_every_tensor_with_its_shape() {
    let out = run(&["show", "examples/attention.ht", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["dims"]["T"], 8);
    let tensors = v["tensors"].as_array().unwrap();
    let s = tensors.iter().find(|t| t["name"] == "S").unwrap();
    assert_eq!(s["shape"], serde_json::json!(["T", "T"]));
    assert_eq!(s["sizes"], serde_json::json!([8, 8]));
    assert_eq!(s["kind"], "statement");
    assert_eq!(v["target"]["name"], "O");
}
