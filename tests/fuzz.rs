//! A seeded mutation fuzzer: whatever the input, handtrace never crashes, hangs or exhausts
//! memory. It takes the text of every shipped file (examples/*.ht, proofs/*.ht), applies a
//! few random byte-level and token-level mutations, and
//!
//! - (in-process tier) parses, resolves and shape-checks each mutant through the library and
//!   renders `show` (text and JSON) or the diagnostics: nothing may panic, and no diagnostic
//!   may be an internal error;
//! - (binary tier) runs fewer mutants through the binary with every command (`show`, `grad`,
//!   `grad --check`, `trace --grad`, `check`, `latex`, with random extra flags) under a time
//!   and memory bound: the exit status must be 0, 1 or 2, with no panic and no internal error
//!   on stderr (`internal:`: also how the binary reports a panic of its worker thread).
//!
//! Every case is reproducible from its number: its mutations come from a SplitMix64 generator
//! seeded with the case number (and `HANDTRACE_FUZZ_SEED`, default 0). A failing mutant is
//! written to `target/fuzz-failures/case-N.ht`, and the report says how to run it.
//!
//! Mutants live in a copy of examples/ and proofs/ under the target directory (so that a
//! mutant's relative `use "../examples/x.ht"` still resolves), never in the shipped
//! directories, and the copy is removed when the test ends, even when it fails.
//!
//! Environment variables, to fuzz longer locally:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `HANDTRACE_FUZZ_CASES` | 2500 | in-process cases |
//! | `HANDTRACE_FUZZ_RUNS` | 200 | cases run through the binary (6 commands each) |
//! | `HANDTRACE_FUZZ_SEED` | 0 | mixed into every case's seed |
//! | `HANDTRACE_FUZZ_CASE` | - | run only this case number (in the tier it belongs to) |
//! | `HANDTRACE_FUZZ_SECONDS` | 20 | time bound of one binary run |
//! | `HANDTRACE_FUZZ_MB` | 2000 | memory bound (`ulimit -v`) of one binary run |
//!
//! In-process cases are numbered from 0, binary cases from [`BINARY_CASES`], so a case number
//! names one mutant and one tier.

mod common;

use common::{run_bounded, stderr, Failures};
use handtrace::ir::LowerOptions;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The first case number of the binary tier.
const BINARY_CASES: u64 = 1_000_000;

/// How long one in-process case may take before it counts as a hang.
const IN_PROCESS_SECONDS: u64 = 30;

// ── Settings ───────────────────────────────────────────────────────────────────────────

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
    )
}

/// The case numbers of a tier: `count` cases from `first`, or the one `HANDTRACE_FUZZ_CASE`
/// names when it belongs to this tier.
fn cases(first: u64, count_var: &str, default: u64) -> Vec<u64> {
    if let Some(only) = env_u64("HANDTRACE_FUZZ_CASE") {
        let in_tier = if first == 0 {
            only < BINARY_CASES
        } else {
            only >= first
        };
        return if in_tier { vec![only] } else { vec![] };
    }
    let count = env_u64(count_var).unwrap_or(default);
    (first..first + count).collect()
}

// ── A small deterministic generator ────────────────────────────────────────────────────

/// SplitMix64: tiny, fast, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn for_case(case: u64) -> Rng {
        let seed = env_u64("HANDTRACE_FUZZ_SEED").unwrap_or(0);
        let mut rng = Rng(case ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next() % den < num
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ── The corpus ─────────────────────────────────────────────────────────────────────────

/// A shipped file: its path as the tests name it (`examples/block.ht`) and its text.
struct Original {
    path: PathBuf,
    text: String,
}

/// The directories of the shipped files (copied for the mutants).
const DIRS: &[&str] = &["examples", "examples/errors", "proofs"];

fn corpus() -> Vec<Original> {
    let corpus: Vec<Original> = DIRS
        .iter()
        .flat_map(|dir| common::files(dir))
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Original { path, text }
        })
        .collect();
    assert!(corpus.len() >= 10, "the shipped files are found");
    corpus
}

/// A copy of examples/ and proofs/ (their `.ht` files) under the target directory, where the
/// mutants are written; removed on drop, so also when the test fails.
struct Workspace {
    root: PathBuf,
}

impl Workspace {
    fn new(tier: &str) -> Workspace {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("fuzz-cases-{}-{tier}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for &dir in DIRS {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            for file in common::files(dir) {
                std::fs::copy(&file, root.join(&file)).unwrap();
            }
        }
        Workspace { root }
    }

    /// Where the mutant of case `case` of `original` lives: next to the original's copy.
    fn mutant_path(&self, original: &Original, case: u64) -> PathBuf {
        let dir = original.path.parent().unwrap();
        self.root.join(dir).join(format!("case-{case}.ht"))
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Where failing mutants are kept for reproduction: `target/fuzz-failures/`.
fn failures_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("fuzz-failures")
}

fn keep_failing_mutant(case: u64, bytes: &[u8]) -> PathBuf {
    let dir = failures_dir();
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("case-{case}.ht"));
    let _ = std::fs::write(&path, bytes);
    path
}

// ── Tokens ─────────────────────────────────────────────────────────────────────────────

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Name,
    Number,
    Op,
    Punct,
    Str,
    Comment,
    Space,
    Newline,
    Other,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
}

