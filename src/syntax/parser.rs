//! The pest parser (grammar in `grammar/handtrace.pest`) and the AST builder.
//!
//! Owns turning one file's text into a [`Module`]. Syntax errors become [`Diagnostic`]s that
//! say what was expected in words (never a bare "parse error") and what was found instead.
//! Invariant: the builder only walks pairs the grammar guarantees; shape and name errors are
//! left to `ir`.

use super::ast::*;
use super::hints::{comment_mistake, newcomer_mistake};
use super::lexical::{blank_bracketed_lines, Lexed};
use crate::decimal::parse_decimal;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use num_rational::BigRational;
use num_traits::One;
use pest::iterators::Pair;
use pest::Parser;
use pest_derive::Parser;

#[derive(Parser)]
#[grammar = "../grammar/handtrace.pest"]
struct HtParser;

/// Parse one file. `text` must be the file's full text; spans refer to it.
pub fn parse_module(file: FileId, text: &str) -> Result<Module, Diagnostic> {
    let Lexed {
        text: blanked,
        unclosed,
    } = blank_bracketed_lines(file, text)?;
    let mut pairs = match HtParser::parse(Rule::file, &blanked) {
        Ok(pairs) => pairs,
        Err(err) => {
            let pos = error_pos(&err);
            // A `//` or `/*` comment may hold the bracket the lexer found unclosed.
            if let Some(d) = comment_mistake(file, text, &blanked, pos) {
                return Err(d);
            }
            if let Some(open) = unclosed {
                return Err(Diagnostic::new(
                    Code::UnclosedBracket,
                    open,
                    format!("`{}` is never closed", &text[open.start..open.end]),
                )
                .with_label("opened here")
                .with_help(
                    "close it with the matching bracket; inside brackets, line breaks are allowed",
                ));
            }
            if let Some(d) = newcomer_mistake(file, text, &blanked, pos) {
                return Err(d);
            }
            return Err(syntax_error(file, &blanked, err));
        }
    };
    let b = Builder { file };
    let file_pair = pairs.next().expect("grammar: file");
    let mut items: Vec<Item> = Vec::new();
    for pair in file_pair.into_inner() {
        match pair.as_rule() {
            Rule::EOI => {}
            Rule::note => {
                let text = note_text(pair);
                if let Some(last) = items.last_mut() {
                    match &mut last.kind {
                        ItemKind::Derive(d) => {
                            let step = d.steps.last_mut().expect("grammar: derive has a step");
                            step.note = Some(text);
                        }
                        _ => last.note = Some(text),
                    }
                }
            }
            _ => items.push(b.item(pair)),
        }
    }
    Ok(Module { items })
}

fn note_text(pair: Pair<Rule>) -> String {
    pair.into_inner()
        .next()
        .map(|p| p.as_str().trim().to_string())
        .unwrap_or_default()
}

struct Builder {
    file: FileId,
}

