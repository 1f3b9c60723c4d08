//! Token ids and the modern ops: `vocab`, `tokens ... in V = next(x)`, `from "name"`,
//! `onehot`, `embedding`, `arange`, `rope`/`unrope`, `repeat` — parsing, errors at the
//! source span, exact values, and gradients (repeated ids summed, copies summed back).

mod common;

use common::{entries, program, run, scratch, stderr, stdout, trace_json};
use handtrace::exact::num::Num;
use num_rational::BigRational;

#[test]
fn declarations_parse_and_their_words_stay_names() {
    let p = program(
        "vocab V = \"ab\\nc\\\"\"\ndim T = 3\ntokens ids : [T] in V\ntokens nxt : [T] in V = next(ids)\nparam E : [V, 2] from \"model.embed.weight\"\ntokens = E * 2\nvocab2 = tokens\nfrom = 1\n",
    );
    let vocab = p.vocab.as_ref().unwrap();
    assert_eq!(vocab.chars, vec!['a', 'b', '\n', 'c', '"']);
    assert_eq!(
        p.dims.sizes(p.shape_of(p.tensor_by_name("E").unwrap())),
        Some(vec![5, 2])
    );
    assert_eq!(p.token_leaves.len(), 2);
    assert_eq!(p.token_leaves[1].next_of, p.tensor_by_name("ids"));
    assert_eq!(p.checkpoint_names[0].1, "model.embed.weight");
    assert!(p.tensor_by_name("tokens").is_some() && p.tensor_by_name("from").is_some());
    assert_eq!(vocab.encode("cab"), Ok(vec![3, 0, 1]));
    assert_eq!(vocab.encode("az"), Err((1, 'z')));
}

