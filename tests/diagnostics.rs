//! One test per kind of diagnostic: its code, message, and the exact span it points at.

mod common;

use common::scratch_dir;
use handtrace::diag::{Code, Diagnostic};
use handtrace::ir::LowerOptions;
use handtrace::{load_program, load_program_text, LoadError};
use std::path::Path;

/// The errors of `src` (as `test.ht`): its load error, or else its claims' errors; a program
/// without any fails the test.
fn errors_of(src: &str) -> LoadError {
    errors_with(src, &LowerOptions::default())
}

fn errors_with(src: &str, options: &LowerOptions) -> LoadError {
    match load_program_text(Path::new("test.ht"), src, options) {
        Ok(p) => {
            let diags: Vec<Diagnostic> = p.claim_errors().cloned().collect();
            assert!(!diags.is_empty(), "expected an error for:\n{src}");
            LoadError {
                sources: p.sources,
                diagnostics: diags,
            }
        }
        Err(e) => e,
    }
}

/// Assert the first diagnostic: code, `LINE:COL`, the text under the span, a message part.
#[track_caller]
fn expect(err: &LoadError, code: Code, at: &str, spanned: &str, message: &str) {
    let d = &err.diagnostics[0];
    let rendered = err.render(false);
    assert_eq!(d.code, code, "{rendered}");
    let span = d.span.expect("a span");
    let loc = err.sources.location(span);
    assert!(
        loc.ends_with(&format!(":{at}")),
        "location {loc}, expected {at}\n{rendered}"
    );
    assert_eq!(err.sources.slice(span), spanned, "{rendered}");
    assert!(
        d.message.contains(message),
        "message {:?} lacks {message:?}",
        d.message
    );
    // The rendered form starts with FILE:LINE:COLUMN and the code.
    let first = rendered.lines().next().unwrap();
    assert!(
        first.contains(&format!(":{at}: error[{}]", code.as_str())),
        "{first}"
    );
}

const HEAD: &str = "dim T = 4\ndim d = 8\ninput X : [T, d]\nparam W : [d, d]\n";

#[test]
fn syntax_error_says_what_was_expected_and_found() {
    let e = errors_of(&format!("{HEAD}Y = X ^ 2\n"));
    expect(&e, Code::Syntax, "5:7", "^", "found `^`");
    assert!(e.diagnostics[0].help.as_deref().unwrap().contains("**"));
    let e = errors_of(&format!("{HEAD}Y = X @\n"));
    expect(
        &e,
        Code::Syntax,
        "5:8",
        "",
        "expected an expression, found end of line",
    );
    let e = errors_of("dim = 4\n");
    expect(&e, Code::Syntax, "1:5", "=", "expected a name, found `=`");
}

#[test]
fn unclosed_bracket_points_at_the_opening() {
    let e = errors_of(&format!("{HEAD}Y = softmax((X @ W, axis=-1)\n"));
    expect(&e, Code::UnclosedBracket, "5:12", "(", "never closed");
}

#[test]
fn absurd_nesting_is_a_clear_error() {
    let deep = format!("{HEAD}Y = {}X{}\n", "(".repeat(100), ")".repeat(100));
    let e = errors_of(&deep);
    expect(&e, Code::TooDeep, "5:69", "(", "nested more than 64");
}

#[test]
fn unknown_name_suggests_the_closest() {
    let e = errors_of(&format!("{HEAD}Y = X @ Ww\n"));
    expect(&e, Code::UnknownName, "5:9", "Ww", "unknown name `Ww`");
    assert_eq!(e.diagnostics[0].help.as_deref(), Some("did you mean `W`?"));
}

#[test]
fn use_before_definition_names_the_later_definition() {
    // A cyclic pair of definitions: the first uses the second.
    let e = errors_of(&format!("{HEAD}A = B + X\nB = A\n"));
    expect(&e, Code::UnknownName, "5:5", "B", "unknown name `B`");
    let (span, label) = &e.diagnostics[0].secondary[0];
    assert_eq!(e.sources.slice(*span), "B");
    assert!(label.contains("defined later"));
}

