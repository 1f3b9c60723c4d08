//! The tiny GPT-2 of examples/gpt2_tiny.ht on 16 tokens with weights rounded to f32, as a
//! checkpoint would hold them: the exact trace with every gradient, and the same forward
//! pass in IEEE f32 and bf16 op by op. `MODEL_WIDTH` sets the model width d (default 16:
//! 2 heads of 8; the size is 64: `MODEL_WIDTH=64 cargo bench --bench model`, about
//! 6 s an iteration).

use criterion::{criterion_group, criterion_main, Criterion};
use handtrace::exact::bind::token_values;
use handtrace::exact::inputs::{concrete_shape, leaf_values, Rng};
use handtrace::exact::num::Num;
use handtrace::exact::run::trace_with_gradients;
use handtrace::exact::tensor::{from_vec, Tensor};
use handtrace::float::{self, Format};
use handtrace::ir::{LowerOptions, Program, TensorId};
use std::collections::HashMap;
use std::path::Path;

/// Weights rounded to f32 (24-bit dyadic rationals), small, gains near 1.
fn f32_weights(program: &Program) -> HashMap<TensorId, Tensor<Num>> {
    let mut rng = Rng::new(7);
    let mut out = HashMap::new();
    for (leaf, name, _) in &program.checkpoint_names {
        let shape = concrete_shape(program, *leaf);
        let gain = shape.len() == 1 && !name.ends_with("bias");
        let data = (0..shape.iter().product::<usize>())
            .map(|_| {
                let x = ((rng.below(2001) as f64 - 1000.0) / 4000.0) as f32 as f64;
                let v = if gain {
                    (1.0 + x / 4.0) as f32 as f64
                } else {
                    x
                };
                Num::exact(num_rational::BigRational::from_float(v).unwrap())
            })
            .collect();
        out.insert(*leaf, from_vec(&shape, data).unwrap());
    }
    out
}

fn bench_model(c: &mut Criterion) {
    let width: u64 = std::env::var("MODEL_WIDTH")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(16);
    let options = LowerOptions {
        dim_overrides: vec![("T".into(), 16), ("dk".into(), width / 2)],
    };
    let program = handtrace::load_program(Path::new("examples/gpt2_tiny.ht"), &options)
        .expect("gpt2_tiny.ht loads");
    // "First Citizen:\nBef" in the file's vocabulary: 17 characters, 16 positions.
    let ids = [
        18, 47, 56, 57, 58, 1, 15, 47, 58, 47, 64, 43, 52, 10, 0, 14, 43,
    ];
    let mut given = f32_weights(&program);
    given.extend(token_values(&program, &ids).unwrap());
    let leaves = leaf_values(&program, 0, &given);
    let mut group = c.benchmark_group(format!("gpt2_tiny_d{width}_T16"));
    group.sample_size(10);
    group.bench_function("exact_trace_and_gradients", |b| {
        b.iter(|| trace_with_gradients(&program, leaves.clone(), None, 0, 128).unwrap())
    });
    for format in [Format::F32, Format::BF16] {
        group.bench_function(format!("float_{}", format.name()), |b| {
            b.iter(|| float::trace(&program, &leaves, format).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_model);
criterion_main!(benches);