/// A rough lexer, good enough to find names, numbers and operators in a mutant (which need
/// not be valid): every byte belongs to exactly one token, and tokens never split a UTF-8
/// character.
fn tokens(text: &[u8]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = text.len();
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < n {
        let b = text[i];
        let start = i;
        let kind = if b.is_ascii_alphabetic() || b == b'_' {
            while i < n && is_name(text[i]) {
                i += 1;
            }
            Kind::Name
        } else if b.is_ascii_digit() || (b == b'.' && i + 1 < n && text[i + 1].is_ascii_digit()) {
            while i < n && (text[i].is_ascii_digit() || text[i] == b'.') {
                i += 1;
            }
            if i < n && (text[i] == b'e' || text[i] == b'E') {
                let mut j = i + 1;
                if j < n && (text[j] == b'+' || text[j] == b'-') {
                    j += 1;
                }
                if j < n && text[j].is_ascii_digit() {
                    i = j;
                    while i < n && text[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            Kind::Number
        } else if b == b'"' {
            i += 1;
            while i < n && text[i] != b'"' && text[i] != b'\n' {
                i += 1;
            }
            if i < n && text[i] == b'"' {
                i += 1;
            }
            Kind::Str
        } else if b == b'#' {
            while i < n && text[i] != b'\n' {
                i += 1;
            }
            Kind::Comment
        } else if b == b'\n' {
            i += 1;
            Kind::Newline
        } else if b == b' ' || b == b'\t' || b == b'\r' {
            while i < n && (text[i] == b' ' || text[i] == b'\t' || text[i] == b'\r') {
                i += 1;
            }
            Kind::Space
        } else if text[i..].starts_with(b"**")
            || text[i..].starts_with(b"->")
            || text[i..].starts_with(b"!=")
        {
            i += 2;
            Kind::Op
        } else if b"+-*/@=".contains(&b) {
            i += 1;
            Kind::Op
        } else if b.is_ascii() {
            i += 1;
            Kind::Punct
        } else {
            i += 1;
            while i < n && (text[i] & 0xC0) == 0x80 {
                i += 1;
            }
            Kind::Other
        };
        out.push(Tok {
            kind,
            start,
            end: i,
        });
    }
    out
}

/// The byte ranges of the lines (without their `\n`).
fn lines(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' {
            out.push((start, i));
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push((start, text.len()));
    }
    out
}

/// Built-in functions, keywords and other names that mean something to the tool.
const BUILTINS: &[&str] = &[
    "exp",
    "log",
    "sqrt",
    "tanh",
    "erf",
    "sigmoid",
    "relu",
    "gelu",
    "gelu_tanh",
    "silu",
    "Phi",
    "sum",
    "mean",
    "max",
    "min",
    "logsumexp",
    "rowsum",
    "softmax",
    "logsoftmax",
    "causal",
    "transpose",
    "reshape",
    "permute",
    "einsum",
    "trace",
    "eye",
    "layernorm",
    "rmsnorm",
    "grad",
    "pi",
    "tril",
    "expand",
    "eq",
    "step",
    "onehot",
    "dim",
    "input",
    "param",
    "data",
    "const",
    "output",
    "loss",
    "fn",
    "return",
    "use",
    "claim",
    "derive",
    "true",
    "false",
    "axis",
    "keepdims",
    "T",
];

const KEYWORDS: &[&str] = &[
    "dim", "input", "param", "data", "const", "output", "loss", "fn", "return", "use", "claim",
    "derive", "true", "false",
];

const EXTREME_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1e300",
    "99999999999999999999",
    "1/0",
    "0.000001",
    "1e-300",
    "-0",
    "0/0",
    "1e99999999999999999999",
    "18446744073709551616",
    "4294967297",
    "1099511627777",
    "0.5",
    "3",
    "2**64",
    "1e-5",
    "-1e300",
    "123456789.123456789e-20",
];

const OPERATORS: &[&str] = &["+", "-", "*", "/", "@", "**"];

const AXES: &[&str] = &[
    "0",
    "1",
    "2",
    "-2",
    "-3",
    "3",
    "64",
    "-1",
    "99999999999999999999",
    "-9223372036854775808",
    "[0, 1]",
    "[-1, -1]",
    "[]",
    "[0, 1, 2, 3]",
    "1/2",
    "true",
    "d",
    "-1e300",
];

const DIM_SIZES: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "100000",
    "99999999999999999999",
    "1099511627776",
    "2*3",
    "T",
    "d*d",
    "4*d",
    "d/2",
    "T-1",
    "T - T",
    "h*dk+1",
    "-1",
    "1/2",
    "0*T",
    "T*T*T*T*T*T*T*T",
    "1e3",
];

const WRAPPERS: &[(&str, &str)] = &[
    ("exp(", ")"),
    ("log(", ")"),
    ("sqrt(", ")"),
    ("tanh(", ")"),
    ("sigmoid(", ")"),
    ("relu(", ")"),
    ("erf(", ")"),
    ("gelu(", ")"),
    ("softmax(", ")"),
    ("softmax(", ", axis=0)"),
    ("causal(", ")"),
    ("sum(", ")"),
    ("max(", ", axis=-1, keepdims=true)"),
    ("mean(", ", axis=0)"),
    ("logsumexp(", ", axis=-1)"),
    ("rowsum(", ")"),
    ("transpose(", ")"),
    ("trace(", ")"),
    ("-(", ")"),
    ("(", ").T"),
    ("(", ") ** -1"),
    ("(", ") ** (1/2)"),
    ("(", ") / 0"),
    ("1 / (", ")"),
    ("(", ") @ eye(2)"),
];

