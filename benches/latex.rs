//! `handtrace latex`: the time to build a worked solution (simplified gradients twice, the
//! numeric example at its first well-conditioned seed, the claims checked) and write its
//! document, for the handouts of the attention and block layers and the layer-norm
//! derivation. Printed once per file: the document's size in bytes.

use criterion::{criterion_group, criterion_main, Criterion};
use handtrace::ir::LowerOptions;
use handtrace::solution::Solution;
use std::path::Path;

/// The document of `file`, built as the `latex` command builds it.
fn document(file: &str) -> String {
    let loaded = handtrace::read_program(Path::new(file)).unwrap();
    let program = handtrace::lower_program(&loaded, &LowerOptions::default()).unwrap();
    let s = Solution::build(&loaded, program, file, &[], &Default::default())
        .unwrap_or_else(|e| panic!("{file}: {}", e.diagnostic().message));
    let command = handtrace::render::latex_command(&s.program, file, &[], 0);
    handtrace::render::latex::document(&s, &command)
}

fn bench_latex(c: &mut Criterion) {
    let mut group = c.benchmark_group("latex");
    group.sample_size(10);
    for (label, file) in [
        ("attention", "examples/attention.ht"),
        ("block", "examples/block.ht"),
        ("proofs_layernorm", "proofs/layernorm.ht"),
    ] {
        eprintln!("latex/{label}: {} bytes of TeX", document(file).len());
        group.bench_function(label, |b| b.iter(|| document(file)));
    }
    group.finish();
}

criterion_group!(benches, bench_latex);
criterion_main!(benches);
