//! Deriving gradients: examples/block.ht, and generated stacks of 1, 4 and 12 such blocks.
//! Prints the gradient-graph size (nodes added by reverse mode) per depth, to show that it
//! grows linearly with the number of blocks. Also checking every gradient of the block
//! against exact forward mode at 3 points (the work of `grad --check`, without simplifying).

use criterion::{criterion_group, criterion_main, Criterion};
use handtrace::diff::derive;
use handtrace::ir::{LowerOptions, TensorId};
use handtrace::verify::gradients::check_gradients;
use std::path::Path;

mod common;
use common::stack;

fn bench_grad(c: &mut Criterion) {
    let mut group = c.benchmark_group("derive");
    group.sample_size(20);
    let block =
        handtrace::load_program(Path::new("examples/block.ht"), &LowerOptions::default()).unwrap();
    group.bench_function("block", |b| b.iter(|| derive(&block).unwrap()));
    for n in [1usize, 4, 12] {
        let program = handtrace::load_program(&stack(n), &LowerOptions::default())
            .unwrap_or_else(|e| panic!("{}", e.render(false)));
        let g = derive(&program).unwrap();
        eprintln!(
            "derive/stack_{n}: forward {} nodes, gradient graph +{} nodes ({:.1} per block)",
            g.forward_len,
            g.graph.len() - g.forward_len,
            (g.graph.len() - g.forward_len) as f64 / n as f64
        );
        group.bench_function(format!("stack_{n}"), |b| {
            b.iter(|| derive(&program).unwrap())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("grad_check");
    group.sample_size(10);
    let grads = derive(&block).unwrap();
    let wrt: Vec<TensorId> = (0..block.tensors.len() as u32)
        .map(TensorId)
        .filter(|&t| grads.of(&block, t).is_some())
        .collect();
    group.bench_function("block", |b| {
        b.iter(|| check_gradients(&block, &grads, &wrt, 3, 0))
    });
    group.finish();
}

criterion_group!(benches, bench_grad);
criterion_main!(benches);
