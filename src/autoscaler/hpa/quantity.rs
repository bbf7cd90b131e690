//! Kubernetes resource quantities ("500m", "1Gi", "100", "2.5k", "1e3") as integer milli-units.
//!
//! The HPA works on `Quantity.MilliValue()`: the value times 1000, rounded **up** to a whole milli-unit.
//! [`parse_quantity_milli`] reproduces that for the whole grammar: an optional sign, a decimal number, then
//! either a binary suffix (`Ki Mi Gi Ti Pi Ei`), a decimal suffix (`n u m k M G T P E`, none) or a decimal
//! exponent (`e3`, `E-2`). Simplification: values whose milli-value does not fit in an `i64` are rejected
//! instead of being saturated.

use thiserror::Error;

/// Why a quantity string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid quantity {text:?}: {problem}; expected a number with an optional suffix such as \"500m\", \"2\", \"1.5k\", \"1Gi\" or \"1e3\"")]
pub struct QuantityError {
    pub text: String,
    pub problem: &'static str,
}

/// Parses a Kubernetes quantity and returns its value in milli-units, rounded up (as `MilliValue()`).
pub fn parse_quantity_milli(text: &str) -> Result<i64, QuantityError> {
    let fail = |problem| QuantityError {
        text: text.to_string(),
        problem,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(fail("it is empty"));
    }
    let (negative, unsigned) = match trimmed.as_bytes()[0] {
        b'-' => (true, &trimmed[1..]),
        b'+' => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let number_len = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_len);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(fail("it does not start with a number"));
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{int_part}{frac_part}");
    if digits.len() > 30 {
        return Err(fail("it has too many digits"));
    }
    let mantissa: i128 = digits
        .parse()
        .map_err(|_| fail("it does not start with a number"))?;
    // value = mantissa * 10^pow10 * 2^pow2, in milli-units hence the +3.
    let mut pow10: i32 = 3 - frac_part.len() as i32;
    let mut pow2: u32 = 0;
    match suffix {
        "" => {}
        "n" => pow10 -= 9,
        "u" => pow10 -= 6,
        "m" => pow10 -= 3,
        "k" => pow10 += 3,
        "M" => pow10 += 6,
        "G" => pow10 += 9,
        "T" => pow10 += 12,
        "P" => pow10 += 15,
        "E" => pow10 += 18,
        "Ki" => pow2 = 10,
        "Mi" => pow2 = 20,
        "Gi" => pow2 = 30,
        "Ti" => pow2 = 40,
        "Pi" => pow2 = 50,
        "Ei" => pow2 = 60,
        exponent if exponent.starts_with(['e', 'E']) => {
            let exp: i32 = exponent[1..]
                .parse()
                .map_err(|_| fail("its exponent is not an integer"))?;
            if !(-40..=40).contains(&exp) {
                return Err(fail("its exponent is out of range"));
            }
            pow10 += exp;
        }
        _ => return Err(fail("its suffix is unknown")),
    }
    let too_large = || fail("it is too large");
    let mut value = mantissa.checked_mul(1i128 << pow2).ok_or_else(too_large)?;
    if pow10 >= 0 {
        value = value
            .checked_mul(10i128.checked_pow(pow10 as u32).ok_or_else(too_large)?)
            .ok_or_else(too_large)?;
    } else {
        let divisor = 10i128.checked_pow((-pow10) as u32);
        value = match divisor {
            // Round up, as MilliValue() does for the positive magnitude.
            Some(d) => (value + d - 1) / d,
            None => i128::from(value > 0),
        };
    }
    if negative {
        value = -value;
    }
    i64::try_from(value).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_decimal_suffixes() {
        assert_eq!(parse_quantity_milli("100"), Ok(100_000));
        assert_eq!(parse_quantity_milli("500m"), Ok(500));
        assert_eq!(parse_quantity_milli("1.5"), Ok(1500));
        assert_eq!(parse_quantity_milli("2k"), Ok(2_000_000));
        assert_eq!(parse_quantity_milli("0.25M"), Ok(250_000_000));
        assert_eq!(parse_quantity_milli("-3"), Ok(-3000));
        assert_eq!(parse_quantity_milli("+7m"), Ok(7));
    }

    #[test]
    fn binary_suffixes_and_exponents() {
        assert_eq!(parse_quantity_milli("1Ki"), Ok(1_024_000));
        assert_eq!(parse_quantity_milli("1Gi"), Ok(1_073_741_824_000));
        assert_eq!(parse_quantity_milli("1e3"), Ok(1_000_000));
        assert_eq!(parse_quantity_milli("5E-3"), Ok(5));
    }

    #[test]
    fn sub_milli_values_round_up() {
        assert_eq!(parse_quantity_milli("1n"), Ok(1));
        assert_eq!(parse_quantity_milli("1500u"), Ok(2));
        assert_eq!(parse_quantity_milli("0.0001"), Ok(1));
    }

    #[test]
    fn rejects_malformed_text_with_reason() {
        for bad in [
            "",
            "m",
            "1.2.3",
            "12x",
            "1e",
            "abc",
            "1eX",
            "99999999999999999999E",
        ] {
            let err = parse_quantity_milli(bad).unwrap_err();
            assert_eq!(err.text, bad);
            assert!(err.to_string().contains("invalid quantity"));
        }
        assert_eq!(
            parse_quantity_milli("12x").unwrap_err().problem,
            "its suffix is unknown"
        );
    }
}
