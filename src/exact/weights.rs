//! Exact reading of safetensors checkpoints.
//!
//! Owns [`Checkpoint`] (a parsed file: its bytes and a validated header), the exact decoding of
//! IEEE-style binary floats to [`BigRational`], and [`encode`], which writes a checkpoint (for
//! tests, benches and users who build one by hand).
//!
//! Invariants:
//! - Every value read is exactly the number the file's bits denote: a float is `±m·2^e`, a
//!   dyadic rational, so nothing is rounded and no floating-point arithmetic touches it.
//!   One decoder, generic over the (exponent, mantissa) widths, serves f64, f32, f16 and bf16.
//! - Only finite floats load: NaN and ±∞ are [`WeightsError::NotFinite`] with the element's
//!   multi-index; other element types (integers, FP8, …) are [`WeightsError::UnsupportedDtype`]
//!   rather than a guess at what the integers were meant to scale to.
//! - No input panics: the header is validated once in [`Checkpoint::parse`] (by the safetensors
//!   crate: header length, UTF-8, JSON, contiguous offsets, sizes matching shape × dtype), and
//!   every later slice of the bytes is checked again rather than trusted.
//! - Every error after parsing names the tensor, so a caller can say which weight was bad.

use num_bigint::BigInt;
use num_rational::BigRational;
use safetensors::tensor::TensorView;
use safetensors::{Dtype as StDtype, SafeTensorError, SafeTensors};
use std::collections::BTreeMap;
use std::fmt;

/// The element types a checkpoint may hold that load exactly (every value is a dyadic rational).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
    F16,
    BF16,
}

impl Dtype {
    pub const ALL: [Dtype; 4] = [Dtype::F64, Dtype::F32, Dtype::F16, Dtype::BF16];

    /// Width of the exponent field in bits.
    pub fn exponent_bits(self) -> u32 {
        match self {
            Dtype::F64 => 11,
            Dtype::F32 => 8,
            Dtype::F16 => 5,
            Dtype::BF16 => 8,
        }
    }

    /// Width of the stored mantissa (fraction) field in bits, without the implicit leading 1.
    pub fn mantissa_bits(self) -> u32 {
        match self {
            Dtype::F64 => 52,
            Dtype::F32 => 23,
            Dtype::F16 => 10,
            Dtype::BF16 => 7,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        (1 + self.exponent_bits() + self.mantissa_bits()) as usize / 8
    }

    /// The safetensors name (`"F32"`, …).
    pub fn file_name(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
        }
    }

    fn from_file(d: StDtype) -> Option<Dtype> {
        match d {
            StDtype::F64 => Some(Dtype::F64),
            StDtype::F32 => Some(Dtype::F32),
            StDtype::F16 => Some(Dtype::F16),
            StDtype::BF16 => Some(Dtype::BF16),
            _ => None,
        }
    }

    fn to_file(self) -> StDtype {
        match self {
            Dtype::F64 => StDtype::F64,
            Dtype::F32 => StDtype::F32,
            Dtype::F16 => StDtype::F16,
            Dtype::BF16 => StDtype::BF16,
        }
    }

    /// `x` rounded to this type (round-to-nearest-even), as little-endian bytes.
    fn push_le(self, x: f64, out: &mut Vec<u8>) {
        match self {
            Dtype::F64 => out.extend_from_slice(&x.to_le_bytes()),
            Dtype::F32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
            Dtype::F16 => out.extend_from_slice(&half::f16::from_f64(x).to_le_bytes()),
            Dtype::BF16 => out.extend_from_slice(&half::bf16::from_f64(x).to_le_bytes()),
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::F64 => "f64",
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::BF16 => "bf16",
        })
    }
}

