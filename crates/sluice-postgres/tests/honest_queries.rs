//! Every honest query of the guard's corpus runs through `Database::read` — the guard,
//! the catalog check, the pins, the read-only transaction — on the corpus's own schema:
//! the new layers refuse no honest query.
#![allow(clippy::unwrap_used)]

use sluice_postgres::{Database, DatabaseConfig};

const SCHEMA: &str = include_str!("../../sluice-sqlguard/tests/corpus/schema.sql");
const BENIGN: &str = include_str!("../../sluice-sqlguard/tests/corpus/benign.sql");

#[tokio::test]
async fn the_corpus_of_honest_queries_runs_through_every_layer() {
    let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
    let database = Database::connect(DatabaseConfig::new(db.config()))
        .await
        .unwrap();
    let mut failed = Vec::new();
    for (i, sql) in BENIGN.lines().enumerate() {
        if sql.trim().is_empty() || sql.starts_with("--") {
            continue;
        }
        if let Err(e) = database.read(sql).await {
            failed.push(format!("benign.sql:{}: {sql}\n    {e}", i + 1));
        }
    }
    assert!(
        failed.is_empty(),
        "{} honest queries failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
