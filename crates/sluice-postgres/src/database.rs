//! The pool and guarded execution: [`Database`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::{StreamExt, pin_mut};
use serde::Serialize;
use serde_json::Value;
#[cfg(test)]
use serde_json::json;
use sluice_sqlguard::{Guard, Refusal, Verdict};
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{RowStream, SimpleQueryMessage};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::binary::{self, OutputSettings};
use crate::checked::{
    Access, Checked, RunError, allows_more_than_defaults, prepare_check, recover,
};
use crate::config::{ConnectError, DatabaseConfig};
use crate::convert;
use crate::errors::{ClientError, sanitise, with_causes};
use crate::lease::Lease;
use crate::objects::{self, AllowLists, CheckParams, Judged};
use crate::session::{self, END_READ, END_READ_UNLOCK, END_WRITE, RESET};
use crate::tls::TlsConfig;

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

impl ColumnInfo {
    fn of(column: &tokio_postgres::Column) -> Self {
        ColumnInfo {
            name: column.name().to_owned(),
            type_name: type_name(column.type_()),
        }
    }
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

/// What a value costs in a result beyond its own encoding: `", "` between JSON values and
/// `" | "` between text columns.
const SEPARATORS: usize = 4;

/// A pool of PostgreSQL connections with guarded execution.
#[derive(Clone)]
pub struct Database {
    /// The pool for writes, and for reads when there is no read pool.
    main: Pooled,
    /// The pool for reads, as a role that may only read.
    reads: Option<Pooled>,
    config: Arc<DatabaseConfig>,
    /// Views, domain checks and policies the guard has judged ([`crate::objects`]).
    judged: Arc<Judged>,
    /// How a read ends ([`crate::session`]): with the release of session advisory
    /// locks when the read policy allows functions beyond the defaults, which might take
    /// them.
    read_end: &'static str,
    /// The guards' allow-lists as the catalog check takes them.
    read_allowed: Arc<AllowLists>,
    write_allowed: Arc<AllowLists>,
}

/// A pool and what goes with it.
#[derive(Clone)]
struct Pooled {
    pool: Pool,
    /// The TLS connector, also for cancel requests.
    tls: MakeRustlsConnect,
    /// How the server prints values to this pool's role, read at start-up.
    output: OutputSettings,
    /// `user@host:port/database`, for messages.
    target: String,
}

impl Pooled {
    /// Builds a pool and checks that the database answers.
    async fn open(
        postgres: &tokio_postgres::Config,
        tls_config: &TlsConfig,
        config: &DatabaseConfig,
    ) -> Result<Self, ConnectError> {
        let tls = crate::tls::connector(tls_config).map_err(ConnectError::Config)?;
        let mut settings = postgres.clone();
        settings.ssl_mode(tls_config.ssl_mode_for(postgres));
        session::startup_options(&mut settings);
        let manager = Manager::from_config(
            settings,
            tls.clone(),
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
        let target = target(postgres);
        let check = async {
            let client = pool.get().await.map_err(|e| match e {
                // deadpool's own wording ("error occurred while creating a new object")
                // says nothing; the connection's error and its causes do.
                deadpool_postgres::PoolError::Backend(e) => with_causes(&e),
                other => with_causes(&other),
            })?;
            // The health check also reads how this server prints values, which every
            // connection of the pool shares (same user, same database).
            let rows = client
                .simple_query(
                    "SELECT current_setting('TimeZone'), current_setting('DateStyle'), \
                     current_setting('IntervalStyle'), current_setting('extra_float_digits')",
                )
                .await
                .map_err(|e| sanitise(&e).message)?;
            let settings = rows.iter().find_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some(OutputSettings::from_settings(
                    row.get(0).unwrap_or(""),
                    row.get(1).unwrap_or(""),
                    row.get(2).unwrap_or(""),
                    row.get(3).unwrap_or(""),
                )),
                _ => None,
            });
            Ok::<_, String>(settings.unwrap_or_default())
        };
        match tokio::time::timeout(Duration::from_secs(10), check).await {
            Ok(Ok(output)) => {
                tracing::debug!(?output, %target, "server output settings");
                Ok(Pooled {
                    pool,
                    tls,
                    output,
                    target,
                })
            }
            Ok(Err(reason)) => Err(ConnectError::Unreachable { target, reason }),
            Err(_) => Err(ConnectError::Unreachable {
                target,
                reason: "no answer within 10 s".to_owned(),
            }),
        }
    }
}

