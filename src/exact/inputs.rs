//! Check-point inputs: seeded random rationals, or values read from JSON.
//!
//! Owns the reproducible generator (SplitMix64: the same seed gives the same inputs on every
//! machine), the regimes a point's values are drawn from ([`Regime`]: the seed picks one, so
//! `trace --seed N` shows exactly the point a check used), and the `--inputs` JSON format:
//! `{"X": [[1, "1/2"], ["-3/4", 2]], "grad(O)": ...}` with integers or exact rational/decimal
//! strings. Leaves not named get random values.
//!
//! Invariant: seed 0 (and every seed ≡ 0 mod 4) is the gentle regime, multiples of 1/4 in
//! [−1, 1], so a trace or a worked solution shows well-conditioned values by default.

use super::num::Num;
use super::tensor::{self, Tensor};
use crate::ir::{Program, TensorId, TensorKind};
use num_bigint::BigInt;
use num_rational::BigRational;
use serde_json::Value;
use std::collections::HashMap;

/// SplitMix64: tiny, fast and fully specified, so streams are identical everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n small: the modulo bias is below 2^-58).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A small rational n/d, n in −9..=9, d in 1..=4.
    pub fn small_rational(&mut self) -> BigRational {
        let n = self.below(19) as i64 - 9;
        let d = self.below(4) as i64 + 1;
        BigRational::new(n.into(), d.into())
    }

    pub fn tensor(&mut self, shape: &[usize]) -> Tensor<Num> {
        self.tensor_in(shape, Regime::Small)
    }

    /// A whole number in ±1..=n (never 0: an exact zero in an input makes most divisions,
    /// logs and relu's derivative undefined at the point, so it would rarely be usable).
    fn signed(&mut self, n: u64) -> i64 {
        let k = self.below(n) as i64 + 1;
        if self.below(2) == 0 {
            k
        } else {
            -k
        }
    }

    /// One value of `regime`.
    pub fn value(&mut self, regime: Regime) -> BigRational {
        let r = |n: i64, d: i64| BigRational::new(n.into(), d.into());
        match regime {
            Regime::Gentle => r(self.signed(4), 4),
            Regime::Small => r(self.signed(9), self.below(4) as i64 + 1),
            Regime::NearZero => r(self.signed(9), 1000 * (self.below(4) as i64 + 1)),
            Regime::Large => {
                let n = self.below(90) as i64 + 10;
                r(if self.below(2) == 0 { n } else { -n }, 1)
            }
        }
    }

    /// One-hot rows: along the last axis, 0 but for a single 1 at a random place.
    pub fn onehot(&mut self, shape: &[usize]) -> Tensor<Num> {
        let count: usize = shape.iter().product();
        let width = shape.last().copied().unwrap_or(1).max(1);
        let mut data = vec![Num::exact(BigRational::from_integer(0.into())); count];
        for row in 0..count / width {
            let at = self.below(width as u64) as usize;
            data[row * width + at] = Num::exact(BigRational::from_integer(1.into()));
        }
        tensor::from_vec(shape, data).expect("shape and data agree")
    }

    pub fn tensor_in(&mut self, shape: &[usize], regime: Regime) -> Tensor<Num> {
        let count: usize = shape.iter().product();
        let data = (0..count).map(|_| Num::exact(self.value(regime))).collect();
        tensor::from_vec(shape, data).expect("shape and data agree")
    }
}

/// Where a random point's values come from. A claim is checked at points of every regime:
/// one narrow box would never reach `relu(x - 10)`'s positive part or the band where
/// `relu(1/100 - x*x)` and `relu(1/100 - 2*x*x)` differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regime {
    /// Nonzero multiples of 1/4 in [−1, 1]: logits stay of order 1 (seeds ≡ 0 mod 4; the
    /// default).
    Gentle,
    /// n/d with n in ±1..=9 and d in 1..=4.
    Small,
    /// n/(1000 d), n in ±1..=9: values near zero, of both signs.
    NearZero,
    /// Whole numbers from 10 to 99, of both signs: large magnitudes (beyond them, products
    /// of a few such values already overflow what exp can take exactly).
    Large,
}

impl Regime {
    /// The regime of a seed: seeds cycle through the four.
    pub fn of_seed(seed: u64) -> Regime {
        match seed % 4 {
            0 => Regime::Gentle,
            1 => Regime::Small,
            2 => Regime::NearZero,
            _ => Regime::Large,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Regime::Gentle => "nonzero multiples of 1/4 in [-1, 1]",
            Regime::Small => "small rationals n/d, 1 <= |n| <= 9, d <= 4",
            Regime::NearZero => "values near zero, n/(1000 d)",
            Regime::Large => "large magnitudes, whole numbers 10 to 99 of both signs",
        }
    }
}

/// The sizes of a tensor's shape at the sizes in use.
pub fn concrete_shape(program: &Program, t: TensorId) -> Vec<usize> {
    // Lowering checked every size is a positive whole number.
    program
        .dims
        .sizes(program.shape_of(t))
        .expect("sizes are checked when the program is lowered")
}

