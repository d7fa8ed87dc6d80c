//! PostgreSQL values, in their text form, to faithful JSON.
//!
//! Queries run with the text result format, so every value arrives as PostgreSQL itself
//! prints it; the column's type (from the statement's description) decides the JSON:
//!
//! | PostgreSQL | JSON |
//! | --- | --- |
//! | `smallint`, `integer`, `bigint`, `oid` | number |
//! | `real`, `double precision` | number; `NaN`, `Infinity`, `-Infinity` as strings |
//! | `numeric` | string, exactly as PostgreSQL prints it (no float rounding) |
//! | `boolean` | `true` / `false` |
//! | `json`, `jsonb` | the JSON value itself |
//! | `bytea` | base64 string |
//! | arrays of the above | arrays, `NULL` elements as `null` |
//! | everything else (text, dates, times, intervals, uuid, inet, enums, …) | string as PostgreSQL prints it |
//! | `NULL` | `null` |
//!
//! Unknown types fall back to their text form instead of failing the query; a domain
//! reads like its base type.
//!
//! Most reads arrive in PostgreSQL's binary format instead (one round trip); those values
//! are decoded to exactly the same JSON, and any type or session setting the binary
//! decoders do not reproduce sends the read through this text path.

use base64::Engine;
use serde_json::{Number, Value};
use tokio_postgres::types::{Kind, Type};

/// The bytes a value costs in a tool result: its JSON encoding (a control character is
/// six bytes, `\u0001`), counted twice, because a result is sent both as text and as
/// structured content. The byte cap ([`DatabaseConfig::max_bytes`]) counts this, so
/// `SELECT repeat(chr(1), 1000000)` cannot turn a 1 MiB cap into a 12 MB response.
///
/// [`DatabaseConfig::max_bytes`]: crate::DatabaseConfig::max_bytes
pub fn sent_len(value: &Value) -> usize {
    2 * json_len(value)
}

/// The length of `value`'s JSON encoding.
pub(crate) fn json_len(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Bool(b) => {
            if *b {
                4
            } else {
                5
            }
        }
        Value::Number(n) => number_len(n),
        Value::String(s) => string_len(s),
        // Brackets, the items, and a comma between each two.
        Value::Array(items) => {
            2 + items.len().saturating_sub(1) + items.iter().map(json_len).sum::<usize>()
        }
        Value::Object(map) => {
            2 + map.len().saturating_sub(1)
                + map
                    .iter()
                    .map(|(k, v)| string_len(k) + 1 + json_len(v))
                    .sum::<usize>()
        }
    }
}

/// The length of `s` as a JSON string, quotes included.
pub(crate) fn string_len(s: &str) -> usize {
    2 + s.len()
        + s.bytes()
            .map(|b| usize::from(ESCAPED_EXTRA[usize::from(b)]))
            .sum::<usize>()
}

/// How many bytes more than one a byte takes in a JSON string: `\"`, `\\` and the
/// short escapes one more, other control characters (`\u001f`) five more.
const ESCAPED_EXTRA: [u8; 256] = {
    let mut extra = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        extra[b] = 5;
        b += 1;
    }
    extra[b'"' as usize] = 1;
    extra[b'\\' as usize] = 1;
    extra[b'\n' as usize] = 1;
    extra[b'\r' as usize] = 1;
    extra[b'\t' as usize] = 1;
    extra[0x08] = 1;
    extra[0x0c] = 1;
    extra
};

/// True when every byte of `s` is printable ASCII other than `"`, `\` and `|`: a
/// text JSON writes as it is (between quotes) and the text table shows as it is
/// (`|` separates its columns). Eight bytes at a time ([`plain_ascii`]).
pub(crate) fn plain(s: &str) -> bool {
    const ALSO: [char; 2] = ['"', '|'];
    let mut words = s.as_bytes().chunks_exact(8);
    for word in &mut words {
        match <[u8; 8]>::try_from(word) {
            Ok(word) if plain_ascii(u64::from_le_bytes(word), &ALSO) => {}
            _ => return false,
        }
    }
    words
        .remainder()
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\' && !ALSO.contains(&char::from(b)))
}