#[test]
fn unknown_function_suggests_a_builtin() {
    let e = errors_of(&format!("{HEAD}Y = softmx(X)\n"));
    expect(
        &e,
        Code::UnknownFunction,
        "5:5",
        "softmx",
        "unknown function `softmx`",
    );
    assert_eq!(
        e.diagnostics[0].help.as_deref(),
        Some("did you mean `softmax`?")
    );
}

#[test]
fn wrong_arity_names_the_parameters() {
    let e = errors_of(&format!("{HEAD}Y = exp(X, X)\n"));
    expect(
        &e,
        Code::Arity,
        "5:12",
        "X",
        "`exp` takes 1 argument (x), found 2",
    );
    let e = errors_of(&format!("{HEAD}Y = layernorm(X, W)\n"));
    expect(
        &e,
        Code::Arity,
        "5:5",
        "layernorm(X, W)",
        "takes 4 arguments (x, g, b, eps), found 2",
    );
}

#[test]
fn bad_keyword_argument() {
    let e = errors_of(&format!("{HEAD}Y = softmax(X, dim=-1)\n"));
    expect(
        &e,
        Code::BadArgument,
        "5:16",
        "dim",
        "`softmax` has no argument `dim`",
    );
    assert!(e.diagnostics[0]
        .help
        .as_deref()
        .unwrap()
        .contains("axis=-1"));
    let e = errors_of(&format!("{HEAD}Y = sum(X, axis=0, keepdims=1)\n"));
    expect(
        &e,
        Code::BadArgument,
        "5:29",
        "1",
        "`keepdims` must be true or false",
    );
}

#[test]
fn redefinition_points_at_both_definitions() {
    let e = errors_of(&format!("{HEAD}Y = X\nY = X @ W\n"));
    expect(&e, Code::Redefinition, "6:1", "Y", "`Y` is already defined");
    assert_eq!(
        e.sources.location(e.diagnostics[0].secondary[0].0),
        "test.ht:5:1"
    );
    let e = errors_of(&format!("{HEAD}softmax = X\n"));
    expect(&e, Code::Redefinition, "5:1", "softmax", "built-in");
}

#[test]
fn shape_mismatch_shows_both_shapes_and_the_operator() {
    let e = errors_of(&format!("{HEAD}Y = W @ X\n"));
    expect(
        &e,
        Code::ShapeMismatch,
        "5:7",
        "@",
        "shape mismatch in `@`: [d, d] and [T, d]",
    );
    let labels: Vec<&str> = e.diagnostics[0]
        .secondary
        .iter()
        .map(|(_, l)| l.as_str())
        .collect();
    assert_eq!(labels, ["left: [d, d]", "right: [T, d]"]);
    let e = errors_of(&format!("{HEAD}Y = X + W\n"));
    expect(
        &e,
        Code::ShapeMismatch,
        "5:7",
        "+",
        "[T, d] and [d, d] do not broadcast",
    );
}

#[test]
fn bad_axis_gives_the_valid_range() {
    let e = errors_of(&format!("{HEAD}Y = softmax(X, axis=2)\n"));
    expect(&e, Code::BadAxis, "5:21", "2", "valid: -2 to 1");
    let e = errors_of(&format!("{HEAD}Y = permute(X, [0, 0])\n"));
    expect(&e, Code::BadAxis, "5:20", "0", "axis 0 appears twice");
    let e = errors_of("dim d = 3\ninput v : [d]\nY = v.T\n");
    expect(
        &e,
        Code::BadAxis,
        "3:5",
        "v.T",
        "`.T` swaps the last two axes",
    );
}