/// One tensor's header entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// As the file says, e.g. `"F32"`, `"I64"`.
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// Why a checkpoint or one of its tensors could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightsError {
    /// Not a safetensors file, truncated, or a bad header; the text says what was wrong.
    Malformed(String),
    Missing {
        tensor: String,
    },
    UnsupportedDtype {
        tensor: String,
        dtype: String,
    },
    /// NaN or ±∞ at a 0-based multi-index; `value` is `"NaN"`, `"inf"` or `"-inf"`.
    NotFinite {
        tensor: String,
        index: Vec<usize>,
        value: String,
    },
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightsError::Malformed(why) => write!(f, "not a valid safetensors file: {why}"),
            WeightsError::Missing { tensor } => {
                write!(f, "the checkpoint has no tensor named `{tensor}`")
            }
            WeightsError::UnsupportedDtype { tensor, dtype } => write!(
                f,
                "tensor `{tensor}` has element type {dtype}, which cannot be read as exact \
                 weights; the supported types are F64, F32, F16 and BF16"
            ),
            WeightsError::NotFinite {
                tensor,
                index,
                value,
            } => {
                let at: Vec<String> = index.iter().map(|i| i.to_string()).collect();
                write!(
                    f,
                    "tensor `{tensor}` holds {value} at index [{}]; only finite values can be \
                     read exactly",
                    at.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for WeightsError {}

/// The crate's error, in a sentence a user can act on.
fn describe(e: &SafeTensorError) -> String {
    use SafeTensorError as E;
    match e {
        E::HeaderTooSmall => {
            "the file is shorter than the 8-byte header length that starts every safetensors \
             file"
                .into()
        }
        E::HeaderTooLarge => "the header length in the first 8 bytes is over 100 MB".into(),
        E::InvalidHeaderLength => {
            "the header length in the first 8 bytes runs past the end of the file (truncated?)"
                .into()
        }
        E::InvalidHeader(err) => format!("the header is not valid UTF-8 ({err})"),
        E::InvalidHeaderDeserialization(err) | E::JsonError(err) => {
            format!("the header is not a valid safetensors JSON header ({err})")
        }
        E::InvalidOffset(name) => format!(
            "the data offsets of tensor `{name}` do not follow on from the previous tensor's"
        ),
        E::TensorInvalidInfo => {
            "a tensor's data offsets do not span exactly its shape times its element size".into()
        }
        E::MetadataIncompleteBuffer => {
            "the tensors' data does not end exactly at the end of the file (truncated or \
             trailing bytes)"
                .into()
        }
        E::ValidationOverflow => "a tensor's shape is too large to have a size".into(),
        E::MisalignedSlice => "a tensor of sub-byte elements does not fill whole bytes".into(),
        other => other.to_string(),
    }
}

/// Where a tensor lives in the file.
#[derive(Debug, Clone)]
struct Entry {
    dtype: StDtype,
    shape: Vec<usize>,
    /// Absolute byte range in the file.
    start: usize,
    end: usize,
}

/// A parsed checkpoint: owns the file's bytes; values are decoded on request.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    bytes: Vec<u8>,
    /// Sorted by name, so [`Checkpoint::names`] needs no sort.
    entries: BTreeMap<String, Entry>,
}

impl Checkpoint {
    /// Validates the header; never panics on any input.
    pub fn parse(bytes: Vec<u8>) -> Result<Checkpoint, WeightsError> {
        reject_huge_offsets(&bytes)?;
        let (n, meta) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| WeightsError::Malformed(describe(&e)))?;
        // Offsets in the header are relative to the data section, which follows the header.
        let data_start = 8 + n;
        let entries = meta
            .tensors()
            .into_iter()
            .map(|(name, info)| {
                let (s, e) = info.data_offsets;
                let entry = Entry {
                    dtype: info.dtype,
                    shape: info.shape.clone(),
                    start: data_start.saturating_add(s),
                    end: data_start.saturating_add(e),
                };
                (name, entry)
            })
            .collect();
        Ok(Checkpoint { bytes, entries })
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    pub fn info(&self, name: &str) -> Option<TensorInfo> {
        self.entries.get(name).map(|e| TensorInfo {
            name: name.to_string(),
            dtype: e.dtype.to_string(),
            shape: e.shape.clone(),
        })
    }

    /// The values of `name` in row-major order as exact rationals.
    pub fn values(&self, name: &str) -> Result<Vec<BigRational>, WeightsError> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| WeightsError::Missing {
                tensor: name.to_string(),
            })?;
        let dtype =
            Dtype::from_file(entry.dtype).ok_or_else(|| WeightsError::UnsupportedDtype {
                tensor: name.to_string(),
                dtype: entry.dtype.to_string(),
            })?;
        let size = dtype.size();
        let data = self
            .bytes
            .get(entry.start..entry.end)
            .filter(|d| d.len() % size == 0)
            .ok_or_else(|| {
                WeightsError::Malformed(format!("the data of tensor `{name}` is out of bounds"))
            })?;
        let (eb, mb) = (dtype.exponent_bits(), dtype.mantissa_bits());
        data.chunks_exact(size)
            .enumerate()
            .map(|(flat, chunk)| {
                let mut le = [0u8; 8];
                le[..size].copy_from_slice(chunk);
                decode(u64::from_le_bytes(le), eb, mb).map_err(|value| WeightsError::NotFinite {
                    tensor: name.to_string(),
                    index: unflatten(flat, &entry.shape),
                    value: value.to_string(),
                })
            })
            .collect()
    }
}

