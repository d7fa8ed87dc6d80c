//! A read goes to PostgreSQL as one batch under one `Sync`; when part of it fails, the
//! call reports the failure that happened (not the requests skipped behind it), nothing
//! after it ran, and the connection serves the next call.
#![allow(clippy::unwrap_used)]

mod common;

use sluice_postgres::{Database, DatabaseConfig, PoolUsage, QueryError};
use sluice_sqlguard::RefusalReason;

const SCHEMA: &str = r"
CREATE TABLE t (id int PRIMARY KEY, s text);
INSERT INTO t VALUES (1, 'a'), (2, 'b');
CREATE FUNCTION side_effect() RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_lock(42); RETURN 1; END $$;
";

fn batched(usage: &[PoolUsage]) -> u64 {
    usage.iter().map(|pool| pool.reads_batched).sum()
}

/// One connection, so every call meets what the one before it left.
fn one_connection(config: tokio_postgres::Config) -> DatabaseConfig {
    let mut config = DatabaseConfig::new(config);
    config.pool_size = 1;
    // The statement as text in the batch, not a form prepared for its shape
    // (`tests/prepared.rs`).
    config.prepared_forms = false;
    config
}

#[tokio::test]
async fn reads_are_batched_and_a_failure_leaves_the_connection_serving() {
    let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
    let admin = db.connect().await.unwrap();
    let database = Database::connect(one_connection(db.config()))
        .await
        .unwrap();
    // A text seen for the first time is prepared first, to learn its result's types
    // (`result_types`); from the second time on it goes as one batch.
    for round in 0..3 {
        let before = batched(&database.pool_usage());
        let out = database.read("SELECT s FROM t WHERE id = 2").await.unwrap();
        assert_eq!(out.rows, vec![vec![serde_json::json!("b")]]);
        assert_eq!(
            batched(&database.pool_usage()),
            before + u64::from(round > 0)
        );
    }

    // The statement fails: its own error, not the rollback skipped after it.
    for round in 0..2 {
        let before = batched(&database.pool_usage());
        match database.read("SELECT 1 / (id - 1) FROM t").await {
            Err(QueryError::Database(e)) => {
                assert!(e.message.contains("division by zero"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(batched(&database.pool_usage()), before + round);
    }
    // The connection's transaction was ended: the next read begins its own.
    let out = database.read("SELECT count(*) FROM t").await.unwrap();
    assert_eq!(out.rows, vec![vec![serde_json::json!(2)]]);

    // The catalog check fails (a view planted in a table's place, which the guard
    // refuses once judged): the statement behind it in the batch did not run.
    let sql = "SELECT id FROM t WHERE id = 1";
    database.read(sql).await.unwrap();
    database.read(sql).await.unwrap();
    admin
        .batch_execute(
            "ALTER TABLE t RENAME TO t_old; \
             CREATE VIEW t AS SELECT side_effect() AS id, 'x'::text AS s",
        )
        .await
        .unwrap();
    let before = batched(&database.pool_usage());
    match database.read(sql).await {
        Err(QueryError::Refused(refusal)) => {
            assert_eq!(refusal.reason, RefusalReason::HiddenCode, "{refusal:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        common::advisory_locks(&admin, None).await,
        0,
        "the statement behind the failed check ran"
    );
    assert!(batched(&database.pool_usage()) > before);
    admin
        .batch_execute("DROP VIEW t; ALTER TABLE t_old RENAME TO t")
        .await
        .unwrap();

    // An empty result (described after the batch) and a write (not batched) still work.
    for _ in 0..2 {
        let out = database.read("SELECT s FROM t WHERE id = 3").await.unwrap();
        assert!(out.rows.is_empty());
        assert_eq!(out.columns[0].name, "s");
    }
    let reads_so_far = batched(&database.pool_usage());
    database
        .write("INSERT INTO t VALUES (3, 'c')")
        .await
        .unwrap();
    assert_eq!(batched(&database.pool_usage()), reads_so_far);
    let out = database.read("SELECT s FROM t WHERE id = 3").await.unwrap();
    assert_eq!(out.rows, vec![vec![serde_json::json!("c")]]);
    // Nothing left open on the server connection between calls.
    let open: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state LIKE 'idle in transaction%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 0);
    database.close();
}

#[tokio::test]
async fn many_reads_at_once_keep_their_own_answers() {
    let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
    let mut config = DatabaseConfig::new(db.config());
    config.pool_size = 4;
    let database = Database::connect(config).await.unwrap();
    let reads = (0..200).map(|i| {
        let database = database.clone();
        async move {
            if i % 7 == 0 {
                // Failures mixed in.
                assert!(database.read("SELECT 1 / 0").await.is_err());
                return;
            }
            let id = 1 + i % 2;
            let out = database
                .read(&format!("SELECT id, s FROM t WHERE id = {id}"))
                .await
                .unwrap();
            let s = if id == 1 { "a" } else { "b" };
            assert_eq!(
                out.rows,
                vec![vec![serde_json::json!(id), serde_json::json!(s)]]
            );
        }
    });
    futures_util::future::join_all(reads).await;
    assert!(batched(&database.pool_usage()) >= 171);
    database.close();
}

#[tokio::test]
async fn behind_a_transaction_pooler_nothing_is_batched() {
    let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
    let mut config = one_connection(db.config());
    config.transaction_pooling = true;
    let database = Database::connect(config).await.unwrap();
    let out = database.read("SELECT s FROM t WHERE id = 1").await.unwrap();
    assert_eq!(out.rows, vec![vec![serde_json::json!("a")]]);
    assert_eq!(batched(&database.pool_usage()), 0);
    database.close();
}
