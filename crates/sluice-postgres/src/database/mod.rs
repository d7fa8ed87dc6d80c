//! The pool and guarded execution: [`Database`].
//!
//! - [`pool`]: one pool per role, opened and checked.
//! - [`extended`]: a statement through the extended protocol, its results in binary, with
//!   or without bind parameters — one round trip.
//! - [`render`]: values the binary decoders do not read, printed by PostgreSQL itself.
//! - [`simple`]: a statement through the simple protocol, its results in text.
//! - [`cursor`]: a read that may be longer than the row cap, behind a cursor.
//! - [`output`]: the result and its caps.

pub(crate) mod connections;
mod cursor;
mod extended;
mod health;
mod output;
mod pool;
mod prepared;
mod render;
pub(crate) mod result_types;
mod simple;
mod verdicts;

use std::sync::Arc;
use std::time::Instant;

use sluice_sqlguard::{Guard, Refusal, Verdict};

use crate::checked::{Checked, RunError, allows_more_than_defaults, prepare_check, recover};
use crate::config::{ConnectError, DatabaseConfig, PrivilegeCheck};
use crate::errors::{ClientError, with_causes};
use crate::lease::Lease;
use crate::objects::{self, AllowLists, CheckParams, Judged};
use crate::params::Param;
use crate::session::Transaction;