impl Builder {
    /// The pair's span without trailing blanks (pest counts implicit whitespace consumed
    /// before a failed repetition as part of the pair).
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        let trimmed = pair.as_str().trim_end_matches([' ', '\t', '\r']).len();
        Span::new(self.file, s.start(), s.start() + trimmed)
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        debug_assert_eq!(pair.as_rule(), Rule::ident);
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn item(&self, pair: Pair<Rule>) -> Item {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        let kind = match rule {
            Rule::use_decl => {
                let s = inner.next().expect("grammar: use string");
                let path_span = self.span(&s);
                let path = s.into_inner().next().map(|p| p.as_str()).unwrap_or("");
                ItemKind::Use {
                    path: path.to_string(),
                    path_span,
                }
            }
            Rule::dim_decl => ItemKind::Dim {
                name: self.ident(inner.next().unwrap()),
                value: self.dim_expr(inner.next().unwrap()),
            },
            Rule::leaf_decl => {
                let kind = match inner.next().unwrap().as_str() {
                    "input" => LeafKind::Input,
                    "param" => LeafKind::Param,
                    _ => LeafKind::Data,
                };
                let name = self.ident(inner.next().unwrap());
                let shape = self.shape(inner.next().unwrap());
                let (mut onehot, mut source) = (false, None);
                for p in inner {
                    match p.as_rule() {
                        Rule::leaf_fact => onehot = true,
                        _ => source = self.source(p),
                    }
                }
                ItemKind::Leaf {
                    kind,
                    name,
                    shape,
                    onehot,
                    source,
                    tokens: None,
                }
            }
            Rule::tokens_decl => {
                let mut inner = inner.filter(|p| !is_word(p.as_rule()));
                let name = self.ident(inner.next().unwrap());
                let shape = self.shape(inner.next().unwrap());
                let range = self.dim_expr(inner.next().unwrap());
                let next_of = inner.next().and_then(|p| {
                    p.into_inner()
                        .find(|q| q.as_rule() == Rule::ident)
                        .map(|q| self.ident(q))
                });
                ItemKind::Leaf {
                    kind: LeafKind::Tokens,
                    name,
                    shape,
                    onehot: false,
                    source: None,
                    tokens: Some(TokenFacts { range, next_of }),
                }
            }
            Rule::vocab_decl => {
                let mut inner = inner.filter(|p| !is_word(p.as_rule()));
                let name = self.ident(inner.next().unwrap());
                let text = inner.next().unwrap();
                let text_span = self.span(&text);
                ItemKind::Vocab {
                    name,
                    chars: unescape(text.into_inner().next().map_or("", |p| p.as_str())),
                    text_span,
                }
            }
            Rule::const_decl => ItemKind::Const {
                name: self.ident(inner.next().unwrap()),
                value: self.expr(inner.next().unwrap()),
            },
            Rule::output_decl => ItemKind::Output {
                name: self.ident(inner.next().unwrap()),
            },
            Rule::loss_decl => ItemKind::Loss {
                name: self.ident(inner.next().unwrap()),
                value: inner.next().map(|p| self.expr(p)),
            },
            Rule::assign => ItemKind::Assign {
                name: self.ident(inner.next().unwrap()),
                value: self.expr(inner.next().unwrap()),
            },
            Rule::claim => {
                let lhs = self.expr(inner.next().unwrap());
                let differ = inner.next().unwrap().as_str() == "!=";
                let rhs = self.expr(inner.next().unwrap());
                ItemKind::Claim { lhs, rhs, differ }
            }
            Rule::derive => {
                let first = self.expr(inner.next().unwrap());
                let mut derivation = Derivation {
                    first,
                    first_note: None,
                    steps: Vec::new(),
                };
                for p in inner {
                    match p.as_rule() {
                        Rule::note => {
                            let text = Some(note_text(p));
                            match derivation.steps.last_mut() {
                                Some(step) => step.note = text,
                                None => derivation.first_note = text,
                            }
                        }
                        Rule::step => {
                            let span = self.span(&p);
                            let mut parts = p.into_inner();
                            let differ = parts.next().unwrap().as_str() == "!=";
                            let expr = self.expr(parts.next().unwrap());
                            derivation.steps.push(Step {
                                expr,
                                span,
                                note: None,
                                differ,
                            });
                        }
                        r => unreachable!("grammar: derive child {r:?}"),
                    }
                }
                ItemKind::Derive(derivation)
            }
            Rule::fn_def => ItemKind::Fn(self.fn_def(inner)),
            Rule::stray_return => ItemKind::StrayReturn {
                value: self.expr(inner.next().unwrap()),
            },
            r => unreachable!("grammar: item {r:?}"),
        };
        Item {
            kind,
            span,
            note: None,
        }
    }

    fn fn_def(&self, mut inner: pest::iterators::Pairs<Rule>) -> FnDef {
        let name = self.ident(inner.next().unwrap());
        let mut params = Vec::new();
        let mut next = inner.next().unwrap();
        if next.as_rule() == Rule::fn_params {
            for p in next.into_inner() {
                let mut pi = p.into_inner();
                params.push(FnParam {
                    name: self.ident(pi.next().unwrap()),
                    shape: self.shape(pi.next().unwrap()),
                });
            }
            next = inner.next().unwrap();
        }
        let ret = self.shape(next);
        let body_pair = inner.next().unwrap();
        let mut body = Vec::new();
        let mut ret_value = None;
        for p in body_pair.into_inner() {
            match p.as_rule() {
                Rule::assign => {
                    let span = self.span(&p);
                    let mut a = p.into_inner();
                    body.push(FnStmt {
                        name: self.ident(a.next().unwrap()),
                        value: self.expr(a.next().unwrap()),
                        span,
                    });
                }
                Rule::return_stmt => {
                    let span = self.span(&p);
                    ret_value = Some((self.expr(p.into_inner().next().unwrap()), span));
                }
                Rule::note => {}
                r => unreachable!("grammar: fn body child {r:?}"),
            }
        }
        let (ret_value, ret_span) = ret_value.expect("grammar: fn body ends in return");
        FnDef {
            name,
            params,
            ret,
            body,
            ret_value,
            ret_span,
        }
    }

