//! Diagnostics: what went wrong, where, and how to fix it.
//!
//! Every stage reports bad input as a [`Diagnostic`] with a stable [`Code`] (tests and scripts
//! match on it), a primary span, optional secondary spans and notes. Rendering is in
//! [`Diagnostic::render`]: a `FILE:LINE:COLUMN: error[code]: message` header line (greppable,
//! what editors jump to), then a source snippet drawn by miette. Nothing here panics on a span
//! outside its file: spans are clamped.

use crate::source::{SourceMap, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use std::fmt;

/// The kind of a diagnostic. The string form is part of the command-line contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    Io,
    NotUtf8,
    EmptyFile,
    Syntax,
    TooDeep,
    /// A budget (graph size, entries evaluated exactly, a number's size) was exceeded.
    TooLarge,
    UnclosedBracket,
    UnknownName,
    UnknownFunction,
    Arity,
    BadArgument,
    Redefinition,
    ShapeMismatch,
    BadAxis,
    ReshapeSize,
    BadDim,
    BadEinsum,
    MissingTarget,
    DuplicateTarget,
    NotScalar,
    NoGradient,
    MissingUse,
    CyclicUse,
    Recursion,
    NotConstant,
    Misplaced,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Io => "io",
            Code::NotUtf8 => "not-utf8",
            Code::EmptyFile => "empty-file",
            Code::Syntax => "syntax",
            Code::TooDeep => "too-deep",
            Code::TooLarge => "too-large",
            Code::UnclosedBracket => "unclosed-bracket",
            Code::UnknownName => "unknown-name",
            Code::UnknownFunction => "unknown-function",
            Code::Arity => "arity",
            Code::BadArgument => "bad-argument",
            Code::Redefinition => "redefinition",
            Code::ShapeMismatch => "shape-mismatch",
            Code::BadAxis => "bad-axis",
            Code::ReshapeSize => "reshape-size",
            Code::BadDim => "bad-dim",
            Code::BadEinsum => "bad-einsum",
            Code::MissingTarget => "missing-target",
            Code::DuplicateTarget => "duplicate-target",
            Code::NotScalar => "not-scalar",
            Code::NoGradient => "no-gradient",
            Code::MissingUse => "missing-use",
            Code::CyclicUse => "cyclic-use",
            Code::Recursion => "recursion",
            Code::NotConstant => "not-constant",
            Code::Misplaced => "misplaced",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One error in the user's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    /// Where it went wrong; `None` only for errors with no source (an unreadable root file).
    pub span: Option<Span>,
    /// Text under the primary span.
    pub label: String,
    /// Other places that explain it (a previous definition, the other operand).
    pub secondary: Vec<(Span, String)>,
    /// Extra lines of explanation.
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            span: Some(span),
            label: String::new(),
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// A diagnostic with no source location (e.g. the root file cannot be read).
    pub fn global(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            span: None,
            label: String::new(),
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((span, label.into()));
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// `FILE:LINE:COLUMN` of the primary span, or the empty string.
    pub fn location(&self, sources: &SourceMap) -> String {
        self.span.map(|s| sources.location(s)).unwrap_or_default()
    }

    /// The one-line header: `FILE:LINE:COLUMN: error[code]: message`.
    pub fn headline(&self, sources: &SourceMap) -> String {
        match self.span {
            Some(span) => format!(
                "{}: error[{}]: {}",
                sources.location(span),
                self.code,
                self.message
            ),
            None => format!("error[{}]: {}", self.code, self.message),
        }
    }

    /// The full report: headline, snippet with labels, notes and help.
    pub fn render(&self, sources: &SourceMap, color: bool) -> String {
        let mut out = self.headline(sources);
        out.push('\n');
        let Some(span) = self.span else {
            for note in &self.notes {
                out.push_str(&format!("  note: {note}\n"));
            }
            if let Some(help) = &self.help {
                out.push_str(&format!("  help: {help}\n"));
            }
            return out;
        };
        let file = sources.file(span.file);
        let clamp = |s: Span| {
            let len = file.text.len();
            let start = s.start.min(len);
            let end = s.end.clamp(start, len);
            (start, end - start)
        };
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(self.label.clone()).filter(|l| !l.is_empty()),
            clamp(span),
        )];
        let mut notes = Vec::new();
        for (s, text) in &self.secondary {
            if s.file == span.file {
                labels.push(LabeledSpan::new_with_span(Some(text.clone()), clamp(*s)));
            } else {
                notes.push(format!("{}: {}", sources.location(*s), text));
            }
        }
        notes.extend(self.notes.iter().cloned());
        let snippet = Snippet {
            message: self.message.clone(),
            source: NamedSource::new(file.path.display().to_string(), file.text.clone()),
            labels,
            help: self.help.clone(),
        };
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_links(false);
        let mut body = String::new();
        if handler.render_report(&mut body, &snippet).is_ok() {
            // miette repeats the message above the snippet; the headline already has it.
            let lines: Vec<&str> = body.lines().collect();
            let start = lines.iter().position(|l| l.contains("╭─")).unwrap_or(0);
            for line in &lines[start..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        for note in notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: {}", self.code, self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// The miette view of a diagnostic: only used for drawing the snippet.
#[derive(Debug)]
struct Snippet {
    message: String,
    source: NamedSource<String>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Snippet {}

impl miette::Diagnostic for Snippet {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.clone()) as Box<dyn fmt::Display>)
    }
}

/// Closest candidates to a misspelled name, for "did you mean" help.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(name, c);
        let limit = (name.chars().count().max(c.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, bc)| (d, c) < (bd, bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(!ca.eq_ignore_ascii_case(cb));
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_pick_the_closest_name() {
        assert_eq!(suggest("Wqq", ["Wq", "Wk", "X"]).as_deref(), Some("Wq"));
        assert_eq!(
            suggest("softmx", ["softmax", "sum"]).as_deref(),
            Some("softmax")
        );
        assert_eq!(suggest("zzz", ["Wq", "Wk"]), None);
    }
}
