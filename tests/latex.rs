//! `handtrace latex`: every example and proof becomes a document that pdflatex compiles
//! without errors and without overfull boxes beyond a small bound; the attention and layer-norm
//! documents are snapshot-tested; the numbers in a document are the exact evaluator's.

mod common;

use common::{files, scratch, tex_of, Failures};
use handtrace::exact::num::Num;
use num_rational::BigRational;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Overfull boxes up to this width (pt) are tolerated (a long inline formula in prose).
const OVERFULL_BOUND: f64 = 10.0;

/// Compile `tex` with pdflatex in a fresh directory; panics with the log's first error, or
/// when a box is overfull beyond the bound.
fn compiles(label: &str, tex: &str) {
    let dir = compiled(label, tex);
    let _ = std::fs::remove_dir_all(&dir);
}

/// [`compiles`], keeping the directory with `doc.pdf` (the caller removes it).
fn compiled(label: &str, tex: &str) -> PathBuf {
    let dir = common::scratch_dir(&format!("latex-{label}"));
    std::fs::write(dir.join("doc.tex"), tex).unwrap();
    let out = Command::new("pdflatex")
        .args(["-interaction=nonstopmode", "-halt-on-error", "doc.tex"])
        .current_dir(&dir)
        .output()
        .expect("pdflatex must be installed (.ci/run installs it from Debian's packages)");
    let log = std::fs::read_to_string(dir.join("doc.log")).unwrap_or_default();
    let first_error = log
        .lines()
        .skip_while(|l| !l.starts_with('!'))
        .take(4)
        .collect::<Vec<_>>();
    assert!(
        out.status.success(),
        "{label}: pdflatex failed:\n{}",
        first_error.join("\n")
    );
    for line in log.lines().filter(|l| l.starts_with("Overfull \\hbox (")) {
        let pt: f64 = line["Overfull \\hbox (".len()..]
            .split("pt")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(pt <= OVERFULL_BOUND, "{label}: {line}");
    }
    assert!(dir.join("doc.pdf").exists(), "{label}: no PDF");
    dir
}

/// Build and compile the document of every file; every failing file is reported.
fn compile_all(paths: &[PathBuf]) {
    let mut failures = Failures::new();
    for path in paths {
        let label = path.display().to_string().replace('/', "_");
        failures.run(&label, || compiles(&label, &tex_of(path)));
    }
    failures.finish();
}

#[test]
fn every_example_compiles() {
    compile_all(&files("examples"));
}

#[test]
fn every_proof_compiles() {
    compile_all(&files("proofs"));
}

#[test]
fn attention_document_snapshot() {
    insta::assert_snapshot!(tex_of(Path::new("examples/attention.ht")));
}

#[test]
fn layernorm_document_snapshot() {
    insta::assert_snapshot!(tex_of(Path::new("examples/layernorm.ht")));
}

/// The entries of the first `pmatrix` after `lhs = ` in the document.
fn matrix_after(tex: &str, lhs: &str) -> Vec<String> {
    let at = tex
        .find(&format!("{lhs} = \\begin{{pmatrix}}"))
        .unwrap_or_else(|| panic!("no matrix for {lhs}"));
    let body = &tex[at..];
    let start = body.find("\\begin{pmatrix}").unwrap() + "\\begin{pmatrix}".len();
    let end = body.find("\\end{pmatrix}").unwrap();
    body[start..end]
        .split("\\\\")
        .flat_map(|row| row.split('&'))
        .map(|e| e.trim().to_string())
        .collect()
}

/// An exact entry as printed (`7`, `-\tfrac{3}{4}`) back to a rational.
fn parse_exact(e: &str) -> BigRational {
    let (neg, rest) = match e.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, e),
    };
    let v = match rest.strip_prefix("\\tfrac{") {
        Some(f) => {
            let (n, d) = f.trim_end_matches('}').split_once("}{").unwrap();
            BigRational::new(n.parse().unwrap(), d.parse().unwrap())
        }
        None => BigRational::from_integer(rest.parse().unwrap()),
    };
    if neg {
        -v
    } else {
        v
    }
}

#[test]
fn the_numbers_in_the_document_are_the_evaluators_exact_values() {
    let path = scratch(
        "linear.ht",
        "dim n = 3\ndim m = 2\ninput X : [n, m]\nparam W : [m, m]\nY = X @ W\noutput Y\n",
    );
    let (tex, s) = common::tex_and_solution(&path);
    let Ok(example) = s.example.as_ref() else {
        panic!("a numeric example");
    };
    let p = &example.program;
    let mut checked = 0;
    for (lhs, name, grad) in [
        ("X", "X", false),
        ("Y", "Y", false),
        ("\\bar{W}", "W", true),
        ("\\bar{X}", "X", true),
    ] {
        let t = p.tensor_by_name(name).unwrap();
        let value = if grad {
            example.gradients[&t].clone()
        } else {
            example
                .values
                .iter()
                .find(|(u, _)| *u == t)
                .unwrap()
                .1
                .clone()
        };
        let printed = matrix_after(&tex, lhs);
        let exact: Vec<BigRational> = value
            .iter()
            .map(|n| match n {
                Num::Exact(r) => r.clone(),
                other => panic!("{name}: not exact: {other:?}"),
            })
            .collect();
        assert_eq!(printed.len(), exact.len(), "{lhs}");
        for (e, v) in printed.iter().zip(&exact) {
            assert_eq!(&parse_exact(e), v, "{lhs}: {e}");
            checked += 1;
        }
    }
    // The example keeps the declared sizes, which are small: n = 3, m = 2.
    assert_eq!(checked, 3 * 2 + 3 * 2 + 2 * 2 + 3 * 2);
}