pub use health::PoolUsage;
pub(crate) use output::SEPARATORS;
pub use output::{Cap, ColumnInfo, QueryOutput};
use pool::Pooled;
#[cfg(any(feature = "oauth", feature = "audit"))]
pub(crate) use pool::side_pool;
#[cfg(feature = "oauth")]
pub(crate) use pool::target;

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
    /// The transaction of a read ([`crate::session`]): with the release of session
    /// advisory locks when the read policy allows functions beyond the defaults, which
    /// might take them.
    read: Transaction,
    /// The guards' allow-lists as the catalog check takes them.
    read_allowed: Arc<AllowLists>,
    write_allowed: Arc<AllowLists>,
    /// Reads seen to give small results, which run without a cursor ([`cursor`]).
    small: Arc<cursor::SmallResults>,
    /// The guards' verdicts on texts seen before ([`verdicts`]).
    read_verdicts: Arc<verdicts::Verdicts>,
    write_verdicts: Arc<verdicts::Verdicts>,
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
        config.validate()?;
        let main = Pooled::open(&config.postgres, &config.tls, &config).await?;
        let reads = match &config.reads {
            Some(reads) => Some(Pooled::open(&reads.postgres, &reads.tls, &config).await?),
            None => None,
        };
        let database = Database {
            main,
            reads,
            read: if allows_more_than_defaults(config.read_guard.policy()) {
                Transaction::ReadReleasingLocks
            } else {
                Transaction::Read
            },
            read_allowed: AllowLists::of(config.read_guard.policy()),
            small: Arc::default(),
            read_verdicts: Arc::default(),
            write_verdicts: Arc::default(),
            write_allowed: AllowLists::of(config.write_guard.policy()),
            config: Arc::new(config),
            judged: Arc::default(),
        };
        database.check_privilege().await?;
        Ok(database)
    }

    /// [`DatabaseConfig::least_privilege`]: inspects the roles, warns per finding and,
    /// when required, refuses (closing the pools).
    async fn check_privilege(&self) -> Result<(), ConnectError> {
        let require = match self.config.least_privilege {
            PrivilegeCheck::Skip => return Ok(()),
            PrivilegeCheck::Warn => false,
            PrivilegeCheck::Require => true,
        };
        let refuse = |reason: String| {
            self.close();
            Err(ConnectError::NotLeastPrivilege(reason))
        };
        let posture = match crate::posture::inspect(self).await {
            Ok(posture) => posture,
            Err(e) if require => return refuse(format!("cannot inspect the roles: {e}")),
            Err(e) => {
                tracing::warn!(target: "sluice::posture", database = %self.target(), "cannot inspect the roles: {e}");
                return Ok(());
            }
        };
        for finding in &posture.findings {
            tracing::warn!(target: "sluice::posture", database = %self.target(), purpose = ?finding.purpose,
                "least privilege: {}", finding.message);
        }
        if require && !posture.is_least_privilege() {
            let all: Vec<&str> = posture
                .findings
                .iter()
                .map(|f| f.message.as_str())
                .collect();
            return refuse(all.join("; "));
        }
        Ok(())
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
        self.read_with(sql, &[]).await
    }

    /// Runs a read with bind parameters for `$1 … $n` ([`Param`]): guarded, run and
    /// capped as [`read`](Self::read) is. The values never become SQL text.
    ///
    /// ```no_run
    /// # async fn demo(database: sluice_postgres::Database) -> Result<(), sluice_postgres::QueryError> {
    /// let name = "O'Brien; DROP TABLE items";
    /// let found = database
    ///     .read_with("SELECT id FROM items WHERE name = $1 AND price < $2", &[name.into(), 10.into()])
    ///     .await?;
    /// assert_eq!(found.row_count, 0); // no item has that name; nothing was dropped
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read); a parameter that does not read as its type, or a count
    /// of parameters that does not match the placeholders, is the database's error.
    pub async fn read_with(&self, sql: &str, params: &[Param]) -> Result<QueryOutput, QueryError> {
        self.read_from(sql, params, 0).await
    }

    fn reader(&self) -> &Pooled {
        self.reads.as_ref().unwrap_or(&self.main)
    }

    /// A guarded read without the row and byte caps, for catalog queries of our own
    /// (bounded by their own `LIMIT`).
    pub(crate) async fn read_all(
        &self,
        sql: &str,
        params: &[Param],
    ) -> Result<QueryOutput, QueryError> {
        self.uncapped(self.reader(), sql, params).await
    }

    /// A guarded read on `pooled`, without caps.
    async fn uncapped(
        &self,
        pooled: &Pooled,
        sql: &str,
        params: &[Param],
    ) -> Result<QueryOutput, QueryError> {
        let check = self.judge(
            &self.config.read_guard,
            &self.read_verdicts,
            &self.read_allowed,
            sql,
        )?;
        let call = Call {
            sql,
            params,
            transaction: self.read,
            max_rows: usize::MAX,
            max_bytes: usize::MAX,
            skip: 0,
            cursor: false,
            parameterised: None,
        };
        self.run(pooled, &call, check).await
    }

    /// [`read_all`](Self::read_all) on the write connection's pool (which is also the
    /// read pool when there is no separate read connection).
    pub(crate) async fn read_all_as_writer(
        &self,
        sql: &str,
        params: &[Param],
    ) -> Result<QueryOutput, QueryError> {
        self.uncapped(&self.main, sql, params).await
    }

    /// Runs a write: the write guard decides, then the statement runs in a transaction
    /// with the statement timeout, and commits. It runs once: whatever its result holds
    /// is returned without running it again.
    ///
    /// # Errors
    ///
    /// [`QueryError::Refused`] when the guard refuses, [`QueryError::Database`] when the
    /// database does.
    pub async fn write(&self, sql: &str) -> Result<QueryOutput, QueryError> {
        self.write_with(sql, &[]).await
    }

    /// Runs a write with bind parameters for `$1 … $n` ([`Param`]), as
    /// [`write`](Self::write) does. Use it for every value that comes from a caller: an
    /// `INSERT` built by pasting a string can be turned into a different, equally valid
    /// `INSERT … ON CONFLICT DO UPDATE`, which a guard cannot tell from the real thing.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write) and [`read_with`](Self::read_with).
    pub async fn write_with(&self, sql: &str, params: &[Param]) -> Result<QueryOutput, QueryError> {
        let check = self.judge(
            &self.config.write_guard,
            &self.write_verdicts,
            &self.write_allowed,
            sql,
        )?;
        let call = Call {
            sql,
            params,
            transaction: Transaction::Write,
            max_rows: self.config.max_rows,
            max_bytes: self.config.max_bytes,
            skip: 0,
            cursor: false,
            parameterised: None,
        };
        self.run(&self.main, &call, check).await
    }

    /// A read from its `offset`-th row on: the next page of a result the caps cut
    /// ([`QueryOutput::cut_by`]). Guarded and run as [`read_with`](Self::read_with) runs
    /// it — the SQL is not rewritten — and the first `offset` rows are passed over as
    /// they arrive (not counted against the caps), so pages join up exactly when the
    /// query has an `ORDER BY` that fixes the order and the data did not change in between.
    ///
    /// # Errors
    ///
    /// As [`read_with`](Self::read_with).
    pub async fn read_from(
        &self,
        sql: &str,
        params: &[Param],
        offset: u64,
    ) -> Result<QueryOutput, QueryError> {
        let allowed = allowed(&self.config.read_guard, &self.read_verdicts, sql)?;
        let check = self.check_of(&allowed, &self.read_allowed);
        // A query whose result may be longer than the cap is fetched behind a cursor,
        // unless its own LIMIT keeps it within the cap or it was last seen to be small.
        let query = allowed.kind == sluice_sqlguard::StatementKind::Query;
        let bounded = allowed
            .row_limit
            .is_some_and(|limit| limit <= self.config.max_rows as u64);
        // Known by its shape: the texts of one (`… WHERE id = 7`, `… = 8`) mostly give
        // results of one size, and one seen cut is fetched behind a cursor again.
        let shape = allowed
            .parameterised
            .as_ref()
            .map_or(sql, |form| form.text.as_str());
        let call = Call {
            sql,
            params,
            transaction: self.read,
            max_rows: self.config.max_rows,
            max_bytes: self.config.max_bytes,
            skip: offset,
            cursor: query && !bounded && !self.small.contains(shape),
            parameterised: allowed
                .parameterised
                .as_ref()
                .filter(|_| params.is_empty() && self.config.prepared_forms),
        };
        let output = self.run(self.reader(), &call, check).await?;
        if query {
            self.small.record(
                shape,
                output.row_count,
                output.truncated,
                self.config.max_rows,
            );
        }
        Ok(output)
    }

    /// The plan of a read, as PostgreSQL's `EXPLAIN (FORMAT JSON)` gives it: one row, one
    /// `json` column. `sql` must be a plain query (`SELECT`, `WITH … SELECT`, `VALUES`,
    /// `TABLE`), judged by the read guard like any read; with `analyze` it also runs,
    /// inside the read-only transaction that is always rolled back, under the statement
    /// timeout, and the plan has the actual rows and times.
    ///
    /// # Errors
    ///
    /// [`QueryError::Refused`] when the guard refuses the query, [`QueryError::Database`]
    /// when it is not a plain query or the database fails it.
    pub async fn explain(
        &self,
        sql: &str,
        params: &[Param],
        analyze: bool,
    ) -> Result<QueryOutput, QueryError> {
        let allowed = allowed(&self.config.read_guard, &self.read_verdicts, sql)?;
        if allowed.kind != sluice_sqlguard::StatementKind::Query {
            return Err(QueryError::Database(ClientError::new(format!(
                "only plain reads (SELECT, WITH … SELECT, VALUES, TABLE) can be explained; \
                 this is {:?}: give the query itself",
                allowed.kind
            ))));
        }
        let check = self.check_of(&allowed, &self.read_allowed);
        // The judged statement, whole, after a line break: what PostgreSQL parses is the
        // one query the guard read, as the operand of EXPLAIN.
        let options = if analyze {
            "ANALYZE, FORMAT JSON"
        } else {
            "FORMAT JSON"
        };
        let explained = format!("EXPLAIN ({options})\n{sql}");
        let call = Call {
            sql: &explained,
            params,
            transaction: self.read,
            max_rows: usize::MAX,
            max_bytes: usize::MAX,
            skip: 0,
            cursor: false,
            parameterised: None,
        };
        self.run(self.reader(), &call, check).await
    }

    /// Judges `sql` with `guard`, and prepares the catalog check of what it names.
    fn judge(
        &self,
        guard: &Guard,
        verdicts: &verdicts::Verdicts,
        allow_lists: &Arc<AllowLists>,
        sql: &str,
    ) -> Result<CheckParams, QueryError> {
        Ok(self.check_of(&allowed(guard, verdicts, sql)?, allow_lists))
    }

    /// The catalog check of what an allowed statement names.
    fn check_of(
        &self,
        allowed: &sluice_sqlguard::Allowed,
        allow_lists: &Arc<AllowLists>,
    ) -> CheckParams {
        CheckParams::new(
            &allowed.names,
            allow_lists,
            &self.judged,
            self.config.statement_timeout.as_millis(),
        )
    }

    /// Runs the statement; when the catalog check finds definitions the guard has not
    /// judged (a view, a domain check, a policy), judges them and runs it once more. The
    /// statement has not run when the check stops it (the check comes first in its
    /// transaction), so running it again runs it once.
    async fn run(
        &self,
        pooled: &Pooled,
        call: &Call<'_>,
        mut check: CheckParams,
    ) -> Result<QueryOutput, QueryError> {
        let mut call = *call;
        if call
            .parameterised
            .is_some_and(|form| pooled.unpreparable.contains(&form.text))
        {
            call.parameterised = None;
        }
        // At most: a check reused and found stale, the quick check, the full check, the
        // full check after judging; a form that did not prepare, a statement replanned.
        for _ in 0..6 {
            match self.run_once(pooled, &call, &check).await {
                Err(RunError::Unprepared { remember }) => {
                    if let (true, Some(form)) = (remember, call.parameterised) {
                        pooled.unpreparable.add(&form.text);
                    }
                    call.parameterised = None;
                }
                Err(RunError::Replanned) => {}
                // The check itself runs next time (others' checks may pass meanwhile
                // under a token that is already stale too).
                Err(RunError::Stale) => check.may_reuse = false,
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
        let mut lease = lease(pooled).await.map_err(QueryError::Database)?;
        let judged = {
            let client = lease.client()?;
            let judging = objects::judge_definitions(client, keys, &self.config.read_guard);
            tokio::time::timeout(self.deadline(), judging).await
        };
        // Timed out, the lease goes with its connection: cancelled and closed.
        let judged = judged.map_err(|_| {
            QueryError::Database(ClientError::new(
                "the database did not answer in time while checking definitions; try again later",
            ))
        })?;
        lease.release();
        match judged {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refusal)) => Err(QueryError::Refused(refusal)),
            Err(e) => Err(QueryError::Database(crate::errors::sanitise(&e))),
        }
    }

    /// One attempt on one connection: the extended protocol (binary results, bind
    /// parameters) unless configured off for a statement without parameters; the simple
    /// protocol for a read whose result only PostgreSQL can print.
    ///
    /// The call has a deadline of its own ([`Database::deadline`]): `statement_timeout`
    /// lives inside PostgreSQL, and a server that stalls (frozen, a network that drops
    /// packets) never enforces it. Past the deadline the call answers, and the
    /// connection is cancelled and discarded ([`Lease`]).
    async fn run_once(
        &self,
        pooled: &Pooled,
        call: &Call<'_>,
        check: &CheckParams,
    ) -> Result<QueryOutput, RunError> {
        let mut lease = lease(pooled).await.map_err(RunError::Client)?;
        let deadline = self.deadline();
        match tokio::time::timeout(deadline, self.attempt(&mut lease, pooled, call, check)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                // Perhaps a type look-up waiting behind the statement's own rows
                // ([`result_types`]): prepared first from now on.
                pooled.result_types.learn(call.sql, false);
                // Dropping the lease (with its connection still in it) cancels the
                // statement and closes the connection.
                tracing::warn!(database = %pooled.target, deadline_ms = deadline.as_millis(),
                    "the database did not answer in time: cancelling, dropping the connection");
                let unknown = if call.transaction == Transaction::Write {
                    "; whether the write committed is unknown: check before repeating it"
                } else {
                    ""
                };
                Err(RunError::Client(ClientError::new(format!(
                    "the database did not answer within {:.1} s (the statement timeout and a \
                     margin); the statement was cancelled{unknown}",
                    deadline.as_secs_f64()
                ))))
            }
        }
    }

    /// How long a call may take once it has a connection: the statement timeout and a
    /// margin (a quarter of it, at least 2 s) for the round trips around the statement.
    pub fn deadline(&self) -> std::time::Duration {
        let timeout = self.config.statement_timeout;
        timeout + (timeout / 4).max(std::time::Duration::from_secs(2))
    }

    /// [`run_once`](Self::run_once) on its connection, without the deadline.
    async fn attempt(
        &self,
        lease: &mut Lease<'_>,
        pooled: &Pooled,
        call: &Call<'_>,
        check: &CheckParams,
    ) -> Result<QueryOutput, RunError> {
        let client = lease.client().map_err(RunError::Query)?;
        let reused = check
            .may_reuse
            .then(|| pooled.passed_checks.reusable(&check.reuse_key))
            .flatten();
        let transaction_pooling = self.config.transaction_pooling;
        let checker =
            match prepare_check(client, check, reused.is_some(), transaction_pooling).await {
                Ok(checker) => checker,
                Err(e) => {
                    if recover(client).await {
                        lease.release();
                    }
                    return Err(RunError::Database(e));
                }
            };
        let checked = Checked {
            client,
            check: checker,
            params: check,
            result_types: &pooled.result_types,
            passed_checks: &pooled.passed_checks,
            prepared_reads: &pooled.reads_prepared,
            reused,
            tainted: std::sync::atomic::AtomicBool::new(false),
        };
        let limits = Limits {
            skip: call.skip,
            max_bytes: call.max_bytes,
            statement_timeout_ms: self.config.statement_timeout.as_millis(),
        };
        let outcome = if self.config.binary_results || !call.params.is_empty() {
            // Boxed: its two ways of sending make a large future, which every caller
            // up to the tools would otherwise hold.
            match Box::pin(extended::run(&checked, pooled.output, call, limits)).await {
                Ok(extended::Ran::Output(output)) => Ok(output),
                Ok(extended::Ran::NeedsText) => simple::run(&checked, call, limits).await,
                Err(e) => Err(e),
            }
        } else {
            simple::run(&checked, call, limits).await
        };
        match outcome {
            Ok(output) => {
                if checked.is_tainted() {
                    lease.discard();
                } else {
                    lease.release();
                }
                Ok(output)
            }
            Err(e) => {
                // Leave the connection clean for the next caller, or drop it: also when
                // the client's prepared statements and the server's disagree (behind a
                // transaction pooler, tokio-postgres's own type look-up statement,
                // prepared on one server connection, is missing from another), so the
                // next caller gets a connection that prepares its own.
                let out_of_step = statements_out_of_step(&e);
                if recover(client).await && !out_of_step && !checked.is_tainted() {
                    lease.release();
                }
                if out_of_step {
                    // A look-up that went wrong: the statement is prepared first from
                    // now on.
                    pooled.result_types.learn(call.sql, false);
                }
                if out_of_step && self.config.transaction_pooling {
                    return Err(RunError::Client(pooled_type_lookup(call.transaction)));
                }
                Err(e)
            }
        }
    }
}

