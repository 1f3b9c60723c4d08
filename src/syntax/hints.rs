//! Specific syntax diagnostics for the mistakes newcomers make most often.
//!
//! Owns recognising, *after* the grammar has rejected a file, a few habits carried over from
//! other languages: `W^T` for a transpose, `//` and `/* */` comments, `let`/`var` and `:=`
//! in assignments, and an expression after `output` or `loss`. The grammar is untouched: these
//! checks only look at the source text around the position where parsing failed, so every valid
//! program parses exactly as before, and anything not recognised falls back to the general
//! "expected …, found …" diagnostic.
//!
//! `text` is the blanked text from `lexical` (line breaks and comments inside brackets turned
//! to spaces; same offsets as the file), `original` the file as written. Offsets index both.
//! Nothing here panics: every slice is taken at a character boundary found by scanning.

use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// A diagnostic for a well-known mistake at the parse error position `pos`, if it is one.
pub(super) fn newcomer_mistake(
    file: FileId,
    original: &str,
    text: &str,
    pos: usize,
) -> Option<Diagnostic> {
    if original.len() != text.len() || pos > text.len() || !text.is_char_boundary(pos) {
        return None;
    }
    let cx = Cx {
        file,
        original,
        text,
        pos,
    };
    cx.comment()
        .or_else(|| cx.transpose())
        .or_else(|| cx.declaration_keyword())
        .or_else(|| cx.walrus())
        .or_else(|| cx.output_or_loss_expression())
}

/// Only the comment check: a `//` or `/*` can open a bracket the lexer then reports as never
/// closed, so this one runs before the unclosed-bracket diagnostic.
pub(super) fn comment_mistake(
    file: FileId,
    original: &str,
    text: &str,
    pos: usize,
) -> Option<Diagnostic> {
    if original.len() != text.len() || pos > text.len() || !text.is_char_boundary(pos) {
        return None;
    }
    Cx {
        file,
        original,
        text,
        pos,
    }
    .comment()
}

struct Cx<'a> {
    file: FileId,
    original: &'a str,
    text: &'a str,
    pos: usize,
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// The byte range of the line around `pos`, without its line break.
fn line_bounds(text: &str, pos: usize) -> (usize, usize) {
    let start = text[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end = text[pos..]
        .find('\n')
        .map(|i| pos + i)
        .unwrap_or(text.len());
    let end = if text[start..end].ends_with('\r') {
        end - 1
    } else {
        end
    };
    (start, end.max(start))
}

/// Where the code of `line` ends: at a `#` outside a string, or the end of the line.
fn code_end(line: &str) -> usize {
    let mut in_string = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '#' if !in_string => return i,
            _ => {}
        }
    }
    line.len()
}

/// Is byte `idx` of `line` inside a `"..."` string?
fn in_string(line: &str, idx: usize) -> bool {
    line[..idx].matches('"').count() % 2 == 1
}

/// The identifier at the start of `s` (which must not start with blanks), if any.
fn leading_ident(s: &str) -> Option<&str> {
    if !s.starts_with(is_ident_start) {
        return None;
    }
    let len = s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
    Some(&s[..len])
}

/// The length of the statement at the start of `s`: up to a `;` or an unmatched `}` (in a
/// one-line `fn` body), outside brackets and strings.
fn statement_len(s: &str) -> usize {
    let mut depth = 0usize;
    let mut in_string = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_string = !in_string,
            _ if in_string => {}
            '(' | '[' | '{' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            ';' if depth == 0 => return i,
            _ => {}
        }
    }
    s.len()
}

/// `rest` starts with `=` that is not `==` (after blanks).
fn starts_with_single_eq(rest: &str) -> bool {
    let r = rest.trim_start();
    r.starts_with('=') && !r.starts_with("==")
}