/// Interesting bytes and characters to insert.
const INTERESTING: &[&[u8]] = &[
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b"#",
    b"\n",
    b"\"",
    b"\0",
    b"\r",
    b"\t",
    b";",
    b",",
    b"=",
    b".",
    b".T",
    b"\\",
    "é".as_bytes(),
    "∂".as_bytes(),
    "→".as_bytes(),
    "\u{FEFF}".as_bytes(),
    "😀".as_bytes(),
    b"\xff",
    b"\xc3",
];

/// Fragments to insert, as a grammar-unaware token soup.
const FRAGMENTS: &[&str] = &[
    "dim ",
    "input ",
    "param ",
    "data ",
    "const ",
    "output ",
    "loss ",
    "fn ",
    "return ",
    "use ",
    "claim ",
    "derive ",
    " = ",
    " != ",
    ": [",
    "]",
    "(",
    ")",
    ", ",
    "axis=",
    "keepdims=true",
    ".T",
    " @ ",
    " ** ",
    "grad(",
    "\n",
    "\n  = ",
    "{ ",
    " }",
    "; ",
    " -> ",
    "use \"gpt_lib.ht\"\n",
    "use \"../examples/attention.ht\"\n",
    "use \"case.ht\"\n",
    "use \"\"\n",
    "use \"/dev/zero\"\n",
    "einsum(\"ij,jk->ik\", ",
    "einsum(\"ii->\", ",
    "reshape(",
    "permute(",
    ", [1, 0])",
    "eye(",
];

// ── Mutations ──────────────────────────────────────────────────────────────────────────

/// A mutant: which original, its bytes, and what was done to it.
struct Mutant {
    original: usize,
    bytes: Vec<u8>,
    log: Vec<String>,
}

fn mutant(corpus: &[Original], case: u64) -> Mutant {
    let mut rng = Rng::for_case(case);
    let original = rng.below(corpus.len());
    let mut bytes = corpus[original].text.as_bytes().to_vec();
    let mut log = Vec::new();
    // Now and then the files it uses are written out in it, so that their lines (the fns of
    // gpt_lib.ht, the layer a proof uses) are mutated too.
    if rng.chance(1, 3) && bytes.windows(5).any(|w| w == b"use \"") {
        let mut seen = Vec::new();
        bytes = inline_uses(corpus, &corpus[original].path, &bytes, &mut seen);
        log.push("write out the used files".to_string());
    }
    let count = 1 + rng.below(5);
    for _ in 0..count {
        let what = mutate(&mut rng, corpus, &mut bytes);
        log.push(what);
    }
    Mutant {
        original,
        bytes,
        log,
    }
}

