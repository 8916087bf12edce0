//! Ruby's readings of values that GitLab applies to what clients send. Where GitLab's answer
//! depends on how Ruby decodes, converts or prints a value, it is decided here, once.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

/// Ruby's `Base64.decode64` (`unpack1('m')`), which GitLab uses on SSH key blobs and on
/// `gitaly_client_context_bin`: characters outside the base64 alphabet are skipped, padding
/// is optional, decoding stops at the first `=`, and a dangling partial quantum is dropped,
/// so garbage still "decodes" (to bytes nothing matches) instead of failing.
pub fn decode64(input: &str) -> Vec<u8> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    let mut symbols: String = input
        .chars()
        .take_while(|c| *c != '=')
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
        .collect();
    if symbols.len() % 4 == 1 {
        symbols.pop();
    }
    LENIENT.decode(symbols).unwrap_or_default()
}

/// Ruby's `present?`: not nil, not false, not a blank string, not empty.
pub fn is_present(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Ruby's `to_i` on what JSON can hold: leading digits of a string (0 when none), a float
/// truncated, anything else 0.
pub fn to_i(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n
            .as_i64()
            .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
        Value::String(s) => {
            let s = s.trim_start();
            let (sign, digits) = match s.strip_prefix('-') {
                Some(rest) => (-1, rest),
                None => (1, s.strip_prefix('+').unwrap_or(s)),
            };
            let end = digits
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(digits.len());
            digits[..end].parse::<i64>().map_or(0, |n| sign * n)
        }
        _ => 0,
    }
}

/// `Array#inspect` of strings, as GitLab's messages print lists: `["a", "b"]`.
pub fn inspect(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decode64_takes_padding_or_none() {
        let padded = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQ==";
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(decode64(padded), decode64(unpadded));
        assert!(!decode64(padded).is_empty());
    }

    #[test]
    fn decode64_reads_garbage_leniently_instead_of_failing() {
        assert_eq!(decode64("whatever!"), decode64("whatever"));
        assert_eq!(decode64("!!!"), Vec::<u8>::new());
        assert_eq!(decode64("QUJD\nRA"), b"ABCD".to_vec());
        assert_eq!(decode64("QUJDRA==junk"), b"ABCD".to_vec());
    }

    #[test]
    fn to_i_and_present_read_like_ruby() {
        assert_eq!(to_i(&json!("12abc")), 12);
        assert_eq!(to_i(&json!(" -3")), -3);
        assert_eq!(to_i(&json!("abc")), 0);
        assert_eq!(to_i(&json!(7.9)), 7);
        assert_eq!(to_i(&json!(true)), 0);
        assert!(!is_present(&json!("  ")));
        assert!(!is_present(&json!(false)));
        assert!(is_present(&json!(0)));
    }

    #[test]
    fn lists_are_inspected_like_ruby() {
        assert_eq!(inspect(&["api", "read_user"]), r#"["api", "read_user"]"#);
    }
}