    /// `from "name"`: the checkpoint name and its span.
    fn source(&self, pair: Pair<Rule>) -> Option<(String, Span)> {
        let s = pair.into_inner().find(|p| p.as_rule() == Rule::string)?;
        let span = self.span(&s);
        let text = s.into_inner().next().map_or("", |p| p.as_str());
        Some((text.to_string(), span))
    }

    fn shape(&self, pair: Pair<Rule>) -> ShapeExpr {
        let span = self.span(&pair);
        ShapeExpr {
            dims: pair.into_inner().map(|p| self.dim_expr(p)).collect(),
            span,
        }
    }

    fn dim_expr(&self, pair: Pair<Rule>) -> DimExpr {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::dim_expr | Rule::dim_term => {
                let mut inner = pair.into_inner();
                let first = self.dim_expr(inner.next().unwrap());
                let mut rest = Vec::new();
                while let Some(op) = inner.next() {
                    let op = match op.as_str() {
                        "+" => DimOp::Add,
                        "-" => DimOp::Sub,
                        "*" => DimOp::Mul,
                        _ => DimOp::Div,
                    };
                    rest.push((op, self.dim_expr(inner.next().unwrap())));
                }
                if rest.is_empty() {
                    return first;
                }
                DimExpr {
                    kind: DimExprKind::Chain {
                        first: Box::new(first),
                        rest,
                    },
                    span,
                }
            }
            Rule::integer => DimExpr {
                kind: DimExprKind::Int(pair.as_str().parse().unwrap_or_default()),
                span,
            },
            Rule::ident => DimExpr {
                kind: DimExprKind::Name(pair.as_str().to_string()),
                span,
            },
            r => unreachable!("grammar: dim expr {r:?}"),
        }
    }

    fn expr(&self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::expr | Rule::term => {
                let mut inner = pair.into_inner();
                let first = self.expr(inner.next().unwrap());
                let mut rest = Vec::new();
                while let Some(op) = inner.next() {
                    let op_span = self.span(&op);
                    let op = match op.as_str() {
                        "+" => BinOp::Add,
                        "-" => BinOp::Sub,
                        "*" => BinOp::Mul,
                        "/" => BinOp::Div,
                        _ => BinOp::MatMul,
                    };
                    rest.push((op, op_span, self.expr(inner.next().unwrap())));
                }
                if rest.is_empty() {
                    return first;
                }
                Expr {
                    kind: ExprKind::Chain {
                        first: Box::new(first),
                        rest,
                    },
                    span,
                }
            }
            Rule::unary | Rule::exponent => {
                let mut count = 0;
                let mut operand = None;
                for p in pair.into_inner() {
                    if p.as_rule() == Rule::neg {
                        count += 1;
                    } else {
                        operand = Some(self.expr(p));
                    }
                }
                let operand = operand.expect("grammar: unary operand");
                if count == 0 {
                    return operand;
                }
                Expr {
                    kind: ExprKind::Neg {
                        count,
                        operand: Box::new(operand),
                    },
                    span,
                }
            }
            Rule::power => {
                let mut inner = pair.into_inner();
                let base = self.expr(inner.next().unwrap());
                match inner.next() {
                    None => base,
                    Some(exp) => Expr {
                        kind: ExprKind::Pow {
                            base: Box::new(base),
                            exponent: Box::new(self.expr(exp)),
                        },
                        span,
                    },
                }
            }
            Rule::postfix => {
                let mut inner = pair.into_inner();
                let operand = self.expr(inner.next().unwrap());
                let count = inner.count();
                if count == 0 {
                    return operand;
                }
                Expr {
                    kind: ExprKind::Transpose {
                        count,
                        operand: Box::new(operand),
                    },
                    span,
                }
            }
            Rule::number => Expr {
                kind: ExprKind::Number(
                    parse_decimal(pair.as_str()).ok(),
                    pair.as_str().to_string(),
                ),
                span,
            },
            Rule::ident | Rule::local_name => Expr {
                kind: ExprKind::Name(pair.as_str().to_string()),
                span,
            },
            Rule::call => {
                let mut inner = pair.into_inner();
                let name = self.ident(inner.next().unwrap());
                let args = inner.map(|a| self.arg(a)).collect();
                Expr {
                    kind: ExprKind::Call { name, args },
                    span,
                }
            }
            r => unreachable!("grammar: expr {r:?}"),
        }
        .with_parens_from(span)
    }

    fn arg(&self, pair: Pair<Rule>) -> Arg {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::kwarg => {
                let mut inner = pair.into_inner();
                let k = inner.next().unwrap();
                let name = Ident {
                    name: k.as_str().to_string(),
                    span: self.span(&k),
                };
                let v = inner.next().unwrap();
                let vspan = self.span(&v);
                let value = match v.as_rule() {
                    Rule::boolean => KwValue::Bool(v.as_str() == "true", vspan),
                    Rule::list => {
                        KwValue::List(v.into_inner().map(|e| self.expr(e)).collect(), vspan)
                    }
                    _ => KwValue::Expr(self.expr(v)),
                };
                Arg::Keyword { name, value }
            }
            Rule::list => Arg::List(pair.into_inner().map(|e| self.expr(e)).collect(), span),
            Rule::string => {
                let text = pair.into_inner().next().map(|p| p.as_str()).unwrap_or("");
                Arg::Str(text.to_string(), span)
            }
            _ => Arg::Positional(self.expr(pair)),
        }
    }
}

