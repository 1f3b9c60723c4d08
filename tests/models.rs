//! The tiny real models: `examples/gpt2_tiny.ht` and `examples/llama_tiny.ht` traced on text
//! with weights written to a safetensors file, forward and backward; their gradients checked;
//! bad weight files and token inputs rejected with clear errors.

mod common;

use common::{load, run, scratch_dir, stderr, stdout};
use handtrace::exact::inputs::{concrete_shape, Rng};
use handtrace::exact::weights::{encode, Dtype};
use handtrace::ir::Program;
use std::path::PathBuf;

const TEXT: &str = "First Citizen:";

/// A checkpoint tensor: name, shape, values.
type Named = (String, Vec<usize>, Vec<f64>);

/// Weights for every leaf bound to a checkpoint name, rounded to `dtype` (so the file holds
/// what a framework would).
fn checkpoint(program: &Program, dtype: Dtype, skip: &[&str]) -> Vec<u8> {
    encode_all(&weights(program, skip), dtype)
}

/// A norm's gain near 1, everything else small.
fn weights(program: &Program, skip: &[&str]) -> Vec<Named> {
    let mut rng = Rng::new(7);
    let mut tensors: Vec<Named> = Vec::new();
    for (leaf, name, _) in &program.checkpoint_names {
        if skip.contains(&name.as_str()) {
            continue;
        }
        let shape = concrete_shape(program, *leaf);
        let count: usize = shape.iter().product();
        let gain = shape.len() == 1 && !name.ends_with("bias");
        let values = (0..count)
            .map(|_| {
                let x = (rng.below(2001) as f64 - 1000.0) / 4000.0;
                if gain {
                    1.0 + x / 4.0
                } else {
                    x
                }
            })
            .collect();
        tensors.push((name.clone(), shape, values));
    }
    tensors
}

fn encode_all(tensors: &[Named], dtype: Dtype) -> Vec<u8> {
    let views: Vec<(&str, Dtype, &[usize], &[f64])> = tensors
        .iter()
        .map(|(n, s, v)| (n.as_str(), dtype, s.as_slice(), v.as_slice()))
        .collect();
    encode(&views)
}