/// `a/b/../c` → `a/c`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The text of `path` with each `use` of a shipped file replaced by that file's text (once:
/// a file used again is left out, as the loader reads each file once).
fn inline_uses(corpus: &[Original], path: &Path, text: &[u8], seen: &mut Vec<PathBuf>) -> Vec<u8> {
    seen.push(path.to_path_buf());
    let mut out = Vec::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let used = line
            .trim_ascii_start()
            .strip_prefix(b"use \"")
            .and_then(|rest| rest.iter().position(|&b| b == b'"').map(|end| &rest[..end]))
            .map(|p| {
                normalize(
                    &path
                        .parent()
                        .unwrap()
                        .join(String::from_utf8_lossy(p).as_ref()),
                )
            });
        match used.and_then(|u| corpus.iter().find(|o| o.path == u)) {
            Some(o) if seen.contains(&o.path) => {}
            Some(o) => {
                let inner = inline_uses(corpus, &o.path, o.text.as_bytes(), seen);
                out.extend_from_slice(&inner);
                if !out.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}

/// Replace `bytes[start..end]` with `with`.
fn splice(bytes: &mut Vec<u8>, start: usize, end: usize, with: &[u8]) {
    bytes.splice(start..end, with.iter().copied());
}

fn show_bytes(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

/// Tokens of the given kinds, outside comments.
fn tokens_of(bytes: &[u8], kinds: &[Kind]) -> Vec<Tok> {
    tokens(bytes)
        .into_iter()
        .filter(|t| kinds.contains(&t.kind))
        .collect()
}

/// The distinct names the text uses that are not keywords or built-ins: its tensors, dims,
/// fns, locals.
fn own_names(bytes: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = tokens_of(bytes, &[Kind::Name])
        .iter()
        .map(|t| String::from_utf8_lossy(&bytes[t.start..t.end]).into_owned())
        .filter(|n| !BUILTINS.contains(&n.as_str()) && !KEYWORDS.contains(&n.as_str()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Apply one random mutation to `bytes`; returns what was done (for the report).
fn mutate(rng: &mut Rng, corpus: &[Original], bytes: &mut Vec<u8>) -> String {
    let kind = rng.below(28);
    // A token-level mutation that finds nothing to act on falls back to a byte-level one.
    if let Some(done) = token_mutation(kind, rng, corpus, bytes) {
        return done;
    }
    byte_mutation(rng.below(8), rng, bytes)
}

fn byte_mutation(kind: usize, rng: &mut Rng, bytes: &mut Vec<u8>) -> String {
    let len = bytes.len();
    let at = if len == 0 { 0 } else { rng.below(len + 1) };
    let span = |rng: &mut Rng, at: usize| -> usize { (at + 1 + rng.below(32)).min(len) };
    match kind {
        0 if len > 0 => {
            let at = at.min(len - 1);
            bytes.remove(at);
            format!("delete the byte at {at}")
        }
        1 => {
            let b = 0x20 + rng.below(0x5F) as u8;
            bytes.insert(at, b);
            format!("insert {:?} at {at}", b as char)
        }
        2 if len > 0 => {
            let at = at.min(len - 1);
            let bit = rng.below(8);
            bytes[at] ^= 1 << bit;
            format!("flip bit {bit} of the byte at {at}")
        }
        3 if len > 0 => {
            let at = at.min(len - 1);
            let b = bytes[at];
            bytes.insert(at, b);
            format!("duplicate the byte at {at}")
        }
        4 if len > 0 => {
            let at = at.min(len - 1);
            let end = span(rng, at);
            let removed = bytes[at..end].to_vec();
            splice(bytes, at, end, b"");
            format!("delete {} at {at}", show_bytes(&removed))
        }
        5 if len > 0 => {
            let at = at.min(len - 1);
            let end = span(rng, at);
            let copy = bytes[at..end].to_vec();
            splice(bytes, end, end, &copy);
            format!("duplicate {} at {at}", show_bytes(&copy))
        }
        6 if len > 0 => {
            // Copy a span from elsewhere in the file.
            let from = rng.below(len);
            let end = span(rng, from);
            let copy = bytes[from..end].to_vec();
            splice(bytes, at, at, &copy);
            format!("copy {} from {from} to {at}", show_bytes(&copy))
        }
        _ => {
            let s = *rng.pick(INTERESTING);
            splice(bytes, at, at, s);
            format!("insert {} at {at}", show_bytes(s))
        }
    }
}

/// The token-level mutations; `None` when `kind` is a byte-level one or finds nothing to do.
fn token_mutation(
    kind: usize,
    rng: &mut Rng,
    corpus: &[Original],
    bytes: &mut Vec<u8>,
) -> Option<String> {
    let text = |b: &[u8], t: &Tok| String::from_utf8_lossy(&b[t.start..t.end]).into_owned();
    match kind {
        // Swap two tokens.
        8 => {
            let toks = tokens_of(
                bytes,
                &[Kind::Name, Kind::Number, Kind::Op, Kind::Punct, Kind::Str],
            );
            if toks.len() < 2 {
                return None;
            }
            let mut a = *rng.pick(&toks);
            let mut b = *rng.pick(&toks);
            if a.start == b.start {
                return None;
            }
            if a.start > b.start {
                std::mem::swap(&mut a, &mut b);
            }
            let (ta, tb) = (
                bytes[a.start..a.end].to_vec(),
                bytes[b.start..b.end].to_vec(),
            );
            splice(bytes, b.start, b.end, &ta);
            splice(bytes, a.start, a.end, &tb);
            Some(format!(
                "swap {} at {} and {} at {}",
                show_bytes(&ta),
                a.start,
                show_bytes(&tb),
                b.start
            ))
        }
        // Duplicate, delete, move a line.
        9..=11 => {
            let ls = lines(bytes);
            if ls.is_empty() {
                return None;
            }
            let i = rng.below(ls.len());
            let (s, e) = ls[i];
            let line = bytes[s..e].to_vec();
            let end = (e + 1).min(bytes.len());
            match kind {
                9 => {
                    let mut copy = line.clone();
                    copy.push(b'\n');
                    splice(bytes, s, s, &copy);
                    Some(format!("duplicate line {}", i + 1))
                }
                10 => {
                    splice(bytes, s, end, b"");
                    Some(format!("delete line {}: {}", i + 1, show_bytes(&line)))
                }
                _ => {
                    splice(bytes, s, end, b"");
                    let ls = lines(bytes);
                    let j = rng.below(ls.len() + 1);
                    let to = ls.get(j).map_or(bytes.len(), |l| l.0);
                    let mut moved = line.clone();
                    moved.push(b'\n');
                    if to == bytes.len() && !bytes.ends_with(b"\n") && !bytes.is_empty() {
                        moved.insert(0, b'\n');
                    }
                    splice(bytes, to, to, &moved);
                    Some(format!("move line {} before line {}", i + 1, j + 1))
                }
            }
        }
        // A number becomes an extreme one.
        12 | 13 => {
            let toks = tokens_of(bytes, &[Kind::Number]);
            if toks.is_empty() {
                return None;
            }
            let t = *rng.pick(&toks);
            let old = text(bytes, &t);
            let new = *rng.pick(EXTREME_NUMBERS);
            splice(bytes, t.start, t.end, new.as_bytes());
            Some(format!("number {old} at {} -> {new}", t.start))
        }
        // A name becomes another name of the file, or a built-in.
        14 | 15 => {
            let toks = tokens_of(bytes, &[Kind::Name]);
            if toks.is_empty() {
                return None;
            }
            let t = *rng.pick(&toks);
            let old = text(bytes, &t);
            let names = own_names(bytes);
            let new = if rng.chance(2, 3) && !names.is_empty() {
                rng.pick(&names).clone()
            } else {
                rng.pick(BUILTINS).to_string()
            };
            splice(bytes, t.start, t.end, new.as_bytes());
            Some(format!("name {old} at {} -> {new}", t.start))
        }
        // An operator becomes another.
        16 => {
            let toks: Vec<Tok> = tokens_of(bytes, &[Kind::Op])
                .into_iter()
                .filter(|t| OPERATORS.contains(&text(bytes, t).as_str()))
                .collect();
            if toks.is_empty() {
                return None;
            }
            let t = *rng.pick(&toks);
            let old = text(bytes, &t);
            let new = *rng.pick(OPERATORS);
            let new = format!(" {new} ");
            splice(bytes, t.start, t.end, new.as_bytes());
            Some(format!("operator {old} at {} ->{new}", t.start))
        }
        // Another axis.
        17 => {
            let at: Vec<usize> = find_all(bytes, b"axis=");
            if at.is_empty() {
                return None;
            }
            let start = *rng.pick(&at) + b"axis=".len();
            let end = axis_value_end(bytes, start);
            let old = String::from_utf8_lossy(&bytes[start..end]).into_owned();
            let new = *rng.pick(AXES);
            splice(bytes, start, end, new.as_bytes());
            Some(format!("axis={old} at {start} -> axis={new}"))
        }
        // Another size for a dim.
        18 => {
            let dims: Vec<(usize, usize)> = lines(bytes)
                .into_iter()
                .filter(|&(s, e)| bytes[s..e].trim_ascii_start().starts_with(b"dim "))
                .collect();
            if dims.is_empty() {
                return None;
            }
            let (s, e) = *rng.pick(&dims);
            let eq = s + bytes[s..e].iter().position(|&b| b == b'=')? + 1;
            let end = s + bytes[s..e].iter().position(|&b| b == b'#').unwrap_or(e - s);
            let end = end.max(eq);
            let old = String::from_utf8_lossy(&bytes[eq..end]).trim().to_string();
            let new = *rng.pick(DIM_SIZES);
            splice(bytes, eq, end, format!(" {new} ").as_bytes());
            Some(format!("dim size {old} at {eq} -> {new}"))
        }
        // Insert `.T` after a name or a closing bracket.
        19 => {
            let toks: Vec<Tok> = tokens(bytes)
                .into_iter()
                .filter(|t| {
                    t.kind == Kind::Name || (t.kind == Kind::Punct && bytes[t.start] == b')')
                })
                .collect();
            if toks.is_empty() {
                return None;
            }
            let t = *rng.pick(&toks);
            splice(bytes, t.end, t.end, b".T");
            Some(format!("insert .T at {}", t.end))
        }
        // Wrap a name, or the right side of a statement, in a function.
        20 | 21 => {
            let (open, close) = *rng.pick(WRAPPERS);
            let (start, end) = if kind == 20 {
                let toks = tokens_of(bytes, &[Kind::Name]);
                if toks.is_empty() {
                    return None;
                }
                let t = *rng.pick(&toks);
                (t.start, t.end)
            } else {
                let rhs: Vec<(usize, usize)> = lines(bytes)
                    .into_iter()
                    .filter_map(|(s, e)| right_side(bytes, s, e))
                    .collect();
                if rhs.is_empty() {
                    return None;
                }
                *rng.pick(&rhs)
            };
            let inner = String::from_utf8_lossy(&bytes[start..end]).into_owned();
            splice(bytes, end, end, close.as_bytes());
            splice(bytes, start, start, open.as_bytes());
            Some(format!("wrap {inner:?} at {start} in {open}…{close}"))
        }
        // Append a claim or a derivation built from the file's names.
        22 | 23 => {
            let names = own_names(bytes);
            if names.is_empty() {
                return None;
            }
            let term = |rng: &mut Rng| -> String {
                let n = rng.pick(&names).clone();
                match rng.below(6) {
                    0 => format!("grad({n})"),
                    1 => format!("{n}.T"),
                    2 => {
                        let (open, close) = *rng.pick(WRAPPERS);
                        format!("{open}{n}{close}")
                    }
                    _ => n,
                }
            };
            let expr = |rng: &mut Rng| -> String {
                let a = term(rng);
                if rng.chance(1, 2) {
                    a
                } else {
                    let op = *rng.pick(OPERATORS);
                    format!("{a} {op} {}", term(rng))
                }
            };
            let relation = if rng.chance(3, 4) { "=" } else { "!=" };
            let line = if kind == 22 {
                format!("claim {} {relation} {}", expr(rng), expr(rng))
            } else {
                let steps = 1 + rng.below(3);
                let mut s = format!("derive {}", expr(rng));
                for _ in 0..steps {
                    let relation = if rng.chance(3, 4) { "=" } else { "!=" };
                    s.push_str(&format!("\n  {relation} {}", expr(rng)));
                }
                s
            };
            if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                bytes.push(b'\n');
            }
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
            Some(format!("append {line:?}"))
        }
        // Insert a line of another shipped file.
        24 => {
            let other = &corpus[rng.below(corpus.len())];
            let ls = lines(other.text.as_bytes());
            let (s, e) = *rng.pick(&ls);
            let line = &other.text.as_bytes()[s..e];
            let targets = lines(bytes);
            let to = if targets.is_empty() {
                0
            } else {
                targets[rng.below(targets.len())].0
            };
            let mut ins = line.to_vec();
            ins.push(b'\n');
            splice(bytes, to, to, &ins);
            Some(format!(
                "insert {} from {} at {to}",
                show_bytes(line),
                other.path.display()
            ))
        }
        // Append a claim or derivation that holds, from a top-level statement `NAME = EXPR`
        // (later mutations may break it).
        26 | 27 => {
            let statements: Vec<(String, String)> = lines(bytes)
                .into_iter()
                .filter(|&(s, _)| bytes.get(s).is_some_and(|b| b.is_ascii_alphabetic()))
                .filter_map(|(s, e)| {
                    let (a, b) = right_side(bytes, s, e)?;
                    let name = String::from_utf8_lossy(&bytes[s..a]);
                    let name = name.trim_end().strip_suffix('=')?.trim();
                    let name = name.strip_prefix("loss ").unwrap_or(name).trim();
                    if name.is_empty() || name.contains(' ') {
                        return None;
                    }
                    Some((
                        name.to_string(),
                        String::from_utf8_lossy(&bytes[a..b]).into_owned(),
                    ))
                })
                .collect();
            if statements.is_empty() {
                return None;
            }
            let (name, expr) = rng.pick(&statements).clone();
            let line = match (kind, rng.below(4)) {
                (26, 0) => format!("claim grad({name}) = grad({name}) * 1"),
                (26, 1) => format!("claim {expr} != {name}"),
                (26, _) => format!("claim {name} = {expr}"),
                (_, 0) => {
                    format!("derive grad({name})\n  = grad({name}).T.T\n  != 2 * grad({name})")
                }
                (_, _) => format!("derive {name}\n  = {expr}   # by definition\n  = ({expr})"),
            };
            if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                bytes.push(b'\n');
            }
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
            Some(format!("append {line:?}"))
        }
        // Insert a few grammar fragments.
        25 => {
            let mut ins = String::new();
            for _ in 0..1 + rng.below(4) {
                ins.push_str(rng.pick::<&str>(FRAGMENTS));
            }
            let toks = tokens(bytes);
            let at = if toks.is_empty() {
                0
            } else {
                rng.pick(&toks).start
            };
            splice(bytes, at, at, ins.as_bytes());
            Some(format!("insert {ins:?} at {at}"))
        }
        _ => None,
    }
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    (0..hay.len().saturating_sub(needle.len() - 1))
        .filter(|&i| hay[i..].starts_with(needle))
        .collect()
}

/// The end of the axis value starting at `start`: a bracketed list, or a signed number.
fn axis_value_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    if bytes.get(i) == Some(&b'[') {
        while i < bytes.len() && bytes[i] != b']' && bytes[i] != b'\n' {
            i += 1;
        }
        return (i + 1).min(bytes.len());
    }
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
        i += 1;
    }
    i
}

/// The right side of an assignment-like line `NAME = EXPR  # note`: the span of EXPR.
fn right_side(bytes: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let line = &bytes[s..e];
    let trimmed = line.trim_ascii_start();
    if trimmed.starts_with(b"dim ") || trimmed.starts_with(b"#") || trimmed.starts_with(b"fn ") {
        return None;
    }
    let eq = line.iter().position(|&b| b == b'=')?;
    if line.get(eq + 1) == Some(&b'=') || (eq > 0 && line[eq - 1] == b'!') {
        return None;
    }
    let end = line.iter().position(|&b| b == b'#').unwrap_or(line.len());
    if end <= eq + 1 {
        return None;
    }
    let expr = &line[eq + 1..end];
    let lead = expr.len() - expr.trim_ascii_start().len();
    let trail = expr.len() - expr.trim_ascii_end().len();
    if lead + trail >= expr.len() {
        return None;
    }
    Some((s + eq + 1 + lead, s + end - trail))
}

// ── Reports ────────────────────────────────────────────────────────────────────────────

/// One failing run, with what locates it (for the summary).
struct Failure {
    case: u64,
    signature: String,
    message: String,
}

fn first_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[..lines.len().min(n)].join("\n");
    if lines.len() > n {
        out.push_str(&format!("\n... ({} more lines)", lines.len() - n));
    }
    out
}

/// Where a panic happened (`src/x.rs:12:5`), from stderr or a panic message.
fn panic_site(text: &str) -> Option<String> {
    let at = text.find("panicked at ")?;
    let rest = &text[at + "panicked at ".len()..];
    let site: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    let site = site.trim_end_matches(':').to_string();
    // The message follows on the next line.
    let message = rest.lines().nth(1).unwrap_or("").trim();
    Some(format!("panic at {site}: {message}"))
}

fn report(corpus: &[Original], case: u64, m: &Mutant, what: &str, detail: &str) -> String {
    let kept = keep_failing_mutant(case, &m.bytes);
    let original = &corpus[m.original].path;
    let text = String::from_utf8_lossy(&m.bytes);
    format!(
        "case {case}: {what}\n{detail}\nmutant of {} by: {}\nkept as {} (to run it, copy it next to {}: its `use` paths are relative)\n--- mutant ---\n{}",
        original.display(),
        m.log.join("; "),
        kept.display(),
        original.display(),
        first_lines(&text, 120)
    )
}

/// Record every failure, with a summary of the distinct ones first, and fail if any.
fn finish(failures: Vec<Failure>, cases: usize, elapsed: Duration) {
    eprintln!(
        "fuzz: {cases} cases in {:.1} s, {} failure(s)",
        elapsed.as_secs_f64(),
        failures.len()
    );
    let mut all = Failures::new();
    if !failures.is_empty() {
        let mut distinct: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for f in &failures {
            distinct.entry(&f.signature).or_default().push(f.case);
        }
        let summary: Vec<String> = distinct
            .iter()
            .map(|(sig, cases)| {
                let mut cases = cases.clone();
                cases.dedup();
                let shown: Vec<String> = cases.iter().take(8).map(u64::to_string).collect();
                format!(
                    "  {sig}  (cases {}{})",
                    shown.join(", "),
                    if cases.len() > 8 { ", ..." } else { "" }
                )
            })
            .collect();
        all.push(format!(
            "{} distinct failure(s) in {} runs:\n{}",
            distinct.len(),
            failures.len(),
            summary.join("\n")
        ));
        for f in failures {
            all.push(f.message);
        }
    }
    all.finish();
}

// ── Tier 1: in process ─────────────────────────────────────────────────────────────────

thread_local! {
    /// The last panic's location and message on this thread, set by the hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic hook that remembers where a panic happened (for the report) and then prints it
/// as usual.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let site = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("panic at {site}: {message}")));
            default(info);
        }));
    });
}

