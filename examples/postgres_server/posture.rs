//! The least-privilege check at start-up: a warning per finding, or a refusal to start.

use sluice_postgres::Database;

/// Inspects the roles the server connects as; with `require`, any finding stops it.
pub(crate) async fn check(database: &Database, require: bool) -> Result<(), String> {
    let posture = sluice_postgres::posture::inspect(database)
        .await
        .map_err(|e| format!("cannot inspect the database roles: {e}"))?;
    for finding in &posture.findings {
        tracing::warn!(purpose = ?finding.purpose, "least privilege: {}", finding.message);
    }
    if require && !posture.is_least_privilege() {
        return Err(format!(
            "refusing to start (--require-least-privilege): {}",
            posture
                .findings
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    Ok(())
}
