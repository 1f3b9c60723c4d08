//! `einsum` subscripts: parsing and the shape rule.
//!
//! Owns [`EinsumSpec`]: one letter list per operand and the output letters. Explicit
//! (`"ij,jk->ik"`) and implicit (`"ij,jk"`: the output is the letters that occur once, in
//! alphabetical order, as numpy does) forms; a letter repeated within one operand takes a
//! diagonal (`"ii->i"`, `"ii->"` is the trace). Invariants after [`EinsumSpec::parse`]: output
//! letters are distinct and each occurs in some operand.

use super::dims::{DimPoly, Dims};
use super::shape::Shape;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EinsumSpec {
    pub inputs: Vec<Vec<char>>,
    pub output: Vec<char>,
}

impl EinsumSpec {
    /// Parse subscripts; errors are plain sentences.
    pub fn parse(spec: &str) -> Result<EinsumSpec, String> {
        let spec: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
        if spec.contains("...") {
            return Err("`...` (ellipsis) is not supported; name every axis with a letter".into());
        }
        let (lhs, rhs) = match spec.split_once("->") {
            Some((l, r)) => (l, Some(r)),
            None => (spec.as_str(), None),
        };
        let inputs: Vec<Vec<char>> = lhs.split(',').map(|s| s.chars().collect()).collect();
        for (i, letters) in inputs.iter().enumerate() {
            if let Some(c) = letters.iter().find(|c| !c.is_ascii_alphabetic()) {
                return Err(format!(
                    "operand {} subscripts contain `{c}`; use letters a-z, A-Z",
                    i + 1
                ));
            }
        }
        let mut counts: BTreeMap<char, usize> = BTreeMap::new();
        for c in inputs.iter().flatten() {
            *counts.entry(*c).or_insert(0) += 1;
        }
        let output: Vec<char> = match rhs {
            Some(r) => {
                let out: Vec<char> = r.chars().collect();
                for (i, c) in out.iter().enumerate() {
                    if !c.is_ascii_alphabetic() {
                        return Err(format!("output subscripts contain `{c}`; use letters"));
                    }
                    if out[..i].contains(c) {
                        return Err(format!("output letter `{c}` appears twice"));
                    }
                    if !counts.contains_key(c) {
                        return Err(format!("output letter `{c}` appears in no operand"));
                    }
                }
                out
            }
            None => counts
                .iter()
                .filter(|(_, &n)| n == 1)
                .map(|(&c, _)| c)
                .collect(),
        };
        Ok(EinsumSpec { inputs, output })
    }

    /// The output shape for operands of these shapes.
    pub fn shape(&self, dims: &Dims, operands: &[&Shape]) -> Result<Shape, String> {
        if operands.len() != self.inputs.len() {
            return Err(format!(
                "the subscripts name {} operand{}, but {} {} given",
                self.inputs.len(),
                if self.inputs.len() == 1 { "" } else { "s" },
                operands.len(),
                if operands.len() == 1 { "is" } else { "are" }
            ));
        }
        let mut size: BTreeMap<char, DimPoly> = BTreeMap::new();
        for (i, (letters, shape)) in self.inputs.iter().zip(operands).enumerate() {
            if letters.len() != shape.len() {
                return Err(format!(
                    "operand {} has {} ax{} but its subscripts `{}` name {}",
                    i + 1,
                    shape.len(),
                    if shape.len() == 1 { "is" } else { "es" },
                    letters.iter().collect::<String>(),
                    letters.len()
                ));
            }
            for (c, s) in letters.iter().zip(shape.iter()) {
                match size.get(c) {
                    Some(prev) if !dims.same(prev, s) => {
                        return Err(format!(
                            "letter `{c}` is {} in one place and {} in another",
                            dims.show(prev),
                            dims.show(s)
                        ))
                    }
                    Some(_) => {}
                    None => {
                        size.insert(*c, s.clone());
                    }
                }
            }
        }
        Ok(self.output.iter().map(|c| size[c].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_and_implicit_forms() {
        let s = EinsumSpec::parse("ij,kj->ik").unwrap();
        assert_eq!(s.output, vec!['i', 'k']);
        let s = EinsumSpec::parse("ij,jk").unwrap();
        assert_eq!(s.output, vec!['i', 'k']);
        let s = EinsumSpec::parse("ii").unwrap();
        assert!(s.output.is_empty());
    }

    #[test]
    fn rejects_bad_subscripts() {
        assert!(EinsumSpec::parse("ij->ii").is_err());
        assert!(EinsumSpec::parse("ij->k").is_err());
        assert!(EinsumSpec::parse("i1->i").is_err());
        assert!(EinsumSpec::parse("...i->i").is_err());
    }
}