/// Where a configuration connects, for messages: `user@host:port/database`, never the
/// password.
pub(crate) fn target(pg: &tokio_postgres::Config) -> String {
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
        let main = Pooled::open(&config.postgres, &config.tls, &config).await?;
        let reads = match &config.reads {
            Some(reads) => Some(Pooled::open(&reads.postgres, &reads.tls, &config).await?),
            None => None,
        };
        Ok(Database {
            main,
            reads,
            read_end: if allows_more_than_defaults(config.read_guard.policy()) {
                END_READ_UNLOCK
            } else {
                END_READ
            },
            read_allowed: AllowLists::of(config.read_guard.policy()),
            write_allowed: AllowLists::of(config.write_guard.policy()),
            config: Arc::new(config),
            judged: Arc::default(),
        })
    }

    /// Where the pool connects, for messages: `user@host:port/database`, never the
    /// password.
    pub fn target(&self) -> String {
        self.main.target.clone()
    }

    /// Where reads connect, when a separate read connection is configured.
    pub fn read_target(&self) -> Option<String> {
        self.reads.as_ref().map(|reads| reads.target.clone())
    }

    /// The configuration in force.
    pub fn config(&self) -> &DatabaseConfig {
        &self.config
    }

    /// Closes the pool: no new connections; idle ones are dropped.
    pub fn close(&self) {
        self.main.pool.close();
        if let Some(reads) = &self.reads {
            reads.pool.close();
        }
    }

    /// Runs a read: the read guard decides, then the statement runs inside
    /// `BEGIN READ ONLY` with the statement timeout, capped, and is rolled back.
    ///
    /// # Errors
    ///
    /// [`QueryError::Refused`] when the guard refuses, [`QueryError::Database`] when the
    /// database does.
    pub async fn read(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        let check = self.judge(&self.config.read_guard, &self.read_allowed, sql)?;
        self.run(
            self.reader(),
            sql,
            Access::Read,
            check,
            self.config.max_rows,
        )
        .await
    }

    fn reader(&self) -> &Pooled {
        self.reads.as_ref().unwrap_or(&self.main)
    }

    /// A guarded read without the row cap, for catalog queries of our own.
    pub(crate) async fn read_all(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        let check = self.judge(&self.config.read_guard, &self.read_allowed, sql)?;
        self.run(self.reader(), sql, Access::Read, check, usize::MAX)
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
        let check = self.judge(&self.config.write_guard, &self.write_allowed, sql)?;
        self.run(&self.main, sql, Access::Write, check, self.config.max_rows)
            .await
    }

    /// Judges `sql` with `guard`, and prepares the catalog check of what it names.
    fn judge(
        &self,
        guard: &Guard,
        allow_lists: &Arc<AllowLists>,
        sql: &str,
    ) -> Result<CheckParams, QueryError> {
        match guard.check(sql) {
            Verdict::Allowed(allowed) => Ok(CheckParams::new(
                &allowed.names,
                allow_lists,
                &self.judged,
                self.config.statement_timeout.as_millis(),
            )),
            Verdict::Refused(refusal) => Err(QueryError::Refused(refusal)),
            other => Err(QueryError::Database(ClientError::new(format!(
                "internal error: unknown verdict {other:?}"
            )))),
        }
    }

    /// Runs the statement; when the catalog check finds definitions the guard has not
    /// judged (a view, a domain check, a policy), judges them and runs it once more.
    async fn run(
        &self,
        pooled: &Pooled,
        sql: &str,
        access: Access,
        mut check: CheckParams,
        max_rows: usize,
    ) -> Result<QueryOutput, QueryError> {
        // At most: the quick check, the full check, the full check after judging.
        for _ in 0..3 {
            match self.run_once(pooled, sql, access, &check, max_rows).await {
                Err(RunError::Deep) => {
                    self.judged.add(&check.fingerprint, &[]);
                    check.full = true;
                }
                Err(RunError::Unjudged(keys)) => {
                    self.judge_definitions(pooled, &keys).await?;
                    self.judged.add(&check.fingerprint, &keys);
                    check.judged.extend(keys);
                }
                other => return other.map_err(RunError::into_query_error),
            }
        }
        Err(RunError::Unjudged(Vec::new()).into_query_error())
    }

    /// Judges definitions with the read guard (the stricter one), on a connection of
    /// the pool the call uses.
    async fn judge_definitions(&self, pooled: &Pooled, keys: &[String]) -> Result<(), QueryError> {
        let client = pooled.pool.get().await.map_err(|e| {
            tracing::warn!(error = %with_causes(&e), "no database connection");
            QueryError::Database(ClientError::new(
                "no database connection is available; try again later",
            ))
        })?;
        match objects::judge_definitions(&client, keys, &self.config.read_guard).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refusal)) => Err(QueryError::Refused(refusal)),
            Err(e) => Err(QueryError::Database(sanitise(&e))),
        }
    }

    async fn run_once(
        &self,
        pooled: &Pooled,
        sql: &str,
        access: Access,
        check: &CheckParams,
        max_rows: usize,
    ) -> Result<QueryOutput, RunError> {
        let client = pooled.pool.get().await.map_err(|e| {
            tracing::warn!(error = %with_causes(&e), "no database connection");
            RunError::Client(ClientError::new(
                "no database connection is available; try again later",
            ))
        })?;
        let mut lease = Lease {
            client: Some(client),
            tls: &pooled.tls,
        };
        let client = lease.client().map_err(RunError::Query)?;
        let checker = match prepare_check(client, check).await {
            Ok(statement) => statement,
            Err(e) => {
                if recover(client).await {
                    lease.release();
                }
                return Err(RunError::Database(e));
            }
        };
        let checked = Checked {
            client,
            statement: &checker,
            params: check,
        };
        if self.config.binary_results {
            match self
                .run_binary(&checked, pooled.output, sql, access, max_rows)
                .await
            {
                Ok(Some(output)) => {
                    lease.release();
                    return Ok(output);
                }
                // A type or value the binary decoders do not reproduce: read it in text.
                Ok(None) => {}
                Err(e) => {
                    if recover(client).await {
                        lease.release();
                    }
                    return Err(e);
                }
            }
        }
        let outcome = async {
            // Two round trips, not four: each pair is sent together (tokio-postgres
            // pipelines requests issued together on one connection) and answered in
            // order. First the transaction with its timeout, and the statement's
            // preparation, which describes the columns and makes PostgreSQL itself
            // refuse more than one statement (a prepared statement is one command).
            let (begun, resolved, prepared) = tokio::join!(
                client.batch_execute(access.begin()),
                checked.run(),
                client.prepare(sql)
            );
            begun?;
            resolved?;
            let statement = prepared?;
            let columns: Vec<ColumnInfo> = statement.columns().iter().map(ColumnInfo::of).collect();
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
                                let value = convert::to_json(ty, row.get(i));
                                bytes += convert::sent_len(&value) + SEPARATORS;
                                values.push(value);
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
            let end = match access {
                Access::Read => self.read_end,
                Access::Write => END_WRITE,
            };
            let (ran, ended) = tokio::join!(run, client.batch_execute(end));
            let (rows, truncated, rows_affected) = ran?;
            ended?;
            Ok::<_, RunError>(QueryOutput {
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
                if recover(client).await {
                    lease.release();
                }
                Err(e)
            }
        }
    }
}

