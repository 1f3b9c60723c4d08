//! Syntax mistakes newcomers make (habits from other languages) get specific diagnostics:
//! `W^T`, `//` comments, `let`/`:=`, and an expression after `output` or `loss`.

use handtrace::diag::Code;
use handtrace::{load_program_text, LoadError};
use std::path::Path;

const HEAD: &str = "dim T = 2\ndim d = 3\ninput x : [T, d]\nparam W : [d, d]\n";

fn load(text: &str) -> Result<handtrace::ir::Program, LoadError> {
    load_program_text(Path::new("test.ht"), text, &Default::default())
}

/// The error for the header, then `line` (line 5), then `output y`.
#[track_caller]
fn error_for(line: &str) -> LoadError {
    let text = format!("{HEAD}{line}\noutput y\n");
    match load(&text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

/// Assert the first diagnostic: code `syntax`, the `LINE:COL` the rendered text starts with,
/// the text under the span, the exact message, and return the help.
#[track_caller]
fn expect_syntax(err: &LoadError, at: &str, spanned: &str, message: &str) -> String {
    let rendered = err.render(false);
    let d = &err.diagnostics[0];
    assert_eq!(d.code, Code::Syntax, "{rendered}");
    let first = rendered.lines().next().unwrap();
    assert_eq!(
        first,
        format!("test.ht:{at}: error[syntax]: {message}"),
        "{rendered}"
    );
    let span = d.span.expect("a span");
    assert_eq!(err.sources.slice(span), spanned, "{rendered}");
    assert!(!d.label.is_empty(), "{rendered}");
    let help = d.help.clone().expect("a help line");
    assert!(rendered.contains(&help), "{rendered}");
    help
}

#[test]
fn caret_t_is_a_transpose() {
    let e = error_for("y = x @ W^T");
    let help = expect_syntax(&e, "5:10", "^T", "a transpose is written `W.T`, not `W^T`");
    assert_eq!(
        help,
        "write `W.T` for the transpose (it swaps the last two axes)"
    );
    assert!(!help.contains("**"));

    let e = error_for("y = x @ W ^ T");
    let help = expect_syntax(&e, "5:11", "^ T", "a transpose is written `W.T`, not `W^T`");
    assert!(help.starts_with("write `W.T`"));

    let e = error_for("y = (x @ W)^T");
    let help = expect_syntax(
        &e,
        "5:12",
        "^T",
        "a transpose is written `(x @ W).T`, not `(x @ W)^T`",
    );
    assert!(help.starts_with("write `(x @ W).T`"));

    // The fix loads.
    load(&format!("{HEAD}y = x @ W.T\noutput y\n")).unwrap();
}

#[test]
fn caret_with_a_number_or_a_longer_name_keeps_the_powers_hint() {
    for (line, col) in [
        ("y = x^2", "5:6"),
        ("y = x^Tx", "5:6"),
        ("y = x ^ 2", "5:7"),
    ] {
        let e = error_for(line);
        let d = &e.diagnostics[0];
        assert_eq!(d.code, Code::Syntax);
        assert!(d.message.contains("found `^`"), "{}", d.message);
        assert_eq!(d.help.as_deref(), Some("powers are written `x ** 2`"));
        assert!(
            e.render(false)
                .starts_with(&format!("test.ht:{col}: error[syntax]")),
            "{}",
            e.render(false)
        );
    }
    // Written as the help says, it loads.
    load(&format!("{HEAD}y = x ** 2\noutput y\n")).unwrap();
}

#[test]
fn slash_comments_say_comments_start_with_hash() {
    let e = error_for("y = x @ W // note");
    let help = expect_syntax(&e, "5:11", "//", "comments start with `#`, not `//`");
    assert_eq!(help, "comments start with `#`: `y = x @ W  # note`");

    let e = error_for("// a header");
    let help = expect_syntax(&e, "5:1", "//", "comments start with `#`, not `//`");
    assert_eq!(help, "comments start with `#`: `# a header`");

    let e = error_for("y = x @ W /* note */");
    let help = expect_syntax(
        &e,
        "5:11",
        "/* note */",
        "comments start with `#`, not `/*`",
    );
    assert_eq!(
        help,
        "comments start with `#` and run to the end of the line: `y = x @ W  # note`"
    );

    let e = error_for("y = x /* note */ @ W");
    let help = expect_syntax(&e, "5:7", "/* note */", "comments start with `#`, not `/*`");
    assert!(help.ends_with("`y = x @ W  # note`"), "{help}");

    // A bracket inside the `//` comment is not reported as never closed.
    let e = error_for("y = x @ W // (see below");
    let help = expect_syntax(&e, "5:11", "//", "comments start with `#`, not `//`");
    assert_eq!(help, "comments start with `#`: `y = x @ W  # (see below`");

    // Inside brackets spanning lines.
    let e = error_for("y = (x @ W // note\n     + x)");
    expect_syntax(&e, "5:12", "//", "comments start with `#`, not `//`");

    // `//` inside a string is not a comment.
    let e = error_for("y = sum(x, \"a//b\") @");
    assert!(!e.diagnostics[0].message.contains("comment"));

    // The fix loads.
    load(&format!("{HEAD}y = x @ W  # note\noutput y\n")).unwrap();
}

#[test]
fn let_and_var_are_not_needed() {
    for kw in ["let", "var"] {
        let e = error_for(&format!("{kw} y = x @ W"));
        let help = expect_syntax(
            &e,
            "5:1",
            kw,
            &format!("`{kw}` is not needed: a statement is `NAME = EXPR`"),
        );
        assert_eq!(help, "write `y = x @ W`");
    }
    let e = error_for("let mut y: [T, d] = x @ W");
    let help = expect_syntax(
        &e,
        "5:1",
        "let mut",
        "`let mut` is not needed: a statement is `NAME = EXPR`",
    );
    assert_eq!(help, "write `y = x @ W`");

    let e = error_for("let y := x @ W");
    let help = expect_syntax(
        &e,
        "5:1",
        "let",
        "`let` is not needed: a statement is `NAME = EXPR`",
    );
    assert_eq!(help, "write `y = x @ W`");

    // In a one-line fn body, the help stops at the statement's end.
    let e = error_for("fn f(a: [d]) -> [d] { let b = a; return b }");
    let help = expect_syntax(
        &e,
        "5:23",
        "let",
        "`let` is not needed: a statement is `NAME = EXPR`",
    );
    assert_eq!(help, "write `b = a`");

    // `const` is part of the language, and `let` may be a name.
    load(&format!(
        "{HEAD}const c = 2\nlet = c * x\ny = let\noutput y\n"
    ))
    .unwrap();
}

#[test]
fn walrus_is_written_equals() {
    let e = error_for("y := x @ W");
    let help = expect_syntax(&e, "5:3", ":=", "assignment is written `=`, not `:=`");
    assert_eq!(help, "write `y = x @ W`");

    let e = error_for("const c := 2");
    let help = expect_syntax(&e, "5:9", ":=", "assignment is written `=`, not `:=`");
    assert_eq!(help, "write `const c = 2`");
}

#[test]
fn output_takes_a_name_not_an_expression() {
    let e = error_for("output x @ W");
    let help = expect_syntax(
        &e,
        "5:8",
        "x @ W",
        "`output` takes the name of a tensor, not an expression",
    );
    assert_eq!(help, "name it first: `y = x @ W`, then `output y`");

    let e = error_for("output softmax(x)");
    let help = expect_syntax(
        &e,
        "5:8",
        "softmax(x)",
        "`output` takes the name of a tensor, not an expression",
    );
    assert_eq!(help, "name it first: `y = softmax(x)`, then `output y`");

    // The suggested name is not one the file already defines.
    let e = match load(&format!("{HEAD}y = x\noutput x @ W\n")) {
        Err(e) => e,
        Ok(_) => panic!("expected an error"),
    };
    let help = expect_syntax(
        &e,
        "6:8",
        "x @ W",
        "`output` takes the name of a tensor, not an expression",
    );
    assert_eq!(help, "name it first: `out = x @ W`, then `output out`");

    let e = error_for("output y = x @ W");
    let help = expect_syntax(
        &e,
        "5:8",
        "y = x @ W",
        "`output` takes the name of a tensor, not an assignment",
    );
    assert_eq!(help, "write `y = x @ W` on its own line, then `output y`");

    // A name is fine; the general diagnostic still covers other mistakes.
    load(&format!("{HEAD}y = x @ W\noutput y  # the result\n")).unwrap();
    let e = error_for("output");
    assert!(e.diagnostics[0].message.contains("expected a name"));
}

#[test]
fn loss_needs_a_name() {
    let e = error_for("loss mean(x)");
    let help = expect_syntax(
        &e,
        "5:6",
        "mean(x)",
        "`loss` takes a name: it is written `loss NAME = EXPR` (or `loss NAME`)",
    );
    assert_eq!(help, "write `loss L = mean(x)`");

    let e = error_for("loss = mean(x)");
    let help = expect_syntax(
        &e,
        "5:8",
        "mean(x)",
        "`loss` takes a name: it is written `loss NAME = EXPR` (or `loss NAME`)",
    );
    assert_eq!(help, "write `loss L = mean(x)`");

    // An error inside a well-formed `loss L = EXPR` keeps the general diagnostic.
    let e = error_for("loss L = mean(x) @");
    assert!(e.diagnostics[0].message.contains("expected an expression"));

    load(&format!("{HEAD}loss L = mean(x)\n")).unwrap();
    load(&format!("{HEAD}L = mean(x)\nloss L\n")).unwrap();
}

/// Built-ins called the way other tools call them: the axis positionally, `matmul`, `dim=`,
/// `keepdim=`, `pow`.
#[test]
fn calls_spelled_as_elsewhere_say_how_to_write_them_here() {
    let cases = [
        (
            "y = mean(x, -1)",
            Code::Arity,
            "5:13",
            "the axis is a keyword argument: `mean(…, axis=-1)`",
        ),
        (
            "y = softmax(x, 0)",
            Code::Arity,
            "5:16",
            "`softmax(…, axis=0)`",
        ),
        (
            "y = matmul(x, W)",
            Code::UnknownFunction,
            "5:5",
            "matrix products are written with `@`: `a @ b`",
        ),
        ("y = sum(x, dim=0)", Code::BadArgument, "5:12", "`axis=-1`"),
        (
            "y = sum(x, axis=0, keepdim=true)",
            Code::BadArgument,
            "5:20",
            "`keepdims=true`",
        ),
        (
            "y = pow(x, 2)",
            Code::UnknownFunction,
            "5:5",
            "powers are written `x ** p`",
        ),
    ];
    for (line, code, at, help) in cases {
        let err = error_for(line);
        let rendered = err.render(false);
        let d = &err.diagnostics[0];
        assert_eq!(d.code, code, "{rendered}");
        assert!(
            rendered.starts_with(&format!("test.ht:{at}:")),
            "{rendered}"
        );
        assert!(
            d.help.as_deref().unwrap_or("").contains(help),
            "{line}: {rendered}"
        );
    }
}
