//! What the server says at start-up about each database it serves.

use sluice_postgres::{DatabaseStatus, Databases};

/// One line per database: where it connects and its limits, or why it is down.
pub(crate) fn databases(databases: &Databases) {
    for status in databases.status() {
        one(databases, &status);
    }
}

/// The start-up line for one database: where it connects and its limits, or why it is
/// down (it is retried).
fn one(databases: &Databases, status: &DatabaseStatus) {
    let name = status.name.as_str();
    let Some(database) = databases.connected(name) else {
        tracing::warn!(
            database = name,
            reason = status.reason.as_deref().unwrap_or("-"),
            "not reachable at start-up; serving the others and retrying"
        );
        return;
    };
    let limits = database.config();
    tracing::info!(
        database = name,
        target = %database.target(),
        reads_as = %database.read_target().unwrap_or_else(|| "the same connection".to_owned()),
        statement_timeout_s = limits.statement_timeout.as_secs(),
        max_rows = limits.max_rows,
        max_bytes = limits.max_bytes,
        pool_size = limits.pool_size,
        acquire_timeout_s = limits.acquire_timeout.as_secs(),
        "connected"
    );
}
