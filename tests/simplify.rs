//! The e-graph simplifier: proofs with explanations, rule soundness, simplified gradients.

use handtrace::ir::{LowerOptions, Program};
use handtrace::simplify::{prove, Limits, ProofOutcome};
use std::path::Path;

fn program(src: &str) -> Program {
    handtrace::load_program_text(Path::new("t.ht"), src, &LowerOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render(false)))
}

/// Prove every claim of `src`; the printed proof of each, or `None`.
fn proofs(src: &str) -> Vec<Option<String>> {
    let p = program(src);
    p.claims
        .iter()
        .map(|c| {
            let (l, r) = (c.lhs.unwrap(), c.rhs.unwrap());
            match prove(&p, &p.graph, l, r, &Limits::default()).unwrap() {
                ProofOutcome::Proved(proof) => {
                    Some(handtrace::render::proof::text(&p, &proof, false))
                }
                ProofOutcome::NotProved(_) => None,
            }
        })
        .collect()
}

#[test]
fn scratch() {
    let out = proofs(
        "dim N = 2\ndim D = 3\ninput x : [N, D]\ninput dy : [N, D]\ninput b : [N, D]\n\
         claim Phi(x) * dy + b * dy = dy * (Phi(x) + b)\n\
         claim exp(-(x / sqrt(2)) ** 2) = exp(-(x ** 2 / 2))\n",
    );
    for o in &out {
        eprintln!("{}", o.as_deref().unwrap_or("NOT PROVED"));
    }
}
