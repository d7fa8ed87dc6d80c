//! A pooled connection lent to one call: [`Lease`].

use std::time::Duration;

use deadpool_postgres::Object;

use crate::QueryError;
use crate::errors::ClientError;
use crate::tls::Connector;

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
            });
        }
    }
}
