//! `slice`, `pad` and `concat`: exact values, their gradients (a fused projection's gradient
//! printed as one concat), IEEE evaluation, errors at the source span, TeX, and kernel
//! properties.

mod common;

use common::{entries, program, run, scratch, stderr, stdout, trace_json};
use handtrace::exact::tensor::{concat_axis, pad_axis, slice_axis};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

/// A fused projection split in three along the last axis, attention on the parts, and a
/// second slice of the first part (so the first part's gradient has two terms, which arrive
/// apart from each other).
const FUSED: &str = "dim T = 3\ndim d = 2\n\
input X : [T, d]\nparam W : [d, 3*d]\nparam b : [3*d]\n\
qkv = X @ W + b\n\
q = slice(qkv, 0, d)\nk = slice(qkv, d, 2*d, axis=-1)\nv = slice(qkv, 2*d, 3*d, axis=1)\n\
O = softmax(q @ k.T) @ v\n\
loss L = sum(O * O) + sum(slice(qkv, 0, d) * 3)\n";

#[test]
fn values_are_exact_moves_of_entries() {
    let file = scratch(
        "slices_values.ht",
        "dim n = 2\ndim m = 3\ninput A : [n, m]\ninput B : [n, 1]\n\
         s = slice(A, 1, m)\nr = slice(A, 1, n, axis=0)\np = pad(B, 1, 2)\n\
         q = pad(B, 0, 1, axis=0)\nc = concat(A, B, A)\nc0 = concat(A, A, axis=0)\n\
         output c\n",
    );
    let inputs = scratch(
        "slices_values.json",
        r#"{"A": [[1, "1/2", -3], [4, 5, "-7/3"]], "B": [[9], [-1]]}"#,
    );
    let v = trace_json(&file, &inputs);
    let vals = &v["values"];
    assert_eq!(entries(&vals["s"]), ["1/2", "-3", "5", "-7/3"]);
    assert_eq!(vals["s"]["shape"], serde_json::json!([2, 2]));
    assert_eq!(entries(&vals["r"]), ["4", "5", "-7/3"]);
    assert_eq!(
        entries(&vals["p"]),
        ["0", "9", "0", "0", "0", "-1", "0", "0"]
    );
    assert_eq!(vals["p"]["shape"], serde_json::json!([2, 4]));
    assert_eq!(entries(&vals["q"]), ["9", "-1", "0"]);
    assert_eq!(
        entries(&vals["c"]),
        ["1", "1/2", "-3", "9", "1", "1/2", "-3", "4", "5", "-7/3", "-1", "4", "5", "-7/3"]
    );
    assert_eq!(vals["c0"]["shape"], serde_json::json!([4, 3]));
    assert_eq!(
        &entries(&vals["c0"])[3..9],
        ["4", "5", "-7/3", "1", "1/2", "-3"]
    );
}