/// The crate adds the last data offset to the header length unchecked, which overflows (and
/// panics in builds with overflow checks) on an offset near `usize::MAX`. No valid offset
/// exceeds the file's length, so any that does is rejected here first.
fn reject_huge_offsets(bytes: &[u8]) -> Result<(), WeightsError> {
    let Some(len) = bytes.get(..8) else {
        return Ok(()); // the crate reports this
    };
    let n = u64::from_le_bytes(len.try_into().unwrap_or_default());
    let Some(header) = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(8))
        .and_then(|stop| bytes.get(8..stop))
    else {
        return Ok(());
    };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(header)
    else {
        return Ok(());
    };
    for (name, info) in &map {
        let Some(offsets) = info.get("data_offsets").and_then(|o| o.as_array()) else {
            continue;
        };
        for o in offsets {
            let too_big = match o.as_u64() {
                Some(v) => v > bytes.len() as u64,
                // A huge integer that is not even a u64: the crate will refuse it as JSON.
                None => false,
            };
            if too_big {
                return Err(WeightsError::Malformed(format!(
                    "the data offsets of tensor `{name}` point past the end of the file"
                )));
            }
        }
    }
    Ok(())
}

/// Row-major multi-index of flat position `flat`.
fn unflatten(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &dim) in index.iter_mut().zip(shape).rev() {
        if dim > 0 {
            *slot = flat % dim;
            flat /= dim;
        }
    }
    index
}

/// The exact value of a binary float with `eb` exponent bits and `mb` stored mantissa bits,
/// given its bits in the low `1 + eb + mb` bits of `bits`. `Err` names a non-finite value.
pub fn decode(bits: u64, eb: u32, mb: u32) -> Result<BigRational, &'static str> {
    let negative = (bits >> (eb + mb)) & 1 == 1;
    let field = (bits >> mb) & ((1u64 << eb) - 1);
    let frac = bits & ((1u64 << mb) - 1);
    let bias = (1i64 << (eb - 1)) - 1;
    if field == (1u64 << eb) - 1 {
        return Err(match (frac, negative) {
            (0, false) => "inf",
            (0, true) => "-inf",
            _ => "NaN",
        });
    }
    // Subnormals have no implicit 1 and the exponent of the smallest normal.
    let (m, e) = if field == 0 {
        (frac, 1 - bias - mb as i64)
    } else {
        (frac | (1u64 << mb), field as i64 - bias - mb as i64)
    };
    Ok(dyadic(m, e, negative))
}

/// `±m·2^e` as a reduced rational without a gcd: stripping the factors of 2 from `m` leaves an
/// odd numerator over a power of two (or an integer), which is already in lowest terms.
fn dyadic(m: u64, e: i64, negative: bool) -> BigRational {
    if m == 0 {
        return BigRational::from_integer(BigInt::from(0));
    }
    let tz = m.trailing_zeros();
    let (m, e) = (m >> tz, e + tz as i64);
    let mut numer = BigInt::from(m);
    if negative {
        numer = -numer;
    }
    if e >= 0 {
        BigRational::new_raw(numer << e as u64, BigInt::from(1))
    } else {
        BigRational::new_raw(numer, BigInt::from(1) << (-e) as u64)
    }
}

/// Writes tensors as a safetensors file (for tests, benches and users who build a checkpoint):
/// each value is rounded to the dtype (round-to-nearest-even, as `as f32` / half's `from_f64` do).
///
/// # Panics
/// If a tensor's value count differs from its shape's product, or two tensors share a name.
pub fn encode(tensors: &[(&str, Dtype, &[usize], &[f64])]) -> Vec<u8> {
    let data: Vec<(String, StDtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|&(name, dtype, shape, values)| {
            let count: usize = shape.iter().product();
            assert_eq!(
                count,
                values.len(),
                "tensor `{name}`: shape {shape:?} holds {count} values but {} were given",
                values.len()
            );
            let mut bytes = Vec::with_capacity(values.len() * dtype.size());
            for &x in values {
                dtype.push_le(x, &mut bytes);
            }
            (name.to_string(), dtype.to_file(), shape.to_vec(), bytes)
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (name, ..) in &data {
        assert!(seen.insert(name), "tensor `{name}` is given twice");
    }
    let views = data.iter().map(|(name, dtype, shape, bytes)| {
        let view = TensorView::new(*dtype, shape.clone(), bytes)
            .expect("the byte count matches the shape by construction");
        (name.clone(), view)
    });
    safetensors::serialize(views, None).expect("a header of valid tensors serialises")
}
