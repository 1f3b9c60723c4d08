//! The README's samples are what the tool prints: every ```console block is a command
//! (`$ handtrace ...`) and its output, which must match line for line (a line `...` stands
//! for any number of lines). So are the samples of docs/: every fenced block that starts with
//! `$ handtrace` and holds one command. The README and docs point only inside the repository.

mod common;

/// A sample: the command's words after `handtrace`, and the lines it should print.
type Sample = (Vec<String>, Vec<String>);

/// The fenced blocks of a Markdown text: the fence's tag (`console`, or empty) and its lines.
fn blocks(markdown: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(tag) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let mut block: Vec<String> = Vec::new();
        for l in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                break;
            }
            block.push(l.trim_end().to_string());
        }
        out.push((tag.trim().to_string(), block));
    }
    out
}

/// A block as a sample, if it starts with `$ handtrace`.
fn sample(block: &[String]) -> Option<Sample> {
    let command = block.first()?.strip_prefix("$ handtrace ")?;
    let words = command.split_whitespace().map(String::from).collect();
    Some((words, block[1..].to_vec()))
}

/// The console blocks of the README, each a sample.
fn samples(markdown: &str) -> Vec<Sample> {
    blocks(markdown)
        .into_iter()
        .filter(|(tag, _)| tag == "console")
        .map(|(_, block)| {
            sample(&block).unwrap_or_else(|| {
                panic!(
                    "a console block starts with `$ handtrace`: {:?}",
                    block.first()
                )
            })
        })
        .collect()
}

/// Run each sample and note where the output differs, naming `source`.
fn check_samples(source: &str, all: Vec<Sample>, failures: &mut common::Failures) {
    for (words, expected) in all {
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let out = common::run(&args);
        let text = common::stdout(&out) + &common::stderr(&out);
        let actual: Vec<&str> = text.lines().collect();
        failures.check(matches(&expected, &actual), || {
            format!(
                "{source}: $ handtrace {}\nexpected:\n{}\nprinted:\n{}",
                words.join(" "),
                expected.join("\n"),
                text
            )
        });
    }
}

/// Does `actual` match `expected`, where a `...` line matches any run of lines?
fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => (0..=actual.len()).any(|k| matches(rest, &actual[k..])),
        Some((e, rest)) => {
            actual.first().is_some_and(|a| a.trim_end() == e) && matches(rest, &actual[1..])
        }
    }
}

#[test]
fn every_readme_sample_is_what_the_tool_prints() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let all = samples(&readme);
    assert!(all.len() >= 8, "only {} samples", all.len());
    let mut failures = common::Failures::new();
    check_samples("README.md", all, &mut failures);
    failures.finish();
}

/// The one-command samples of a Markdown text in any fence: a block whose first line is
/// `$ handtrace ...` and no other line starts with `$ ` (several commands, or a pipe, are
/// shown for reading, not run).
fn doc_samples(markdown: &str) -> Vec<Sample> {
    blocks(markdown)
        .into_iter()
        .filter(|(_, block)| !block.iter().skip(1).any(|l| l.starts_with("$ ")))
        .filter_map(|(_, block)| sample(&block))
        .filter(|(words, _)| !words.iter().any(|w| w == "|"))
        .collect()
}

#[test]
fn every_docs_sample_is_what_the_tool_prints() {
    let mut failures = common::Failures::new();
    let mut count = 0;
    for entry in std::fs::read_dir("docs").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let found = doc_samples(&std::fs::read_to_string(&path).unwrap());
        count += found.len();
        check_samples(&path.display().to_string(), found, &mut failures);
    }
    assert!(count >= 8, "only {count} samples in docs/");
    failures.finish();
}

#[test]
fn the_elision_matcher_matches_only_what_it_should() {
    let e = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(matches(&e(&["a", "...", "d"]), &["a", "b", "c", "d"]));
    assert!(matches(&e(&["...", "c"]), &["c"]));
    assert!(!matches(&e(&["a", "d"]), &["a", "b", "d"]));
    assert!(!matches(&e(&["a", "..."]), &["b"]));
}

#[test]
fn readme_and_docs_point_only_inside_the_repository() {
    let mut texts = vec![(
        "README.md".to_string(),
        std::fs::read_to_string("README.md").unwrap(),
    )];
    for entry in std::fs::read_dir("docs").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            texts.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    assert!(texts.len() >= 5, "docs/ has the reference files");
    for (name, text) in &texts {
        for bad in ["../shared", "DESIGN.md", "/work/"] {
            assert!(
                !text.contains(bad),
                "{name} points outside the repository ({bad})"
            );
        }
        // Every relative Markdown link names a file that exists.
        for part in text.split("](").skip(1) {
            let target = part.split(')').next().unwrap().split('#').next().unwrap();
            if target.is_empty() || target.contains("://") {
                continue;
            }
            let base = std::path::Path::new(name).parent().unwrap();
            assert!(
                base.join(target).exists(),
                "{name} links to missing {target}"
            );
        }
    }
}
