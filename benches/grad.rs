//! Deriving gradients: examples/block.ht, and generated stacks of 1, 4 and 12 such blocks.
//! Prints the gradient-graph size (nodes added by reverse mode) per depth, to show that it
//! grows linearly with the number of blocks.

use criterion::{criterion_group, criterion_main, Criterion};
use handtrace::diff::derive;
use handtrace::ir::LowerOptions;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A file with `n` pre-LayerNorm GPT blocks built from examples/gpt_lib.ht.
fn stack(n: usize) -> PathBuf {
    let lib = std::fs::canonicalize("examples/gpt_lib.ht").expect("examples/gpt_lib.ht");
    let mut src = format!(
        "use \"{}\"\ndim T = 4\ndim d = 8\ndim f = 4*d\ninput x0 : [T, d]\n",
        lib.display()
    );
    for i in 1..=n {
        for p in ["g1", "b1", "g2", "b2", "c2"] {
            let _ = writeln!(src, "param {p}_{i} : [d]");
        }
        for p in ["Wq", "Wk", "Wv", "Wo"] {
            let _ = writeln!(src, "param {p}_{i} : [d, d]");
        }
        let _ = writeln!(
            src,
            "param W1_{i} : [d, f]\nparam c1_{i} : [f]\nparam W2_{i} : [f, d]"
        );
        let _ = writeln!(
            src,
            "h{i} = x{p} + attention(layer_norm(x{p}, g1_{i}, b1_{i}), Wq_{i}, Wk_{i}, Wv_{i}, Wo_{i})\n\
             x{i} = h{i} + mlp(layer_norm(h{i}, g2_{i}, b2_{i}), W1_{i}, c1_{i}, W2_{i}, c2_{i})",
            p = i - 1
        );
    }
    let _ = writeln!(src, "output x{n}");
    let dir = Path::new("target").join("bench-stacks");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("stack_{n}.ht"));
    std::fs::write(&path, src).unwrap();
    path
}

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
}

criterion_group!(benches, bench_grad);
criterion_main!(benches);
