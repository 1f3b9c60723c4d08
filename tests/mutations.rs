//! Soundness of `check`: wrong claims made by mutating right ones are never proved or
//! verified. Every right claim of proofs/ has its right side negated, doubled, or shifted by
//! one; each mutant must be refuted, and with the diagnosis that names the mutation.

mod common;

use common::{load, Failures};
use handtrace::ir::{Node, Op, Program};
use handtrace::verify::{check_program, Verdict};
use num_rational::BigRational;
use std::path::Path;

#[derive(Clone, Copy, Debug)]
enum Mutation {
    Negate,
    Double,
    PlusOne,
}

impl Mutation {
    /// A phrase the diagnosis of the mutant must contain.
    fn diagnosis(self) -> &'static [&'static str] {
        match self {
            Mutation::Negate => &["the sign is flipped"],
            Mutation::Double => &["factor `2`", "constant factor 2", "equal to 2"],
            Mutation::PlusOne => &["without the term `1`"],
        }
    }
}

/// The program of `path` with claim `i` alone, its right side mutated.
fn mutant(path: &Path, i: usize, m: Mutation) -> Program {
    let mut p = load(path);
    let mut claim = p.claims[i].clone();
    let rhs = claim.rhs.expect("a lowered claim");
    let node = p.graph.node(rhs).clone();
    // The mutation as an operation on the right side and, for binary ones, a literal.
    let (op, literal) = match m {
        Mutation::Negate => (Op::Neg, None),
        Mutation::Double => (Op::Mul, Some(2)),
        Mutation::PlusOne => (Op::Add, Some(1)),
    };
    let mut args = vec![rhs];
    if let Some(v) = literal {
        args.push(p.graph.add(Node {
            op: Op::Literal(BigRational::from_integer(v.into())),
            args: vec![],
            shape: vec![],
            span: node.span,
        }));
    }
    let new = p.graph.add(Node {
        op,
        args,
        shape: node.shape.clone(),
        span: node.span,
    });
    claim.rhs = Some(new);
    claim.text = format!("{} [{m:?}]", claim.text);
    p.claims = vec![claim];
    p.derivations.clear();
    p
}

/// Mutate the first `limit` claims of a proof file with `mutations`; every mutant must be
/// refuted with the mutation's diagnosis. Each mutant that is not is recorded in `failures`.
fn mutants_are_refuted(failures: &mut Failures, file: &str, limit: usize, mutations: &[Mutation]) {
    let path = Path::new(file);
    let Some(program) = failures.attempt(file, || load(path)) else {
        return;
    };
    let right = check_program(&program, path);
    let mut tried = 0;
    for (i, claim) in program.claims.iter().enumerate().take(limit) {
        // Only claims checked right (a scalar `0` side stays out: 2·0 = 0).
        let ok = right.iter().any(|r| {
            r.step.is_none()
                && r.claim == claim.text
                && matches!(r.verdict, Verdict::Proved | Verdict::Verified)
        });
        let Some(rhs) = claim.rhs else { continue };
        let zero = matches!(&program.graph.node(rhs).op, Op::Literal(v) if *v == BigRational::from_integer(0.into()));
        if !ok || zero {
            continue;
        }
        for &m in mutations {
            let p = mutant(path, i, m);
            let results = check_program(&p, path);
            tried += 1;
            let [r] = &results[..] else {
                failures.push(format!(
                    "{file}: {} [{m:?}]: {} results, not 1",
                    claim.text,
                    results.len()
                ));
                continue;
            };
            let detail = common::detail(&p, r);
            if r.verdict != Verdict::Refuted {
                failures.push(format!(
                    "{file}: {} [{m:?}] was {:?}:\n{detail}",
                    claim.text, r.verdict
                ));
                continue;
            }
            failures.check(m.diagnosis().iter().any(|d| detail.contains(d)), || {
                format!(
                    "{file}: {} [{m:?}]: the diagnosis does not name the mutation:\n{detail}",
                    claim.text,
                )
            });
        }
    }
    failures.check(tried > 0, || format!("{file}: no claim was mutated"));
}

/// Mutate the claims of every file (see `mutants_are_refuted`); fail once, with every
/// mutant that was not refuted as it should be.
fn mutants_of_every_file_are_refuted(files: &[&str], limit: usize, mutations: &[Mutation]) {
    let mut failures = Failures::new();
    for file in files {
        mutants_are_refuted(&mut failures, file, limit, mutations);
    }
    failures.finish();
}

const ALL: [Mutation; 3] = [Mutation::Negate, Mutation::Double, Mutation::PlusOne];

#[test]
fn mutants_of_the_attention_proofs_are_refuted() {
    mutants_of_every_file_are_refuted(&["proofs/attention.ht"], usize::MAX, &ALL);
}

#[test]
fn mutants_of_the_cookbook_are_refuted() {
    mutants_of_every_file_are_refuted(&["proofs/cookbook.ht"], usize::MAX, &ALL);
}

#[test]
fn mutants_of_the_normalisation_proofs_are_refuted() {
    mutants_of_every_file_are_refuted(
        &["proofs/layernorm.ht", "proofs/rmsnorm.ht"],
        usize::MAX,
        &ALL,
    );
}

#[test]
fn mutants_of_the_activation_and_loss_proofs_are_refuted() {
    let files = [
        "proofs/gelu.ht",
        "proofs/gelu_tanh.ht",
        "proofs/softmax.ht",
        "proofs/xent.ht",
    ];
    mutants_of_every_file_are_refuted(&files, usize::MAX, &ALL);
}

#[test]
fn mutants_of_the_block_proofs_are_refuted() {
    let files = ["proofs/mha.ht", "proofs/ffn.ht", "proofs/block.ht"];
    mutants_of_every_file_are_refuted(&files, 4, &[Mutation::Negate, Mutation::PlusOne]);
}
