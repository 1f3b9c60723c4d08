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

/// The decimal text of `r` when that is how a person writes it: a denominator of 2s and 5s
/// above 16 (`0.044715`, not `8943/200000`), with at most 12 digits after the point, and not
/// `1/10^k` (`1/100000` reads as written). `None`: print the fraction.
pub fn as_decimal(r: &BigRational) -> Option<String> {
    use num_traits::{One, Signed, Zero};
    let denom = r.denom().clone();
    if denom <= BigInt::from(16) {
        return None;
    }
    let (mut twos, mut fives, mut rest) = (0u32, 0u32, denom.clone());
    while (&rest % 2u32).is_zero() {
        rest /= 2u32;
        twos += 1;
    }
    while (&rest % 5u32).is_zero() {
        rest /= 5u32;
        fives += 1;
    }
    let digits = twos.max(fives);
    if !rest.is_one() || digits > 12 || (r.numer().abs().is_one() && twos == fives) {
        return None;
    }
    let scaled = r * BigRational::from_integer(Pow::pow(&BigInt::from(10), digits));
    let n = scaled.to_integer();
    let sign = if n.is_negative() { "-" } else { "" };
    let text = n.abs().to_string();
    let width = digits as usize;
    let padded = format!("{text:0>w$}", w = width + 1);
    let (int, frac) = padded.split_at(padded.len() - width);
    Some(format!("{sign}{int}.{frac}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_print_back_exactly() {
        for text in ["0.044715", "0.134145", "-2.5e-3", "123.456"] {
            let r = parse_decimal(text.trim_start_matches('-')).unwrap();
            let r = if text.starts_with('-') { -r } else { r };
            let printed = as_decimal(&r).expect(text);
            let back = parse_decimal(printed.trim_start_matches('-')).unwrap();
            let back = if printed.starts_with('-') {
                -back
            } else {
                back
            };
            assert_eq!(back, r, "{text} -> {printed}");
        }
        assert_eq!(as_decimal(&BigRational::new(1.into(), 2.into())), None);
        assert_eq!(as_decimal(&BigRational::new(1.into(), 100000.into())), None);
        assert_eq!(as_decimal(&BigRational::new(1.into(), 3.into())), None);
        assert_eq!(
            as_decimal(&BigRational::new(8943.into(), 200000.into())).as_deref(),
            Some("0.044715")
        );
    }
}