#[test]
fn reshape_of_the_wrong_size() {
    let e = errors_of(&format!("{HEAD}Y = reshape(X, [T, T])\n"));
    expect(
        &e,
        Code::ReshapeSize,
        "5:16",
        "[T, T]",
        "[T, d] has T*d entries, [T, T] has T^2",
    );
    // Equal at the declared sizes but not for every size: still an error, with a note.
    let e = errors_of("dim T = 4\ndim h = 2\ninput X : [T, h]\nY = reshape(X, [h, h, h])\n");
    expect(
        &e,
        Code::ReshapeSize,
        "4:16",
        "[h, h, h]",
        "must keep the number of entries",
    );
    assert!(e.diagnostics[0].notes[0].contains("agree at the declared sizes (8)"));
}

#[test]
fn bad_dims() {
    let e = errors_of("dim T = 0\n");
    expect(&e, Code::BadDim, "1:9", "0", "positive whole number");
    let e = errors_of("dim d = 8\ndim h = 3\ndim k = d/h\n");
    expect(&e, Code::BadDim, "3:9", "d/h", "is 8/3 at the sizes in use");
    let e = errors_with(
        "dim T = 4\n",
        &LowerOptions {
            dim_overrides: vec![("Q".into(), 2)],
        },
    );
    assert_eq!(e.diagnostics[0].code, Code::BadDim);
    assert!(e.diagnostics[0].message.contains("`Q`, which is not a dim"));
}

#[test]
fn bad_einsum() {
    let e = errors_of(&format!("{HEAD}Y = einsum(\"ij,jk->ik\", X, X)\n"));
    expect(
        &e,
        Code::BadEinsum,
        "5:12",
        "\"ij,jk->ik\"",
        "letter `j` is d in one place and T in another",
    );
    let e = errors_of(&format!("{HEAD}Y = einsum(\"ij->k\", X)\n"));
    expect(
        &e,
        Code::BadEinsum,
        "5:12",
        "\"ij->k\"",
        "output letter `k` appears in no operand",
    );
}

#[test]
fn grad_needs_an_output_or_loss() {
    let e = errors_of(&format!("{HEAD}Y = X @ W\nclaim grad(W) = X.T @ X\n"));
    expect(
        &e,
        Code::MissingTarget,
        "6:1",
        "claim grad(W) = X.T @ X",
        "needs an `output` or a `loss`",
    );
}

#[test]
fn a_second_output_or_loss() {
    let e = errors_of(&format!("{HEAD}Y = X @ W\noutput Y\nloss L = sum(Y)\n"));
    expect(
        &e,
        Code::DuplicateTarget,
        "7:1",
        "loss L = sum(Y)",
        "a second `loss`",
    );
}

#[test]
fn a_loss_must_be_scalar() {
    let e = errors_of(&format!("{HEAD}loss L = X @ W\n"));
    expect(
        &e,
        Code::NotScalar,
        "5:6",
        "L",
        "the loss must be a scalar [], but `L` has shape [T, d]",
    );
}

#[test]
fn grad_of_unknown_data_or_misplaced() {
    let src = format!("{HEAD}data Y : [T, d]\nloss L = sum((X @ W - Y) ** 2)\n");
    let e = errors_of(&format!("{src}claim grad(Z) = X\n"));
    expect(
        &e,
        Code::UnknownName,
        "7:12",
        "Z",
        "grad() of unknown tensor `Z`",
    );
    let e = errors_of(&format!("{src}claim grad(Y) = X\n"));
    expect(
        &e,
        Code::NoGradient,
        "7:12",
        "Y",
        "`Y` is data: it has no gradient",
    );
    let e = errors_of(&format!("{src}Z = grad(X)\n"));
    expect(
        &e,
        Code::Misplaced,
        "7:5",
        "grad(X)",
        "only be used in a `claim` or a `derive`",
    );
}

#[test]
fn return_outside_a_fn() {
    let e = errors_of(&format!("{HEAD}return X\n"));
    expect(
        &e,
        Code::Misplaced,
        "5:1",
        "return X",
        "`return` outside a fn body",
    );
}

