//! Exact decimal numbers: the text of a decimal literal (`0.044715`, `1e-5`) as the rational
//! it names. Shared by `syntax` (numbers in source) and `exact` (numbers in `--inputs` and in
//! the certified constants), so neither reaches into the other.
//!
//! Invariant: the result is exactly the decimal's value, never a float's.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Pow;

/// The largest power of ten a decimal may scale by (10^10000 already has 33,000 bits).
pub const MAX_DECIMAL_EXPONENT: u64 = 10_000;

/// Why a decimal literal is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    /// Not digits, an optional `.` and digits, and an optional exponent.
    Malformed,
    /// `1e200000`: a power of ten beyond [`MAX_DECIMAL_EXPONENT`] (never clamped).
    ExponentTooLarge,
}

impl std::fmt::Display for DecimalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecimalError::Malformed => write!(f, "not a decimal number"),
            DecimalError::ExponentTooLarge => write!(
                f,
                "its power of ten is beyond 10^{MAX_DECIMAL_EXPONENT} (numbers are exact, so such a number would have more bits than handtrace takes)"
            ),
        }
    }
}

/// An exact rational from a decimal literal: `0.044715` is 44715/1000000, `1e-5` is 1/100000.
/// Never rounded, clamped or saturated: a literal out of range is an error.
pub fn parse_decimal(text: &str) -> Result<BigRational, DecimalError> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => {
            let e = text[i + 1..]
                .trim_start_matches('+')
                .parse::<BigInt>()
                .map_err(|_| DecimalError::Malformed)?;
            (&text[..i], e)
        }
        None => (text, BigInt::from(0)),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(DecimalError::Malformed);
    }
    let numer: BigInt = digits.parse().map_err(|_| DecimalError::Malformed)?;
    let scale = exp - BigInt::from(frac.len());
    let magnitude: u64 = num_traits::ToPrimitive::to_u64(&num_traits::Signed::abs(&scale))
        .filter(|&m| m <= MAX_DECIMAL_EXPONENT)
        .ok_or(DecimalError::ExponentTooLarge)?;
    let power: BigInt = Pow::pow(&BigInt::from(10), magnitude);
    Ok(if num_traits::Signed::is_negative(&scale) {
        BigRational::new(numer, power)
    } else {
        BigRational::from_integer(numer * power)
    })
}
