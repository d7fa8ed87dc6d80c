//! The pool and guarded execution: [`Database`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures_util::{StreamExt, pin_mut};
use serde::Serialize;
use serde_json::Value;
use sluice_sqlguard::{Guard, Refusal, Verdict};
use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::convert;
use crate::errors::{ClientError, sanitise};

/// How a [`Database`] connects and what it allows.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Where to connect.
    pub postgres: tokio_postgres::Config,
    /// Most connections in the pool (default 8).
    pub pool_size: usize,
    /// Longest a statement may run (default 30 s), enforced by PostgreSQL.
    pub statement_timeout: Duration,
    /// Longest a call waits for a pooled connection, and for a new connection to open
    /// (default 10 s).
    pub acquire_timeout: Duration,
    /// Most rows returned to the client (default 1000); the result says when it was cut.
    pub max_rows: usize,
    /// Most bytes of values returned to the client (default 1 MiB).
    pub max_bytes: usize,
    /// The guard for reads (default: the read-only policy).
    pub read_guard: Guard,
    /// The guard for writes (default: the write policy).
    pub write_guard: Guard,
}

impl DatabaseConfig {
    /// Defaults for a connection string (`postgres://…` URL or libpq `key=value` form).
    ///
    /// # Errors
    ///
    /// When the string is not a valid connection string.
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let postgres = url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| ConnectError::Config(e.to_string()))?;
        Ok(DatabaseConfig::new(postgres))
    }

    /// Defaults for a tokio-postgres configuration.
    pub fn new(postgres: tokio_postgres::Config) -> Self {
        DatabaseConfig {
            postgres,
            pool_size: 8,
            statement_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(10),
            max_rows: 1000,
            max_bytes: 1024 * 1024,
            read_guard: Guard::read_only(),
            write_guard: Guard::write(),
        }
    }
}

/// Connecting failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connection string is not valid.
    #[error("invalid database connection string: {0}")]
    Config(String),
    /// The pool could not be built.
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
    /// The database did not answer the start-up check.
    #[error("cannot reach the database at {target}: {reason}")]
    Unreachable {
        /// Where we tried (no password).
        target: String,
        /// What went wrong.
        reason: String,
    },
}

/// A statement was not run, or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The SQL guard refused it.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The database refused or failed it (sanitised).
    #[error("{0}")]
    Database(ClientError),
}

/// A column of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnInfo {
    /// Its name.
    pub name: String,
    /// Its PostgreSQL type name.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// The result of a statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryOutput {
    /// The columns (empty for a write without `RETURNING`).
    pub columns: Vec<ColumnInfo>,
    /// The rows, each an array of values in column order.
    pub rows: Vec<Vec<Value>>,
    /// Rows returned here.
    pub row_count: usize,
    /// True when the caps cut the result short.
    pub truncated: bool,
    /// Rows the database reported for the statement (selected, inserted, updated, …).
    pub rows_affected: Option<u64>,
}

/// A pool of PostgreSQL connections with guarded execution.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    config: Arc<DatabaseConfig>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("target", &self.target())
            .finish()
    }
}

