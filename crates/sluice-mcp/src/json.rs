//! JSON written by hand, for large answers.
//!
//! A tool's result goes into its response without passing through serde's string
//! escaping, which looks at one byte at a time: strings are escaped here eight bytes
//! at a time, to exactly the text `serde_json` writes (a unit test holds the two
//! together). A tool with a large structured result can write it the same way with
//! [`JsonWriter`], whose [`JsonText`] is valid JSON by construction and is copied into
//! the response as it is ([`CallToolResult::with_structured_text`]).
//!
//! ```
//! use sluice_mcp::json::JsonWriter;
//! use sluice_mcp::protocol::CallToolResult;
//!
//! let mut w = JsonWriter::new();
//! w.begin_object();
//! w.key("rows");
//! w.begin_array();
//! for (id, name) in [(1, "a"), (2, "b \"quoted\"")] {
//!     w.begin_array();
//!     w.i64(id);
//!     w.string(name);
//!     w.end_array();
//! }
//! w.end_array();
//! w.end_object();
//! let text = w.finish().unwrap();
//! assert_eq!(text.as_str(), r#"{"rows":[[1,"a"],[2,"b \"quoted\""]]}"#);
//! let result = CallToolResult::text("2 rows").with_structured_text(text);
//! assert!(result.structured_json().is_some());
//! ```
//!
//! [`CallToolResult::with_structured_text`]: crate::protocol::CallToolResult::with_structured_text

use serde::Serialize;

/// One complete JSON value as text, written by a [`JsonWriter`] (so valid by
/// construction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why [`JsonWriter::finish`] gave no text: the calls did not make one JSON value (a
/// key outside an object or where a value belongs, a value where a key belongs, a
/// container left open or closed twice, a second value at the top, or none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the writer's calls did not make one JSON value")]
pub struct IncompleteJson;

/// Writes one JSON value a piece at a time: containers opened and closed, keys and
/// values, with the commas and colons put in for you. Misuse is remembered and
/// [`JsonWriter::finish`] refuses the text, so a [`JsonText`] is always valid JSON.
#[derive(Debug, Default)]
pub struct JsonWriter {
    out: String,
    open: Vec<Open>,
    done: bool,
    misused: bool,
}

/// A container being written.
#[derive(Debug)]
enum Open {
    Array { empty: bool },
    Object { empty: bool, value_next: bool },
}

impl JsonWriter {
    /// An empty writer.
    pub fn new() -> Self {
        JsonWriter::default()
    }

    /// An empty writer with room for `bytes` bytes of text.
    pub fn with_capacity(bytes: usize) -> Self {
        JsonWriter {
            out: String::with_capacity(bytes),
            ..JsonWriter::default()
        }
    }

    /// Opens an object (as a value).
    pub fn begin_object(&mut self) {
        if self.value_slot() {
            self.out.push('{');
            self.open.push(Open::Object {
                empty: true,
                value_next: false,
            });
        }
    }

    /// Closes the object opened last.
    pub fn end_object(&mut self) {
        match self.open.last() {
            Some(Open::Object {
                value_next: false, ..
            }) if !self.misused => {
                self.open.pop();
                self.out.push('}');
                self.after_value();
            }
            _ => self.misused = true,
        }
    }

    /// Opens an array (as a value).
    pub fn begin_array(&mut self) {
        if self.value_slot() {
            self.out.push('[');
            self.open.push(Open::Array { empty: true });
        }
    }

    /// Closes the array opened last.
    pub fn end_array(&mut self) {
        match self.open.last() {
            Some(Open::Array { .. }) if !self.misused => {
                self.open.pop();
                self.out.push(']');
                self.after_value();
            }
            _ => self.misused = true,
        }
    }

    /// The key of the object's next member.
    pub fn key(&mut self, key: &str) {
        match self.open.last_mut() {
            Some(Open::Object { empty, value_next }) if !*value_next && !self.misused => {
                if !*empty {
                    self.out.push(',');
                }
                *empty = false;
                *value_next = true;
                push_string(&mut self.out, key);
                self.out.push(':');
            }
            _ => self.misused = true,
        }
    }

    /// A string value.
    pub fn string(&mut self, s: &str) {
        if self.value_slot() {
            push_string(&mut self.out, s);
            self.after_value();
        }
    }

    /// `null`.
    pub fn null(&mut self) {
        self.literal("null");
    }

    /// `true` or `false`.
    pub fn bool(&mut self, b: bool) {
        self.literal(if b { "true" } else { "false" });
    }