/// Values for every leaf: from `given` where named, else random from `seed` in the seed's
/// regime (drawn in declaration order, so adding a JSON value for one leaf does not change
/// the others).
pub fn leaf_values(
    program: &Program,
    seed: u64,
    given: &HashMap<TensorId, Tensor<Num>>,
) -> HashMap<TensorId, Tensor<Num>> {
    let mut rng = Rng::new(seed);
    let regime = Regime::of_seed(seed);
    let mut out = HashMap::new();
    for (i, t) in program.tensors.iter().enumerate() {
        if !matches!(t.kind, TensorKind::Leaf(_)) {
            continue;
        }
        let id = TensorId(i as u32);
        let shape = concrete_shape(program, id);
        let tokens = program.token_leaves.iter().find(|l| l.tensor == id);
        let random = if let Some(leaf) = tokens {
            // Token ids: whole numbers in the vocabulary's range; a `next(ids)` leaf is the
            // same random text one position on.
            let range = program
                .dims
                .sizes(std::slice::from_ref(&leaf.range))
                .map_or(1, |s| s[0]) as u64;
            let mut ids: Vec<u64> = match leaf.next_of.and_then(|t| out.get(&t)) {
                Some(text) => tensor::entries(text)
                    .iter()
                    .skip(1)
                    .filter_map(|n: &Num| match n {
                        Num::Exact(r) => num_traits::ToPrimitive::to_u64(&r.to_integer()),
                        _ => None,
                    })
                    .collect(),
                None => Vec::new(),
            };
            while ids.len() < shape.iter().product() {
                ids.push(rng.below(range));
            }
            let data = ids.iter().map(|&k| Num::from_int(k as i64)).collect();
            tensor::from_vec(&shape, data).expect("shape and data agree")
        } else if program.onehot.contains(&id) {
            rng.onehot(&shape)
        } else {
            rng.tensor_in(&shape, regime)
        };
        out.insert(id, given.get(&id).cloned().unwrap_or(random));
    }
    out
}

/// The random upstream gradient `grad(O)` of an output at the point of `seed` (in the seed's
/// regime): the same for `trace --grad`, `check` and `grad --check`, so a reported point can
/// be shown exactly.
pub fn upstream(program: &Program, output: TensorId, seed: u64) -> Tensor<Num> {
    let shape = concrete_shape(program, output);
    Rng::new(seed ^ 0x5DEE_CE66).tensor_in(&shape, Regime::of_seed(seed))
}

/// Values read from `--inputs` JSON.
#[derive(Debug, Default)]
pub struct GivenInputs {
    pub leaves: HashMap<TensorId, Tensor<Num>>,
    /// `"grad(O)"`: the upstream gradient of the output.
    pub upstream: Option<Tensor<Num>>,
}

/// Why `--inputs` could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputsError {
    /// Not JSON at all (serde's reason).
    NotJson(String),
    /// JSON, but not an object of named tensors.
    NotObject,
    /// `"grad(X)"` for something other than the `output`.
    NotUpstream { key: String },
    /// A name that is not a leaf (the program's leaves are listed).
    NotALeaf { key: String, leaves: Vec<String> },
    /// A tensor whose nesting or entries are wrong.
    Entry { key: String, error: EntryError },
    /// A tensor of the wrong shape.
    Shape {
        key: String,
        found: Vec<usize>,
        needed: Vec<usize>,
    },
}

/// What is wrong inside one tensor of `--inputs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// Entries at different depths.
    Ragged,
    /// A row of the wrong length.
    RowLength { found: usize, expected: usize },
    /// A JSON value that is not a number or a numeric string.
    NotANumber(String),
    /// A string that is not an exact number.
    NotExact(String),
    /// `p/0`.
    DividesByZero(String),
}

impl std::fmt::Display for EntryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryError::Ragged => write!(f, "ragged nesting: entries at different depths"),
            EntryError::RowLength { found, expected } => write!(
                f,
                "ragged array: a row of length {found} where {expected} was expected"
            ),
            EntryError::NotANumber(v) => write!(
                f,
                "{v} is not a number: use integers or strings like \"-3/4\" or \"0.5\""
            ),
            EntryError::NotExact(t) => write!(
                f,
                "`{t}` is not an exact number (write integers, p/q or decimals)"
            ),
            EntryError::DividesByZero(t) => write!(f, "`{t}` divides by zero"),
        }
    }
}

impl std::fmt::Display for InputsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputsError::NotJson(e) => write!(f, "the inputs are not valid JSON: {e}"),
            InputsError::NotObject => write!(
                f,
                "the inputs must be a JSON object: {{\"X\": [[1, \"1/2\"]], ...}}"
            ),
            InputsError::NotUpstream { key } => write!(
                f,
                "\"{key}\": only the upstream gradient of the `output` can be given"
            ),
            InputsError::NotALeaf { key, leaves } => write!(
                f,
                "\"{key}\" is not an input, param or data leaf of this program (its leaves: {})",
                leaves.join(", ")
            ),
            InputsError::Entry { key, error } => write!(f, "\"{key}\": {error}"),
            InputsError::Shape { key, found, needed } => write!(
                f,
                "\"{key}\" has shape {found:?}, but the program needs {needed:?}"
            ),
        }
    }
}

