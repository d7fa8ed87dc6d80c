//! Bind parameters for `$1 … $n`: [`Param`].
//!
//! A parameter travels apart from the SQL text, so no value can change what the
//! statement is: the guard judges the SQL with its placeholders, PostgreSQL parses it
//! once, and the values are bound afterwards. There is nothing to quote.
//!
//! Values are sent in PostgreSQL's text format and the parameter's type is left to
//! PostgreSQL to infer from where the placeholder stands (`WHERE id = $1` makes `$1` the
//! type of `id`), exactly as `psql`'s `\bind` or libpq's `PQexecParams` with no types do.
//! A value that does not read as that type is the database's error, not a silent
//! conversion: `'abc'` for an `integer` fails; write `$1::integer` to choose a type
//! yourself.
//!
//! | Rust or JSON | sent as |
//! | --- | --- |
//! | `None`, `null` | SQL `NULL` |
//! | `bool`, `true`/`false` | `true` / `false` |
//! | integers, floats, JSON numbers | their decimal text (`NaN`, `Infinity`, `-Infinity` for floats) |
//! | `&str`, `String`, JSON strings | the text itself |
//! | `&[u8]`, `Vec<u8>` | `bytea` hex text (`\x…`) |
//! | JSON arrays | a PostgreSQL array (`{1,2,3}`), or JSON text where the parameter is `json`/`jsonb` |
//! | JSON objects | JSON text |
//!
//! ```
//! use sluice_postgres::Param;
//! use serde_json::json;
//!
//! let by_hand = [Param::from(42), Param::from("Widget"), Param::null()];
//! let from_json = Param::from_json_array(&json!([42, "Widget", null])).unwrap();
//! assert_eq!(by_hand.as_slice(), from_json.as_slice());
//! ```

use std::error::Error;
use std::fmt;

use bytes::BytesMut;
use serde_json::Value;
use tokio_postgres::types::{Format, IsNull, Kind, ToSql, Type};

/// Most parameters one statement may take: PostgreSQL's own limit.
pub const MAX_PARAMS: usize = u16::MAX as usize;

/// One bind parameter's value; see the [module documentation](self) for how each kind
/// is sent.
#[derive(Clone, PartialEq)]
pub struct Param(Repr);

#[derive(Clone, PartialEq)]
enum Repr {
    Null,
    /// Text as PostgreSQL reads it.
    Text(String),
    /// A JSON array or object: its form depends on the parameter's type.
    Json(Value),
}

impl Param {
    /// SQL `NULL`.
    pub fn null() -> Self {
        Param(Repr::Null)
    }

    /// A value in PostgreSQL's text form, read by the parameter type's input function.
    pub fn text(text: impl Into<String>) -> Self {
        Param(Repr::Text(text.into()))
    }

    /// A JSON value, as the [module documentation](self) describes.
    pub fn from_json(value: &Value) -> Self {
        match value {
            Value::Null => Param::null(),
            Value::Bool(b) => Param::from(*b),
            Value::Number(n) => Param::text(n.to_string()),
            Value::String(s) => Param::text(s.as_str()),
            Value::Array(_) | Value::Object(_) => Param(Repr::Json(value.clone())),
        }
    }

    /// The parameters of a JSON array, one per element (`$1` is the first).
    ///
    /// # Errors
    ///
    /// [`ParamError`] when `values` is not an array or has more than [`MAX_PARAMS`]
    /// elements.
    pub fn from_json_array(values: &Value) -> Result<Vec<Param>, ParamError> {
        let Value::Array(items) = values else {
            return Err(ParamError::NotAnArray);
        };
        if items.len() > MAX_PARAMS {
            return Err(ParamError::TooMany(items.len()));
        }
        Ok(items.iter().map(Param::from_json).collect())
    }

    /// True when this value's form depends on the parameter's type (a JSON array: a
    /// PostgreSQL array or JSON text), so the statement's parameter types are needed.
    pub(crate) fn needs_type(&self) -> bool {
        matches!(self.0, Repr::Json(Value::Array(_)))
    }

    /// The shape of the value for the audit log: its kind, never its content.
    pub fn shape(&self) -> &'static str {
        match &self.0 {
            Repr::Null => "null",
            Repr::Text(_) => "text",
            Repr::Json(Value::Array(_)) => "array",
            Repr::Json(_) => "object",
        }
    }
}

/// Parameters could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// `params` must be a JSON array.
    #[error("params must be an array of values, one for each of $1, $2, …")]
    NotAnArray,
    /// More parameters than PostgreSQL accepts.
    #[error("{0} parameters given; PostgreSQL accepts at most {MAX_PARAMS}")]
    TooMany(usize),
}

impl fmt::Debug for Param {
    /// Only the shape: parameter values may be secrets (and are user data).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Param({})", self.shape())
    }
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::text(value)
    }
}

impl From<String> for Param {
    fn from(value: String) -> Self {
        Param::text(value)
    }
}

impl From<&String> for Param {
    fn from(value: &String) -> Self {
        Param::text(value.as_str())
    }
}

impl From<bool> for Param {
    fn from(value: bool) -> Self {
        Param::text(if value { "true" } else { "false" })
    }
}