#[test]
fn bad_declarations_point_at_their_source() {
    for (src, words) in [
        (
            "vocab V = \"aba\"\n",
            "the vocabulary has `a` twice (ids 0 and 2)",
        ),
        (
            "vocab V = \"\"\n",
            "a vocabulary needs at least one character",
        ),
        (
            "vocab V = \"ab\"\nvocab W = \"cd\"\n",
            "a file has one vocabulary",
        ),
        (
            "dim T = 2\ndim V = 3\ntokens ids : [T, T] in V\n",
            "token ids are a vector `[T]`",
        ),
        (
            "dim T = 2\ndim V = 3\ntokens t : [T] in V = next(x)\n",
            "`next(x)` needs `x` declared earlier as `tokens`",
        ),
        (
            "dim T = 2\ndim V = 3\ndim W = 4\ntokens a : [T] in V\ntokens b : [T] in W = next(a)\n",
            "needs the same shape and vocabulary",
        ),
        (
            "dim T = 2\ninput x : [T, 3]\ny = rope(x)\n",
            "the last axis must have an even size",
        ),
        (
            "dim T = 2\ninput E : [4, 3]\ninput i : [T, T]\ny = embedding(E, i)\n",
            "`embedding(E, ids)` needs a table E of shape [V, d] and token ids of shape [T]",
        ),
    ] {
        let path = scratch("bad_decl.ht", src);
        let o = run(&["show", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{src}");
        let e = stderr(&o);
        assert!(e.contains("bad_decl.ht:"), "{src}: {e}");
        assert!(e.contains(words), "{src}: {e}");
    }
}

#[test]
fn embedding_reads_rows_and_its_gradient_sums_repeated_ids() {
    let path = scratch(
        "embed.ht",
        "dim T = 3\ndim V = 4\ndim d = 2\ntokens ids : [T] in V\nparam E : [V, d]\nX = embedding(E, ids)\nH = onehot(ids, V)\noutput X\n",
    );
    let inputs = scratch(
        "embed.json",
        r#"{"ids": [2, 0, 2], "E": [[1, 2], [3, 4], [5, 6], [7, 8]], "grad(X)": [[1, 10], [100, 1000], ["1/2", "1/4"]]}"#,
    );
    let doc = trace_json(&path, &inputs);
    assert_eq!(entries(&doc["values"]["X"]), ["5", "6", "1", "2", "5", "6"]);
    assert_eq!(
        entries(&doc["values"]["H"]),
        ["0", "0", "1", "0", "1", "0", "0", "0", "0", "0", "1", "0"]
    );
    // Row 2 is read twice: its gradient is the sum; rows 1 and 3 are read by nobody.
    assert_eq!(
        entries(&doc["grads"]["E"]),
        ["100", "1000", "0", "0", "3/2", "41/4", "0", "0"]
    );
    // The printed backward pass is the scatter-add in matrix form.
    let o = run(&["grad", path.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("dE = onehot(ids, V).T @ dX"),
        "{}",
        stdout(&o)
    );
    // An id outside the table is an error naming the statement.
    let bad = scratch("embed_bad.json", r#"{"ids": [2, 0, 4]}"#);
    let o = run(&[
        "trace",
        path.to_str().unwrap(),
        "--inputs",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("4 is not a token id in 0..4"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn repeat_copies_in_place_and_its_gradient_sums_the_copies() {
    let path = scratch(
        "repeat.ht",
        "dim a = 2\ndim n = 3\ninput k : [a, 1]\ny = repeat(k, n, axis=0)\noutput y\n",
    );
    let inputs = scratch(
        "repeat.json",
        r#"{"k": [[1], [2]], "grad(y)": [[1], [2], [3], [10], [20], [30]]}"#,
    );
    let doc = trace_json(&path, &inputs);
    assert_eq!(entries(&doc["values"]["y"]), ["1", "1", "1", "2", "2", "2"]);
    assert_eq!(entries(&doc["grads"]["k"]), ["6", "60"]);
    let o = run(&["grad", "--check", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn rope_rotates_pairs_by_position_and_unrope_undoes_it() {
    let path = scratch(
        "rope.ht",
        "dim T = 3\ndim d = 4\ninput x : [T, d]\ny = rope(x)\nz = unrope(y)\noutput y\n",
    );
    let inputs = scratch(
        "rope.json",
        r#"{"x": [[1, 2, 3, 4], [1, 0, 1, 0], [0, 1, 0, 1]]}"#,
    );
    let o = run(&[
        "trace",
        path.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ys = doc["values"]["y"]["data"].as_array().unwrap();
    // Position 0 is not rotated: exact.
    assert_eq!(
        ys[..4]
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["1", "2", "3", "4"]
    );
    // Position 1, pair 0: angle 1 rad; (1, 0) ↦ (cos 1, sin 1); pair 1: angle 10000^(-1/2) = 1/100.
    let lo_hi = |v: &serde_json::Value| -> (f64, f64) {
        let r = |s: &str| {
            s.parse::<BigRational>()
                .map(|q| Num::exact(q).to_f64())
                .unwrap()
        };
        (r(v["lo"].as_str().unwrap()), r(v["hi"].as_str().unwrap()))
    };
    let (lo, hi) = lo_hi(&ys[4]);
    assert!(
        lo <= 1f64.cos() + 1e-15 && hi >= 1f64.cos() - 1e-15 && hi - lo < 1e-30,
        "{lo} {hi}"
    );
    let (lo, hi) = lo_hi(&ys[5]);
    assert!((lo - 1f64.sin()).abs() < 1e-15 && hi - lo < 1e-30);
    let (lo, _) = lo_hi(&ys[6]);
    assert!((lo - 0.01f64.cos()).abs() < 1e-15);
    // unrope(rope(x)) encloses x.
    let zs = doc["values"]["z"]["data"].as_array().unwrap();
    for (z, x) in zs.iter().zip([1, 2, 3, 4, 1, 0, 1, 0, 0, 1, 0, 1]) {
        let (lo, hi) = match z.as_str() {
            Some(s) => (s.parse::<f64>().unwrap(), s.parse::<f64>().unwrap()),
            None => lo_hi(z),
        };
        assert!(lo <= x as f64 && x as f64 <= hi, "{z} vs {x}");
    }
    let o = run(&["grad", path.to_str().unwrap()]);
    assert!(stdout(&o).contains("dx = unrope(dy)"), "{}", stdout(&o));
    let o = run(&["grad", "--check", path.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn help_lists_the_new_builtins() {
    let text = stdout(&run(&["help", "builtins"]));
    for name in [
        "onehot(ids, n)",
        "embedding(E, ids)",
        "arange(n)",
        "rope(x)",
        "unrope(x)",
        "repeat(x, n, axis=k)",
    ] {
        assert!(text.contains(name), "{name}: {text}");
    }
}
