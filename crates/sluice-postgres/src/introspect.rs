//! What the database holds: schemas, tables and views, their columns and keys.

use serde::Serialize;

use crate::database::{Database, QueryError};

/// A table or view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TableInfo {
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub name: String,
    /// `table`, `view`, `materialized view`, `partitioned table` or `foreign table`.
    pub kind: String,
    /// Its columns, in order.
    pub columns: Vec<TableColumn>,
}

/// A column of a table or view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TableColumn {
    /// Its name.
    pub name: String,
    /// Its type, as PostgreSQL writes it (`character varying(40)`, `numeric(12,2)`).
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether it may be NULL.
    pub nullable: bool,
    /// Whether it is part of the primary key.
    pub primary_key: bool,
}

/// The catalog query behind [`list_tables`]: every table-like relation outside the
/// system schemas, with each column's type, nullability and primary-key membership.
const TABLES_SQL: &str = "\
SELECT n.nspname AS schema, c.relname AS name,
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                      WHEN 'p' THEN 'partitioned table' WHEN 'f' THEN 'foreign table' END AS kind,
       a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
       NOT a.attnotnull AS nullable,
       COALESCE(a.attnum = ANY (i.indkey), false) AS primary_key
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY n.nspname, c.relname, a.attnum";

/// Lists the tables and views the connection can see, with their columns.
///
/// # Errors
///
/// When the catalog query fails.
pub async fn list_tables(database: &Database) -> Result<Vec<TableInfo>, QueryError> {
    let output = database.read_all(TABLES_SQL).await?;
    let mut tables: Vec<TableInfo> = Vec::new();
    for row in output.rows {
        let text = |i: usize| {
            row.get(i)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let flag = |i: usize| {
            row.get(i)
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
        };
        let (schema, name) = (text(0), text(1));
        let column = TableColumn {
            name: text(3),
            type_name: text(4),
            nullable: flag(5),
            primary_key: flag(6),
        };
        match tables.last_mut() {
            Some(last) if last.schema == schema && last.name == name => last.columns.push(column),
            _ => tables.push(TableInfo {
                schema,
                name,
                kind: text(2),
                columns: vec![column],
            }),
        }
    }
    Ok(tables)
}
