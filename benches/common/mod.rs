//! Shared by the benchmarks: generated stacks of GPT blocks.

use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A file with `n` pre-LayerNorm GPT blocks built from examples/gpt_lib.ht.
pub fn stack(n: usize) -> PathBuf {
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
