//! What the database holds: schemas, tables and views, their columns, keys, comments,
//! indexes and constraints — read from PostgreSQL's catalog through the read guard, in
//! read-only transactions, like every other read.
//!
//! - [`list_tables`]: one page of tables and views (filtered by schema and name pattern),
//!   each with its columns, primary key (one key, however many columns), foreign keys,
//!   comment and estimated row count, plus how many there are per schema — so a database
//!   of thousands of tables is listed a page at a time, with a cursor for the next.
//! - [`describe_table`]: everything about one table or view: columns with defaults and
//!   comments, primary, unique, foreign and check constraints, indexes, the view's
//!   definition.

mod describe;
mod list;

use crate::ValueRef;
use serde::{Deserialize, Serialize};

pub use describe::{
    CheckConstraint, ColumnDescription, IndexInfo, KeyConstraint, TableDescription, describe_table,
};
pub use list::{ListFilter, SchemaCount, TablePage, list_tables};

/// A table or view in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TableInfo {
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub name: String,
    /// `table`, `view`, `materialized view`, `partitioned table` or `foreign table`.
    pub kind: String,
    /// Its comment (`COMMENT ON TABLE`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// PostgreSQL's estimate of its rows (`pg_class.reltuples`); `None` before the first
    /// `ANALYZE` or for views.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_rows: Option<i64>,
    /// Its columns, in order.
    pub columns: Vec<TableColumn>,
    /// The columns of its primary key, in key order (empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    /// Its foreign keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
}

/// A column of a table or view in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    /// Its comment (`COMMENT ON COLUMN`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A foreign key: these columns reference those of another table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ForeignKey {
    /// The constraint's name.
    pub name: String,
    /// The referencing columns, in key order.
    pub columns: Vec<String>,
    /// The referenced table's schema.
    pub references_schema: String,
    /// The referenced table.
    pub references_table: String,
    /// The referenced columns, in the same order.
    pub references_columns: Vec<String>,
}

/// The schemas no listing shows: PostgreSQL's own.
pub(crate) const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

/// The columns of a key constraint or index, in key order, as a JSON array: `$attrs` is
/// the `int2[]` of attribute numbers, `$rel` the relation's OID.
pub(crate) fn key_columns(attrs: &str, rel: &str) -> String {
    format!(
        "(SELECT COALESCE(json_agg(ka.attname ORDER BY kn.ord), '[]'::json) \
           FROM unnest({attrs}) WITH ORDINALITY AS kn(attnum, ord) \
           JOIN pg_catalog.pg_attribute ka ON ka.attrelid = {rel} AND ka.attnum = kn.attnum)"
    )
}

/// The foreign keys of relation `rel` as a JSON array of [`ForeignKey`].
pub(crate) fn foreign_keys(rel: &str) -> String {
    format!(
        "(SELECT COALESCE(json_agg(json_build_object(\
              'name', f.conname, \
              'columns', {from}, \
              'referencesSchema', rn.nspname, 'referencesTable', rc.relname, \
              'referencesColumns', {to}) ORDER BY f.conname), '[]'::json) \
           FROM pg_catalog.pg_constraint f \
           JOIN pg_catalog.pg_class rc ON rc.oid = f.confrelid \
           JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
           WHERE f.conrelid = {rel} AND f.contype = 'f')",
        from = key_columns("f.conkey", "f.conrelid"),
        to = key_columns("f.confkey", "f.confrelid"),
    )
}

/// The first columns of every relation query: schema, name, kind, comment, estimated
/// rows (tables only; none before the first `ANALYZE`), in that order ([`Row`] 0–4).
pub(crate) const RELATION_HEAD: &str = "n.nspname, c.relname, \
     CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
          WHEN 'p' THEN 'partitioned table' WHEN 'f' THEN 'foreign table' END, \
     pg_catalog.obj_description(c.oid, 'pg_class'), \
     CASE WHEN c.relkind IN ('r', 'm', 'p', 'f') AND c.reltuples >= 0 THEN c.reltuples::int8 END";

/// One row of a catalog query, read by column (`None`: no row, every column `NULL`).
pub(crate) struct Row<'a>(pub(crate) Option<crate::Row<'a>>);

impl<'a> Row<'a> {
    fn get(&self, i: usize) -> Option<ValueRef<'a>> {
        self.0.as_ref().and_then(|row| row.get(i))
    }

    /// The text in column `i`; `None` for SQL `NULL`.
    pub(crate) fn text(&self, i: usize) -> Option<String> {
        match self.get(i)? {
            ValueRef::Text(s) => Some(s.to_owned()),
            _ => None,
        }
    }

    /// The text in column `i`, empty for `NULL`.
    pub(crate) fn string(&self, i: usize) -> String {
        self.text(i).unwrap_or_default()
    }

    /// The integer in column `i`.
    pub(crate) fn int(&self, i: usize) -> Option<i64> {
        match self.get(i)? {
            ValueRef::Int(n) => Some(n),
            _ => None,
        }
    }

    /// The boolean in column `i`, false for `NULL`.
    pub(crate) fn flag(&self, i: usize) -> bool {
        matches!(self.get(i), Some(ValueRef::Bool(true)))
    }

    /// The JSON in column `i` (built by the query itself) read as `T`; the default when
    /// it is `NULL`.
    pub(crate) fn parsed<T: serde::de::DeserializeOwned + Default>(&self, i: usize) -> T {
        match self.get(i) {
            Some(ValueRef::Json(value)) => T::deserialize(value).ok(),
            Some(ValueRef::Null) | None => None,
            Some(other) => T::deserialize(other.to_value()).ok(),
        }
        .unwrap_or_default()
    }
}