/// Load, shape-check and render one mutant: whether it loaded, or `Err` with the panic when
/// something panics.
fn load_and_render(path: &Path, text: &str) -> Result<bool, String> {
    LAST_PANIC.with(|p| *p.borrow_mut() = None);
    let outcome = std::panic::catch_unwind(|| {
        match handtrace::load_program_text(path, text, &LowerOptions::default()) {
            Ok(program) => {
                let shown = handtrace::render::show::show(&program);
                let json = handtrace::render::show::json(&program);
                std::hint::black_box((shown, json));
                true
            }
            Err(e) => {
                assert!(
                    !e.diagnostics.is_empty(),
                    "a load error without a diagnostic"
                );
                let rendered = e.render(false);
                if let Some(line) = rendered.lines().find(|l| l.contains("internal:")) {
                    panic!("an internal error: {line}");
                }
                false
            }
        }
    });
    outcome.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panic".into())
    })
}

#[test]
fn mutants_never_panic_in_the_library() {
    install_panic_hook();
    let corpus = corpus();
    let cases = cases(0, "HANDTRACE_FUZZ_CASES", 2500);
    let workspace = Workspace::new("lib");
    let start = Instant::now();

    // The cases run on a worker thread with the binary's stack size, watched: a case that
    // does not finish in time is a hang (the worker is then abandoned).
    let (tx, rx) = mpsc::channel::<(u64, Result<bool, String>)>();
    let root = workspace.root.clone();
    let worker_cases = cases.clone();
    let _worker = std::thread::Builder::new()
        .name("fuzz-lib".into())
        .stack_size(1 << 30)
        .spawn(move || {
            let corpus = self::corpus();
            for case in worker_cases {
                let m = mutant(&corpus, case);
                let dir = corpus[m.original].path.parent().unwrap().to_path_buf();
                let path = root.join(dir).join(format!("case-{case}.ht"));
                let text = String::from_utf8_lossy(&m.bytes);
                let outcome = load_and_render(&path, &text);
                if tx.send((case, outcome)).is_err() {
                    return;
                }
            }
        })
        .unwrap();

    let mut failures = Vec::new();
    let mut done = 0;
    let mut loaded = 0;
    for &case in &cases {
        match rx.recv_timeout(Duration::from_secs(IN_PROCESS_SECONDS)) {
            Ok((_, Ok(ok))) => {
                done += 1;
                loaded += usize::from(ok);
            }
            Ok((case, Err(panic))) => {
                done += 1;
                let m = mutant(&corpus, case);
                let message = report(&corpus, case, &m, "load + show panicked in process", &panic);
                failures.push(Failure {
                    case,
                    signature: panic.lines().next().unwrap_or("").to_string(),
                    message,
                });
            }
            Err(e) => {
                let m = mutant(&corpus, case);
                let what = match e {
                    mpsc::RecvTimeoutError::Timeout => format!("load + show ran longer than {IN_PROCESS_SECONDS} s in process (the later cases were not run)"),
                    mpsc::RecvTimeoutError::Disconnected => "the fuzzer's worker thread stopped (the later cases were not run)".to_string(),
                };
                let message = report(&corpus, case, &m, &what, "");
                failures.push(Failure {
                    case,
                    signature: format!("hang in process (case {case})"),
                    message,
                });
                break;
            }
        }
    }
    drop(workspace);
    eprintln!("fuzz: {loaded} of {done} mutants loaded, the others were refused");
    finish(failures, done, start.elapsed());
}

