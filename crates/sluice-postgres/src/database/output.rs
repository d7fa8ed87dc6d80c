//! What a statement returns: [`QueryOutput`], and the caps that cut it.

use serde::Serialize;
use serde_json::Value;
use tokio_postgres::types::{Kind, Type};

use crate::RowSet;

/// A column of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ColumnInfo {
    /// Its name.
    pub name: String,
    /// Its PostgreSQL type name (`int4`, `text`, `int4[]`, an enum's own name, …).
    #[serde(rename = "type")]
    pub type_name: String,
}

impl ColumnInfo {
    /// A column named `name` of the type named `type_name`.
    pub fn new(name: impl Into<String>, type_name: impl Into<String>) -> Self {
        ColumnInfo {
            name: name.into(),
            type_name: type_name.into(),
        }
    }

    pub(crate) fn of(column: &tokio_postgres::Column) -> Self {
        ColumnInfo {
            name: column.name().to_owned(),
            type_name: type_name(column.type_()),
        }
    }
}

/// The result of a statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct QueryOutput {
    /// The columns (empty for a write without `RETURNING`).
    pub columns: Vec<ColumnInfo>,
    /// The rows, each a list of values in column order.
    pub rows: RowSet,
    /// Rows returned here.
    pub row_count: usize,
    /// True when the caps cut the result short.
    pub truncated: bool,
    /// Which cap cut it, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cut_by: Option<Cap>,
    /// Rows the database reported for the statement (selected, inserted, updated, …).
    pub rows_affected: Option<u64>,
}

impl QueryOutput {
    /// A result of `columns` and `rows`, not cut, with no count from the database.
    pub fn new(columns: Vec<ColumnInfo>, rows: impl Into<RowSet>) -> Self {
        let rows = rows.into();
        QueryOutput {
            columns,
            row_count: rows.len(),
            rows,
            truncated: false,
            cut_by: None,
            rows_affected: None,
        }
    }
}

/// The cap that cut a result short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Cap {
    /// The most rows a result may hold ([`DatabaseConfig::max_rows`](crate::DatabaseConfig::max_rows)).
    Rows,
    /// The most bytes of values ([`DatabaseConfig::max_bytes`](crate::DatabaseConfig::max_bytes)).
    Bytes,
}

/// What a value costs in a result beyond its own encoding: `", "` between JSON values and
/// `" | "` between text columns.
pub(crate) const SEPARATORS: usize = 4;

/// Rows as they arrive, cut by the row cap and the byte cap exactly as they would be if
/// each row were measured when it arrives: a row is kept while fewer than `max_rows`
/// are kept and the bytes of all rows up to it stay within `max_bytes`.
#[derive(Debug)]
pub(crate) struct Rows {
    pub(crate) rows: RowSet,
    bytes: usize,
    pub(crate) truncated: bool,
    cut_by: Option<Cap>,
    /// Rows still to pass over before the first one kept.
    skip: u64,
    max_rows: usize,
    max_bytes: usize,
}

impl Rows {
    /// Rows that pass over the first `skip` before keeping any.
    pub(crate) fn skipping(skip: u64, max_rows: usize, max_bytes: usize) -> Self {
        Rows {
            rows: RowSet::new(),
            bytes: 0,
            truncated: false,
            cut_by: None,
            skip,
            max_rows,
            max_bytes,
        }
    }

    /// True once a row has been refused: the rest are only drained.
    pub(crate) fn full(&self) -> bool {
        self.truncated
    }

    /// Offers a row whose values are all known.
    pub(crate) fn push(&mut self, values: impl IntoIterator<Item = Value>) {
        for value in values {
            self.rows.push_value(value);
        }
        self.close_row();
    }

    /// Where the next row's values are written; [`Rows::close_row`] then offers it.
    pub(crate) fn open_row(&mut self) -> &mut RowSet {
        &mut self.rows
    }

    /// Offers the row written through [`Rows::open_row`], its pending values counted
    /// later by [`Rows::recount`]. True when the row was kept.
    pub(crate) fn close_row(&mut self) -> bool {
        if self.truncated {
            self.rows.discard_row();
            return false;
        }
        self.bytes = self.bytes.saturating_add(self.rows.open_row_cost());
        if self.rows.len() >= self.max_rows || self.bytes > self.max_bytes {
            self.truncated = true;
            self.cut_by = Some(if self.rows.len() >= self.max_rows {
                Cap::Rows
            } else {
                Cap::Bytes
            });
            self.rows.discard_row();
            return false;
        }
        self.rows.end_row();
        true
    }

    /// True while rows are still being passed over: the caller need not decode them.
    pub(crate) fn skipping_next(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            true
        } else {
            false
        }
    }

    /// Counts every value again (after values were filled in) and cuts at the first row
    /// that goes past the byte cap.
    pub(crate) fn recount(&mut self) {
        let mut bytes = 0usize;
        for i in 0..self.rows.len() {
            bytes = bytes.saturating_add(self.rows.row_cost(i));
            if bytes > self.max_bytes {
                self.rows.truncate(i);
                self.truncated = true;
                self.cut_by = Some(Cap::Bytes);
                return;
            }
        }
    }

    pub(crate) fn into_output(
        self,
        columns: Vec<ColumnInfo>,
        rows_affected: Option<u64>,
    ) -> QueryOutput {
        QueryOutput {
            row_count: self.rows.len(),
            columns,
            rows: self.rows,
            truncated: self.truncated,
            cut_by: self.cut_by,
            rows_affected,
        }
    }
}

/// A type's name as a reader expects it: `int4[]` rather than PostgreSQL's internal
/// `_int4` for arrays.
pub(crate) fn type_name(ty: &Type) -> String {
    match ty.kind() {
        Kind::Array(element) => format!("{}[]", element.name()),
        _ => ty.name().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Cutting after the fact keeps exactly the rows that cutting on arrival keeps.
    #[test]
    fn recount_cuts_where_arrival_would() {
        let values: Vec<Vec<Value>> = (0..20).map(|i| vec![json!("x".repeat(i))]).collect();
        for max_bytes in [0, 10, 50, 100, 400, 10_000] {
            for max_rows in [0, 1, 5, 20, 100] {
                let mut on_arrival = Rows::skipping(0, max_rows, max_bytes);
                let mut later = Rows::skipping(0, max_rows, max_bytes);
                for row in &values {
                    on_arrival.push(row.clone());
                    let open = later.open_row();
                    for _ in row {
                        open.push_pending();
                    }
                    later.close_row();
                }
                let kept = later.rows.len();
                for (i, row) in values.iter().take(kept).enumerate() {
                    for (j, value) in row.iter().enumerate() {
                        later.rows.fill(i, j, value.clone());
                    }
                }
                later.recount();
                assert_eq!(
                    on_arrival.rows, later.rows,
                    "{max_rows} rows, {max_bytes} bytes"
                );
                assert_eq!(on_arrival.truncated, later.truncated);
            }
        }
    }
}
