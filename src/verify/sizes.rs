//! The sizes a claim is checked at: the sizes in use, and other assignments of sizes to the
//! base dims in which every base dim changes (a derived dim such as `dim d = h*k` follows),
//! except a vocabulary's dim, whose size is its number of characters.
//!
//! A claim is about every size of the dims: `sum(X) = 12 * mean(X)` holds at T=3, d=4 and
//! nowhere else, and a factor 2/(N·K) equals 1/N only when K = 2. Checking at several
//! assignments, with small distinct sizes (never 1, which would hide a broadcast), catches
//! what one assignment cannot.
//!
//! Invariant: every program returned lowered cleanly (an assignment that does not, e.g. one
//! that makes `dim k = d/h` fractional, is skipped for the next candidate).

use crate::ir::Program;

/// Sizes tried for the base dims, in order of preference: small, none of them 1.
const CANDIDATES: [u64; 6] = [3, 2, 5, 4, 7, 6];

/// Most candidate assignments tried for each alternative.
const ATTEMPTS: usize = 12;

/// The program at `count - 1` other assignments of sizes (fewer when none lowers, or when
/// the program has no base dims), each base dim at a size it has in no other assignment.
pub fn alternates(program: &Program, count: usize) -> Vec<Program> {
    let pinned = program.vocab.as_ref().map(|v| v.dim.as_str());
    let base: Vec<(String, u64)> = program
        .base_sizes()
        .into_iter()
        .filter(|(name, _)| Some(name.as_str()) != pinned)
        .collect();
    if base.is_empty() {
        return Vec::new();
    }
    // Per dim, the sizes it already has (in use, or in an earlier alternative).
    let mut used: Vec<Vec<u64>> = base.iter().map(|(_, s)| vec![*s]).collect();
    let mut out = Vec::new();
    let mut offset = 0usize;
    for _ in 1..count {
        for _ in 0..ATTEMPTS {
            let mut taken: Vec<u64> = Vec::new();
            let mut sizes = Vec::new();
            for (i, (name, _)) in base.iter().enumerate() {
                // The first candidate (from this attempt's offset) that this dim has not had
                // and, where possible, that no other dim of this assignment has.
                let pick = (0..CANDIDATES.len())
                    .map(|j| CANDIDATES[(offset + i + j) % CANDIDATES.len()])
                    .filter(|c| !used[i].contains(c))
                    .find(|c| !taken.contains(c))
                    .or_else(|| CANDIDATES.iter().copied().find(|c| !used[i].contains(c)));
                let Some(size) = pick else { break };
                taken.push(size);
                sizes.push((name.clone(), size));
            }
            offset += 1;
            if sizes.len() != base.len() {
                continue;
            }
            if let Ok(p) = program.resized(&sizes) {
                for (i, (_, s)) in sizes.iter().enumerate() {
                    used[i].push(*s);
                }
                out.push(p);
                break;
            }
        }
    }
    out
}
