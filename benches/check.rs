//! `handtrace check` on every file of proofs/: the time to check each file, and (printed once
//! per file) its verdicts and the share of its right claims and steps proved symbolically
//! rather than only verified at random points.

use criterion::{criterion_group, criterion_main, Criterion};
use handtrace::ir::LowerOptions;
use handtrace::verify::{check_program, Verdict};
use std::path::PathBuf;

fn proof_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("proofs")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ht"))
        .collect();
    files.sort();
    files
}

fn bench_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    let (mut all_proved, mut all_right) = (0, 0);
    for path in proof_files() {
        let program = handtrace::load_program(&path, &LowerOptions::default()).unwrap();
        let results = check_program(&program, &path);
        let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
        let (proved, verified) = (count(Verdict::Proved), count(Verdict::Verified));
        all_proved += proved;
        all_right += proved + verified;
        eprintln!(
            "check/{}: {} results: {proved} proved, {verified} verified, {} refuted; proved share {:.0}%",
            path.display(),
            results.len(),
            count(Verdict::Refuted),
            100.0 * proved as f64 / (proved + verified).max(1) as f64
        );
        let label = path.file_stem().unwrap().to_string_lossy().into_owned();
        group.bench_function(label, |b| b.iter(|| check_program(&program, &path)));
    }
    eprintln!(
        "check/all: {all_proved} of {all_right} right claims and steps proved ({:.0}%)",
        100.0 * all_proved as f64 / all_right.max(1) as f64
    );
    // The whole of proofs/, as `handtrace check proofs/*.ht` does it.
    let all: Vec<_> = proof_files()
        .into_iter()
        .map(|path| {
            let program = handtrace::load_program(&path, &LowerOptions::default()).unwrap();
            (path, program)
        })
        .collect();
    group.bench_function("all", |b| {
        b.iter(|| {
            for (path, program) in &all {
                check_program(program, path);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_check);
criterion_main!(benches);