#[test]
fn const_must_not_depend_on_tensors() {
    let e = errors_of(&format!("{HEAD}const c = sum(X)\n"));
    expect(
        &e,
        Code::NotConstant,
        "5:11",
        "sum(X)",
        "depends on an input",
    );
    let e = errors_of(&format!("{HEAD}Y = X ** W\n"));
    expect(
        &e,
        Code::NotConstant,
        "5:10",
        "W",
        "expected a rational constant",
    );
}

#[test]
fn fn_errors_point_into_the_call_and_the_body() {
    let lib = "fn f(x: [N, D], g: [D]) -> [N, D] {\n  y = x * g\n  return y\n}\n";
    let e = errors_of(&format!("{HEAD}{lib}Y = f(X, X)\n"));
    expect(
        &e,
        Code::ShapeMismatch,
        "9:10",
        "X",
        "argument `g` of `f` has shape [T, d], but the fn expects [D]",
    );
    let e = errors_of(&format!("{HEAD}{lib}Y = f(X)\n"));
    expect(
        &e,
        Code::Arity,
        "9:5",
        "f(X)",
        "`f` takes 2 arguments (x, g), found 1",
    );
    // A body that uses a top-level tensor is an error where the fn is defined.
    let e = errors_of(&format!(
        "{HEAD}fn h(x: [N, D]) -> [N, D] {{\n  return x @ W\n}}\n"
    ));
    expect(
        &e,
        Code::UnknownName,
        "6:14",
        "W",
        "the body of `h` cannot see the tensor `W`",
    );
    let e = errors_of(&format!(
        "{HEAD}fn h(x: [N, D]) -> [D, N] {{\n  return x * 2\n}}\n"
    ));
    expect(
        &e,
        Code::ShapeMismatch,
        "6:10",
        "x * 2",
        "`h` returns shape [N, D], but its signature says [D, N]",
    );
}

#[test]
fn recursion_is_detected() {
    let e = errors_of(&format!("{HEAD}fn f(x: [N]) -> [N] {{\n  return g(x)\n}}\nfn g(x: [N]) -> [N] {{\n  return f(x)\n}}\n"));
    expect(
        &e,
        Code::Recursion,
        "9:10",
        "f(x)",
        "recursive call: f -> g -> f",
    );
}

#[test]
fn empty_files_and_comment_only_files() {
    let e = errors_of("");
    expect(&e, Code::EmptyFile, "1:1", "", "no statements");
    let e = errors_of("# only a comment\n\n");
    expect(&e, Code::EmptyFile, "1:1", "", "no statements");
}

#[test]
fn bytes_that_are_not_utf8() {
    let dir = scratch_dir("utf8");
    let path = dir.join("bad.ht");
    std::fs::write(&path, b"dim T = 4\ninput X : [T]\n# caf\xe9\n").unwrap();
    let e = load_program(&path, &LowerOptions::default()).unwrap_err();
    expect(&e, Code::NotUtf8, "3:6", "\u{FFFD}", "not valid UTF-8");
}

#[test]
fn unreadable_root_file() {
    let e = load_program(Path::new("/nonexistent/x.ht"), &LowerOptions::default()).unwrap_err();
    assert_eq!(e.diagnostics[0].code, Code::Io);
    assert!(e.render(false).contains("cannot read /nonexistent/x.ht"));
}