/// Names a person may choose (Unicode letters, underscores, digits, words that look like
/// Greek or `hat`) still make a document that compiles.
#[test]
fn unusual_names_compile() {
    let path = scratch(
        "names.ht",
        "dim T = 2\ndim d_k = 2\ninput μ : [T, d_k]\ninput x_1 : [T, d_k]\nparam W_q2 : [d_k, d_k]\n\
         param alpha : [d_k]\nparam _b : [d_k]\nσ = x_1 @ W_q2 * alpha + μ\nσhat = σ - _b\n\
         long_name_here = softmax(σhat, axis=-1)\noutput long_name_here\n\
         claim grad(σhat) = grad(σ)\n",
    );
    compiles("names", &tex_of(&path));
}

/// How deep `\frac` (or `\dfrac`, `\tfrac`) nests in `tex`: 1 for a fraction, 2 for one in
/// a fraction's numerator or denominator.
fn fraction_depth(tex: &str) -> usize {
    // The end (exclusive) of the braced group starting at `i` (`tex[i] == '{'`).
    fn group_end(tex: &[u8], i: usize) -> usize {
        let mut depth = 0;
        for (j, &c) in tex.iter().enumerate().skip(i) {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return j + 1;
                    }
                }
                _ => {}
            }
        }
        tex.len()
    }
    let bytes = tex.as_bytes();
    let mut best = 0;
    let mut i = 0;
    while let Some(at) = ["\\frac{", "\\dfrac{", "\\tfrac{"]
        .iter()
        .filter_map(|p| tex[i..].find(p).map(|k| (i + k, p.len())))
        .min()
    {
        let start = at.0 + at.1 - 1;
        let mid = group_end(bytes, start);
        let end = if bytes.get(mid) == Some(&b'{') {
            group_end(bytes, mid)
        } else {
            mid
        };
        let inner = fraction_depth(&tex[start + 1..mid.saturating_sub(1).max(start + 1)])
            .max(fraction_depth(&tex[mid.min(end)..end]));
        best = best.max(1 + inner);
        i = end;
    }
    best
}

/// Typesetting guards, by construction, on every document: no fraction set three deep (at
/// script-script size), no sign printed twice, none of the other typesetting bugs once seen.
#[test]
fn documents_nest_fractions_at_most_two_deep_and_print_each_sign_once() {
    assert_eq!(fraction_depth("\\frac{a}{\\frac{b}{\\frac{c}{d}}}"), 3);
    assert_eq!(fraction_depth("\\frac{{x}^{2}}{2}"), 1);
    let mut failures = Failures::new();
    for path in files("examples").into_iter().chain(files("proofs")) {
        let tex = tex_of(&path);
        let label = path.display().to_string();
        failures.check(fraction_depth(&tex) <= 2, || {
            format!("{label}: fractions nested {} deep", fraction_depth(&tex))
        });
        // A sign twice; a bar over a word (`\bar{logp}`); the power rule's `2x^{2-1}`; a stack
        // of matrices as `Q_h = 1: (...)`.
        for bad in [
            "- -",
            "+ -",
            "-\\,-",
            "\\bar{\\mathit",
            "^{2 - 1}",
            "^{3 - 1}",
            " = 1{:}",
        ] {
            failures.check(!tex.contains(bad), || {
                format!("{label}: `{bad}` in the TeX")
            });
        }
    }
    failures.finish();
}