impl Database {
    /// Builds the pool and checks that the database answers.
    ///
    /// # Errors
    ///
    /// When the pool cannot be built or the database does not answer.
    pub async fn connect(config: DatabaseConfig) -> Result<Self, ConnectError> {
        let manager = Manager::from_config(
            config.postgres.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.acquire_timeout))
            .build()
            .map_err(|e| ConnectError::Pool(e.to_string()))?;
        let database = Database {
            pool,
            config: Arc::new(config),
        };
        let check = async {
            let client = database.pool.get().await.map_err(|e| e.to_string())?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(|e| sanitise(&e).message)?;
            Ok::<(), String>(())
        };
        match tokio::time::timeout(Duration::from_secs(10), check).await {
            Ok(Ok(())) => Ok(database),
            Ok(Err(reason)) => Err(ConnectError::Unreachable {
                target: database.target(),
                reason,
            }),
            Err(_) => Err(ConnectError::Unreachable {
                target: database.target(),
                reason: "no answer within 10 s".to_owned(),
            }),
        }
    }

    /// Where the pool connects, for messages: `user@host:port/database`, never the
    /// password.
    pub fn target(&self) -> String {
        let pg = &self.config.postgres;
        let host = match pg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = pg.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}@{host}:{port}/{}",
            pg.get_user().unwrap_or("(default user)"),
            pg.get_dbname().unwrap_or("(default database)")
        )
    }

    /// The configuration in force.
    pub fn config(&self) -> &DatabaseConfig {
        &self.config
    }

    /// Closes the pool: no new connections; idle ones are dropped.
    pub fn close(&self) {
        self.pool.close();
    }

    /// Runs a read: the read guard decides, then the statement runs inside
    /// `BEGIN READ ONLY` with the statement timeout, capped, and is rolled back.
    ///
    /// # Errors
    ///
    /// [`QueryError::Refused`] when the guard refuses, [`QueryError::Database`] when the
    /// database does.
    pub async fn read(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        if let Verdict::Refused(refusal) = self.config.read_guard.check(sql) {
            return Err(QueryError::Refused(refusal));
        }
        self.run(sql, "BEGIN READ ONLY", "ROLLBACK", self.config.max_rows)
            .await
    }

    /// A guarded read without the row cap, for catalog queries of our own.
    pub(crate) async fn read_all(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        if let Verdict::Refused(refusal) = self.config.read_guard.check(sql) {
            return Err(QueryError::Refused(refusal));
        }
        self.run(sql, "BEGIN READ ONLY", "ROLLBACK", usize::MAX)
            .await
    }

    /// Runs a write: the write guard decides, then the statement runs in a transaction
    /// with the statement timeout, and commits.
    ///
    /// # Errors
    ///
    /// [`QueryError::Refused`] when the guard refuses, [`QueryError::Database`] when the
    /// database does.
    pub async fn write(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        if let Verdict::Refused(refusal) = self.config.write_guard.check(sql) {
            return Err(QueryError::Refused(refusal));
        }
        self.run(sql, "BEGIN", "COMMIT", self.config.max_rows).await
    }

    async fn run(
        &self,
        sql: &str,
        begin: &str,
        end: &str,
        max_rows: usize,
    ) -> Result<QueryOutput, QueryError> {
        let client = self.pool.get().await.map_err(|e| {
            tracing::warn!(error = %e, "no database connection");
            QueryError::Database(ClientError::new(
                "no database connection is available; try again later",
            ))
        })?;
        let mut lease = Lease {
            client: Some(client),
        };
        let client = lease.client()?;
        let timeout_ms = self.config.statement_timeout.as_millis();
        let outcome = async {
            // Two round trips, not four: each pair is sent together (tokio-postgres
            // pipelines requests issued together on one connection) and answered in
            // order. First the transaction with its timeout, and the statement's
            // preparation, which describes the columns and makes PostgreSQL itself
            // refuse more than one statement (a prepared statement is one command).
            let begin_sql = format!("{begin}; SET LOCAL statement_timeout = {timeout_ms}");
            let (begun, prepared) =
                tokio::join!(client.batch_execute(&begin_sql), client.prepare(sql));
            begun?;
            let statement = prepared?;
            let columns: Vec<ColumnInfo> = statement
                .columns()
                .iter()
                .map(|c| ColumnInfo {
                    name: c.name().to_owned(),
                    type_name: type_name(c.type_()),
                })
                .collect();
            let types: Vec<_> = statement
                .columns()
                .iter()
                .map(|c| c.type_().clone())
                .collect();
            // Then the statement and the end of the transaction. Sending COMMIT before
            // knowing the statement succeeded is safe: PostgreSQL answers COMMIT of a
            // failed transaction by rolling it back.
            let run = async {
                let stream = client.simple_query_raw(sql).await?;
                pin_mut!(stream);
                let mut rows = Vec::new();
                let mut bytes = 0usize;
                let mut truncated = false;
                let mut rows_affected = None;
                while let Some(message) = stream.next().await {
                    match message? {
                        SimpleQueryMessage::Row(row) => {
                            if truncated {
                                continue;
                            }
                            let mut values = Vec::with_capacity(types.len());
                            for (i, ty) in types.iter().enumerate() {
                                let text = row.get(i);
                                bytes += text.map_or(4, str::len);
                                values.push(convert::to_json(ty, text));
                            }
                            if rows.len() >= max_rows || bytes > self.config.max_bytes {
                                truncated = true;
                                continue;
                            }
                            rows.push(values);
                        }
                        SimpleQueryMessage::CommandComplete(n) => rows_affected = Some(n),
                        _ => {}
                    }
                }
                Ok::<_, tokio_postgres::Error>((rows, truncated, rows_affected))
            };
            let (ran, ended) = tokio::join!(run, client.batch_execute(end));
            let (rows, truncated, rows_affected) = ran?;
            ended?;
            Ok::<_, tokio_postgres::Error>(QueryOutput {
                row_count: rows.len(),
                columns,
                rows,
                truncated,
                rows_affected,
            })
        }
        .await;
        match outcome {
            Ok(output) => {
                lease.release();
                Ok(output)
            }
            Err(e) => {
                // Leave the connection clean for the next caller, or drop it.
                if client.batch_execute("ROLLBACK").await.is_ok() {
                    lease.release();
                }
                Err(QueryError::Database(sanitise(&e)))
            }
        }
    }
}

/// A pooled connection that is only returned to the pool when the statement finished
/// cleanly. Dropped mid-statement (the client cancelled, or the caller's future was
/// dropped), it cancels the running statement on the server and closes the connection
/// instead of handing a half-finished transaction to the next caller.
struct Lease {
    client: Option<Object>,
}

impl Lease {
    fn client(&self) -> Result<&Object, QueryError> {
        self.client.as_ref().ok_or_else(|| {
            QueryError::Database(ClientError::new(
                "internal error: connection already released",
            ))
        })
    }

    fn release(&mut self) {
        // Dropping the object returns it to the pool.
        self.client.take();
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let token = client.cancel_token();
        // Detach from the pool: this connection may be mid-transaction.
        drop(Object::take(client));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = token.cancel_query(NoTls).await {
                    tracing::debug!(error = %e, "could not cancel an abandoned statement");
                }
            });
        }
    }
}

/// A type's name as a reader expects it: `int4[]` rather than PostgreSQL's internal
/// `_int4` for arrays.
fn type_name(ty: &tokio_postgres::types::Type) -> String {
    match ty.kind() {
        tokio_postgres::types::Kind::Array(element) => format!("{}[]", element.name()),
        _ => ty.name().to_owned(),
    }
}

/// Measures a call for the audit log.
pub(crate) fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}
