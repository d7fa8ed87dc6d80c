//! The structured result of a read (`structuredContent`), written once, straight from
//! the rows, as JSON text: each float copied from the text kept when it was read,
//! each string escaped eight bytes at a time ([`sluice_mcp::json::JsonWriter`]), and
//! copied into the response as it is.

use sluice_mcp::json::{IncompleteJson, JsonText, JsonWriter};

use crate::database::QueryOutput;
use crate::{RowSet, ValueRef};

/// `{columns, rows, rowCount, truncated, cutBy, nextOffset, rowsAffected}`, as
/// [`super::shared::result_schema`] describes it.
///
/// # Errors
///
/// When a column list or an array or object value cannot be serialised (never, for
/// what the database gives: every key is a string), or the writer made no value.
pub(crate) fn write(
    output: &QueryOutput,
    next_offset: Option<u64>,
) -> Result<JsonText, WriteError> {
    let mut w = JsonWriter::with_capacity(output.rows.text_size_hint().saturating_add(256));
    w.begin_object();
    w.key("columns");
    w.value(&output.columns)?;
    w.key("rows");
    write_rows(&mut w, &output.rows)?;
    w.key("rowCount");
    w.value(&output.row_count)?;
    w.key("truncated");
    w.bool(output.truncated);
    w.key("cutBy");
    w.value(&output.cut_by)?;
    w.key("nextOffset");
    w.value(&next_offset)?;
    w.key("rowsAffected");
    w.value(&output.rows_affected)?;
    w.end_object();
    Ok(w.finish()?)
}

/// Why the structured result could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// A value serde_json refused.
    #[error("cannot serialise the structured result: {0}")]
    Serde(#[from] serde_json::Error),
    /// The writer was not given one value (a defect here).
    #[error("cannot serialise the structured result: {0}")]
    Incomplete(#[from] IncompleteJson),
}

fn write_rows(w: &mut JsonWriter, rows: &RowSet) -> Result<(), serde_json::Error> {
    w.begin_array();
    for row in rows.iter() {
        w.begin_array();
        for (i, value) in row.iter().enumerate() {
            match value {
                ValueRef::Null => w.null(),
                ValueRef::Bool(b) => w.bool(b),
                ValueRef::Int(n) => w.i64(n),
                ValueRef::Float(f) => {
                    // The text kept when it was read is what serde_json writes for it.
                    let kept = row.shown_as_is(i).is_some_and(|text| w.number(text));
                    if !kept {
                        w.f64(f);
                    }
                }
                ValueRef::Text(s) => w.string(s),
                ValueRef::Json(value) => w.value(value)?,
            }
        }
        w.end_array();
    }
    w.end_array();
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde_json::json;

    use super::*;
    use crate::ColumnInfo;
    use crate::database::Cap;

    /// What serde writes for the same fields (the structured result was written so
    /// before, and must not change).
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct BySerde<'a> {
        columns: &'a [ColumnInfo],
        rows: &'a RowSet,
        row_count: usize,
        truncated: bool,
        cut_by: Option<Cap>,
        next_offset: Option<u64>,
        rows_affected: Option<u64>,
    }

    #[test]
    fn the_structured_result_is_what_serde_writes() {
        let rows = vec![
            vec![json!(1), json!("a\"b\n|"), json!(1.5), json!(null)],
            vec![json!(-7), json!(""), json!(1e300), json!(true)],
            vec![
                json!(i64::MIN),
                json!("é 😀 \u{1}"),
                json!(-0.0),
                json!([1, {"k": "v"}]),
            ],
            vec![
                json!(u64::MAX),
                json!("NaN"),
                json!(2.5e-308),
                json!({"a": null}),
            ],
        ];
        let columns = vec![
            ColumnInfo::new("a", "int8"),
            ColumnInfo::new("b \"quoted\"", "text"),
            ColumnInfo::new("c", "float8"),
            ColumnInfo::new("d", "jsonb"),
        ];
        let mut output = QueryOutput::new(columns, rows);
        for (truncated, cut_by, next, affected) in [
            (false, None, None, None),
            (true, Some(Cap::Bytes), Some(40), Some(3)),
        ] {
            output.truncated = truncated;
            output.cut_by = cut_by;
            output.rows_affected = affected;
            let ours = write(&output, next).unwrap();
            let theirs = serde_json::to_string(&BySerde {
                columns: &output.columns,
                rows: &output.rows,
                row_count: output.row_count,
                truncated: output.truncated,
                cut_by: output.cut_by,
                next_offset: next,
                rows_affected: output.rows_affected,
            })
            .unwrap();
            assert_eq!(ours.as_str(), theirs);
        }
    }
}