/// The handouts are looked at: every page of the attention, layer-norm, block and mistakes
/// documents is rendered to PNG (pdftoppm, from poppler-utils), and each document stays
/// within its page bound (the layer-norm derivation once took 24 pages).
#[test]
fn handout_pages_render_and_stay_within_their_bounds() {
    let mut failures = Failures::new();
    for (file, most) in [
        ("examples/attention.ht", 6),
        ("examples/layernorm.ht", 4),
        ("examples/gelu.ht", 3),
        ("examples/xent_onehot.ht", 4),
        ("examples/block.ht", 16),
        ("proofs/mistakes.ht", 6),
        ("proofs/layernorm.ht", 8),
    ] {
        // Not the label `compile_all` uses: the tests run at once, each in its own directory.
        let label = format!("pages-{}", file.replace('/', "_"));
        failures.run(&label, || {
            let dir = compiled(&label, &tex_of(Path::new(file)));
            let out = Command::new("pdftoppm")
                .args(["-r", "30", "-png", "doc.pdf", "page"])
                .current_dir(&dir)
                .output()
                .expect("pdftoppm must be installed (.ci/run installs poppler-utils)");
            assert!(out.status.success(), "{label}: pdftoppm failed");
            let mut pages: Vec<u64> = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".png"))
                .map(|e| e.metadata().unwrap().len())
                .collect();
            pages.sort();
            assert!(!pages.is_empty(), "{label}: no page rendered");
            assert!(
                pages.len() <= most,
                "{label}: {} pages, at most {most} expected",
                pages.len()
            );
            // A page with text on it is far larger than a blank one (about 1 kB here).
            assert!(
                pages[0] > 3000,
                "{label}: a page is blank ({} bytes)",
                pages[0]
            );
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
    failures.finish();
}

/// Every requested gradient is stated boxed, with its shape, in textbook form; the
/// cross-entropy documents reach the form courses teach.
#[test]
fn every_result_is_boxed_with_its_shape() {
    let mut failures = Failures::new();
    for path in files("examples") {
        let (tex, s) = common::tex_and_solution(&path);
        if s.program.target.is_none() {
            continue;
        }
        for &t in &s.wrt {
            let bar = handtrace::render::latex::math::bar(&s.program.tensor(t).name);
            let boxed = format!("\\boxed{{{bar} = ");
            let label = path.display().to_string();
            failures.check(tex.contains(&boxed), || format!("{label}: no `{boxed}`"));
        }
    }
    failures.finish();
    let onehot = tex_of(Path::new("examples/xent_onehot.ht"));
    assert!(
        onehot.contains("\\bar{Z} = \\frac{\\operatorname{softmax}(Z) - Y}{N}"),
        "the famous form"
    );
    assert!(
        onehot.contains("$Y$ is one-hot"),
        "says it uses one-hot targets"
    );
    // Targets not declared one-hot: the general result, then the one-hot form.
    let general = tex_of(Path::new("examples/xent.ht"));
    assert!(general.contains("$Y$ is not declared one-hot"));
    assert!(general.contains(
        "\\bar{Z} = \\frac{\\operatorname{softmax}(Z) \\odot \\operatorname{rowsum}(Y) - Y}{N}"
    ));
    assert!(general.contains("\\bar{Z} = \\frac{\\operatorname{softmax}(Z) - Y}{N}"));
}

/// The numeric example teaches something: no probability of the attention example is
/// (nearly) one-hot, every unmasked entry is at least 10⁻⁶, the first row is exactly
/// (1, 0, ...), and one entry of the softmax's gradient is worked by hand.
#[test]
fn the_attention_example_is_well_conditioned() {
    use num_traits::{One, Zero};
    let (tex, s) = common::tex_and_solution(Path::new("examples/attention.ht"));
    let Ok(e) = s.example.as_ref() else {
        panic!("a numeric example")
    };
    let p = e.program.tensor_by_name("P").unwrap();
    let values = &e.values.iter().find(|(t, _)| *t == p).unwrap().1;
    let t = values.shape()[0];
    assert!(t >= 3, "T = {t}: rows of one and two entries only");
    let tiny = BigRational::new(1.into(), 1_000_000.into());
    for (k, v) in values.iter().enumerate() {
        let (i, j) = (k / t, k % t);
        match v {
            Num::Exact(r) if j > i => assert!(r.is_zero(), "P[{i},{j}] is masked"),
            Num::Exact(r) if i == 0 => assert!(r.is_one(), "P[0,0] = {r}"),
            Num::Exact(r) => panic!("P[{i},{j}] = {r} exactly"),
            other => {
                let (lo, _) = other.bounds().unwrap();
                assert!(lo >= tiny, "P[{i},{j}] = {other:?} below 1e-6");
            }
        }
    }
    assert!(tex.contains("\\paragraph{One entry by hand.}"));
    assert!(
        tex.contains("{\\bar{S}}_{21} = {P}_{21}"),
        "S̄₂₁ from P and P̄"
    );
}

/// Claims are written for a reader: numbered, with the author's words, in math, refuted at
/// the document's own numeric point with 1-based indices, each diagnosis with a why.
#[test]
fn claims_quote_their_author_and_are_refuted_at_the_documents_point() {
    let tex = tex_of(Path::new("proofs/mistakes.ht"));
    assert!(
        tex.contains("\\paragraph{Claim 1 (line 11)"),
        "numbered claims"
    );
    assert!(
        tex.contains("``Forgot the transpose"),
        "the author's comment"
    );
    assert!(
        !tex.contains("diagnosis:"),
        "test directives are not quoted"
    );
    assert!(
        tex.contains("\\bar{V} \\neq P\\,\\bar{O}"),
        "the claim in math"
    );
    assert!(tex.contains("At the point of the numeric example below, entry $("));
    assert!(tex.contains("on the left side and $"));
    assert!(!tex.contains("entry $(0"), "indices count from 1");
    assert!(
        tex.contains("$P$ is square ($T \\times T$)"),
        "why shapes cannot catch it"
    );
    // A file of mistakes does not repeat the layer's step-by-step solution.
    assert!(!tex.contains("\\section{The backward pass}"));
    assert!(tex.contains("\\boxed{\\bar{W}_{v} = "));
}