trait WithParens {
    fn with_parens_from(self, span: Span) -> Expr;
}

impl WithParens for Expr {
    /// The grammar drops `( )` around an atom; a node whose own span is narrower than the
    /// pair it came from was parenthesised. Keep that as [`ExprKind::Paren`].
    fn with_parens_from(self, span: Span) -> Expr {
        if self.span == span {
            self
        } else {
            Expr {
                kind: ExprKind::Paren(Box::new(self)),
                span,
            }
        }
    }
}

/// Is `r` a whole number?
pub fn is_integer(r: &BigRational) -> bool {
    r.denom().is_one()
}

/// Where parsing failed, as a byte offset.
fn error_pos(err: &pest::error::Error<Rule>) -> usize {
    match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    }
}

fn syntax_error(file: FileId, text: &str, err: pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::ErrorVariant;
    let pos = error_pos(&err);
    let found = describe_found(text, pos);
    let mut expected: Vec<&'static str> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
        for r in positives {
            let word = describe_rule(*r);
            if !expected.contains(&word) {
                expected.push(word);
            }
        }
    }
    let end = (pos + found.1).min(text.len());
    let span = Span::new(file, pos, end.max(pos));
    let message = if expected.is_empty() {
        format!("unexpected {}", found.0)
    } else {
        format!("expected {}, found {}", join_or(&expected), found.0)
    };
    let mut d = Diagnostic::new(Code::Syntax, span, message).with_label("here");
    if let Some(help) = syntax_help(text, pos) {
        d = d.with_help(help);
    }
    d
}

/// Hints for mistakes people make often.
fn syntax_help(text: &str, pos: usize) -> Option<String> {
    let rest = &text[pos..];
    let line_start = text[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = &text[line_start..];
    let line = line.split('\n').next().unwrap_or("");
    if rest.starts_with('^') {
        return Some("powers are written `x ** 2`".into());
    }
    if rest.starts_with("==") {
        return Some("a claim is written `claim LHS = RHS` with a single `=`".into());
    }
    if line.trim_start().starts_with('=') {
        return Some("a line starting with `=` continues a `derive` block; it must follow the `derive` line or another step directly".into());
    }
    if rest.starts_with('\'') {
        return Some("strings use double quotes: \"ij,jk->ik\"".into());
    }
    None
}

fn join_or(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// What is at `pos`, in words, and how many bytes it covers.
fn describe_found(text: &str, pos: usize) -> (String, usize) {
    let rest = &text[pos.min(text.len())..];
    let Some(c) = rest.chars().next() else {
        return ("end of file".into(), 0);
    };
    if c == '\n' || rest.starts_with("\r\n") {
        return ("end of line".into(), 0);
    }
    if c.is_alphanumeric()
        || c == '_'
        || c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())
    {
        let len = rest
            .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '.'))
            .unwrap_or(rest.len());
        return (format!("`{}`", &rest[..len]), len);
    }
    for op in ["**", "->", "==", ".T"] {
        if rest.starts_with(op) {
            return (format!("`{op}`"), op.len());
        }
    }
    (format!("`{c}`"), c.len_utf8())
}

