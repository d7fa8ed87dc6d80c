//! [`describe_table`]: everything about one table or view.

use serde::{Deserialize, Serialize};

use super::{ForeignKey, RELATION_HEAD, Row, USER_SCHEMAS, foreign_keys, key_columns};
use crate::database::{Database, QueryError};
use crate::params::Param;

/// One table or view, fully.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TableDescription {
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub name: String,
    /// `table`, `view`, `materialized view`, `partitioned table` or `foreign table`.
    pub kind: String,
    /// Its comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// PostgreSQL's estimate of its rows (tables; `None` before the first `ANALYZE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_rows: Option<i64>,
    /// Its columns, in order.
    pub columns: Vec<ColumnDescription>,
    /// Its primary key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<KeyConstraint>,
    /// Its unique constraints.
    pub unique: Vec<KeyConstraint>,
    /// Its foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
    /// Its check constraints.
    pub checks: Vec<CheckConstraint>,
    /// Its indexes (those behind constraints included).
    pub indexes: Vec<IndexInfo>,
    /// For a view or materialized view, its query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_definition: Option<String>,
}

/// A column, fully.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ColumnDescription {
    /// Its name.
    pub name: String,
    /// Its type, as PostgreSQL writes it.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether it may be NULL.
    pub nullable: bool,
    /// Its default expression (`nextval(…)`, `now()`), or for a generated column the
    /// expression it is computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `always` or `by default` for an identity column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// True for a generated (computed, stored) column.
    #[serde(default)]
    pub generated: bool,
    /// Its comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A primary key or unique constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyConstraint {
    /// Its name.
    pub name: String,
    /// Its columns, in key order.
    pub columns: Vec<String>,
}

/// A check constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckConstraint {
    /// Its name.
    pub name: String,
    /// Its definition, as PostgreSQL prints it (`CHECK ((price >= (0)::numeric))`).
    pub definition: String,
}

/// An index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IndexInfo {
    /// Its name.
    pub name: String,
    /// Its definition (`CREATE UNIQUE INDEX … USING btree (…)`).
    pub definition: String,
    /// Whether it is unique.
    pub unique: bool,
    /// Whether it is the primary key's.
    pub primary: bool,
}

fn describe_sql() -> String {
    let constraints = |kind: &str| {
        format!(
            "(SELECT COALESCE(json_agg(json_build_object('name', k.conname, 'columns', {cols}) \
                 ORDER BY k.conname), '[]'::json) \
               FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = '{kind}')",
            cols = key_columns("k.conkey", "k.conrelid"),
        )
    };
    format!(
        "SELECT {RELATION_HEAD}, \
                (SELECT COALESCE(json_agg(json_build_object(\
                     'name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod), \
                     'nullable', NOT a.attnotnull, \
                     'default', pg_catalog.pg_get_expr(d.adbin, d.adrelid), \
                     'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END, \
                     'generated', a.attgenerated <> '', \
                     'comment', pg_catalog.col_description(c.oid, a.attnum)) ORDER BY a.attnum), '[]'::json) \
                   FROM pg_catalog.pg_attribute a \
                   LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), \
                {primary}, {unique}, {fks}, \
                (SELECT COALESCE(json_agg(json_build_object('name', k.conname, \
                     'definition', pg_catalog.pg_get_constraintdef(k.oid, true)) ORDER BY k.conname), '[]'::json) \
                   FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'c'), \
                (SELECT COALESCE(json_agg(json_build_object('name', ic.relname, \
                     'definition', pg_catalog.pg_get_indexdef(i.indexrelid), \
                     'unique', i.indisunique, 'primary', i.indisprimary) ORDER BY ic.relname), '[]'::json) \
                   FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
                   WHERE i.indrelid = c.oid), \
                CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND {USER_SCHEMAS} \
           AND n.nspname = $1::text AND c.relname = $2::text",
        primary = constraints("p"),
        unique = constraints("u"),
        fks = foreign_keys("c.oid"),
    )
}

/// Everything about the table or view `schema.table`; `None` when the connection cannot
/// see one by that name.
///
/// # Errors
///
/// When the catalog query fails.
pub async fn describe_table(
    database: &Database,
    schema: &str,
    table: &str,
) -> Result<Option<TableDescription>, QueryError> {
    let output = database
        .read_all(&describe_sql(), &[Param::from(schema), Param::from(table)])
        .await?;
    let Some(row) = output.rows.get(0) else {
        return Ok(None);
    };
    let row = Row(Some(row));
    let primary: Vec<KeyConstraint> = row.parsed(6);
    Ok(Some(TableDescription {
        schema: row.string(0),
        name: row.string(1),
        kind: row.string(2),
        comment: row.text(3),
        estimated_rows: row.int(4),
        columns: row.parsed(5),
        primary_key: primary.into_iter().next(),
        unique: row.parsed(7),
        foreign_keys: row.parsed(8),
        checks: row.parsed(9),
        indexes: row.parsed(10),
        view_definition: row.text(11),
    }))
}
