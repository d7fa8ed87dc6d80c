//! Whether the database answers now: [`Database::ping`], for a readiness probe.

use super::{Database, lease};
use crate::QueryError;
use crate::errors::sanitise;

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
            let mut lease = lease(pooled).await.map_err(QueryError::Database)?;
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

/// How one pool of a [`Database`] is used now ([`Database::pool_usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolUsage {
    /// `"main"`, or `"reads"` for the pool of a separate read connection.
    pub pool: &'static str,
    /// The most connections it opens.
    pub max: usize,
    /// Connections open.
    pub open: usize,
    /// Open connections not lent to a call.
    pub idle: usize,
    /// Calls waiting for a connection.
    pub waiting: usize,
    /// Calls that asked this pool for a connection, since start.
    pub acquires: u64,
    /// The microseconds those calls spent getting one (opening a connection included).
    pub acquire_micros: u64,
    /// Calls that got none because every connection stayed busy past the wait.
    pub acquire_timeouts: u64,
    /// Catalog checks that ran and passed, since start.
    pub checks_run: u64,
    /// Calls whose check was not run again because nothing it depends on had changed
    /// since it passed (see the crate's manual on the catalog check), since start.
    pub checks_reused: u64,
    /// Calls that found a check they would have reused out of date (a commit since,
    /// another `search_path` or role) and ran it again, since start.
    pub checks_stale: u64,
    /// Reads sent to PostgreSQL as one batch under one `Sync` (the transaction, the
    /// check, the statement and the rollback), since start; the others went as
    /// separate requests in the same round trip (see the crate's manual).
    pub reads_batched: u64,
    /// Reads that bound a statement prepared earlier on their connection for a text of
    /// the same shape (its literals as parameters), so PostgreSQL parsed and planned
    /// nothing for them, since start (see the crate's manual).
    pub reads_prepared: u64,
}

impl Database {
    /// The use of each pool now: the main one, and the reads' one when reads go
    /// elsewhere (for metrics; nothing is asked of the database).
    pub fn pool_usage(&self) -> Vec<PoolUsage> {
        let mut usage = vec![usage_of("main", &self.main)];
        if let Some(reads) = &self.reads {
            usage.push(usage_of("reads", reads));
        }
        usage
    }
}

fn usage_of(pool: &'static str, pooled: &super::pool::Pooled) -> PoolUsage {
    let status = pooled.pool.status();
    let (acquires, acquire_micros, acquire_timeouts) = pooled.acquires.totals();
    let [checks_run, checks_reused, checks_stale] = pooled.passed_checks.counts();
    PoolUsage {
        pool,
        max: status.max_size,
        open: status.size,
        idle: status.available,
        waiting: status.waiting,
        acquires,
        acquire_micros,
        acquire_timeouts,
        checks_run,
        checks_reused,
        checks_stale,
        reads_batched: pooled.pool.manager().batches_sent(),
        reads_prepared: pooled
            .reads_prepared
            .load(std::sync::atomic::Ordering::Relaxed),
    }
}
