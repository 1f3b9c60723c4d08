//! The e-graph simplifier: time to derive and simplify the gradients of each example and of
//! stacks of 1, 2, 4 and 12 GPT blocks (the time should grow linearly with the blocks).
//! Prints, per case, the e-graph's size and how it stopped, and the FLOP ratio
//! backward/forward before and after simplification.

use criterion::{criterion_group, criterion_main, Criterion};
use handtrace::diff::derive;
use handtrace::ir::{LowerOptions, Program};
use handtrace::simplify::{cost, simplify, Limits};
use std::path::{Path, PathBuf};

mod common;
use common::stack;

fn report(label: &str, program: &Program) {
    let raw = derive(program).unwrap();
    let s = simplify(program, &raw, &[], &Limits::default()).unwrap();
    let before = cost(program, &raw, &[]);
    let after = cost(program, &s.gradients, &[]);
    eprintln!(
        "simplify/{label}: {} e-nodes, {}; FLOPs forward {}, backward raw {} ({:.2}×) → simplified {} ({:.2}×)",
        s.report.enodes,
        s.report.stop.describe(),
        before.forward,
        before.backward,
        before.backward as f64 / before.forward as f64,
        after.backward,
        after.backward as f64 / after.forward as f64,
    );
}

fn bench_simplify(c: &mut Criterion) {
    let mut group = c.benchmark_group("simplify");
    group.sample_size(10);
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir("examples")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ht"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    cases.sort();
    for n in [1, 2, 4, 12] {
        cases.push((format!("stack_{n}"), stack(n)));
    }
    for (label, path) in cases {
        let program = handtrace::load_program(Path::new(&path), &LowerOptions::default())
            .unwrap_or_else(|e| panic!("{}", e.render(false)));
        if program.target.is_none() {
            continue;
        }
        report(&label, &program);
        group.bench_function(label, |b| {
            b.iter(|| {
                let raw = derive(&program).unwrap();
                simplify(&program, &raw, &[], &Limits::default()).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_simplify);
criterion_main!(benches);