impl Database {
    /// The statement with its results in binary. A read is one round trip: the
    /// transaction with its timeout, the statement (extended protocol: PostgreSQL parses
    /// it as exactly one statement) and `ROLLBACK` are sent together and answered in
    /// order. A write waits for its result before it commits (two round trips), so a
    /// result the decoders cannot read is rolled back, never run twice.
    ///
    /// `Ok(None)` when the result holds a type or value the binary decoders do not
    /// reproduce exactly; the transaction has ended and the caller runs the statement
    /// again through the text path.
    async fn run_binary(
        &self,
        checked: &Checked<'_>,
        output: OutputSettings,
        sql: &str,
        access: Access,
        max_rows: usize,
    ) -> Result<Option<QueryOutput>, RunError> {
        let client = checked.client;
        let begin_sql = access.begin();
        let no_parameters: [(&(dyn ToSql + Sync), Type); 0] = [];
        // Each future sends its messages when first polled, and `join!` polls them in
        // order, so they go out back to back.
        let run = async {
            let stream = client.query_typed_raw(sql, no_parameters).await?;
            self.collect_binary(stream, output, max_rows).await
        };
        let collected = match access {
            Access::Read => {
                let (begun, resolved, ran, ended) = tokio::join!(
                    client.batch_execute(begin_sql),
                    checked.run(),
                    run,
                    client.batch_execute(self.read_end)
                );
                begun?;
                resolved?;
                ended?;
                ran?
            }
            Access::Write => {
                let (begun, resolved, ran) =
                    tokio::join!(client.batch_execute(begin_sql), checked.run(), run);
                begun?;
                resolved?;
                let collected = ran?;
                let finish = if collected.is_some() {
                    "COMMIT"
                } else {
                    "ROLLBACK"
                };
                let (finished, reset) =
                    tokio::join!(client.batch_execute(finish), client.batch_execute(RESET));
                finished?;
                reset?;
                collected
            }
        };
        let Some(mut output) = collected else {
            return Ok(None);
        };
        if output.columns.is_empty() && output.rows.is_empty() {
            // No row to learn the columns from: describe the statement (parsing and
            // describing run nothing, so this needs no transaction).
            let statement = client.prepare(sql).await?;
            output.columns = statement.columns().iter().map(ColumnInfo::of).collect();
        }
        Ok(Some(output))
    }

