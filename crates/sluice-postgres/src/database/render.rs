//! Values the binary decoders do not read, printed by PostgreSQL itself.
//!
//! A result arrives in binary; a few types (money, geometric types, ranges, an
//! extension's own, anonymous records, …) and a few values (a date the decoders would
//! print differently than the server's `DateStyle`) are not decoded here. Their bytes go
//! back to the server as a parameter of that type, `SELECT format('%s', $1)`, which runs
//! the type's receive and output functions (a cast to `text` would not always: `inet`'s
//! adds the netmask): the text is exactly what the text protocol would
//! have shown, without running the statement again (a write must run once). Anonymous
//! records have no receive function; their fields are taken apart here and each is
//! printed the same way.

use std::error::Error;

use crate::database::connections::Object;
use bytes::BytesMut;
use futures_util::{StreamExt, future, pin_mut};
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type};

/// A value of a result still to be printed: where it goes and its bytes.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) row: usize,
    pub(super) column: usize,
    pub(super) ty: Type,
    pub(super) raw: Vec<u8>,
}

/// Printing failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// PostgreSQL cannot read this type back from its binary form.
    Unrenderable(String),
    /// The database failed otherwise.
    Database(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Database(e)
    }
}

/// How one value is printed: by the server, or as a record of such values.
enum Piece {
    Leaf(usize),
    Record(Vec<Option<Piece>>),
}

/// Anonymous records nest at most this deep before they count as unprintable.
const MAX_DEPTH: usize = 32;

/// The text of each pending value, in order, printed in a read-only transaction under
/// the statement timeout (a type's output function is the only code that runs).
pub(super) async fn texts(
    client: &Object,
    pending: &[Pending],
    statement_timeout_ms: u128,
) -> Result<Vec<String>, Failure> {
    let mut leaves: Vec<(Type, &[u8])> = Vec::new();
    let mut pieces = Vec::with_capacity(pending.len());
    for value in pending {
        pieces.push(split(&value.ty, &value.raw, &mut leaves, 0)?);
    }
    let begin = format!("BEGIN READ ONLY; SET LOCAL statement_timeout = {statement_timeout_ms}");
    let printed = future::join_all(leaves.iter().map(|(ty, raw)| print(client, ty, raw)));
    let (begun, printed, ended) = tokio::join!(
        client.batch_execute(&begin),
        printed,
        client.batch_execute("ROLLBACK")
    );
    begun?;
    let mut texts = Vec::with_capacity(printed.len());
    for (outcome, (ty, _)) in printed.into_iter().zip(&leaves) {
        match outcome {
            Ok(text) => texts.push(text),
            Err(e) => {
                return Err(match crate::errors::sqlstate_of(&e) {
                    // "no binary input function", "cannot accept a value of type …"
                    Some("42883" | "0A000" | "42846") => {
                        Failure::Unrenderable(ty.name().to_owned())
                    }
                    _ => Failure::Database(e),
                });
            }
        }
    }
    ended?;
    Ok(pieces.iter().map(|piece| compose(piece, &texts)).collect())
}

/// Takes a value apart into what the server prints.
fn split<'a>(
    ty: &Type,
    raw: &'a [u8],
    leaves: &mut Vec<(Type, &'a [u8])>,
    depth: usize,
) -> Result<Piece, Failure> {
    if *ty == Type::RECORD {
        if depth >= MAX_DEPTH {
            return Err(Failure::Unrenderable("record".to_owned()));
        }
        let fields =
            record_fields(raw).ok_or_else(|| Failure::Unrenderable("record".to_owned()))?;
        let mut pieces = Vec::with_capacity(fields.len());
        for (oid, value) in fields {
            pieces.push(match value {
                None => None,
                Some(bytes) => Some(split(&type_of(oid), bytes, leaves, depth + 1)?),
            });
        }
        return Ok(Piece::Record(pieces));
    }
    if *ty == Type::RECORD_ARRAY {
        return Err(Failure::Unrenderable("record[]".to_owned()));
    }
    // An `unknown` (an untyped literal in a record) is sent as its text; as a
    // parameter type it would be inferred, and there is nothing to infer from.
    let ty = if *ty == Type::UNKNOWN {
        Type::TEXT
    } else {
        ty.clone()
    };
    leaves.push((ty, raw));
    Ok(Piece::Leaf(leaves.len() - 1))
}

/// A type by OID: the built-in one, else a stand-in that carries the OID (all the
/// server needs to read a parameter).
fn type_of(oid: u32) -> Type {
    Type::from_oid(oid)
        .unwrap_or_else(|| Type::new(format!("oid {oid}"), oid, Kind::Simple, String::new()))
}