impl Cx<'_> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end.max(start))
    }

    /// The source between two offsets as it would be written on one line: the file's text if
    /// it is on one line, else the blanked text with runs of blanks collapsed.
    fn one_line(&self, start: usize, end: usize) -> String {
        let written = &self.original[start..end];
        if written.contains('\n') {
            self.text[start..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            written.trim().to_string()
        }
    }

    /// The logical line around the error (brackets spanning lines are one line in `text`):
    /// its start offset and its code, without a trailing `#` comment or blanks.
    fn code_line(&self) -> (usize, &str) {
        let (start, end) = line_bounds(self.text, self.pos);
        let line = &self.text[start..end];
        (start, line[..code_end(line)].trim_end())
    }

    /// `// note` or `/* note */`: comments start with `#`.
    fn comment(&self) -> Option<Diagnostic> {
        let b = self.text.as_bytes();
        let opens_comment =
            |s: usize| s + 1 < b.len() && b[s] == b'/' && matches!(b[s + 1], b'/' | b'*');
        let start = [self.pos.checked_sub(1), Some(self.pos)]
            .into_iter()
            .flatten()
            .find(|&s| opens_comment(s))?;
        let (ls, le) = line_bounds(self.original, start);
        if in_string(&self.original[ls..le], start - ls) {
            return None;
        }
        let before = self.original[ls..start].trim_end();
        let block = b[start + 1] == b'*';
        let body = &self.original[start + 2..le];
        let (comment, after, end) = if block {
            match body.find("*/") {
                Some(j) => (body[..j].trim(), body[j + 2..].trim(), start + 2 + j + 2),
                None => (body.trim(), "", start + 2),
            }
        } else {
            (body.trim(), "", start + 2)
        };
        let code = match (before.trim_start().is_empty(), after.is_empty()) {
            (true, _) => after.to_string(),
            (false, true) => before.trim_start().to_string(),
            (false, false) => format!("{} {}", before.trim_start(), after),
        };
        let example = if code.is_empty() {
            format!("# {comment}")
        } else {
            format!("{code}  # {comment}")
        };
        let example = example.trim_end();
        let (opener, help) = if block {
            (
                "/*",
                format!("comments start with `#` and run to the end of the line: `{example}`"),
            )
        } else {
            ("//", format!("comments start with `#`: `{example}`"))
        };
        Some(
            Diagnostic::new(
                Code::Syntax,
                self.span(start, end),
                format!("comments start with `#`, not `{opener}`"),
            )
            .with_label("not a comment")
            .with_help(help),
        )
    }

    /// `W^T`: a transpose is written `W.T`. (`x^2` keeps the general powers hint.)
    fn transpose(&self) -> Option<Diagnostic> {
        let after = self.text[self.pos..].strip_prefix('^')?;
        let t = after.trim_start_matches([' ', '\t']).strip_prefix('T')?;
        if t.starts_with(is_ident_char) {
            return None;
        }
        let end = self.text.len() - t.len();
        let operand = self.operand_before(self.pos).unwrap_or_else(|| "x".into());
        Some(
            Diagnostic::new(
                Code::Syntax,
                self.span(self.pos, end),
                format!("a transpose is written `{operand}.T`, not `{operand}^T`"),
            )
            .with_label("write `.T` here")
            .with_help(format!(
                "write `{operand}.T` for the transpose (it swaps the last two axes)"
            )),
        )
    }

    /// The operand written just before `at` (a name, a call or a bracketed group), if short.
    fn operand_before(&self, at: usize) -> Option<String> {
        let (ls, _) = line_bounds(self.text, at);
        let head = self.text[ls..at].trim_end_matches([' ', '\t']);
        let end = ls + head.len();
        let mut start = end;
        if head.ends_with([')', ']']) {
            let mut depth = 0usize;
            let mut open = None;
            for (i, c) in head.char_indices().rev() {
                match c {
                    ')' | ']' => depth += 1,
                    '(' | '[' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            open = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            start = ls + open?;
        }
        // A name, a call's name, or `.T`s before the bracket.
        let prefix = &self.text[ls..start];
        let name_len = prefix
            .chars()
            .rev()
            .take_while(|&c| is_ident_char(c) || c == '.')
            .map(char::len_utf8)
            .sum::<usize>();
        start -= name_len;
        let operand = self.text[start..end].trim_start_matches('.');
        let written_start = end - operand.len();
        let written = &self.original[written_start..end];
        if operand.is_empty() || written.contains('\n') || written.chars().count() > 40 {
            return None;
        }
        Some(written.to_string())
    }

    /// `let y = ...`, `var y = ...`: a statement is `NAME = EXPR`.
    fn declaration_keyword(&self) -> Option<Diagnostic> {
        let (ls, code) = self.code_line();
        let indent = code.len() - code.trim_start().len();
        // The word at the error, or else the first word of the line.
        let mut starts = vec![self.pos];
        if self.pos != ls + indent {
            starts.push(ls + indent);
        }
        let line_end = ls + code.len();
        starts.into_iter().find_map(|s| {
            if s >= line_end || (s > 0 && self.text[..s].ends_with(is_ident_char)) {
                return None;
            }
            self.declaration_keyword_at(s, line_end)
        })
    }

    fn declaration_keyword_at(&self, start: usize, line_end: usize) -> Option<Diagnostic> {
        let code = &self.text[start..line_end];
        let kw = leading_ident(code)?;
        if !matches!(kw, "let" | "var" | "val") {
            return None;
        }
        let mut kw_end = start + kw.len();
        let mut rest = &code[kw.len()..];
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        if let Some(m) = leading_ident(rest.trim_start()).filter(|m| *m == "mut") {
            let skip = rest.len() - rest.trim_start().len() + m.len();
            kw_end += skip;
            rest = &rest[skip..];
        }
        let name = leading_ident(rest.trim_start())?;
        let after_name = &rest.trim_start()[name.len()..];
        // The value after `=` or `:=`; a `: type` annotation before `=` is dropped.
        let value_at = if let Some(r) = after_name.trim_start().strip_prefix(":=") {
            Some(r)
        } else if starts_with_single_eq(after_name) {
            Some(&after_name.trim_start()[1..])
        } else if after_name.trim_start().starts_with(':') {
            after_name
                .match_indices('=')
                .find(|&(i, _)| {
                    !after_name[i..].starts_with("==") && !after_name[..i].ends_with(['=', '!'])
                })
                .map(|(i, _)| &after_name[i + 1..])
        } else {
            None
        };
        let value = match value_at {
            Some(r) => {
                let from = line_end - r.len();
                self.one_line(from, from + statement_len(r))
            }
            None => String::new(),
        };
        let value = if value.is_empty() {
            "EXPR".into()
        } else {
            value
        };
        let shown = self.text[start..kw_end].to_string();
        Some(
            Diagnostic::new(
                Code::Syntax,
                self.span(start, kw_end),
                format!("`{shown}` is not needed: a statement is `NAME = EXPR`"),
            )
            .with_label("not needed")
            .with_help(format!("write `{name} = {value}`")),
        )
    }

    /// `y := x @ W`: assignment is written `=`.
    fn walrus(&self) -> Option<Diagnostic> {
        let (ls, code) = self.code_line();
        let at = code
            .match_indices(":=")
            .map(|(i, _)| i)
            .find(|&i| !in_string(code, i))?;
        if self.pos > ls + at + 2 {
            return None;
        }
        // Only at a statement's `=`: `NAME :=`, `const NAME :=`, `dim NAME :=`, `loss NAME :=`.
        let head = code[..at].trim();
        let words: Vec<&str> = head.split_whitespace().collect();
        let ok = match words.as_slice() {
            [name] => leading_ident(name) == Some(name),
            [kw, name] => {
                matches!(*kw, "const" | "dim" | "loss") && leading_ident(name) == Some(name)
            }
            _ => false,
        };
        if !ok {
            return None;
        }
        let value = self.one_line(ls + at + 2, ls + code.len());
        let value = if value.is_empty() {
            "EXPR".into()
        } else {
            value
        };
        Some(
            Diagnostic::new(
                Code::Syntax,
                self.span(ls + at, ls + at + 2),
                "assignment is written `=`, not `:=`",
            )
            .with_label("write `=` here")
            .with_help(format!("write `{} = {value}`", words.join(" "))),
        )
    }

    /// `output x @ W`, `loss mean(x)`: these take a name, not an expression.
    fn output_or_loss_expression(&self) -> Option<Diagnostic> {
        let (ls, code) = self.code_line();
        let indent = code.len() - code.trim_start().len();
        let kw = leading_ident(&code[indent..])?;
        if kw != "output" && kw != "loss" {
            return None;
        }
        let after_kw = &code[indent + kw.len()..];
        if !after_kw.starts_with([' ', '\t', '=']) {
            return None;
        }
        let rest = after_kw.trim_start();
        let rest_start = ls + code.len() - rest.len();
        if rest.is_empty() || rest.starts_with("==") {
            return None;
        }
        // `output = x @ W`: the expression is after the `=`.
        let (expr_start, assigned) = match rest.strip_prefix('=') {
            Some(r) => (ls + code.len() - r.trim_start().len(), None),
            None => match leading_ident(rest) {
                Some(name) => {
                    let after = &rest[name.len()..];
                    let next = after.trim_start();
                    if after.is_empty()
                        || next.starts_with(is_ident_start)
                        || next.starts_with(',')
                        || (kw == "loss" && starts_with_single_eq(after))
                    {
                        // A plain name, `output y z`, `output y, z` or `loss L = <bad expr>`:
                        // not this mistake.
                        return None;
                    }
                    if starts_with_single_eq(after) {
                        (rest_start, Some(name))
                    } else {
                        (rest_start, None)
                    }
                }
                None => (rest_start, None),
            },
        };
        let end = ls + code.len();
        if expr_start >= end {
            return None;
        }
        let expr = self.one_line(expr_start, end);
        let span = self.span(expr_start, end);
        let d = if kw == "output" {
            match assigned {
                Some(name) => Diagnostic::new(
                    Code::Syntax,
                    span,
                    "`output` takes the name of a tensor, not an assignment",
                )
                .with_label("an assignment")
                .with_help(format!(
                    "write `{expr}` on its own line, then `output {name}`"
                )),
                None => {
                    let name = fresh_name(self.text, &["y", "out", "result"]);
                    Diagnostic::new(
                        Code::Syntax,
                        span,
                        "`output` takes the name of a tensor, not an expression",
                    )
                    .with_label("an expression")
                    .with_help(format!(
                        "name it first: `{name} = {expr}`, then `output {name}`"
                    ))
                }
            }
        } else {
            let name = fresh_name(self.text, &["L", "loss_value"]);
            Diagnostic::new(
                Code::Syntax,
                span,
                "`loss` takes a name: it is written `loss NAME = EXPR` (or `loss NAME`)",
            )
            .with_label("an expression without a name")
            .with_help(format!("write `loss {name} = {expr}`"))
        };
        Some(d)
    }
}

/// The first of `candidates` (else one with a number appended) that the file does not define.
fn fresh_name(text: &str, candidates: &[&str]) -> String {
    let defined = defined_names(text);
    let free = |n: &str| !defined.contains(&n);
    if let Some(c) = candidates.iter().find(|c| free(c)) {
        return c.to_string();
    }
    (1..)
        .map(|i| format!("{}{i}", candidates[0]))
        .find(|n| free(n))
        .unwrap_or_default()
}

/// Names the file defines, read loosely from its lines (`NAME =`, `const NAME =`,
/// `input NAME :`, `fn NAME(` ...). Only used to avoid suggesting a taken name.
fn defined_names(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for line in text.lines() {
        let mut s = line.trim_start();
        if let Some(kw) = leading_ident(s) {
            if matches!(
                kw,
                "const" | "input" | "param" | "data" | "dim" | "loss" | "fn" | "let" | "var"
            ) && s[kw.len()..].starts_with([' ', '\t'])
            {
                s = s[kw.len()..].trim_start();
            }
        }
        let Some(name) = leading_ident(s) else {
            continue;
        };
        let after = s[name.len()..].trim_start();
        if starts_with_single_eq(after) || after.starts_with([':', '(']) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_skip_defined_ones() {
        assert_eq!(fresh_name("x = 1\noutput y\n", &["y", "out"]), "y");
        assert_eq!(fresh_name("y = 1\n", &["y", "out"]), "out");
        assert_eq!(fresh_name("y = 1\nout = 2\n", &["y", "out"]), "y1");
        assert_eq!(fresh_name("input L : [d]\n", &["L"]), "L1");
    }

    #[test]
    fn nothing_panics_on_odd_positions() {
        let text = "y = é^T\n// a\nlet\noutput\nloss =\n";
        for pos in 0..=text.len() {
            if text.is_char_boundary(pos) {
                let _ = newcomer_mistake(FileId(0), text, text, pos);
            }
        }
    }
}