/// True when each of the eight bytes of `chunk` is printable ASCII (0x20–0x7e) and
/// neither `\` nor an ASCII character of `also` (the usual bit tricks: a byte below
/// `n` or equal to `c` leaves its high bit set in the expressions below).
pub(crate) fn plain_ascii(chunk: u64, also: &[char]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let has_byte = |b: u8| has_zero(chunk ^ (ONES * u64::from(b)));
    if chunk & HIGH != 0 || chunk.wrapping_sub(ONES * 0x20) & !chunk & HIGH != 0 {
        return false;
    }
    if has_byte(0x7f) || has_byte(b'\\') {
        return false;
    }
    also.iter()
        .filter_map(|&c| u8::try_from(c).ok().filter(u8::is_ascii))
        .all(|b| !has_byte(b))
}

/// The length of `i` in decimal, with its sign.
pub(crate) fn int_len(i: i64) -> usize {
    usize::from(i < 0)
        + i.unsigned_abs()
            .checked_ilog10()
            .map_or(1, |digits| digits as usize + 1)
}

/// The length of `n` as JSON writes it, without writing it anywhere.
fn number_len(n: &Number) -> usize {
    /// Counts what is written to it.
    struct Count(usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    if let Some(u) = n.as_u64() {
        return u.checked_ilog10().map_or(1, |digits| digits as usize + 1);
    }
    if let Some(i) = n.as_i64() {
        return 1 + i
            .unsigned_abs()
            .checked_ilog10()
            .map_or(1, |digits| digits as usize + 1);
    }
    let mut count = Count(0);
    let _ = std::fmt::Write::write_fmt(&mut count, format_args!("{n}"));
    count.0
}

/// The JSON for one value of type `ty` printed by PostgreSQL as `text`.
pub fn to_json(ty: &Type, text: Option<&str>) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    if let Kind::Domain(base) = ty.kind() {
        return to_json(base, Some(text));
    }
    if let Kind::Array(element) = ty.kind() {
        return match parse_array(text) {
            Some(items) => array_to_json(element, &items),
            None => Value::String(text.to_owned()),
        };
    }
    scalar(ty, text)
}

fn scalar(ty: &Type, text: &str) -> Value {
    // A domain reads like its base type.
    if let Kind::Domain(base) = ty.kind() {
        return scalar(base, text);
    }
    match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_owned())),
        Type::FLOAT4 | Type::FLOAT8 => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => {
                Number::from_f64(f).map_or_else(|| Value::String(text.to_owned()), Value::Number)
            }
            _ => Value::String(text.to_owned()),
        },
        Type::BOOL => Value::Bool(text == "t"),
        Type::JSON | Type::JSONB => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        Type::BYTEA => match decode_bytea_hex(text) {
            Some(bytes) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            None => Value::String(text.to_owned()),
        },
        _ => Value::String(text.to_owned()),
    }
}

fn array_to_json(element: &Type, items: &[ArrayItem]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|item| match item {
                ArrayItem::Null => Value::Null,
                ArrayItem::Value(text) => scalar(element, text),
                ArrayItem::Nested(inner) => array_to_json(element, inner),
            })
            .collect(),
    )
}

/// `\x48656c6c6f` (PostgreSQL's default `bytea_output = hex`) to bytes.
fn decode_bytea_hex(text: &str) -> Option<Vec<u8>> {
    let hex = text.strip_prefix("\\x")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Debug, PartialEq)]
enum ArrayItem {
    Null,
    Value(String),
    Nested(Vec<ArrayItem>),
}

/// Parses PostgreSQL's array text form: `{1,2,NULL}`, `{"a b","c\"d"}`, `{{1,2},{3,4}}`,
/// with an optional dimension prefix (`[0:1]={1,2}`). `None` for anything else.
fn parse_array(text: &str) -> Option<Vec<ArrayItem>> {
    let body = match text.find("={") {
        Some(at) if text.starts_with('[') => text.get(at + 1..)?,
        _ => text,
    };
    let chars: Vec<char> = body.chars().collect();
    let mut pos = 0;
    let items = parse_level(&chars, &mut pos, 0)?;
    (pos == chars.len()).then_some(items)
}