#[test]
fn a_fused_projection_gradient_is_one_concat() {
    let file = scratch("slices_fused.ht", FUSED);
    let o = run(&["grad", file.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        out.contains("dqkv = concat(3 + dq, dk, dv, axis=-1)"),
        "{out}"
    );
    assert!(out.contains("dW = X.T @ dqkv"), "{out}");
    assert!(out.contains("db = sum(dqkv, axis=0)"), "{out}");
    // Unsimplified, the parts are still joined by the builder, not summed as pads.
    let raw = stdout(&run(&["grad", file.to_str().unwrap(), "--raw"]));
    assert!(raw.contains("concat("), "{raw}");
    assert!(!raw.contains("pad("), "{raw}");
    let o = run(&["grad", file.to_str().unwrap(), "--check"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("check: dqkv verified"), "{out}");
    assert!(
        !out.contains("refuted") && !out.contains("undecided"),
        "{out}"
    );
}

#[test]
fn slices_that_do_not_tile_keep_their_pads() {
    // Two slices with a gap between them: their gradient is a sum of padded parts, and a
    // lone slice's gradient is one pad.
    let file = scratch(
        "slices_gap.ht",
        "dim n = 2\ndim m = 5\ninput A : [n, m]\n\
         u = slice(A, 0, 1)\nw = slice(A, 3, m)\nloss L = sum(u * u) + sum(w)\n",
    );
    let out = stdout(&run(&["grad", file.to_str().unwrap()]));
    assert!(out.contains("pad("), "{out}");
    assert!(!out.contains("concat("), "{out}");
    let o = run(&["grad", file.to_str().unwrap(), "--check"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let lone = scratch(
        "slices_lone.ht",
        "dim n = 2\ndim m = 5\ninput A : [n, m]\nloss L = sum(slice(A, 1, 3) ** 2)\n",
    );
    let out = stdout(&run(&["grad", lone.to_str().unwrap()]));
    assert!(out.contains("dA = pad("), "{out}");
    assert!(out.contains(", 1, m - 3, axis=-1)"), "{out}");
}

#[test]
fn claims_about_parts_are_proved_and_a_wrong_order_refuted() {
    let file = scratch("slices_model.ht", FUSED);
    let claims = scratch(
        "slices_claims.ht",
        &format!(
            "use \"{}\"\n\
             claim grad(qkv) = concat(grad(q) + 3, grad(k), grad(v))\n\
             claim grad(v) = slice(grad(qkv), 2*d, 3*d)\n\
             claim grad(qkv) = concat(grad(q) + 3, grad(v), grad(k))\n\
             claim grad(qkv) = concat(grad(q), grad(k), grad(v))\n",
            file.file_name().unwrap().to_str().unwrap()
        ),
    );
    let o = run(&["check", claims.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for verdict in [":2: proved", ":3: ", ":4: refuted", ":5: refuted"] {
        assert!(out.contains(verdict), "{verdict}: {out}");
    }
    assert!(
        !out.contains(":3: refuted") && !out.contains(":3: undecided"),
        "{out}"
    );
    assert!(out.contains("the parts are in the wrong order"), "{out}");
    // The second slice's gradient is the term a person forgets, inside the first part.
    assert!(
        out.contains("diagnosis: it matches the true gradient without the term"),
        "{out}"
    );
}

#[test]
fn the_float_run_moves_entries_without_rounding_them() {
    let file = scratch("slices_float.ht", FUSED);
    let inputs = scratch(
        "slices_float.json",
        r#"{"X": [["1/3", "2/7"], ["-5/11", "1/13"], ["3/17", "-1/19"]]}"#,
    );
    for format in ["f32", "bf16", "f16"] {
        let o = run(&[
            "trace",
            file.to_str().unwrap(),
            "--float",
            format,
            "--inputs",
            inputs.to_str().unwrap(),
        ]);
        let out = stdout(&o);
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        let ulps = |name: &str| -> f64 {
            let line = out
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} in {out}"));
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words
                .iter()
                .position(|w| *w == "ulp")
                .expect("an error in ulps");
            words[at - 1].parse().unwrap()
        };
        // A slice only moves entries: the parts' errors are the whole's, split.
        let (q, k, v, qkv) = (ulps("q"), ulps("k"), ulps("v"), ulps("qkv"));
        assert!(qkv > 0.0, "{out}");
        assert!(q <= qkv && k <= qkv && v <= qkv, "{out}");
        assert_eq!(q.max(k).max(v), qkv, "{out}");
    }
}

#[test]
fn bad_ranges_and_parts_are_errors_at_the_call() {
    let base = "dim T = 3\ndim d = 2\ninput X : [T, 3*d]\ninput Y : [T, d]\n";
    for (expr, words, code) in [
        (
            "slice(X, 0, 4*d)",
            "`slice` needs 0 <= start < end <= the axis's size; here start 0, end 4*d = 8 and size 3*d = 6",
            "shape-mismatch",
        ),
        ("slice(X, d, d)", "start d = 2, end d = 2", "shape-mismatch"),
        ("slice(X, 2*d, d)", "start 2*d = 4, end d = 2", "shape-mismatch"),
        ("slice(X, 0, -1)", "sizes are positive", "bad-dim"),
        ("slice(X, 0)", "`slice` takes 3 arguments", "arity"),
        ("slice(X, 0, d, axis=2)", "axis 2 is out of range", "bad-axis"),
        (
            "concat(X, Y, axis=0)",
            "argument 2 has shape [T, d], the first has [T, 3*d]",
            "shape-mismatch",
        ),
        ("concat(X, Y.T)", "argument 2 has shape [d, T]", "shape-mismatch"),
        ("pad(X, d)", "`pad` takes 3 arguments", "arity"),
    ] {
        let file = scratch("slices_bad.ht", &format!("{base}Z = {expr}\n"));
        let o = run(&["show", file.to_str().unwrap()]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{expr}: {e}");
        assert!(e.contains(words), "{expr}: {e}");
        assert!(e.contains(&format!("error[{code}]")), "{expr}: {e}");
        assert!(e.contains("slices_bad.ht:5:"), "{expr}: {e}");
    }
    // Concat along different sizes on the joining axis is fine.
    let p = program(&format!("{base}Z = concat(X, Y, Y)\n"));
    let z = p.tensor_by_name("Z").unwrap();
    assert_eq!(p.dims.sizes(p.shape_of(z)), Some(vec![3, 10]));
}

#[test]
fn positions_past_the_table_are_an_error_at_arange() {
    let file = scratch(
        "slices_positions.ht",
        "dim T = 5\ndim C = 4\ndim d = 2\nparam P : [C, d]\nx = embedding(P, arange(T))\n",
    );
    let o = run(&["show", file.to_str().unwrap()]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("`arange(T)` gives 5 positions, more than the C = 4 rows it indexes"),
        "{e}"
    );
    // At T <= C it lowers, and claims are checked at other sizes that keep T <= C.
    let ok = scratch(
        "slices_positions_ok.ht",
        "dim T = 3\ndim C = 4\ndim d = 2\nparam P : [C, d]\nx = embedding(P, arange(T))\n\
         loss L = sum(x * x)\nclaim grad(P) = onehot(arange(T), C).T @ (2 * x)\n",
    );
    let o = run(&["check", ok.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
}

#[test]
fn tex_shows_the_range() {
    let file = scratch("slices_tex.ht", FUSED);
    let out = scratch("slices_tex.tex", "");
    let o = run(&["latex", file.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tex = std::fs::read_to_string(&out).unwrap();
    assert!(
        tex.contains("\\operatorname{slice}_{d{:}2\\,d;\\, -1}(q_{kv})"),
        "{tex}"
    );
    assert!(
        tex.contains("\\operatorname{slice}_{0{:}d;\\, -1}(q_{kv})"),
        "{tex}"
    );
    assert!(tex.contains("\\operatorname{concat}_{-1}("), "{tex}");
}

#[test]
fn help_lists_them() {
    let out = stdout(&run(&["help", "builtins"]));
    for sig in [
        "slice(x, start, end, axis=k)",
        "pad(x, before, after, axis=k)",
        "concat(x..., axis=k)",
    ] {
        assert!(out.contains(sig), "{sig}: {out}");
    }
}

fn array(shape: &[usize], seed: i64) -> ArrayD<i64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n as i64).map(|i| i * 7 + seed).collect()).unwrap()
}

proptest! {
    /// Splitting an axis anywhere and joining the parts gives the tensor back; padding then
    /// slicing out the padded tensor gives it back; a range outside the axis is `None`.
    #[test]
    fn kernels_undo_each_other(
        rows in 1usize..4, cols in 1usize..6, cut in 0usize..6, before in 0usize..3,
        after in 0usize..3, axis in 0usize..2, seed in -50i64..50,
    ) {
        let x = array(&[rows, cols], seed);
        let n = x.shape()[axis];
        let cut = cut.min(n);
        let left = slice_axis(&x, axis, 0, cut).unwrap();
        let right = slice_axis(&x, axis, cut, n).unwrap();
        prop_assert_eq!(concat_axis(&[&left, &right], axis).unwrap(), x.clone());
        let padded = pad_axis(&x, axis, before, after, 0).unwrap();
        prop_assert_eq!(padded.shape()[axis], before + n + after);
        prop_assert_eq!(slice_axis(&padded, axis, before, before + n).unwrap(), x.clone());
        prop_assert_eq!(padded.iter().filter(|&&v| v == 0).count() >= (before + after) * x.len() / n, true);
        prop_assert!(slice_axis(&x, axis, 0, n + 1).is_none());
        prop_assert!(slice_axis(&x, 2, 0, 1).is_none());
    }
}