/// What a call that met tokio-postgres's type look-up behind a transaction pooler says:
/// the look-up ran after the statement's transaction had been sent its end, so a write
/// may have committed.
fn pooled_type_lookup(transaction: Transaction) -> ClientError {
    let unknown = if transaction == Transaction::Write {
        " Whether the write committed is unknown: check before repeating it."
    } else {
        ""
    };
    ClientError::new(format!(
        "the result has a column of a type the server had to look up (an enum, a \
         composite, an extension's type), which fails behind a pooler in transaction \
         mode; cast such columns to text.{unknown}"
    ))
}

/// True for PostgreSQL's "prepared statement … does not exist" and "… already exists".
fn statements_out_of_step(e: &RunError) -> bool {
    let RunError::Database(e) = e else {
        return false;
    };
    matches!(crate::errors::sqlstate_of(e), Some("26000" | "42P05"))
}

/// `guard`'s verdict on `sql` (kept in `verdicts`, the guard's own), as the statement
/// allowed or the error the caller gets.
fn allowed(
    guard: &Guard,
    verdicts: &verdicts::Verdicts,
    sql: &str,
) -> Result<sluice_sqlguard::Allowed, QueryError> {
    match verdicts.check(guard, sql) {
        Verdict::Allowed(allowed) => Ok(allowed),
        Verdict::Refused(refusal) => Err(QueryError::Refused(refusal)),
        other => Err(QueryError::Database(ClientError::new(format!(
            "internal error: unknown verdict {other:?}"
        )))),
    }
}