    /// An integer.
    pub fn i64(&mut self, n: i64) {
        self.literal(itoa::Buffer::new().format(n));
    }

    /// A float as `serde_json` writes it (shortest round-trip digits; `null` when it
    /// is not finite, as `serde_json` writes NaN and the infinities).
    pub fn f64(&mut self, f: f64) {
        if f.is_finite() {
            self.literal(zmij::Buffer::new().format_finite(f));
        } else {
            self.null();
        }
    }

    /// A number given as its JSON text (`-12`, `1.5e+300`), written as it is. False,
    /// and nothing written, when `text` is not a JSON number.
    pub fn number(&mut self, text: &str) -> bool {
        if !is_number(text) {
            return false;
        }
        self.literal(text);
        true
    }

    /// Any value, written by `serde_json`.
    ///
    /// # Errors
    ///
    /// `serde_json`'s, when `value` cannot be serialised (a map with keys that are not
    /// strings); nothing is written then.
    pub fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), serde_json::Error> {
        let text = serde_json::to_string(value)?;
        self.literal(&text);
        Ok(())
    }

    /// The text, when the calls made exactly one JSON value.
    ///
    /// # Errors
    ///
    /// [`IncompleteJson`] otherwise.
    pub fn finish(self) -> Result<JsonText, IncompleteJson> {
        if self.misused || !self.done || !self.open.is_empty() {
            return Err(IncompleteJson);
        }
        Ok(JsonText(self.out))
    }

    /// Writes a value's text that needs nothing escaped.
    fn literal(&mut self, text: &str) {
        if self.value_slot() {
            self.out.push_str(text);
            self.after_value();
        }
    }

    /// Whether a value may come next, with the comma before it written.
    fn value_slot(&mut self) -> bool {
        if self.misused {
            return false;
        }
        let allowed = match self.open.last_mut() {
            None => !self.done,
            Some(Open::Array { empty }) => {
                if !*empty {
                    self.out.push(',');
                }
                *empty = false;
                true
            }
            Some(Open::Object { value_next, .. }) => *value_next,
        };
        if !allowed {
            self.misused = true;
        }
        allowed
    }

    fn after_value(&mut self) {
        match self.open.last_mut() {
            None => self.done = true,
            Some(Open::Object { value_next, .. }) => *value_next = false,
            Some(Open::Array { .. }) => {}
        }
    }
}

/// True when `text` is a JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_number(text: &str) -> bool {
    let mut bytes = text.as_bytes();
    let digits = |bytes: &mut &[u8]| {
        let n = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        *bytes = bytes.get(n..).unwrap_or(&[]);
        n
    };
    if let [b'-', rest @ ..] = bytes {
        bytes = rest;
    }
    match bytes {
        [b'0', rest @ ..] => bytes = rest,
        [b'1'..=b'9', ..] => {
            digits(&mut bytes);
        }
        _ => return false,
    }
    if let [b'.', rest @ ..] = bytes {
        bytes = rest;
        if digits(&mut bytes) == 0 {
            return false;
        }
    }
    if let [b'e' | b'E', rest @ ..] = bytes {
        bytes = rest;
        if let [b'+' | b'-', rest @ ..] = bytes {
            bytes = rest;
        }
        if digits(&mut bytes) == 0 {
            return false;
        }
    }
    bytes.is_empty()
}

/// Appends `s` as a JSON string, quotes included, escaped as `serde_json` escapes it:
/// `\"`, `\\`, the short escapes `\b \f \n \r \t`, other control characters as
/// `\u00xx`; everything else (any other Unicode character) as it is.
pub(crate) fn push_string(out: &mut String, s: &str) {
    out.reserve(s.len().saturating_add(2));
    out.push('"');
    let bytes = s.as_bytes();
    // `start..at` is the run not yet copied; an escape only ever stands for an ASCII
    // byte, so each run starts and ends on a character boundary.
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        if let Some(word) = bytes.get(at..at.saturating_add(8))
            && let Ok(word) = <[u8; 8]>::try_from(word)
            && !needs_escape(u64::from_le_bytes(word))
        {
            at += 8;
            continue;
        }
        let b = bytes.get(at).copied().unwrap_or(0);
        if let Some(escape) = escape_of(b) {
            out.push_str(s.get(start..at).unwrap_or(""));
            match escape {
                Escape::Short(c) => {
                    out.push('\\');
                    out.push(char::from(c));
                }
                Escape::Unicode => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.push_str("\\u00");
                    out.push(char::from(HEX[usize::from(b >> 4)]));
                    out.push(char::from(HEX[usize::from(b & 0xf)]));
                }
            }
            start = at + 1;
        }
        at += 1;
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push('"');
}

