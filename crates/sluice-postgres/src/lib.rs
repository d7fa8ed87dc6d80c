//! # sluice-postgres: guarded PostgreSQL access as MCP tools
//!
//! This crate composes the SQL guard (`sluice-sqlguard`), a connection pool
//! (deadpool-postgres) and a permission policy (`sluice-auth`) into the database tools a
//! language model uses:
//!
//! - `listTables`, `describeTable`: schemas, tables and views with their columns, types,
//!   keys, comments and estimated rows, a page at a time; everything about one table;
//! - `explainQuery { sql, analyze? }`: a read's plan and a summary;
//! - `queryDatabase { sql, params?, offset? }`: one read-only query, judged by the read-only
//!   guard, run inside `BEGIN READ ONLY` with a statement timeout, rolled back, capped in
//!   rows and bytes; values for `$1 … $n` as bind parameters;
//! - `executeDatabase { sql, params? }`: one write, judged by the write guard, in a
//!   transaction that commits — only for callers allowed to write, hidden from everyone
//!   else and refused if called anyway.
//!
//! Without the `tools` feature it is the guarded [`Database`] alone, for use under
//! another MCP framework.
//!
//! ## Tour
//!
//! - [`Database`] and [`DatabaseConfig`]: the pool, the start-up check, guarded
//!   [`read`](Database::read) and [`write`](Database::write), and with bind parameters
//!   [`read_with`](Database::read_with) and [`write_with`](Database::write_with)
//!   ([`Param`]: values never become SQL). A statement is one round trip: the transaction
//!   with its timeout, the catalog check, the statement (PostgreSQL parses it as exactly
//!   one) and the end, sent together; reads are always rolled back. A call dropped midway
//!   (the client cancelled it) cancels the statement on the server and closes that
//!   connection rather than returning a half-finished transaction to the pool. Optionally
//!   reads connect as a role that may only read ([`ReadConnection`]).
//! - [`DatabaseConfig::from_url_or_env`] / [`from_env`](DatabaseConfig::from_env): libpq's
//!   connection strings and environment (`PGHOST`, `PGUSER`, `~/.pgpass`, `PGSSLMODE`, …)
//!   as `psql` reads them; [`tls`]: encryption and certificate checks as `sslmode` says,
//!   with rustls (feature `tls`).
//! - [`Databases`]: several named databases in one server, the first the default, each
//!   with its own configuration; one that is down at start-up is retried and serves once
//!   it answers, without stopping the others. The tools then take a `database` argument.
//! - [`DatabaseConfig::least_privilege`] ([`PrivilegeCheck`]): inspect the roles at
//!   connect ([`posture`]), warn, or refuse.
//! - `audit` (feature `audit`): every audit event in a PostgreSQL table of its own,
//!   through a bounded queue that never holds a call up.
//! - `PgTokenStore` (feature `oauth`): the OAuth token store of `sluice-auth`'s
//!   authorization server in PostgreSQL (schema `sluice_oauth`, hashes only), shared by
//!   every server process and kept across restarts.
//! - [`convert`]: values to faithful JSON (numeric as exact strings, bytea as base64,
//!   json as JSON, arrays as arrays, unknown types as text); results arrive in
//!   PostgreSQL's binary format and are decoded to exactly the same JSON.
//! - [`errors`]: database errors sanitised for the client, details to the log.
//! - [`introspect`]: the catalog behind `listTables`.
//! - `tools` (feature `tools`): `listTables`, `queryDatabase { sql, params? }`,
//!   `executeDatabase { sql, params? }` and the table resources
//!   (`postgres://table/{schema}/{table}`), all at once with `tools::DatabaseTools` or
//!   one by one, with the per-caller filter; every call checks the permission again and
//!   is logged (target `sluice::audit`) with the caller's login, the verdict and the
//!   duration. The shared pieces (`tools::authorise`, `tools::audit`, `tools::render`)
//!   are public, so a team's own tools behave the same way.
//!
//! ## Example
//!
//! ```no_run
//! use sluice_auth::{Identity, PermissionPolicy};
//! use sluice_mcp::Server;
//! use sluice_postgres::{Database, DatabaseConfig};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let database = Database::connect(DatabaseConfig::from_url_or_env(Some("postgres:///app"))?).await?;
//!     let policy = PermissionPolicy::from_lists("alice", None);
//!     let tools = sluice_postgres::tools::DatabaseTools::new(database, policy);
//!     let server = tools.register(Server::builder("db", "1.0.0")).build();
//!     sluice_mcp::transport::stdio::serve(&server, Identity::new("alice").into_extensions()).await?;
//!     Ok(())
//! }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

#[cfg(feature = "audit")]
#[cfg_attr(docsrs, doc(cfg(feature = "audit")))]
pub mod audit;
mod batching;
mod binary;
mod check_sql;
mod checked;
mod config;
pub mod convert;
mod database;
mod databases;
mod env;
pub mod errors;
pub mod introspect;
mod lease;
mod objects;
pub mod params;
pub mod posture;
mod reuse;
mod row_set;
mod session;
pub mod setup;
pub mod tls;
#[cfg(feature = "oauth")]
mod token_store;
#[cfg(feature = "tools")]
#[cfg_attr(docsrs, doc(cfg(feature = "tools")))]
pub mod tools;

pub use errors::ClientError;
/// The SQL guard this crate runs: [`DatabaseConfig::read_guard`] and `write_guard` are its
/// [`Guard`]s, and a refusal is its [`Refusal`].
pub use sluice_sqlguard;
pub use sluice_sqlguard::{Guard, Refusal};
/// The tokio-postgres this crate is built on: [`DatabaseConfig::postgres`] is its
/// [`Config`](tokio_postgres::Config), and [`errors::sanitise`] takes its errors.
pub use tokio_postgres;

pub use config::{
    ConfigError, ConnectError, DatabaseConfig, PrivilegeCheck, ReadConnection,
    parse_connection_string,
};
pub use database::{Cap, ColumnInfo, Database, PoolUsage, QueryError, QueryOutput};
pub use databases::{DEFAULT_NAME, DatabaseStatus, Databases, Unavailable, is_database_name};
pub use params::{MAX_PARAMS, Param, ParamError};
pub use row_set::{Row, RowSet, ValueRef};
#[cfg(feature = "oauth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use token_store::PgTokenStore;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