/// A record's field: its type's OID and its bytes (`None`: `NULL`).
type Field<'a> = (u32, Option<&'a [u8]>);

/// The fields of a record in binary: a count, then each field's type OID, length (`-1`
/// for `NULL`) and bytes. `None` when the bytes are not such a record.
fn record_fields(raw: &[u8]) -> Option<Vec<Field<'_>>> {
    let (count, mut rest) = take_i32(raw)?;
    let count = usize::try_from(count).ok()?;
    let mut fields = Vec::with_capacity(count.min(1600));
    for _ in 0..count {
        let (oid, after) = take_i32(rest)?;
        let (len, after) = take_i32(after)?;
        let oid = u32::from_be_bytes(oid.to_be_bytes());
        if len < 0 {
            fields.push((oid, None));
            rest = after;
        } else {
            let len = usize::try_from(len).ok()?;
            let value = after.get(..len)?;
            fields.push((oid, Some(value)));
            rest = after.get(len..)?;
        }
    }
    rest.is_empty().then_some(fields)
}

fn take_i32(raw: &[u8]) -> Option<(i32, &[u8])> {
    let bytes: [u8; 4] = raw.get(..4)?.try_into().ok()?;
    Some((i32::from_be_bytes(bytes), raw.get(4..)?))
}

/// The text of a piece, a record as `record_out` prints it.
fn compose(piece: &Piece, texts: &[String]) -> String {
    match piece {
        Piece::Leaf(i) => texts.get(*i).cloned().unwrap_or_default(),
        Piece::Record(fields) => {
            let mut out = String::from("(");
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(field) = field {
                    quote_field(&compose(field, texts), &mut out);
                }
            }
            out.push(')');
            out
        }
    }
}

/// A record field as `record_out` writes it: in double quotes (with `"` and `\`
/// doubled) when it is empty or holds a quote, backslash, parenthesis, comma or space.
fn quote_field(text: &str, out: &mut String) {
    let needs_quotes = text.is_empty()
        || text.bytes().any(|b| {
            matches!(b, b'"' | b'\\' | b'(' | b')' | b',') || b.is_ascii_whitespace() || b == 0x0b
        });
    if !needs_quotes {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('"');
}

/// One value printed by the server.
async fn print(client: &Object, ty: &Type, raw: &[u8]) -> Result<String, tokio_postgres::Error> {
    let stream = client
        .query_typed_raw(
            "SELECT pg_catalog.format('%s', $1)",
            [(Bytes(raw), ty.clone())],
        )
        .await?;
    pin_mut!(stream);
    let mut text = String::new();
    while let Some(row) = stream.next().await {
        let row = row?;
        let value: Option<Text> = row.try_get(0)?;
        if let Some(Text(value)) = value {
            text = value;
        }
    }
    Ok(text)
}

/// A value's bytes, sent in binary as whatever type the parameter has.
#[derive(Debug)]
struct Bytes<'a>(&'a [u8]);

impl ToSql for Bytes<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// The text the server printed.
struct Text(String);

impl<'a> FromSql<'a> for Text {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Text(String::from_utf8_lossy(raw).into_owned()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_fields_read_or_refuse() {
        // Two fields: int4 7, and NULL text.
        let mut raw = 2i32.to_be_bytes().to_vec();
        raw.extend(23u32.to_be_bytes());
        raw.extend(4i32.to_be_bytes());
        raw.extend(7i32.to_be_bytes());
        raw.extend(25u32.to_be_bytes());
        raw.extend((-1i32).to_be_bytes());
        let fields = record_fields(&raw).unwrap();
        assert_eq!(
            fields,
            vec![(23, Some(&7i32.to_be_bytes()[..])), (25, None)]
        );
        assert!(record_fields(&raw[..raw.len() - 1]).is_none());
        assert!(record_fields(&[0xff, 0xff, 0xff, 0xff]).is_none());
        let mut long = raw.clone();
        long.push(0);
        assert!(record_fields(&long).is_none());
    }

    #[test]
    fn records_print_as_record_out_does() {
        let texts: Vec<String> = ["1", "", "a b", "x\"y\\z", "(1,2)", "plain"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let piece = Piece::Record(vec![
            Some(Piece::Leaf(0)),
            None,
            Some(Piece::Leaf(1)),
            Some(Piece::Leaf(2)),
            Some(Piece::Leaf(3)),
            Some(Piece::Record(vec![
                Some(Piece::Leaf(5)),
                Some(Piece::Leaf(4)),
            ])),
        ]);
        assert_eq!(
            compose(&piece, &texts),
            r#"(1,,"","a b","x""y\\z","(plain,""(1,2)"")")"#
        );
    }
}