// ── Tier 2: the binary ─────────────────────────────────────────────────────────────────

/// The base dims of a mutant, from loading it in process (none when it does not load).
fn base_dims(path: &Path, text: &str) -> Vec<String> {
    // On a thread with the binary's stack, like the in-process tier.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(1 << 30)
            .spawn_scoped(scope, || {
                handtrace::load_program_text(path, text, &LowerOptions::default())
                    .map(|p| p.base_sizes().into_iter().map(|(name, _)| name).collect())
                    .unwrap_or_default()
            })
            .unwrap()
            .join()
            .unwrap_or_default()
    })
}

/// The commands every binary case runs.
const COMMANDS: [&[&str]; 6] = [
    &["show"],
    &["grad"],
    &["grad", "--check", "--points", "1"],
    &["trace", "--grad"],
    &["check", "--points", "1"],
    &["latex"],
];

/// Limits of one binary run.
#[derive(Clone, Copy)]
struct Bounds {
    seconds: u64,
    megabytes: u64,
}

/// Run one case through the binary with every command; its failures, and its slowest run.
fn run_case(
    corpus: &[Original],
    workspace: &Workspace,
    case: u64,
    bounds: Bounds,
) -> (Vec<Failure>, (Duration, String)) {
    let m = mutant(corpus, case);
    let path = workspace.mutant_path(&corpus[m.original], case);
    std::fs::write(&path, &m.bytes).unwrap();
    let file = path.to_str().unwrap().to_string();
    let relative = corpus[m.original]
        .path
        .with_file_name(format!("case-{case}.ht"));
    let mut failures = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());

    // Small sizes for every base dim, most of the time; the mutant's own sizes otherwise.
    let mut rng = Rng::for_case(case ^ 0x5EED);
    let mut dims = Vec::new();
    if rng.chance(4, 5) {
        let names = base_dims(&path, &String::from_utf8_lossy(&m.bytes));
        let sizes: Vec<String> = names
            .iter()
            .map(|n| format!("{n}={}", rng.pick(&[1, 2, 2, 2, 3])))
            .collect();
        if !sizes.is_empty() {
            dims = vec!["--dims".to_string(), sizes.join(",")];
        }
    }
    let json = rng.chance(1, 4);
    // Now and then other flags: a seed (up to the largest), the tensors to differentiate,
    // the raw or costed backward pass, the precision of enclosures.
    let mut extra: Vec<String> = Vec::new();
    if rng.chance(1, 4) {
        let seed = *rng.pick(&[1, 7, 1 << 32, u64::MAX - 1, u64::MAX]);
        extra.extend(["--seed".to_string(), seed.to_string()]);
    }
    let mut wrt: Vec<String> = Vec::new();
    if rng.chance(1, 3) {
        let names = own_names(&m.bytes);
        if !names.is_empty() {
            wrt.extend(["--wrt".to_string(), rng.pick(&names).clone()]);
        }
    }
    let mut grad_flags = wrt.clone();
    if rng.chance(1, 4) {
        grad_flags.push("--raw".to_string());
    }
    if rng.chance(1, 4) {
        grad_flags.push("--cost".to_string());
    }
    let precision = rng
        .chance(1, 6)
        .then(|| rng.pick(&["8", "9", "64", "1000"]).to_string());
    for command in COMMANDS {
        let mut args: Vec<&str> = command.to_vec();
        args.extend(dims.iter().map(String::as_str));
        if json && command[0] != "latex" {
            args.extend(["--format", "json"]);
        }
        if command[0] != "show" && (command[0] != "grad" || command.len() > 1) {
            args.extend(extra.iter().map(String::as_str));
        }
        match command[0] {
            "grad" => args.extend(grad_flags.iter().map(String::as_str)),
            "latex" => args.extend(wrt.iter().map(String::as_str)),
            "trace" => {
                if let Some(p) = &precision {
                    args.extend(["--precision", p]);
                }
            }
            _ => {}
        }
        args.push(&file);
        // The command as it reproduces the case, with the mutant next to its original.
        let shown = args
            .join(" ")
            .replace(&file, &relative.display().to_string());
        let run = std::panic::catch_unwind(|| run_bounded(&args, bounds.seconds, bounds.megabytes));
        let (what, signature, err) = match run {
            Err(_) => (
                format!("`handtrace {shown}` ran longer than {} s", bounds.seconds),
                format!("hang: {}", command.join(" ")),
                String::new(),
            ),
            Ok((out, took)) => {
                if took > slowest.0 {
                    slowest = (took, format!("case {case}: handtrace {shown}"));
                }
                let err = stderr(&out);
                let code = out.status.code();
                // An internal error is a bug caught on its way out: the tool says so with
                // `internal:` (a panicking worker thread ends as "error: internal: ...").
                let internal = err.contains("internal:");
                if matches!(code, Some(0..=2)) && !err.contains("panicked") && !internal {
                    continue;
                }
                let signature = panic_site(&err).unwrap_or_else(|| {
                    if internal {
                        let line = err.lines().find(|l| l.contains("internal:")).unwrap_or("");
                        let at = line.find("internal:").unwrap_or(0);
                        format!("{} ({})", &line[at..], command.join(" "))
                    } else if err.contains("memory allocation") {
                        format!("out of memory: {}", command.join(" "))
                    } else if err.contains("overflowed its stack") {
                        format!("stack overflow: {}", command.join(" "))
                    } else {
                        format!("{}: {}", out.status, command.join(" "))
                    }
                });
                (
                    format!(
                        "`handtrace {shown}` ended with {} after {:.1} s",
                        out.status,
                        took.as_secs_f64()
                    ),
                    signature,
                    err,
                )
            }
        };
        let detail = format!("stderr:\n{}", first_lines(&err, 25));
        let message = report(corpus, case, &m, &what, &detail);
        failures.push(Failure {
            case,
            signature,
            message,
        });
    }
    if std::env::var("FUZZ_KEEP").is_ok() {
        keep_failing_mutant(case, &m.bytes);
    }
    let _ = std::fs::remove_file(&path);
    (failures, slowest)
}