fn parse_level(chars: &[char], pos: &mut usize, depth: usize) -> Option<Vec<ArrayItem>> {
    // PostgreSQL allows at most 6 dimensions; more is not an array it printed.
    if depth > 6 || chars.get(*pos) != Some(&'{') {
        return None;
    }
    *pos += 1;
    let mut items = Vec::new();
    if chars.get(*pos) == Some(&'}') {
        *pos += 1;
        return Some(items);
    }
    loop {
        match chars.get(*pos)? {
            '{' => items.push(ArrayItem::Nested(parse_level(chars, pos, depth + 1)?)),
            '"' => {
                *pos += 1;
                let mut value = String::new();
                loop {
                    match chars.get(*pos)? {
                        '\\' => {
                            value.push(*chars.get(*pos + 1)?);
                            *pos += 2;
                        }
                        '"' => {
                            *pos += 1;
                            break;
                        }
                        c => {
                            value.push(*c);
                            *pos += 1;
                        }
                    }
                }
                items.push(ArrayItem::Value(value));
            }
            _ => {
                let start = *pos;
                while !matches!(chars.get(*pos)?, ',' | '}') {
                    *pos += 1;
                }
                let raw: String = chars.get(start..*pos)?.iter().collect();
                items.push(if raw == "NULL" {
                    ArrayItem::Null
                } else {
                    ArrayItem::Value(raw)
                });
            }
        }
        match chars.get(*pos)? {
            ',' => *pos += 1,
            '}' => {
                *pos += 1;
                return Some(items);
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The eight-at-a-time test says what a byte at a time says, wherever the byte
    /// that is not plain falls.
    #[test]
    fn plain_is_printable_ascii_without_quotes_backslashes_or_bars() {
        let slow = |s: &str| {
            s.bytes()
                .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\\' | b'|'))
        };
        for odd in [
            "\"", "\\", "|", "\n", "\u{7f}", "\u{1f}", "é", "\u{202e}", "~", " ",
        ] {
            for at in 0..20 {
                let text = format!("{}{odd}{}", "a".repeat(at), "b".repeat(19 - at));
                assert_eq!(plain(&text), slow(&text), "{text:?}");
            }
        }
        assert!(plain(""));
        assert!(plain("2026-12-08 00:00:00+00 ~ x"));
    }

    #[test]
    fn lengths_are_what_json_writes() {
        for value in [
            json!(0),
            json!(9),
            json!(10),
            json!(-1),
            json!(-10),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(-0.000123),
            json!(1e300),
            json!("a\"b\\c\nd\u{1}é"),
            json!({"k\"": [1, null, true, false, "x"]}),
        ] {
            assert_eq!(json_len(&value), value.to_string().len(), "{value}");
        }
    }

    #[test]
    fn scalars_keep_their_meaning() {
        let cases = [
            (Type::INT4, "42", json!(42)),
            (Type::INT8, "-9223372036854775808", json!(i64::MIN)),
            (
                Type::NUMERIC,
                "12345678901234567890.000000001",
                json!("12345678901234567890.000000001"),
            ),
            (Type::FLOAT8, "1.5", json!(1.5)),
            (Type::FLOAT8, "NaN", json!("NaN")),
            (Type::FLOAT4, "-Infinity", json!("-Infinity")),
            (Type::BOOL, "t", json!(true)),
            (Type::BOOL, "f", json!(false)),
            (Type::JSONB, r#"{"a": [1, null]}"#, json!({"a": [1, null]})),
            (Type::BYTEA, "\\x48690a", json!("SGkK")),
            (Type::TEXT, "hello", json!("hello")),
            (
                Type::UUID,
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            ),
        ];
        for (ty, text, expected) in cases {
            assert_eq!(to_json(&ty, Some(text)), expected, "{ty} {text}");
        }
        assert_eq!(to_json(&Type::INT4, None), Value::Null);
    }

    #[test]
    fn arrays_of_every_shape() {
        assert_eq!(
            to_json(&Type::INT4_ARRAY, Some("{1,2,NULL}")),
            json!([1, 2, null])
        );
        assert_eq!(
            to_json(&Type::TEXT_ARRAY, Some(r#"{"a b","c\"d",NULL,"NULL"}"#)),
            json!(["a b", "c\"d", null, "NULL"])
        );
        assert_eq!(
            to_json(&Type::INT4_ARRAY, Some("{{1,2},{3,4}}")),
            json!([[1, 2], [3, 4]])
        );
        assert_eq!(
            to_json(&Type::INT4_ARRAY, Some("[0:1]={7,8}")),
            json!([7, 8])
        );
        assert_eq!(to_json(&Type::TEXT_ARRAY, Some("{}")), json!([]));
        assert_eq!(
            to_json(&Type::NUMERIC_ARRAY, Some("{1.10,2}")),
            json!(["1.10", "2"])
        );
        // What does not parse stays text rather than failing.
        assert_eq!(to_json(&Type::INT4_ARRAY, Some("{1,2")), json!("{1,2"));
    }
}