fn describe_rule(rule: Rule) -> &'static str {
    match rule {
        Rule::expr
        | Rule::term
        | Rule::unary
        | Rule::power
        | Rule::postfix
        | Rule::exponent
        | Rule::call
        | Rule::number => "an expression",
        Rule::ident | Rule::kw_name | Rule::local_name => "a name",
        Rule::add_op | Rule::mul_op => "an operator",
        Rule::dot_t => "`.T`",
        Rule::shape => "a shape like `[T, d]`",
        Rule::dim_expr | Rule::dim_term | Rule::integer => "a size (a dim name or a whole number)",
        Rule::dim_mul_op => "an operator",
        Rule::note | Rule::EOI => "end of line",
        Rule::use_decl
        | Rule::dim_decl
        | Rule::leaf_decl
        | Rule::const_decl
        | Rule::output_decl
        | Rule::loss_decl
        | Rule::assign
        | Rule::claim
        | Rule::derive
        | Rule::fn_def
        | Rule::stray_return => "a statement",
        Rule::string | Rule::string_inner => "a string in double quotes",
        Rule::step => "a derivation step `= EXPR`",
        Rule::kwarg | Rule::boolean | Rule::list => "an argument",
        Rule::return_stmt => "`return EXPR`",
        Rule::leaf_kind => "`input`, `param` or `data`",
        Rule::leaf_fact => "`onehot`",
        Rule::leaf_source | Rule::kw_from => "`from \"checkpoint.tensor.name\"`",
        Rule::vocab_decl | Rule::kw_vocab => "`vocab V = \"characters\"`",
        Rule::tokens_decl | Rule::kw_tokens => "`tokens ids : [T] in V`",
        Rule::kw_in => "`in` and the vocabulary's size",
        Rule::tokens_next | Rule::kw_next => "`= next(ids)`",
        Rule::escaped_string | Rule::escaped_inner => "a string in double quotes",
        Rule::fn_params | Rule::fn_param => "a parameter `name: [dims]`",
        Rule::fn_body => "a fn body",
        Rule::neg => "`-`",
        _ => "something else",
    }
}

/// The words of a declaration that are not keywords (`tokens`, `in`, ...): tokens of the
/// parse that carry nothing.
fn is_word(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_from | Rule::kw_vocab | Rule::kw_tokens | Rule::kw_in | Rule::kw_next
    )
}

/// A vocabulary string's characters: `\n`, `\t`, `\"`, `\\` are escapes; any other
/// character after a backslash stands for itself.
fn unescape(text: &str) -> Vec<char> {
    let mut out = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => match chars.next() {
                Some('n') => '\n',
                Some('t') => '\t',
                Some(other) => other,
                None => '\\',
            },
            c => c,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        let r = |n: i64, d: i64| BigRational::new(n.into(), d.into());
        assert_eq!(parse_decimal("0.044715"), Ok(r(44715, 1_000_000)));
        assert_eq!(parse_decimal("1e-5"), Ok(r(1, 100_000)));
        assert_eq!(parse_decimal("2.5E2"), Ok(r(250, 1)));
        assert_eq!(parse_decimal(".5"), Ok(r(1, 2)));
        assert_eq!(parse_decimal("7"), Ok(r(7, 1)));
        assert_eq!(parse_decimal("1e10000").map(|_| ()), Ok(()));
        assert_eq!(
            parse_decimal("1e200000"),
            Err(crate::decimal::DecimalError::ExponentTooLarge)
        );
        assert_eq!(
            parse_decimal("1e99999999999999999999"),
            Err(crate::decimal::DecimalError::ExponentTooLarge)
        );
    }
}