/// One binary case: its number, its failures, and its slowest run.
type CaseResult = (u64, Vec<Failure>, (Duration, String));

#[test]
fn mutants_never_crash_hang_or_exhaust_memory_in_the_binary() {
    install_panic_hook();
    let corpus = corpus();
    let cases = cases(BINARY_CASES, "HANDTRACE_FUZZ_RUNS", 200);
    let bounds = Bounds {
        seconds: env_u64("HANDTRACE_FUZZ_SECONDS").unwrap_or(20),
        megabytes: env_u64("HANDTRACE_FUZZ_MB").unwrap_or(2000),
    };
    let threads = env_u64("HANDTRACE_FUZZ_THREADS").map_or_else(
        || std::thread::available_parallelism().map_or(2, |n| n.get()),
        |n| n.max(1) as usize,
    );
    let workspace = Workspace::new("bin");
    let start = Instant::now();

    // Worker threads take the next case in turn; the results are put back in case order.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<CaseResult>> = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&case) = cases.get(i) else { break };
                let (failures, slowest) = run_case(&corpus, &workspace, case, bounds);
                results.lock().unwrap().push((case, failures, slowest));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    let slowest = results
        .iter()
        .map(|r| r.2.clone())
        .max_by_key(|s| s.0)
        .unwrap_or_default();
    eprintln!(
        "fuzz: the slowest run took {:.1} s ({})",
        slowest.0.as_secs_f64(),
        slowest.1
    );
    let failures = results.into_iter().flat_map(|r| r.1).collect();
    drop(workspace);
    finish(failures, cases.len(), start.elapsed());
}
