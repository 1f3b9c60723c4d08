//! Prose in LaTeX: a person's comments and handtrace's sentences, made safe for pdflatex.
//!
//! Owns [`prose`]: TeX's special characters escaped, the Unicode a person writes in comments
//! (ᵀ, √, ⊙, ∘, Greek letters, −, ², →, ...) mapped to math, anything else unknown replaced by
//! `?` (pdflatex without extra packages cannot set it), and `` `code` `` spans set in
//! typewriter type.
//!
//! Invariant: the output compiles in text mode with amsmath/amssymb alone.

/// Math for one Unicode character a comment may contain, if known.
pub fn unicode(c: char) -> Option<&'static str> {
    Some(match c {
        'ᵀ' => "^{\\top}",
        '√' => "\\surd ",
        '⊙' | '∘' => "\\odot ",
        '·' | '⋅' => "\\cdot ",
        '×' => "\\times ",
        '−' => "-",
        '²' => "^{2}",
        '³' => "^{3}",
        '→' => "\\to ",
        '←' => "\\leftarrow ",
        '≤' => "\\le ",
        '≥' => "\\ge ",
        '≠' => "\\ne ",
        '≈' => "\\approx ",
        '∂' => "\\partial ",
        '∑' | 'Σ' => "\\Sigma ",
        '∞' => "\\infty ",
        '±' => "\\pm ",
        '⟨' => "\\langle ",
        '⟩' => "\\rangle ",
        'α' => "\\alpha ",
        'β' => "\\beta ",
        'γ' => "\\gamma ",
        'δ' => "\\delta ",
        'ε' => "\\varepsilon ",
        'η' => "\\eta ",
        'θ' => "\\theta ",
        'λ' => "\\lambda ",
        'μ' => "\\mu ",
        'π' => "\\pi ",
        'σ' => "\\sigma ",
        'τ' => "\\tau ",
        'φ' => "\\varphi ",
        'Φ' => "\\Phi ",
        'ψ' => "\\psi ",
        'ω' => "\\omega ",
        '∇' => "\\nabla ",
        '∈' => "\\in ",
        'ⱼ' => "_{j}",
        'ᵢ' => "_{i}",
        '̂' => "",
        _ => return None,
    })
}

/// Plain text characters outside ASCII that have a text-mode form.
fn text_unicode(c: char) -> Option<&'static str> {
    Some(match c {
        '—' => "---",
        '–' => "--",
        '‘' => "`",
        '’' => "'",
        '“' => "``",
        '”' => "''",
        '…' => "\\ldots{}",
        '│' | '─' | '━' | '═' => "-",
        _ => return None,
    })
}

fn escape_char(c: char, out: &mut String) {
    match c {
        '\\' => out.push_str("\\textbackslash{}"),
        '{' => out.push_str("\\{"),
        '}' => out.push_str("\\}"),
        '$' => out.push_str("\\$"),
        '&' => out.push_str("\\&"),
        '%' => out.push_str("\\%"),
        '#' => out.push_str("\\#"),
        '_' => out.push_str("\\_"),
        '^' => out.push_str("\\textasciicircum{}"),
        '~' => out.push_str("\\textasciitilde{}"),
        '<' => out.push_str("\\textless{}"),
        '>' => out.push_str("\\textgreater{}"),
        '|' => out.push_str("\\textbar{}"),
        c if c.is_ascii() => out.push(c),
        c => match (unicode(c), text_unicode(c)) {
            (_, Some(t)) => out.push_str(t),
            (Some(m), None) => {
                out.push('$');
                out.push_str(m);
                out.push('$');
            }
            (None, None) => out.push('?'),
        },
    }
}

/// `s` as text-mode LaTeX; `` `code` `` spans in typewriter type (breakable at spaces).
pub fn prose(s: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in s.chars() {
        if c == '`' {
            out.push_str(if in_code { "}" } else { "\\texttt{" });
            in_code = !in_code;
            continue;
        }
        escape_char(c, &mut out);
    }
    if in_code {
        out.push('}');
    }
    // Adjacent math pieces join ($\mu$$\sigma$ would end and restart math).
    out.replace("$$", "")
}

/// `s` in typewriter type (code as written), escaped; a long path or command may break
/// after a `/` or a `,`.
pub fn code(s: &str) -> String {
    let mut out = String::from("\\texttt{");
    for c in s.chars() {
        escape_char(c, &mut out);
        if c == '/' || c == ',' {
            out.push_str("\\allowbreak{}");
        }
    }
    out.push('}');
    out.replace("$$", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_and_unicode_are_safe() {
        assert_eq!(prose("50% & #1"), "50\\% \\& \\#1");
        assert_eq!(prose("dK = dSᵀ Q/√d"), "dK = dS$^{\\top}$ Q/$\\surd $d");
        assert_eq!(prose("use `P.T` here"), "use \\texttt{P.T} here");
        assert_eq!(prose("μσ"), "$\\mu \\sigma $");
        assert_eq!(prose("日"), "?");
    }
}