/// Parse `--inputs` JSON against the program's leaves.
pub fn parse_inputs(program: &Program, text: &str) -> Result<GivenInputs, InputsError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| InputsError::NotJson(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(InputsError::NotObject);
    };
    let mut out = GivenInputs::default();
    for (key, v) in map {
        let (tensor, is_upstream) =
            match key.strip_prefix("grad(").and_then(|k| k.strip_suffix(')')) {
                Some(name) => {
                    let target = program
                        .target
                        .as_ref()
                        .filter(|t| program.tensor(t.tensor).name == name);
                    match target {
                        Some(t) if t.kind == crate::ir::TargetKind::Output => (t.tensor, true),
                        _ => return Err(InputsError::NotUpstream { key }),
                    }
                }
                None => {
                    let id = program
                        .tensor_by_name(&key)
                        .filter(|&id| matches!(program.tensor(id).kind, TensorKind::Leaf(_)))
                        .ok_or_else(|| InputsError::NotALeaf {
                            key: key.clone(),
                            leaves: program
                                .tensors
                                .iter()
                                .filter(|t| matches!(t.kind, TensorKind::Leaf(_)))
                                .map(|t| t.name.clone())
                                .collect(),
                        })?;
                    (id, false)
                }
            };
        let shape = concrete_shape(program, tensor);
        let mut data = Vec::new();
        let mut found_shape = Vec::new();
        if let Err(error) = flatten(&v, 0, &mut found_shape, &mut data) {
            return Err(InputsError::Entry { key, error });
        }
        if found_shape != shape {
            return Err(InputsError::Shape {
                key,
                found: found_shape,
                needed: shape,
            });
        }
        let Ok(t) = tensor::from_vec(&shape, data.into_iter().map(Num::exact).collect()) else {
            return Err(InputsError::Shape {
                key,
                found: found_shape,
                needed: shape,
            });
        };
        if is_upstream {
            out.upstream = Some(t);
        } else {
            out.leaves.insert(tensor, t);
        }
    }
    Ok(out)
}

/// Read nested arrays; record the shape at the first visit of each depth, then check it.
fn flatten(
    v: &Value,
    depth: usize,
    shape: &mut Vec<usize>,
    out: &mut Vec<BigRational>,
) -> Result<(), EntryError> {
    match v {
        Value::Array(items) => {
            if shape.len() == depth {
                if out.is_empty() || depth > 0 {
                    shape.push(items.len());
                } else {
                    return Err(EntryError::Ragged);
                }
            } else if shape.len() < depth || shape[depth] != items.len() {
                return Err(EntryError::RowLength {
                    found: items.len(),
                    expected: shape.get(depth).copied().unwrap_or(0),
                });
            }
            for item in items {
                flatten(item, depth + 1, shape, out)?;
            }
            Ok(())
        }
        Value::Number(n) => {
            if shape.len() != depth {
                return Err(EntryError::Ragged);
            }
            out.push(parse_entry(&n.to_string())?);
            Ok(())
        }
        Value::String(s) => {
            if shape.len() != depth {
                return Err(EntryError::Ragged);
            }
            out.push(parse_entry(s)?);
            Ok(())
        }
        other => Err(EntryError::NotANumber(other.to_string())),
    }
}

/// `3`, `-3/4`, `0.5`, `1e-3` as an exact rational.
pub fn parse_entry(text: &str) -> Result<BigRational, EntryError> {
    let t = text.trim();
    let bad = || EntryError::NotExact(t.to_string());
    if let Some((n, d)) = t.split_once('/') {
        let n: BigInt = n.trim().parse().map_err(|_| bad())?;
        let d: BigInt = d.trim().parse().map_err(|_| bad())?;
        if d == BigInt::from(0) {
            return Err(EntryError::DividesByZero(t.to_string()));
        }
        return Ok(BigRational::new(n, d));
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let valid = !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && body.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if !valid {
        return Err(bad());
    }
    let r = crate::decimal::parse_decimal(body).map_err(|_| bad())?;
    Ok(if neg { -r } else { r })
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_traits::Signed;

    #[test]
    fn the_generator_is_fixed() {
        // SplitMix64's published first output for seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut r = Rng::new(7);
        for _ in 0..1000 {
            let x = r.small_rational();
            assert!(x.numer().abs() <= 9.into() && *x.denom() <= 4.into());
        }
    }

    #[test]
    fn entries_are_exact() {
        assert_eq!(
            parse_entry("-3/4").unwrap(),
            BigRational::new((-3).into(), 4.into())
        );
        assert_eq!(
            parse_entry("0.5").unwrap(),
            BigRational::new(1.into(), 2.into())
        );
        assert_eq!(
            parse_entry("-1e-2").unwrap(),
            BigRational::new((-1).into(), 100.into())
        );
        assert!(parse_entry("1/0").is_err());
        assert!(parse_entry("abc").is_err());
    }
}