macro_rules! integer_params {
    ($($t:ty),*) => {$(
        impl From<$t> for Param {
            fn from(value: $t) -> Self {
                Param::text(value.to_string())
            }
        }
    )*};
}
integer_params!(
    i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, isize, usize
);

macro_rules! float_params {
    ($($t:ty),*) => {$(
        impl From<$t> for Param {
            fn from(value: $t) -> Self {
                Param::text(if value.is_nan() {
                    "NaN".to_owned()
                } else if value.is_infinite() {
                    if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
                } else {
                    value.to_string()
                })
            }
        }
    )*};
}
float_params!(f32, f64);

impl From<&[u8]> for Param {
    fn from(value: &[u8]) -> Self {
        let mut text = String::with_capacity(2 + 2 * value.len());
        text.push_str("\\x");
        for byte in value {
            text.push(char::from(HEX[usize::from(byte >> 4)]));
            text.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Param::text(text)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl From<Vec<u8>> for Param {
    fn from(value: Vec<u8>) -> Self {
        Param::from(value.as_slice())
    }
}

impl From<Value> for Param {
    fn from(value: Value) -> Self {
        Param::from_json(&value)
    }
}

impl From<&Value> for Param {
    fn from(value: &Value) -> Self {
        Param::from_json(value)
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(value: Option<T>) -> Self {
        value.map_or_else(Param::null, Into::into)
    }
}

/// A PostgreSQL array literal of JSON values: `{1,"a b",NULL,{2,3}}`.
fn array_literal(items: &[Value], out: &mut String) {
    out.push('{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            Value::Null => out.push_str("NULL"),
            Value::Array(inner) => array_literal(inner, out),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => quoted_element(s, out),
            Value::Object(_) => quoted_element(&item.to_string(), out),
        }
    }
    out.push('}');
}

/// An array element in double quotes, `"` and `\` escaped: always quoted, so `NULL`,
/// spaces, commas and braces in a string stay part of it.
fn quoted_element(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// What goes on the wire for `param` bound as `ty`.
fn wire_text(param: &Param, ty: &Type) -> Option<String> {
    match &param.0 {
        Repr::Null => None,
        Repr::Text(text) => Some(text.clone()),
        Repr::Json(value) => {
            let json = matches!(*ty, Type::JSON | Type::JSONB)
                || matches!(ty.kind(), Kind::Domain(base) if matches!(*base, Type::JSON | Type::JSONB));
            match value {
                Value::Array(items) if !json => {
                    let mut out = String::new();
                    array_literal(items, &mut out);
                    Some(out)
                }
                _ => Some(value.to_string()),
            }
        }
    }
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match wire_text(self, ty) {
            None => Ok(IsNull::Yes),
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    tokio_postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wire(param: &Param, ty: &Type) -> Option<String> {
        wire_text(param, ty)
    }

    #[test]
    fn values_are_sent_as_postgresql_reads_them() {
        assert_eq!(
            wire(&Param::from(-7i64), &Type::UNKNOWN).as_deref(),
            Some("-7")
        );
        assert_eq!(
            wire(&Param::from(true), &Type::UNKNOWN).as_deref(),
            Some("true")
        );
        assert_eq!(
            wire(&Param::from(f64::NAN), &Type::UNKNOWN).as_deref(),
            Some("NaN")
        );
        assert_eq!(
            wire(&Param::from(f64::NEG_INFINITY), &Type::UNKNOWN).as_deref(),
            Some("-Infinity")
        );
        assert_eq!(
            wire(&Param::from(&b"\x00\xff"[..]), &Type::BYTEA).as_deref(),
            Some("\\x00ff")
        );
        assert_eq!(wire(&Param::from(None::<i32>), &Type::INT4), None);
        assert_eq!(
            wire(&Param::from("it's; DROP TABLE x"), &Type::TEXT).as_deref(),
            Some("it's; DROP TABLE x")
        );
    }

    #[test]
    fn json_arrays_follow_the_parameter_type() {
        let array = Param::from_json(&json!([1, "a \"b\"", null, ["x,y"], {"k": 1}]));
        assert!(array.needs_type());
        assert_eq!(
            wire(&array, &Type::TEXT_ARRAY).as_deref(),
            Some(r#"{1,"a \"b\"",NULL,{"x,y"},"{\"k\":1}"}"#)
        );
        assert_eq!(
            wire(&array, &Type::JSONB).as_deref(),
            Some(r#"[1,"a \"b\"",null,["x,y"],{"k":1}]"#)
        );
        let object = Param::from_json(&json!({"a": [1]}));
        assert!(!object.needs_type());
        assert_eq!(
            wire(&object, &Type::UNKNOWN).as_deref(),
            Some(r#"{"a":[1]}"#)
        );
    }

    #[test]
    fn arrays_of_params_are_checked() {
        assert_eq!(
            Param::from_json_array(&json!({})),
            Err(ParamError::NotAnArray)
        );
        let many = Value::Array(vec![Value::Null; MAX_PARAMS + 1]);
        assert_eq!(
            Param::from_json_array(&many),
            Err(ParamError::TooMany(MAX_PARAMS + 1))
        );
        assert_eq!(Param::from_json_array(&json!([])).map(|p| p.len()), Ok(0));
    }

    #[test]
    fn debug_shows_no_value() {
        assert_eq!(format!("{:?}", Param::from("hunter2")), "Param(text)");
    }
}
