//! [`list_tables`]: tables and views a page at a time.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{RELATION_HEAD, Row, TableInfo, USER_SCHEMAS, foreign_keys, key_columns};
use crate::database::{Database, QueryError};
use crate::errors::ClientError;
use crate::params::Param;

/// Which tables [`list_tables`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListFilter {
    /// Only this schema.
    pub schema: Option<String>,
    /// Only names matching this pattern, case-insensitively: plain text matches anywhere
    /// in the name; with `%` it is an SQL `LIKE` pattern (`order%`, `%_log`).
    pub pattern: Option<String>,
    /// Where the previous page ended ([`TablePage::next_cursor`]).
    pub cursor: Option<String>,
    /// Most tables on a page (default and at most [`ListFilter::MAX_PAGE`]).
    pub limit: Option<usize>,
}

impl ListFilter {
    /// Most tables on one page.
    pub const MAX_PAGE: usize = 100;

    /// Every table, first page.
    pub fn new() -> Self {
        ListFilter::default()
    }

    /// Only `schema`.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Only names matching `pattern`.
    #[must_use]
    pub fn pattern(mut self, pattern: impl Into<String>) -> Self {
        self.pattern = Some(pattern.into());
        self
    }

    /// The page after `cursor`.
    #[must_use]
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// One page of tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TablePage {
    /// The tables and views of this page, by schema and name.
    pub tables: Vec<TableInfo>,
    /// How many tables and views match the filter, per schema.
    pub schemas: Vec<SchemaCount>,
    /// How many match the filter in all.
    pub total: u64,
    /// Pass it back ([`ListFilter::after`]) for the next page; `None` on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A schema and how many of its tables and views match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SchemaCount {
    /// The schema.
    pub schema: String,
    /// Its matching tables and views.
    pub tables: u64,
}

/// The filter shared by the page and the counts: `$1` schema, `$2` name pattern.
const FILTER: &str = "c.relkind IN ('r', 'v', 'm', 'p', 'f') \
     AND ($1::text IS NULL OR n.nspname = $1::text) \
     AND ($2::text IS NULL OR c.relname ILIKE $2::text)";

fn page_sql() -> String {
    format!(
        "SELECT {RELATION_HEAD}, \
                (SELECT COALESCE(json_agg(json_build_object(\
                     'name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod), \
                     'nullable', NOT a.attnotnull, \
                     'primaryKey', COALESCE(a.attnum = ANY (pk.indkey::int2[]), false), \
                     'comment', pg_catalog.col_description(c.oid, a.attnum)) ORDER BY a.attnum), '[]'::json) \
                   FROM pg_catalog.pg_attribute a \
                   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), \
                {pk}, {fks} \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary \
         WHERE {FILTER} AND {USER_SCHEMAS} \
           AND (n.nspname, c.relname) > ($3::text, $4::text) \
         ORDER BY n.nspname, c.relname \
         LIMIT $5::int8",
        pk = key_columns("pk.indkey::int2[]", "c.oid"),
        fks = foreign_keys("c.oid"),
    )
}

fn counts_sql() -> String {
    format!(
        "SELECT n.nspname, count(*) FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE {FILTER} AND {USER_SCHEMAS} GROUP BY n.nspname ORDER BY n.nspname"
    )
}

/// One page of the tables and views the connection can see, with the counts per schema.
///
/// # Errors
///
/// When the cursor is not one this function gave, or the catalog query fails.
pub async fn list_tables(
    database: &Database,
    filter: &ListFilter,
) -> Result<TablePage, QueryError> {
    let (after_schema, after_name) = match &filter.cursor {
        None => (String::new(), String::new()),
        Some(cursor) => decode_cursor(cursor).ok_or_else(|| {
            QueryError::Database(ClientError::new(
                "invalid cursor: pass back the nextCursor of the previous page unchanged",
            ))
        })?,
    };
    let limit = filter
        .limit
        .unwrap_or(ListFilter::MAX_PAGE)
        .clamp(1, ListFilter::MAX_PAGE);
    let pattern = filter.pattern.as_ref().map(|p| {
        if p.contains('%') {
            p.clone()
        } else {
            format!("%{p}%")
        }
    });
    let common = [Param::from(filter.schema.clone()), Param::from(pattern)];
    let page_params = [
        common[0].clone(),
        common[1].clone(),
        Param::from(after_schema),
        Param::from(after_name),
        Param::from(limit + 1),
    ];
    let (page_sql, counts_sql) = (page_sql(), counts_sql());
    let (page, counts) = tokio::join!(
        database.read_all(&page_sql, &page_params),
        database.read_all(&counts_sql, &common)
    );
    let (page, counts) = (page?, counts?);
    let mut tables = Vec::with_capacity(page.rows.len());
    for row in page.rows.iter().take(limit) {
        let row = Row(Some(row));
        tables.push(TableInfo {
            schema: row.string(0),
            name: row.string(1),
            kind: row.string(2),
            comment: row.text(3),
            estimated_rows: row.int(4),
            columns: row.parsed(5),
            primary_key: row.parsed(6),
            foreign_keys: row.parsed(7),
        });
    }
    let more = page.row_count > limit;
    let next_cursor = if more {
        tables.last().map(|t| encode_cursor(&t.schema, &t.name))
    } else {
        None
    };
    let schemas: Vec<SchemaCount> = counts
        .rows
        .iter()
        .map(|row| SchemaCount {
            schema: Row(Some(row)).string(0),
            tables: Row(Some(row))
                .int(1)
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
        })
        .collect();
    Ok(TablePage {
        total: schemas.iter().map(|s| s.tables).sum(),
        tables,
        schemas,
        next_cursor,
    })
}

fn encode_cursor(schema: &str, name: &str) -> String {
    let json = serde_json::json!([schema, name]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let (schema, name): (String, String) = serde_json::from_slice(&bytes).ok()?;
    Some((schema, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = encode_cursor("public", "order \"items\"");
        assert_eq!(
            decode_cursor(&cursor),
            Some(("public".to_owned(), "order \"items\"".to_owned()))
        );
        assert_eq!(decode_cursor("not a cursor"), None);
        assert_eq!(
            decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("[1]")),
            None
        );
    }
}
