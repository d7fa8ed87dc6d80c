//! # sluice-postgres: guarded PostgreSQL access as MCP tools
//!
//! This crate composes the SQL guard (`sluice-sqlguard`), a connection pool
//! (deadpool-postgres) and a permission policy (`sluice-auth`) into the database tools a
//! language model uses:
//!
//! - `listTables`: schemas, tables and views with their columns, types, nullability and
//!   primary keys;
//! - `queryDatabase { sql }`: one read-only query, judged by the read-only guard, run
//!   inside `BEGIN READ ONLY` with a statement timeout, rolled back, capped in rows and
//!   bytes;
//! - `executeDatabase { sql }`: one write, judged by the write guard, in a transaction
//!   that commits — only for callers allowed to write, hidden from everyone else and
//!   refused if called anyway.
//!
//! ## Tour
//!
//! - [`Database`] and [`DatabaseConfig`]: the pool, the start-up check, guarded
//!   [`read`](Database::read) and [`write`](Database::write). A read is one round trip:
//!   `BEGIN READ ONLY` with the statement timeout, the statement (PostgreSQL parses it as
//!   exactly one), `ROLLBACK`, sent together. A call dropped midway (the client
//!   cancelled it) cancels the statement on the server and closes that connection
//!   rather than returning a half-finished transaction to the pool. Optionally reads
//!   connect as a role that may only read ([`ReadConnection`]).
//! - [`tls`]: encryption and certificate checks as libpq's `sslmode` says, with rustls;
//!   [`parse_connection_string`] reads URLs and `key=value` strings with them.
//! - `PgTokenStore` (feature `oauth`): the OAuth token store of `sluice-auth`'s
//!   authorization server in PostgreSQL (schema `sluice_oauth`, hashes only), shared by
//!   every server process and kept across restarts.
//! - [`convert`]: values to faithful JSON (numeric as exact strings, bytea as base64,
//!   json as JSON, arrays as arrays, unknown types as text); results arrive in
//!   PostgreSQL's binary format and are decoded to exactly the same JSON.
//! - [`errors`]: database errors sanitised for the client, details to the log.
//! - [`introspect`]: the catalog behind `listTables`.
//! - [`tools::register`]: the three tools on a `sluice-mcp` server, each table's
//!   description as a resource (`postgres://table/{schema}/{table}`), with the
//!   per-caller filter; every call is logged (target `sluice::audit`) with the
//!   caller's login, the verdict and the duration.
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
//!     let database = Database::connect(DatabaseConfig::from_url("postgres://localhost/app")?).await?;
//!     let policy = PermissionPolicy::from_lists("alice", None);
//!     let server = sluice_postgres::tools::register(Server::builder("db", "1.0.0"), database, policy).build();
//!     sluice_mcp::transport::stdio::serve(&server, Identity::new("alice").into_extensions()).await?;
//!     Ok(())
//! }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

mod binary;
mod check_sql;
mod checked;
mod config;
pub mod convert;
mod database;
mod env;
pub mod errors;
pub mod introspect;
mod lease;
mod objects;
pub mod params;
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
    ConfigError, ConnectError, DatabaseConfig, ReadConnection, parse_connection_string,
};
pub use database::{ColumnInfo, Database, QueryError, QueryOutput};
pub use params::{MAX_PARAMS, Param, ParamError};
#[cfg(feature = "oauth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use token_store::PgTokenStore;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
