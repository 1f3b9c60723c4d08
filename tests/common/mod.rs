//! Helpers shared by the integration tests: loading files and texts, the shipped examples
//! and proofs, checking a file and reading its results' words, running the binary, and
//! collecting every failing case of a data-driven test before failing.
#![allow(dead_code)]

use handtrace::ir::{LowerOptions, Program};
use handtrace::verify::claims::Finding;
use handtrace::verify::CheckResult;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `.ht` files of a directory, sorted.
pub fn files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ht"))
        .collect();
    out.sort();
    out
}

pub fn examples() -> Vec<PathBuf> {
    files("examples")
}

pub fn proofs() -> Vec<PathBuf> {
    files("proofs")
}

/// Every shipped file: the examples, then the proofs.
pub fn shipped() -> Vec<PathBuf> {
    let mut all = examples();
    all.extend(proofs());
    all
}

/// A file of `tests/data/`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A path relative to the crate's root, as the tests name files (`examples/attention.ht`):
/// `insta::glob!` hands its closure absolute paths.
pub fn relative(path: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    path.strip_prefix(&canonical)
        .or_else(|_| path.strip_prefix(root))
        .unwrap_or(path)
        .to_path_buf()
}

/// `examples/attention.ht` → `examples_attention` (a snapshot's name).
pub fn label(path: &Path) -> String {
    path.with_extension("")
        .to_string_lossy()
        .replace(['/', '\\'], "_")
}

/// Load a file at its declared sizes; a load error fails the test with the diagnostics.
pub fn load(path: impl AsRef<Path>) -> Program {
    load_at(path, &[])
}

/// Load a file with `--dims` overrides.
pub fn load_at(path: impl AsRef<Path>, sizes: &[(&str, u64)]) -> Program {
    let path = path.as_ref();
    let options = LowerOptions {
        dim_overrides: sizes.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
    };
    handtrace::load_program(path, &options)
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.render(false)))
}

/// Load a program from text (as `test.ht` in the working directory).
pub fn program(src: &str) -> Program {
    handtrace::load_program_text(Path::new("test.ht"), src, &LowerOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(false)))
}

/// Check every claim and step of a file.
pub fn check(path: impl AsRef<Path>) -> (Program, Vec<CheckResult>) {
    let path = path.as_ref();
    let program = load(path);
    let results = handtrace::verify::check_program(&program, path);
    (program, results)
}

/// What a result's verdict rests on, in words (the text report's detail).
pub fn detail(program: &Program, r: &CheckResult) -> String {
    handtrace::render::check::detail(program, r, handtrace::render::proof::Steps::Short)
}

/// A refutation's diagnosis, in words.
pub fn diagnosis(program: &Program, r: &CheckResult) -> Option<String> {
    match &r.finding {
        Finding::Refuted(c) => c
            .diagnosis
            .as_ref()
            .map(|d| handtrace::render::check::diagnosis(program, d)),
        _ => None,
    }
}

/// Run the binary (no progress bars, no colour).
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handtrace"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("HANDTRACE_NO_PROGRESS", "1")
        .output()
        .expect("the binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run the binary, which must succeed, and read its standard output as JSON.
pub fn json(args: &[&str]) -> serde_json::Value {
    let o = run(args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("JSON on stdout")
}

/// `trace FILE --inputs INPUTS --grad --format json`, read as JSON.
pub fn trace_json(file: &Path, inputs: &Path) -> serde_json::Value {
    json(&[
        "trace",
        file.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--grad",
        "--format",
        "json",
    ])
}

/// A JSON tensor's entries as text: a rational's string, or an enclosure's JSON.
pub fn entries(v: &serde_json::Value) -> Vec<String> {
    v["data"]
        .as_array()
        .expect("a tensor's data")
        .iter()
        .map(|e| {
            e.as_str()
                .map(String::from)
                .unwrap_or_else(|| e.to_string())
        })
        .collect()
}

/// A scratch file with `text`, unique to this test process.
pub fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("handtrace-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A fresh, empty directory `name` for files a test writes, unique to this test process.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("handtrace-tests-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The worked solution of a file, as the `latex` command writes it.
pub fn tex_of(path: &Path) -> String {
    tex_and_solution(path).0
}

/// The worked solution of a file and what it was built from.
pub fn tex_and_solution(path: &Path) -> (String, handtrace::solution::Solution) {
    let loaded = handtrace::read_program(path).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let program = handtrace::lower_program(&loaded, &LowerOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(false)));
    let file = path.display().to_string();
    let s = handtrace::solution::Solution::build(&loaded, program, &file, &[], &Default::default())
        .unwrap_or_else(|e| panic!("{file}: {}", e.diagnostic().message));
    let command = handtrace::render::latex_command(&s.program, &file, &[], 0);
    (handtrace::render::latex::document(&s, &command), s)
}

/// Failures of a data-driven test, collected so that one failing case never hides the
/// next: `finish` fails the test with every message.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    pub fn new() -> Failures {
        Failures::default()
    }

    /// Record a failure when `ok` is false.
    pub fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(message());
        }
    }

    pub fn push(&mut self, message: impl Into<String>) {
        self.0.push(message.into());
    }

    /// Run `case`, recording a panic as a failure (with its message) instead of stopping.
    pub fn run(&mut self, name: &str, case: impl FnOnce() + std::panic::UnwindSafe) {
        self.attempt(name, case);
    }

    /// Run `case` and return its value; a panic is recorded as a failure (with its message)
    /// and gives `None`, so that the caller can go on with the next case.
    pub fn attempt<T>(
        &mut self,
        name: &str,
        case: impl FnOnce() -> T + std::panic::UnwindSafe,
    ) -> Option<T> {
        match std::panic::catch_unwind(case) {
            Ok(value) => Some(value),
            Err(e) => {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panicked".into());
                self.0.push(format!("{name}: {why}"));
                None
            }
        }
    }

    pub fn finish(self) {
        assert!(
            self.0.is_empty(),
            "{} failure(s):\n{}",
            self.0.len(),
            self.0.join("\n---\n")
        );
    }
}

/// Run the binary under a time and memory bound (Linux `ulimit -v`): a run that hangs or
/// allocates without limit fails the test instead of stalling the suite. Returns the output
/// and how long it took.
pub fn run_bounded(args: &[&str], seconds: u64, megabytes: u64) -> (Output, std::time::Duration) {
    use std::io::Read;
    use std::process::Stdio;
    let start = std::time::Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {}; exec \"$0\" \"$@\"",
            megabytes * 1024
        ))
        .arg(env!("CARGO_BIN_EXE_handtrace"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("HANDTRACE_NO_PROGRESS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut o = Vec::new();
        let _ = out.read_to_end(&mut o);
        o
    });
    let err_reader = std::thread::spawn(move || {
        let mut e = Vec::new();
        let _ = err.read_to_end(&mut e);
        e
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > std::time::Duration::from_secs(seconds) {
            let _ = child.kill();
            panic!("handtrace {} ran longer than {seconds} s", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let output = Output {
        status,
        stdout: reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    (output, start.elapsed())
}
