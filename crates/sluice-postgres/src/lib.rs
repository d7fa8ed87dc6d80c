//! # sluice-postgres: guarded PostgreSQL access as MCP tools
//!
//! This crate composes the SQL guard, a connection pool and a permission policy into
//! the database tools a language model uses:
//!
//! - `listTables`: schemas, tables and views with their columns, types and keys;
//! - `queryDatabase { sql }`: read-only queries, guarded, run in a read-only
//!   transaction with a statement timeout and capped results;
//! - `executeDatabase { sql }`: writes, only for callers allowed to write.
//!
//! Rows become type-faithful JSON, and database errors are sanitised before they reach
//! the client while their full detail goes to the server log.
#![doc(test(attr(deny(warnings))))]
