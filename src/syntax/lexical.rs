//! The lexical pass that runs before the grammar.
//!
//! Owns two source-level facts the PEG grammar cannot express well:
//! - inside `( )` and `[ ]`, line breaks and comments are blanked to spaces, so a long
//!   expression may span lines; the result has exactly the same byte offsets as the input,
//!   so every span still points into the user's text;
//! - bracket nesting is bounded ([`MAX_NESTING`]): the parser is recursive, and absurdly deep
//!   input gets a clear error instead of a stack overflow.
//!
//! Strings (`"..."`) and comments are skipped, so brackets inside them do not count.

use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// Deepest bracket nesting accepted. Far beyond anything written by hand, and small enough
/// that the recursive parser and lowering stay within a 2 MiB thread stack.
pub const MAX_NESTING: usize = 64;

/// The blanked text, and where the first bracket left open at the end of the file was opened.
pub struct Lexed {
    pub text: String,
    pub unclosed: Option<Span>,
}

/// Blank line breaks and comments inside brackets; reject nesting deeper than [`MAX_NESTING`].
pub fn blank_bracketed_lines(file: FileId, text: &str) -> Result<Lexed, Diagnostic> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut open: Vec<(u8, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                // Copy the string through to its closing quote or the end of the line.
                out.push(b);
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    out.push(bytes[i]);
                    i += 1;
                }
                if i < bytes.len() && bytes[i] == b'"' {
                    out.push(b'"');
                    i += 1;
                }
                continue;
            }
            b'#' => {
                let blank = !open.is_empty();
                while i < bytes.len() && bytes[i] != b'\n' {
                    out.push(if blank { b' ' } else { bytes[i] });
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' => {
                open.push((b, i));
                if open.len() > MAX_NESTING {
                    return Err(Diagnostic::new(
                        Code::TooDeep,
                        Span::new(file, i, i + 1),
                        format!("brackets nested more than {MAX_NESTING} deep"),
                    )
                    .with_label("this bracket is too deep")
                    .with_help("name some intermediate results with `NAME = ...` lines"));
                }
                out.push(b);
            }
            b')' | b']' => {
                open.pop();
                out.push(b);
            }
            b'\n' | b'\r' if !open.is_empty() => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    // Only ASCII bytes were replaced by ASCII bytes, so the text is still UTF-8.
    let text = String::from_utf8(out).expect("blanking keeps UTF-8");
    Ok(Lexed {
        text,
        unclosed: open.first().map(|&(_, at)| Span::new(file, at, at + 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_newlines_and_comments_only_inside_brackets() {
        let src = "a = (b # note\n + c)\n# top\nd = e\n";
        let lexed = blank_bracketed_lines(FileId(0), src).unwrap();
        assert_eq!(lexed.text.len(), src.len());
        assert_eq!(
            lexed.text,
            format!("a = (b {} + c)\n# top\nd = e\n", " ".repeat(7))
        );
        assert!(lexed.unclosed.is_none());
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let lexed = blank_bracketed_lines(FileId(0), "x = f(\"(\", \"[\") # (\ny = 1\n").unwrap();
        assert!(lexed.unclosed.is_none());
        assert!(lexed.text.contains('\n'));
    }

    #[test]
    fn reports_the_first_unclosed_bracket_and_too_deep_nesting() {
        let lexed = blank_bracketed_lines(FileId(0), "x = f((a)\n").unwrap();
        assert_eq!(lexed.unclosed.map(|s| s.start), Some(5));
        let deep = "(".repeat(MAX_NESTING + 1);
        let err = blank_bracketed_lines(FileId(0), &deep).err().unwrap();
        assert_eq!(err.code, Code::TooDeep);
        assert_eq!(err.span.unwrap().start, MAX_NESTING);
    }
}
