//! Forward trace of examples/block.ht at the declared dims and at 2× and 4× the dims.
//! Also prints, once per size, the largest numerator (bits) among the exact values and
//! enclosure endpoints, a measure of how big exact arithmetic gets.

use criterion::{criterion_group, criterion_main, Criterion};
use handtrace::exact::inputs::leaf_values;
use handtrace::exact::num::Num;
use handtrace::exact::run::trace;
use handtrace::ir::{DimDef, LowerOptions};
use std::collections::HashMap;
use std::path::Path;

fn bench_trace(c: &mut Criterion) {
    let path = Path::new("examples/block.ht");
    let base = handtrace::load_program(path, &LowerOptions::default()).expect("block.ht loads");
    let base_sizes: Vec<(String, u64)> = base
        .dims
        .declared()
        .filter(|(_, d)| matches!(d.def, DimDef::Base))
        .map(|(_, d)| (d.name.clone(), d.size.unwrap()))
        .collect();
    let mut group = c.benchmark_group("trace_block");
    group.sample_size(10);
    for scale in [1u64, 2, 4] {
        let options = LowerOptions {
            dim_overrides: base_sizes
                .iter()
                .map(|(n, s)| (n.clone(), s * scale))
                .collect(),
        };
        let program = handtrace::load_program(path, &options).expect("block.ht loads");
        let leaves = leaf_values(&program, 0, &HashMap::new());
        let t = trace(&program, leaves.clone(), 128).expect("block.ht evaluates");
        let largest = t
            .values
            .iter()
            .flat_map(|(_, v)| v.iter())
            .filter_map(|n: &Num| n.bounds())
            .map(|(lo, hi)| lo.numer().bits().max(hi.numer().bits()))
            .max()
            .unwrap_or(0);
        let dims: Vec<String> = options
            .dim_overrides
            .iter()
            .map(|(n, s)| format!("{n}={s}"))
            .collect();
        eprintln!("trace_block/{scale}x ({}): largest numerator {largest} bits, working precision {} bits", dims.join(","), t.prec.bits);
        group.bench_function(format!("{scale}x"), |b| {
            b.iter(|| trace(&program, leaves.clone(), 128).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_trace);
criterion_main!(benches);
