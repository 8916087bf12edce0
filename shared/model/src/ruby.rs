//! Ruby's readings of values that GitLab applies to what clients send. Where GitLab's answer
//! depends on how Ruby decodes, converts or prints a value, it is decided here, once.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::NaiveDate;
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

/// Ruby's `Date.parse`, in the forms clients send:
///
/// * three numbers separated by `-`, `/` or `.` (`2021-06-13`, `2021/06/13`): year first,
///   unless only the last has more than two digits, which makes it day first
///   (`13/06/2021`, `13-06-2021`), as Ruby reads them; anything after a `T` or a space
///   (a time) is ignored;
/// * eight digits, `20210613`;
/// * a month name or its three-letter abbreviation, any case, with a day and a year around
///   it: `13 Jun 2021`, `13-Jun-2021`, `Jun 13, 2021`, `June 13 2021`; a leading weekday
///   (`Sun, 13 Jun 2021`) is skipped.
///
/// Two-digit years are completed as Ruby does: 69–99 in the 1900s, 00–68 in the 2000s. A
/// date that does not exist (`2021-02-30`) is `None`, as Ruby raises `invalid date`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        let (y, rest) = text.split_at(4);
        let (m, d) = rest.split_at(2);
        return ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    }
    if let Some(date) = numeric_date(text) {
        return Some(date);
    }
    named_month_date(text)
}

fn ymd(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Ruby's completion of a year written with at most two digits.
fn full_year(digits: &str) -> Option<i32> {
    let year: i32 = digits.parse().ok()?;
    Some(match digits.len() {
        0..=2 if year >= 69 => 1900 + year,
        0..=2 => 2000 + year,
        _ => year,
    })
}

fn numeric_date(text: &str) -> Option<NaiveDate> {
    let date = text.split(['T', 't', ' ']).next()?;
    let separator = date.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let parts: Vec<&str> = date.split(separator).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    if [a, b, c]
        .iter()
        .any(|part| part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()))
    {
        return None;
    }
    let (year, day) = if a.len() <= 2 && c.len() > 2 {
        (c, a)
    } else {
        (a, c)
    };
    ymd(full_year(year)?, b.parse().ok()?, day.parse().ok()?)
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// `name` is `full` or its first three letters (or more), in any case.
fn abbreviates(name: &str, full: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.len() >= 3 && full.starts_with(&name)
}

fn named_month_date(text: &str) -> Option<NaiveDate> {
    let mut words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '-' | '.' | '/'))
        .filter(|word| !word.is_empty())
        .collect();
    if words
        .first()
        .is_some_and(|word| WEEKDAYS.iter().any(|day| abbreviates(word, day)))
    {
        words.remove(0);
    }
    let month_at = words
        .iter()
        .position(|word| word.chars().all(|c| c.is_ascii_alphabetic()))?;
    let month = MONTHS
        .iter()
        .position(|full| abbreviates(words[month_at], full))?;
    let numbers: Vec<&str> = words
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != month_at)
        .map(|(_, word)| *word)
        .collect();
    let [first, second] = numbers.as_slice() else {
        return None;
    };
    if !(first.bytes().all(|b| b.is_ascii_digit()) && second.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    // `13 Jun 2021` (day first) or `Jun 13, 2021` (month first): the day is the number next
    // to the month that is not a year of more than two digits.
    let (day, year) = if first.len() > 2 {
        (second, first)
    } else {
        (first, second)
    };
    ymd(full_year(year)?, month as u32 + 1, day.parse().ok()?)
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
    fn dates_parse_as_people_type_them() {
        let expected = NaiveDate::from_ymd_opt(2020, 7, 24);
        for raw in [
            "2020-07-24",
            "24 Jul 2020",
            "2020/07/24",
            " 2020-07-24 ",
            "24/07/2020",
            "24.07.2020",
            "2020-07-24T10:00:00Z",
            "2020-07-24 10:00",
        ] {
            assert_eq!(parse_date(raw), expected, "{raw}");
        }
        assert_eq!(parse_date("tomorrow"), None);
        assert_eq!(parse_date("2020-13-01"), None);
    }

    #[test]
    fn lists_are_inspected_like_ruby() {
        assert_eq!(inspect(&["api", "read_user"]), r#"["api", "read_user"]"#);
    }
}
