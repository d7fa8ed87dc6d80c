//! Whether the database answers now: [`Database::ping`], for a readiness probe.

use super::{Database, no_connection};
use crate::QueryError;
use crate::errors::sanitise;
use crate::lease::Lease;

impl Database {
    /// One round trip (an empty query, which runs nothing) on a pooled connection of
    /// each pool: the main one, and the reads' one when reads go elsewhere. A server's
    /// readiness probe calls it (`/readyz` in `postgres_server`), under a timeout of
    /// its own: dropped before the answer, the connection is cancelled and closed rather
    /// than returned to the pool.
    ///
    /// # Errors
    ///
    /// [`QueryError::Database`] with the same words a call would get: every connection
    /// busy, the database unreachable, or its error.
    pub async fn ping(&self) -> Result<(), QueryError> {
        for pooled in std::iter::once(&self.main).chain(self.reads.as_ref()) {
            let client = pooled
                .pool
                .get()
                .await
                .map_err(|e| QueryError::Database(no_connection(pooled, &e)))?;
            let mut lease = Lease {
                client: Some(client),
                tls: &pooled.tls,
            };
            lease
                .client()?
                .simple_query("")
                .await
                .map_err(|e| QueryError::Database(sanitise(&e)))?;
            lease.release();
        }
        Ok(())
    }
}
