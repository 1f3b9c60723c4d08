//! `handtrace check` output: one line per claim or step, `FILE:LINE: VERDICT  CLAIM`, then the
//! detail indented; or the JSON of DESIGN.md.

use crate::verify::CheckResult;

pub fn text(results: &[CheckResult]) -> String {
    let mut out = String::new();
    for r in results {
        let step = r.step.map(|k| format!(" step {k}")).unwrap_or_default();
        // A `!=` (a deliberate mistake) says whether the verdict is what the file expects.
        let verdict = match (r.expect, r.passes()) {
            (crate::verify::Expect::Equal, _) => r.verdict.as_str().to_string(),
            (crate::verify::Expect::Different, true) => {
                format!("{} as claimed", r.verdict.as_str())
            }
            (crate::verify::Expect::Different, false) => {
                format!("{}, though the file says they differ", r.verdict.as_str())
            }
        };
        out.push_str(&format!(
            "{}:{}:{} {}  {}\n",
            r.file, r.line, step, verdict, r.claim
        ));
        if r.verdict == crate::verify::Verdict::Unchecked {
            continue; // the summary line says it once
        }
        for line in r.detail.lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

pub fn json(results: &[CheckResult]) -> String {
    #[derive(serde::Serialize)]
    struct Report<'a> {
        results: &'a [CheckResult],
    }
    serde_json::to_string_pretty(&Report { results }).expect("results serialise") + "\n"
}
