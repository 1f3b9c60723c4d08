//! Exact decimal numbers: the text of a decimal literal (`0.044715`, `1e-5`) as the rational
//! it names. Shared by `syntax` (numbers in source) and `exact` (numbers in `--inputs` and in
//! the certified constants), so neither reaches into the other.
//!
//! Invariant: the result is exactly the decimal's value, never a float's.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::Pow;

/// An exact rational from a decimal literal: `0.044715` is 44715/1000000, `1e-5` is 1/100000.
pub fn parse_decimal(text: &str) -> BigRational {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let numer: BigInt = digits.parse().unwrap_or_default();
    let scale = exp - frac.len() as i64;
    let ten = BigInt::from(10);
    // Exponents are bounded so an absurd literal cannot allocate without limit.
    let scale = scale.clamp(-100_000, 100_000);
    let power: BigInt = Pow::pow(&ten, scale.unsigned_abs());
    if scale >= 0 {
        BigRational::from_integer(numer * power)
    } else {
        BigRational::new(numer, power)
    }
}
