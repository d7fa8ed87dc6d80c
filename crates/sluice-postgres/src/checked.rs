//! Running a statement behind the catalog check on one connection: the check's
//! statement, how a call ends or recovers, and why it failed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use crate::database::connections::Object;
use futures_util::{StreamExt, pin_mut};
use sluice_sqlguard::Refusal;

use crate::QueryError;
use crate::check_sql;
use crate::database::result_types::{ResultTypes, statement_looks_up};
use crate::errors::{ClientError, sanitise};
use crate::objects::{self, CheckParams, Found};
use crate::reuse::PassedChecks;
use crate::session::RESET;
use tokio_postgres::types::ToSql;

/// True when `policy` lets functions be called that the default read policy does not.
pub(crate) fn allows_more_than_defaults(policy: &sluice_sqlguard::Policy) -> bool {
    let defaults = sluice_sqlguard::Policy::read_only();
    let defaults: std::collections::HashSet<&str> = defaults.allowed_functions().collect();
    policy
        .allowed_functions()
        .any(|name| !defaults.contains(name))
}

/// The catalog checks with the pins ([`crate::check_sql`]), SQL built once.
static QUICK_SQL: LazyLock<String> = LazyLock::new(check_sql::quick);
static FULL_SQL: LazyLock<String> = LazyLock::new(check_sql::full);
/// In place of a check that passed before ([`crate::reuse`]).
static REUSE_SQL: LazyLock<String> = LazyLock::new(check_sql::reuse);

/// A connection with the catalog check (and the pins) to run on it for one statement.
pub(crate) struct Checked<'a> {
    pub(crate) client: &'a Object,
    pub(crate) check: Check,
    pub(crate) params: &'a CheckParams,
    /// The pool's record of statements that give only built-in types.
    pub(crate) result_types: &'a ResultTypes,
    /// The pool's record of checks that passed ([`crate::reuse`]).
    pub(crate) passed_checks: &'a PassedChecks,
    /// The pool's count of reads through a statement kept on their connection.
    pub(crate) prepared_reads: &'a std::sync::atomic::AtomicU64,
    /// The token of the check that passed before, when `check` is the comparison that
    /// stands in for it.
    pub(crate) reused: Option<Arc<str>>,
    /// Set when tokio-postgres prepared its type look-up statements on this connection
    /// behind a pooler in transaction mode: they were deallocated on the server
    /// connection of that transaction, but the client still holds them, so the
    /// connection must not serve another call.
    pub(crate) tainted: AtomicBool,
}

impl Checked<'_> {
    /// True when the connection goes through a pooler in transaction mode: nothing
    /// named may outlive its transaction.
    pub(crate) fn transaction_pooling(&self) -> bool {
        matches!(self.check, Check::Unnamed(_))
    }

    /// What to send, inside the transaction, after `statement` was prepared in it.
    /// Behind a pooler in transaction mode a statement with a type tokio-postgres had
    /// to look up left its look-up statements on this transaction's server connection:
    /// `DEALLOCATE ALL` removes them there (nothing else named lives on it: whatever
    /// Sluice prepares, it closes in the same transaction), and the connection is
    /// marked not to be reused ([`Checked::tainted`]). `None` otherwise.
    pub(crate) fn after_prepare(
        &self,
        statement: &tokio_postgres::Statement,
    ) -> Option<&'static str> {
        if !self.transaction_pooling() || !statement_looks_up(statement) {
            return None;
        }
        self.tainted.store(true, Ordering::Release);
        Some("DEALLOCATE ALL")
    }

    /// True when the connection must be closed after this call ([`Checked::tainted`]).
    pub(crate) fn is_tainted(&self) -> bool {
        self.tainted.load(Ordering::Acquire)
    }
}