fn write(dir: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_dir(dir).join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn weights_for(example: &str, dir: &str, dtype: Dtype) -> PathBuf {
    let program = load(format!("examples/{example}.ht"));
    write(
        dir,
        "weights.safetensors",
        &checkpoint(&program, dtype, &[]),
    )
}

#[test]
fn gpt2_tiny_traces_text_forward_and_backward_exactly() {
    let weights = weights_for("gpt2_tiny", "gpt2_tiny", Dtype::F32);
    let w = weights.to_str().unwrap();
    let o = run(&[
        "trace",
        "examples/gpt2_tiny.ht",
        "--weights",
        w,
        "--text",
        TEXT,
        "--grad",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    // 14 characters: 13 positions, each predicting the next.
    assert!(out.contains("T = 13"), "{out}");
    assert!(
        out.contains("ids, targets from --text, 28 leaves from weights.safetensors;"),
        "{out}"
    );
    assert!(
        !stderr(&o).contains("random"),
        "every param is in the file: {}",
        stderr(&o)
    );
    // The ids of "First Citizen" in the file's vocabulary, whole.
    assert!(out.contains("ids  [T] = [13]  line"), "{out}");
    // Forward first, then the backward pass; a big tensor is summarised with its line.
    let forward = out
        .find("\nlogits  [T, V] = [13, 65]  line 93")
        .expect("logits");
    let backward = out.find("\ndwte  [V, d]").expect("dwte");
    assert!(forward < backward);
    assert!(out.contains("min "), "summaries: {out}");
    let loss = out.find("\nL  []").unwrap();
    assert!(
        out[loss..].lines().nth(2).unwrap().contains('…'),
        "a certified loss"
    );
    // The whole tensor on request.
    let o = run(&[
        "trace",
        "examples/gpt2_tiny.ht",
        "--weights",
        w,
        "--text",
        TEXT,
        "--show",
        "logits",
    ]);
    let logits = stdout(&o);
    let at = logits.find("\nlogits").unwrap();
    assert_eq!(
        logits[at..]
            .lines()
            .skip(2)
            .take_while(|l| !l.is_empty())
            .count(),
        13
    );
}

#[test]
fn gpt2_tiny_json_has_every_value_and_gradient() {
    let weights = weights_for("gpt2_tiny", "gpt2_tiny_json", Dtype::BF16);
    let o = run(&[
        "trace",
        "examples/gpt2_tiny.ht",
        "--weights",
        weights.to_str().unwrap(),
        "--tokens",
        "18,47,56,57,58",
        "--grad",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["dims"]["T"], 4);
    assert_eq!(
        doc["values"]["ids"]["data"],
        serde_json::json!(["18", "47", "56", "57"])
    );
    assert_eq!(
        doc["values"]["targets"]["data"],
        serde_json::json!(["47", "56", "57", "58"])
    );
    assert_eq!(doc["values"]["logits"]["shape"], serde_json::json!([4, 65]));
    assert_eq!(doc["grads"]["wte"]["shape"], serde_json::json!([65, 8]));
    // Rows of wte that no position reads get only the LM head's gradient; the rows of the
    // ids get the embedding's too. Both are present, so the table is 65 × 8 in full.
    assert_eq!(
        doc["grads"]["wte"]["data"].as_array().unwrap().len(),
        65 * 8
    );
}

#[test]
fn llama_tiny_traces_text_with_rope_gqa_and_swiglu() {
    let weights = weights_for("llama_tiny", "llama_tiny", Dtype::F16);
    let o = run(&[
        "trace",
        "examples/llama_tiny.ht",
        "--weights",
        weights.to_str().unwrap(),
        "--text",
        "To be, or",
        "--grad",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.contains("T = 8"), "{out}");
    for name in [
        "qh  [hq, T, dk]",
        "krep  [hq, T, dk]",
        "dkh  [hk, T, dk]",
        "dtok  [V, d]",
    ] {
        assert!(out.contains(name), "{name}: {out}");
    }
}

#[test]
fn both_models_gradients_pass_grad_check() {
    for example in ["gpt2_tiny", "llama_tiny"] {
        let file = format!("examples/{example}.ht");
        let o = run(&["grad", "--check", "--points", "1", &file, "--dims", "T=3"]);
        assert!(
            o.status.success(),
            "{example}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        let text = stdout(&o) + &stderr(&o);
        assert!(
            text.contains("dwte verified") || text.contains("dtok verified"),
            "{text}"
        );
        assert!(!text.contains("mismatch"), "{text}");
    }
}

#[test]
fn bad_weight_files_get_errors_naming_the_tensor() {
    let program = load("examples/gpt2_tiny.ht");
    let file = "examples/gpt2_tiny.ht";
    // A missing tensor: the error points at the declaration's `from "..."`.
    let missing = write(
        "gpt2_missing",
        "w.safetensors",
        &checkpoint(&program, Dtype::F32, &["h.0.attn.c_attn.weight"]),
    );
    let o = run(&[
        "trace",
        file,
        "--weights",
        missing.to_str().unwrap(),
        "--text",
        TEXT,
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("gpt2_tiny.ht:"), "{e}");
    assert!(
        e.contains("`wqkv0` is bound to checkpoint tensor \"h.0.attn.c_attn.weight\""),
        "{e}"
    );
    assert!(e.contains("h.0.attn.c_attn.bias"), "similar names: {e}");
    // A wrong shape: both shapes named.
    let small = load_at_d("examples/gpt2_tiny.ht", 2);
    let wrong = write(
        "gpt2_shape",
        "w.safetensors",
        &checkpoint(&small, Dtype::F32, &[]),
    );
    let o = run(&[
        "trace",
        file,
        "--weights",
        wrong.to_str().unwrap(),
        "--text",
        TEXT,
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("checkpoint tensor \"h.0.ln_1.weight\" has shape [4], but `ln1_g0` is declared [d] = [8]") || e.contains("has shape [65, 4], but `wte` is declared [V, d] = [65, 8]"), "{e}");
    // A truncated file and garbage.
    let bytes = checkpoint(&program, Dtype::F32, &[]);
    for (name, data) in [
        ("cut", &bytes[..bytes.len() / 2]),
        ("junk", &b"not a checkpoint at all"[..]),
    ] {
        let path = write("gpt2_bad", name, data);
        let o = run(&[
            "trace",
            file,
            "--weights",
            path.to_str().unwrap(),
            "--text",
            TEXT,
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert!(
            stderr(&o).contains("error[inputs]"),
            "{name}: {}",
            stderr(&o)
        );
    }
    // Tensors nothing reads are listed; params the file lacks are named as random.
    let mut tensors = weights(&program, &[]);
    tensors.push(("h.9.unused.weight".into(), vec![2], vec![0.5, 0.25]));
    let extra = encode_all(&tensors, Dtype::F32);
    let path = write("gpt2_extra", "w.safetensors", &extra);
    let o = run(&[
        "trace",
        file,
        "--weights",
        path.to_str().unwrap(),
        "--text",
        TEXT,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 checkpoint tensor(s) that no declaration reads: h.9.unused.weight"),
        "{}",
        stderr(&o)
    );
}

fn load_at_d(path: &str, dk: u64) -> Program {
    common::load_at(path, &[("dk", dk)])
}

#[test]
fn bad_tokens_get_errors() {
    let gpt2 = "examples/gpt2_tiny.ht";
    for (args, words) in [
        (
            vec!["trace", gpt2, "--text", "héllo"],
            "character 2 of the text, 'é', is not in the file's vocabulary",
        ),
        (
            vec!["trace", gpt2, "--tokens", "1,2,65"],
            "token 3 is 65, outside the vocabulary's ids 0..64",
        ),
        (
            vec!["trace", gpt2, "--tokens", "1"],
            "1 tokens given, but the file needs at least 2",
        ),
        (
            vec!["trace", gpt2, "--text", "abcdef", "--dims", "T=3"],
            "--dims sets T=3, but the 6 tokens give T=5",
        ),
        (
            vec!["trace", "examples/attention.ht", "--tokens", "1,2"],
            "declares no `tokens",
        ),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(words), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn the_float_report_shows_the_naive_softmax_overflow_and_not_the_stable_one() {
    let o = run(&[
        "trace",
        "examples/softmax_overflow.ht",
        "--seed",
        "7",
        "--float",
        "f32",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {out}"))
            .to_string()
    };
    assert!(line("E").contains("OVERFLOW"), "{out}");
    assert!(line("P_naive").contains("OVERFLOW"), "{out}");
    assert!(!line("Z").contains("OVERFLOW"), "{out}");
    assert!(!line("P").contains("OVERFLOW"), "{out}");
    assert!(out.contains("first overflow: `E` (line 13)"), "{out}");
    // Exactly, nothing overflows: every probability is certified.
    let exact = stdout(&run(&[
        "trace",
        "examples/softmax_overflow.ht",
        "--seed",
        "7",
    ]));
    assert!(!exact.contains("inf") && !exact.contains("NaN"), "{exact}");
    // JSON: the trace's values and the float report side by side.
    let o = run(&[
        "trace",
        "examples/softmax_overflow.ht",
        "--seed",
        "7",
        "--float",
        "bf16",
        "--format",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["float"]["format"], "bf16");
    assert_eq!(doc["float"]["first_overflow"], "E");
    assert!(doc["values"]["P"]["data"].is_array());
}

#[test]
fn gpt2_tiny_runs_in_every_float_format_against_exact() {
    let weights = weights_for("gpt2_tiny", "gpt2_tiny_float", Dtype::BF16);
    for format in ["f32", "bf16", "f16"] {
        let o = run(&[
            "trace",
            "examples/gpt2_tiny.ht",
            "--weights",
            weights.to_str().unwrap(),
            "--text",
            TEXT,
            "--float",
            format,
        ]);
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.starts_with(&format!("float {format} against exact")),
            "{out}"
        );
        assert!(out.contains("logits   line 93"), "{out}");
    }
}