enum Escape {
    /// A backslash and this character.
    Short(u8),
    /// `\u00` and two hex digits.
    Unicode,
}

fn escape_of(b: u8) -> Option<Escape> {
    match b {
        b'"' => Some(Escape::Short(b'"')),
        b'\\' => Some(Escape::Short(b'\\')),
        b'\n' => Some(Escape::Short(b'n')),
        b'\r' => Some(Escape::Short(b'r')),
        b'\t' => Some(Escape::Short(b't')),
        0x08 => Some(Escape::Short(b'b')),
        0x0c => Some(Escape::Short(b'f')),
        0..0x20 => Some(Escape::Unicode),
        _ => None,
    }
}

/// True when one of the eight bytes of `word` is a control character, `"` or `\`
/// (the usual bit tricks: a byte below `n`, or equal to `c`, leaves its high bit set
/// in the expressions below; bytes of 0x80 and above never count).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH != 0;
    let has = |c: u8| below(word ^ (ONES * u64::from(c)), 1);
    below(word, 0x20) || has(b'"') || has(b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(s: &str) -> String {
        let mut out = String::new();
        push_string(&mut out, s);
        out
    }

    /// Every ASCII character, and characters beyond it, at every position of a word,
    /// come out as serde_json writes them.
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut odd: Vec<String> = (0u8..0x80).map(|b| char::from(b).to_string()).collect();
        odd.extend(
            [
                "é", "\u{202e}", "\u{7f}", "\u{80}", "日本", "😀", "\u{2028}",
            ]
            .map(String::from),
        );
        for c in &odd {
            for at in 0..17 {
                let text = format!("{}{c}{}", "a".repeat(at), "b".repeat(16 - at));
                assert_eq!(
                    ours(&text),
                    serde_json::to_string(&text).unwrap(),
                    "{text:?}"
                );
            }
        }
        let mixed = "line one | \"quoted\" \\ tab\there\nnext\r\u{1}\u{1f}é😀 end";
        assert_eq!(ours(mixed), serde_json::to_string(mixed).unwrap());
        assert_eq!(ours(""), "\"\"");
    }

    /// What the writer makes parses back to what serde_json makes of the same value.
    #[test]
    fn written_values_are_the_json_serde_writes() {
        let mut w = JsonWriter::with_capacity(64);
        w.begin_object();
        w.key("a\"b");
        w.begin_array();
        w.null();
        w.bool(true);
        w.i64(i64::MIN);
        w.f64(1e300);
        w.f64(f64::NAN);
        assert!(w.number("-0.0005"));
        w.string("x\ny");
        w.value(&serde_json::json!({"k": [1, "v"]})).unwrap();
        w.begin_array();
        w.end_array();
        w.begin_object();
        w.end_object();
        w.end_array();
        w.key("n");
        w.i64(7);
        w.end_object();
        let text = w.finish().unwrap();
        let expected = serde_json::json!({"a\"b": [null, true, i64::MIN, 1e300, null, -0.5e-3,
            "x\ny", {"k": [1, "v"]}, [], {}], "n": 7});
        assert_eq!(text.as_str(), serde_json::to_string(&expected).unwrap());
    }

    /// Calls that do not make one value leave no text.
    #[test]
    fn misuse_leaves_no_text() {
        let cases: [&dyn Fn(&mut JsonWriter); 8] = [
            &|_| {},
            &|w| w.begin_array(),
            &|w| {
                w.i64(1);
                w.i64(2);
            },
            &|w| {
                w.begin_object();
                w.i64(1);
                w.end_object();
            },
            &|w| {
                w.begin_object();
                w.key("k");
                w.end_object();
            },
            &|w| {
                w.begin_array();
                w.key("k");
                w.end_array();
            },
            &|w| {
                w.begin_array();
                w.end_object();
            },
            &|w| {
                w.begin_array();
                w.end_array();
                w.end_array();
            },
        ];
        for (i, case) in cases.iter().enumerate() {
            let mut w = JsonWriter::new();
            case(&mut w);
            assert_eq!(w.finish(), Err(IncompleteJson), "case {i}");
        }
    }

    #[test]
    fn numbers_are_checked() {
        for good in ["0", "-0", "12", "1.5", "1e300", "1E+3", "-2.5e-7", "0.0"] {
            assert!(is_number(good), "{good}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "+1", "NaN", "1 ", "0x1", "1.5.5",
        ] {
            assert!(!is_number(bad), "{bad}");
        }
    }
}