/// How the catalog check is sent.
pub(crate) enum Check {
    /// Prepared once per connection (a direct connection, or a pooler in session mode).
    Prepared(tokio_postgres::Statement),
    /// Sent unnamed with its parameters, parsed and planned on every call (a pooler in
    /// transaction mode, where a statement prepared in one transaction may be missing
    /// from the server connection of the next).
    Unnamed(&'static str),
}

/// The check statement the parameters ask for — the comparison that stands in for a
/// check that passed under `reused` ([`crate::reuse`]), else the quick or the full
/// check: prepared once per connection (it survives the session reset, which does not
/// deallocate), or, behind a transaction pooler, its text.
pub(crate) async fn prepare_check(
    client: &Object,
    params: &CheckParams,
    reused: bool,
    transaction_pooling: bool,
) -> Result<Check, tokio_postgres::Error> {
    let (sql, types): (&'static str, &[tokio_postgres::types::Type]) = if reused {
        (&REUSE_SQL, &check_sql::REUSE_PARAMETER_TYPES)
    } else if params.full {
        (&FULL_SQL, &check_sql::PARAMETER_TYPES)
    } else {
        (&QUICK_SQL, &check_sql::PARAMETER_TYPES)
    };
    if transaction_pooling {
        return Ok(Check::Unnamed(sql));
    }
    client
        .prepare_typed_cached(sql, types)
        .await
        .map(Check::Prepared)
}

impl Checked<'_> {
    /// Runs the check. It fails, aborting the transaction before the statement that
    /// follows it is parsed, when the statement would run code it may not.
    pub(crate) async fn run(&self) -> Result<(), RunError> {
        let outcome = match &self.reused {
            Some(token) => {
                let params: [&(dyn ToSql + Sync); 2] = [self.params.timeout_ms(), &&**token];
                self.send(params, &check_sql::REUSE_PARAMETER_TYPES).await
            }
            None => {
                self.send(self.params.as_params(), &check_sql::PARAMETER_TYPES)
                    .await
            }
        };
        match outcome {
            Ok(token) => {
                match (&self.reused, token) {
                    (Some(_), _) => self.passed_checks.still_fresh(),
                    (None, Some(token)) => {
                        self.passed_checks.passed(&self.params.reuse_key, &token);
                    }
                    (None, None) => {}
                }
                Ok(())
            }
            Err(e) => Err(match objects::found(&e) {
                Some(Found::Refused(refusal)) => RunError::Refused(refusal),
                Some(Found::Unjudged(keys)) => RunError::Unjudged(keys),
                Some(Found::Deep) => RunError::Deep,
                Some(Found::Stale(token)) => {
                    self.passed_checks.stale(&token);
                    RunError::Stale
                }
                None => RunError::Database(e),
            }),
        }
    }

    /// Sends the check with `params` of `types` and reads its answer: the token of a
    /// check ([`check_sql::TOKEN_COLUMN`]), `None` for the comparison.
    async fn send<const N: usize>(
        &self,
        params: [&(dyn ToSql + Sync); N],
        types: &[tokio_postgres::types::Type; N],
    ) -> Result<Option<String>, tokio_postgres::Error> {
        let stream = match &self.check {
            Check::Prepared(statement) => self.client.query_raw(statement, params).await?,
            Check::Unnamed(sql) => {
                let typed = params.into_iter().zip(types.iter().cloned());
                self.client.query_typed_raw(sql, typed).await?
            }
        };
        pin_mut!(stream);
        let mut token = None;
        while let Some(row) = stream.next().await {
            let row = row?;
            if self.reused.is_none() {
                token = row.try_get::<_, Option<String>>(check_sql::TOKEN_COLUMN)?;
            }
        }
        Ok(token)
    }
}

/// Why running a statement failed.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The catalog check refused it; it did not run.
    Refused(Refusal),
    /// The catalog check found definitions (views, domain checks, policies) not judged
    /// yet; it did not run.
    Unjudged(Vec<String>),
    /// The quick catalog check found something for the full one; it did not run.
    Deep,
    /// A check that passed before no longer applies ([`crate::reuse`]); it did not run.
    Stale,
    /// The read's parameterised form did not prepare; it did not run, and runs as
    /// written next (`remember`: the form itself is at fault, so texts of its shape run
    /// as written from now on) ([`crate::database`]'s `prepared`).
    Unprepared {
        /// The form is at fault, not the text.
        remember: bool,
    },
    /// The statement kept for the read's form no longer applies (its result's columns
    /// changed) and was dropped; it did not run, and runs again.
    Replanned,
    /// The database failed it.
    Database(tokio_postgres::Error),
    /// Failed before reaching the database, with a message for the client.
    Client(ClientError),
    /// Failed as a query error already.
    Query(QueryError),
}

impl From<tokio_postgres::Error> for RunError {
    fn from(e: tokio_postgres::Error) -> Self {
        RunError::Database(e)
    }
}

impl RunError {
    pub(crate) fn into_query_error(self) -> QueryError {
        match self {
            RunError::Refused(refusal) => QueryError::Refused(refusal),
            RunError::Unjudged(_)
            | RunError::Deep
            | RunError::Stale
            | RunError::Unprepared { .. }
            | RunError::Replanned => QueryError::Database(ClientError::new(
                "the database's definitions changed while the statement was checked; try again",
            )),
            RunError::Database(e) => QueryError::Database(sanitise(&e)),
            RunError::Client(e) => QueryError::Database(e),
            RunError::Query(e) => e,
        }
    }
}

/// After a failed call: ends whatever transaction is open and resets the session. False
/// when the connection did not answer, so it must not go back to the pool.
pub(crate) async fn recover(client: &Object) -> bool {
    let (rolled_back, reset) = tokio::join!(
        client.batch_execute("ROLLBACK"),
        client.batch_execute(RESET)
    );
    rolled_back.is_ok() && reset.is_ok()
}