#[test]
fn missing_and_cyclic_use() {
    let dir = scratch_dir("use");
    std::fs::write(dir.join("main.ht"), "dim T = 4\nuse \"lib/missing.ht\"\n").unwrap();
    let e = load_program(&dir.join("main.ht"), &LowerOptions::default()).unwrap_err();
    expect(
        &e,
        Code::MissingUse,
        "2:5",
        "\"lib/missing.ht\"",
        "cannot read",
    );
    std::fs::write(dir.join("a.ht"), "use \"b.ht\"\ndim T = 4\n").unwrap();
    std::fs::write(dir.join("b.ht"), "dim d = 2\nuse \"a.ht\"\n").unwrap();
    let e = load_program(&dir.join("a.ht"), &LowerOptions::default()).unwrap_err();
    expect(&e, Code::CyclicUse, "2:5", "\"a.ht\"", "`use` cycle:");
    let chain: Vec<&str> = e.diagnostics[0].message["`use` cycle: ".len()..]
        .split(" -> ")
        .collect();
    assert_eq!(chain.len(), 3);
    assert!(chain[0].ends_with("a.ht") && chain[1].ends_with("b.ht") && chain[2].ends_with("a.ht"));
    // A file used twice (a diamond) is read once: no redefinition.
    std::fs::write(dir.join("base.ht"), "dim T = 4\n").unwrap();
    std::fs::write(dir.join("l.ht"), "use \"base.ht\"\ninput X : [T]\n").unwrap();
    std::fs::write(dir.join("r.ht"), "use \"base.ht\"\ninput Y : [T]\n").unwrap();
    std::fs::write(
        dir.join("top.ht"),
        "use \"l.ht\"\nuse \"r.ht\"\nZ = X + Y\n",
    )
    .unwrap();
    load_program(&dir.join("top.ht"), &LowerOptions::default()).unwrap();
}

#[test]
fn errors_in_claims_are_kept_per_claim() {
    let src = format!(
        "{HEAD}Y = X @ W\noutput Y\nclaim grad(W) = X @ grad(Y)\nclaim grad(X) = grad(Y) @ W.T\n"
    );
    let p = load_program_text(Path::new("t.ht"), &src, &LowerOptions::default()).unwrap();
    assert!(p.claims[0]
        .error
        .as_ref()
        .is_some_and(|d| d.code == Code::ShapeMismatch));
    assert!(p.claims[1].error.is_none());
}

#[test]
fn several_errors_are_reported_without_cascades() {
    let e = errors_of(&format!("{HEAD}A = X @ X\nB = A + 1\nC = Wq\n"));
    let codes: Vec<Code> = e.diagnostics.iter().map(|d| d.code).collect();
    // `B` uses the failed `A`: no second error for it.
    assert_eq!(codes, [Code::ShapeMismatch, Code::UnknownName]);
}

/// Locals of inlined calls are named `CALL.local` at top level; a wrong one says which
/// locals the call has, or which calls there are.
#[test]
fn unknown_local_of_a_call_lists_what_there_is() {
    let lib = "fn sq(x: [T, d]) -> [T, d] {\n  y2 = x * x\n  return y2 + 1\n}\n";
    let src = format!("{HEAD}{lib}A = sq(X)\nB = X + sq(A)\nclaim A.y3 = 1\n");
    let err = errors_of(&src);
    expect(
        &err,
        Code::UnknownName,
        "11:7",
        "A.y3",
        "unknown name `A.y3`",
    );
    let rendered = err.render(false);
    assert!(
        rendered.contains("the call `A` has no local `y3`"),
        "{rendered}"
    );
    assert!(rendered.contains("did you mean `A.y2`?"), "{rendered}");
    assert!(rendered.contains("the locals of `A` are y2"), "{rendered}");
    let src = format!("{HEAD}{lib}A = sq(X)\nB = X + sq(A)\nclaim sqq.y2 = 1\n");
    let err = errors_of(&src);
    expect(
        &err,
        Code::UnknownName,
        "11:7",
        "sqq.y2",
        "unknown name `sqq.y2`",
    );
    let rendered = err.render(false);
    assert!(
        rendered.contains("no fn call is labelled `sqq`"),
        "{rendered}"
    );
    assert!(rendered.contains("did you mean `sq.y2`?"), "{rendered}");
    // A fn body sees only its own names.
    let src = format!(
        "{HEAD}{lib}A = sq(X)\nfn g(x: [T, d]) -> [T, d] {{\n  return A.y2\n}}\nB = g(X)\n"
    );
    let err = errors_of(&src);
    expect(
        &err,
        Code::UnknownName,
        "11:10",
        "A.y2",
        "cannot see `A.y2`",
    );
}
