//! A pooled connection lent to one call: [`Lease`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::database::connections::{Canceller, Object};

use crate::QueryError;
use crate::errors::ClientError;
use crate::tls::Connector;

/// Connections with abandoned statements not yet seen to end (nor given up on).
static PENDING_CANCELS: AtomicUsize = AtomicUsize::new(0);

/// Waits until every abandoned statement has been seen to end after its cancel requests
/// (or given up on), at most `timeout`. True when none is left. A process about to exit
/// calls it so that the statements it abandoned do not run on in PostgreSQL.
pub(crate) async fn settle(timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if PENDING_CANCELS.load(Ordering::Acquire) == 0 {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A pooled connection that is only returned to the pool when the statement finished
/// cleanly. Dropped mid-statement (the client cancelled, or the caller's future was
/// dropped), it cancels the running statement on the server and closes the connection
/// instead of handing a half-finished transaction to the next caller.
pub(crate) struct Lease<'a> {
    pub(crate) client: Option<Object>,
    pub(crate) tls: &'a Connector,
}

impl Lease<'_> {
    pub(crate) fn client(&self) -> Result<&Object, QueryError> {
        self.client.as_ref().ok_or_else(|| {
            QueryError::Database(ClientError::new(
                "internal error: connection already released",
            ))
        })
    }

    pub(crate) fn release(&mut self) {
        // Dropping the object returns it to the pool.
        self.client.take();
    }

    /// Closes the connection, which is idle (its call ended cleanly), instead of
    /// returning it to the pool: nothing to cancel.
    pub(crate) fn discard(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let canceller = client.canceller();
        let tls = self.tls.clone();
        // Detach from the pool: this connection may be mid-transaction.
        let client = Object::take(client);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            PENDING_CANCELS.fetch_add(1, Ordering::AcqRel);
            runtime.spawn(async move {
                cancel_until_idle(&client, &canceller, &tls).await;
                drop(client);
                PENDING_CANCELS.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }
}

/// How long to wait, after each cancel request, for the backend to show it is idle; a
/// request that found the backend between two statements (PostgreSQL ignores it then)
/// is followed by the next one.
const PATIENCE_MS: [u64; 6] = [50, 250, 500, 1000, 2000, 4000];

/// Cancels what runs on `client`'s connection until the backend is seen to have worked
/// through everything sent to it, or the attempts run out (about 8 s).
///
/// A cancel request is not an acknowledged message: PostgreSQL drops one that arrives
/// while the backend reads the next protocol message — between two statements of a
/// pipelined batch, say (the transaction's `BEGIN`, a cursor's `DECLARE`, its `FETCH`).
/// So an empty query is queued behind the batch: its answer comes back only once
/// every statement before it has ended, and until it does, the cancel is sent again.
async fn cancel_until_idle(
    client: &tokio_postgres::Client,
    canceller: &Canceller,
    tls: &Connector,
) {
    let idle = client.simple_query("");
    futures_util::pin_mut!(idle);
    // Polled once here so the sentinel is queued behind the abandoned statements. An
    // answer already means the connection has closed: a statement that still runs in
    // its backend ends with the one cancel request sent below.
    let closed = tokio::time::timeout(Duration::ZERO, &mut idle)
        .await
        .is_ok();
    for patience in PATIENCE_MS {
        // A server that stalls may not answer the cancel either.
        let sent = tokio::time::timeout(Duration::from_secs(5), canceller.cancel(tls));
        match sent.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not send the cancel request of an abandoned statement");
                return;
            }
            Err(_) => {
                tracing::warn!(
                    "the server did not take the cancel request of an abandoned statement within 5 s"
                );
                return;
            }
        }
        if closed
            || tokio::time::timeout(Duration::from_millis(patience), &mut idle)
                .await
                .is_ok()
        {
            return;
        }
        tracing::debug!(
            waited_ms = patience,
            "an abandoned statement still runs after a cancel request: sending another"
        );
    }
    tracing::warn!(
        "an abandoned statement still ran after six cancel requests; its connection is \
         closed and its statement timeout ends it"
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Backends of `db` running a `pg_sleep`, other than the watcher's own.
    async fn sleeping(watcher: &tokio_postgres::Client) -> i64 {
        watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
                 AND query LIKE 'SELECT pg_sleep%' AND datname = current_database() \
                 AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Four minute-long statements pipelined one after another (each with its own
    /// `Sync`, so each cancelled one is followed by the next): a dropped lease goes on
    /// cancelling until the backend has worked through all of them — three fixed
    /// requests, as before, left the fourth running.
    #[tokio::test]
    async fn a_dropped_lease_cancels_every_statement_it_left_running() {
        let db = sluice_testkit::database().await.unwrap();
        let watcher = db.connect().await.unwrap();
        let tls = Connector::Plain;
        let manager =
            crate::database::connections::Connections::new(db.config(), tls.clone(), true);
        let pool = crate::database::connections::Pool::builder(manager)
            .max_size(1)
            .build()
            .unwrap();
        let lease = Lease {
            client: Some(pool.get().await.unwrap()),
            tls: &tls,
        };
        {
            let client = lease.client().unwrap();
            let statements = (0..4).map(|_| client.simple_query("SELECT pg_sleep(60)"));
            let all = futures_util::future::join_all(statements);
            // Sent, and abandoned while the first one runs.
            let abandoned = tokio::time::timeout(Duration::from_millis(300), all).await;
            assert!(abandoned.is_err(), "the statements cannot have ended");
        }
        assert_eq!(sleeping(&watcher).await, 1);
        drop(lease);
        let mut polls = 0;
        while sleeping(&watcher).await != 0 {
            polls += 1;
            assert!(polls < 300, "a pipelined statement still runs");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(settle(Duration::from_secs(10)).await, "the cancels settled");
    }
}
