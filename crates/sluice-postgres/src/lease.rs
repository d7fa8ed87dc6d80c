//! A pooled connection lent to one call: [`Lease`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use deadpool_postgres::Object;

use crate::QueryError;
use crate::errors::ClientError;
use crate::tls::Connector;

/// Cancel requests of abandoned statements not yet sent (or given up on).
static PENDING_CANCELS: AtomicUsize = AtomicUsize::new(0);

/// Waits until every cancel request of an abandoned statement has been sent (or given
/// up on), at most `timeout`. True when none is left. A process about to exit calls it so
/// that the statements it abandoned do not run on in PostgreSQL.
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
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let token = client.cancel_token();
        let tls = self.tls.clone();
        // Detach from the pool: this connection may be mid-transaction.
        drop(Object::take(client));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            PENDING_CANCELS.fetch_add(1, Ordering::AcqRel);
            runtime.spawn(async move {
                // PostgreSQL ignores a cancel request that arrives while the backend
                // reads the next protocol message (between Parse, Bind and Execute of
                // a statement), so ask again a little later. A request for a statement
                // that has ended does nothing: the connection is gone.
                for delay in [0, 50, 250] {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    // A server that stalls may not answer the cancel either.
                    let sent = tokio::time::timeout(Duration::from_secs(5), tls.cancel(&token));
                    match sent.await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "could not cancel an abandoned statement");
                            break;
                        }
                        Err(_) => {
                            tracing::debug!(
                                "the server did not take the cancel request within 5 s"
                            );
                            break;
                        }
                    }
                }
                PENDING_CANCELS.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }
}