    /// Reads the rows of a binary result, capped. `None` (after draining the stream) when
    /// a column's type or a value is not one the decoders reproduce.
    async fn collect_binary(
        &self,
        stream: RowStream,
        settings: OutputSettings,
        max_rows: usize,
    ) -> Result<Option<QueryOutput>, tokio_postgres::Error> {
        pin_mut!(stream);
        let mut rows = Vec::new();
        let mut columns = Vec::new();
        let mut bytes = 0usize;
        let mut truncated = false;
        let mut decodable = true;
        while let Some(row) = stream.next().await {
            let row = row?;
            if !decodable || truncated {
                continue; // drain, so the connection is ready for the next statement
            }
            if columns.is_empty() {
                if !row
                    .columns()
                    .iter()
                    .all(|c| binary::supports(c.type_(), settings))
                {
                    decodable = false;
                    continue;
                }
                columns = row.columns().iter().map(ColumnInfo::of).collect();
            }
            let mut values = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                let RawBytes(raw) = row.try_get(i)?;
                match binary::decode(column.type_(), raw) {
                    Some(value) => {
                        bytes += convert::sent_len(&value) + SEPARATORS;
                        values.push(value);
                    }
                    None => {
                        decodable = false;
                        break;
                    }
                }
            }
            if !decodable {
                continue;
            }
            if rows.len() >= max_rows || bytes > self.config.max_bytes {
                truncated = true;
                continue;
            }
            rows.push(values);
        }
        if !decodable {
            return Ok(None);
        }
        Ok(Some(QueryOutput {
            row_count: rows.len(),
            columns,
            rows,
            truncated,
            rows_affected: stream.rows_affected(),
        }))
    }
}

/// A value's raw bytes, whatever its type (`None` for SQL `NULL`).
struct RawBytes<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for RawBytes<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawBytes(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawBytes(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A type's name as a reader expects it: `int4[]` rather than PostgreSQL's internal
/// `_int4` for arrays.
fn type_name(ty: &Type) -> String {
    match ty.kind() {
        tokio_postgres::types::Kind::Array(element) => format!("{}[]", element.name()),
        _ => ty.name().to_owned(),
    }
}

/// Measures a call for the audit log.
pub(crate) fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-round-trip path answers for the common types itself and hands the rest to
    /// the text path (`tests/binary_text.rs` checks that both give the same JSON).
    #[tokio::test]
    async fn binary_results_are_decoded_or_handed_over() {
        let db = sluice_testkit::database().await.unwrap();
        let database = Database::connect(DatabaseConfig::from_url(db.url()).unwrap())
            .await
            .unwrap();
        let output = database.main.output;
        assert!(output.iso_dates, "{output:?}");
        let client = database.main.pool.get().await.unwrap();
        let params = CheckParams::new(
            &sluice_sqlguard::Names::default(),
            &database.read_allowed,
            &database.judged,
            30_000,
        );
        let statement = prepare_check(&client, &params).await.unwrap();
        let checked = Checked {
            client: &client,
            statement: &statement,
            params: &params,
        };
        let decoded = database
            .run_binary(
                &checked,
                output,
                "SELECT 1::int4 AS a, 'x'::text AS b, 2.5::numeric AS c, now()::date AS d",
                Access::Read,
                10,
            )
            .await
            .unwrap();
        let decoded = decoded.expect("decoded in binary");
        assert_eq!(decoded.rows[0][..3], [json!(1), json!("x"), json!("2.5")]);
        let handed_over = database
            .run_binary(&checked, output, "SELECT '1'::money", Access::Read, 10)
            .await
            .unwrap();
        assert!(handed_over.is_none());
        // The read-only transaction has ended: the connection is clean for the next caller.
        let read_only: String = client
            .query_one("SHOW transaction_read_only", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(read_only, "off");
    }
}
