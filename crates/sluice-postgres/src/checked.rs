//! Running a statement behind the catalog check on one connection: the check's
//! statement, how a call ends or recovers, and why it failed.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::Object;
use futures_util::{StreamExt, pin_mut};
use sluice_sqlguard::Refusal;

use crate::QueryError;
use crate::check_sql;
use crate::database::result_types::{ResultTypes, statement_looks_up};
use crate::errors::{ClientError, sanitise};
use crate::objects::{self, CheckParams, Found};
use crate::session::RESET;

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

/// A connection with the catalog check (and the pins) to run on it for one statement.
pub(crate) struct Checked<'a> {
    pub(crate) client: &'a Object,
    pub(crate) check: Check,
    pub(crate) params: &'a CheckParams,
    /// The pool's record of statements that give only built-in types.
    pub(crate) result_types: &'a ResultTypes,
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

/// The check statement the parameters ask for: prepared once per connection (it
/// survives the session reset, which does not deallocate), or, behind a transaction
/// pooler, its text.
pub(crate) async fn prepare_check(
    client: &Object,
    params: &CheckParams,
    transaction_pooling: bool,
) -> Result<Check, tokio_postgres::Error> {
    let sql: &'static str = if params.full { &FULL_SQL } else { &QUICK_SQL };
    if transaction_pooling {
        return Ok(Check::Unnamed(sql));
    }
    client
        .prepare_typed_cached(sql, &check_sql::PARAMETER_TYPES)
        .await
        .map(Check::Prepared)
}

impl Checked<'_> {
    /// Runs the check. It fails, aborting the transaction before the statement that
    /// follows it is parsed, when the statement would run code it may not.
    pub(crate) async fn run(&self) -> Result<(), RunError> {
        let outcome = async {
            let stream = match &self.check {
                Check::Prepared(statement) => {
                    self.client
                        .query_raw(statement, self.params.as_params())
                        .await?
                }
                Check::Unnamed(sql) => {
                    let typed = self
                        .params
                        .as_params()
                        .into_iter()
                        .zip(check_sql::PARAMETER_TYPES);
                    self.client.query_typed_raw(sql, typed).await?
                }
            };
            pin_mut!(stream);
            while let Some(row) = stream.next().await {
                row?;
            }
            Ok(())
        }
        .await;
        outcome.map_err(|e: tokio_postgres::Error| match objects::found(&e) {
            Some(Found::Refused(refusal)) => RunError::Refused(refusal),
            Some(Found::Unjudged(keys)) => RunError::Unjudged(keys),
            Some(Found::Deep) => RunError::Deep,
            None => RunError::Database(e),
        })
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
            RunError::Unjudged(_) | RunError::Deep => QueryError::Database(ClientError::new(
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