/// One statement to run: its SQL, its parameters, its transaction and its row cap.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub(crate) sql: &'a str,
    pub(crate) params: &'a [Param],
    pub(crate) transaction: Transaction,
    pub(crate) max_rows: usize,
    pub(crate) max_bytes: usize,
    /// Rows passed over before the first one kept (a later page).
    pub(crate) skip: u64,
    /// Fetched behind a cursor, only the rows kept ([`cursor`]).
    pub(crate) cursor: bool,
    /// The statement with its literals as parameters, to prepare once per connection
    /// ([`prepared`]); only for a read without parameters of its own.
    pub(crate) parameterised: Option<&'a sluice_sqlguard::Parameterised>,
}

/// The caps and the timeout a call runs under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) skip: u64,
    pub(crate) max_bytes: usize,
    pub(crate) statement_timeout_ms: u128,
}

/// A connection of `pooled`, lent to one call ([`Lease`]).
async fn lease(pooled: &Pooled) -> Result<Lease<'_>, ClientError> {
    let started = Instant::now();
    let got = pooled.pool.get().await;
    let timed_out = matches!(
        got,
        Err(connections::PoolError::Timeout(
            deadpool::managed::TimeoutType::Wait
        ))
    );
    pooled.acquires.record(started.elapsed(), timed_out);
    let client = got.map_err(|e| no_connection(pooled, &e))?;
    Ok(Lease {
        client: Some(client),
        tls: &pooled.tls,
    })
}

/// Why a call got no connection, told apart: every connection busy (the pool is the
/// bound), or none can be opened (the database is down or unreachable).
fn no_connection(pooled: &Pooled, e: &connections::PoolError) -> ClientError {
    use connections::PoolError;
    use deadpool::managed::TimeoutType;
    let size = pooled.pool.status().max_size;
    match e {
        PoolError::Timeout(TimeoutType::Wait) => {
            tracing::warn!(database = %pooled.target, pool_size = size, "every connection is busy");
            ClientError::new(format!(
                "every database connection ({size}) is busy with other calls; try again shortly"
            ))
        }
        other => {
            tracing::warn!(database = %pooled.target, error = %with_causes(other), "cannot connect to the database");
            ClientError::new(
                "cannot connect to the database now (it may be down or unreachable); try again later",
            )
        }
    }
}

/// Measures a call for the audit log.
#[cfg(feature = "tools")]
pub(crate) fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}
