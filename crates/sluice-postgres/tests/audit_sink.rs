//! The audit sink: every call lands in `sluice_audit.calls` (who, tool, database, SQL,
//! the parameters' shapes and never their values, verdict, SQLSTATE, rows), and a sink
//! whose table is locked never holds a call up: what does not fit its queue is counted,
//! and a `dropped` row accounts for every event.
#![cfg(all(feature = "audit", feature = "tools"))]
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{call, session};
use serde_json::json;
use sluice_auth::PermissionPolicy;
use sluice_mcp::Server;
use sluice_postgres::audit::{AuditOptions, AuditSink};
use sluice_postgres::tools::DatabaseTools;
use sluice_postgres::{Database, DatabaseConfig};
use tracing_subscriber::layer::SubscriberExt;

async fn server() -> (sluice_testkit::TestDatabase, Server) {
    let data = sluice_testkit::database_with(
        "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'lamp');",
    )
    .await
    .unwrap();
    let database = Database::connect(DatabaseConfig::from_url(data.url()).unwrap())
        .await
        .unwrap();
    let server = DatabaseTools::new(database, PermissionPolicy::from_lists("writer", None))
        .register(Server::builder("t", "1"))
        .build();
    (data, server)
}

// One thread, so the subscriber set for this test sees every event of its calls.
#[tokio::test(flavor = "current_thread")]
async fn every_call_lands_in_the_table_with_its_verdict_and_no_values() {
    let audit = sluice_testkit::database().await.unwrap();
    let sink = AuditSink::start(AuditOptions::from_url(audit.url()).unwrap()).unwrap();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(sink.layer()));
    let (_data, server) = server().await;
    let reader = session(&server, "reader").await;

    let found = call(
        &reader,
        "queryDatabase",
        json!({"sql": "SELECT id FROM items WHERE name <> $1", "params": ["top-secret-value"]}),
    )
    .await;
    assert_eq!(found["structuredContent"]["rows"], json!([[1]]), "{found}");
    call(
        &reader,
        "queryDatabase",
        json!({"sql": "DELETE FROM items"}),
    )
    .await;
    call(
        &reader,
        "queryDatabase",
        json!({"sql": "SELECT * FROM missing"}),
    )
    .await;
    call(
        &reader,
        "executeDatabase",
        json!({"sql": "DELETE FROM items"}),
    )
    .await;
    assert!(
        sink.flush(Duration::from_secs(20)).await,
        "the sink wrote in time"
    );

    let client = audit.connect().await.unwrap();
    let rows = client
        .query(
            "SELECT login, tool, database, sql, params, verdict, sqlstate, rows, duration_ms, \
                    coalesce(detail::text, '') \
             FROM sluice_audit.calls ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let text =
        |row: &tokio_postgres::Row, i: usize| row.get::<_, Option<String>>(i).unwrap_or_default();
    let ok = rows
        .iter()
        .find(|r| text(r, 5) == "ok" && text(r, 1) == "queryDatabase")
        .expect("the read is there");
    assert_eq!(text(ok, 0), "reader");
    assert_eq!(text(ok, 2), "main");
    assert_eq!(text(ok, 3), "SELECT id FROM items WHERE name <> $1");
    assert_eq!(text(ok, 4), "text");
    assert_eq!(ok.get::<_, Option<i64>>(7), Some(1));
    assert!(ok.get::<_, Option<f64>>(8).is_some());
    assert!(
        rows.iter()
            .any(|r| text(r, 3) == "DELETE FROM items" && text(r, 5).starts_with("refused: ")),
        "the guard's refusal"
    );
    assert!(
        rows.iter()
            .any(|r| text(r, 5) == "failed: 42P01" && text(r, 6) == "42P01"),
        "the failure and its SQLSTATE"
    );
    assert!(
        rows.iter().any(|r| text(r, 1) == "executeDatabase"
            && text(r, 5).contains("not offered to this caller")),
        "the call of a tool hidden from the caller"
    );
    for row in &rows {
        for i in [0, 1, 2, 3, 4, 5, 6, 9] {
            assert!(
                !text(row, i).contains("top-secret-value"),
                "a value reached the audit table"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_locked_table_never_holds_a_call_and_every_event_is_accounted_for() {
    let audit = sluice_testkit::database().await.unwrap();
    let mut options = AuditOptions::from_url(audit.url()).unwrap();
    options.capacity = 20;
    let sink = AuditSink::start(options).unwrap();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(sink.layer()));
    let (_data, server) = server().await;
    let reader = session(&server, "reader").await;
    call(&reader, "queryDatabase", json!({"sql": "SELECT 1"})).await;
    assert!(
        sink.flush(Duration::from_secs(20)).await,
        "the table exists"
    );

    // Someone holds the table: the writer's INSERT waits behind the lock.
    let mut locker = audit.connect().await.unwrap();
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE sluice_audit.calls IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let calls = 200;
    for i in 0..calls {
        let result = call(
            &reader,
            "queryDatabase",
            json!({"sql": format!("SELECT {i}")}),
        )
        .await;
        assert_eq!(
            result["structuredContent"]["rows"],
            json!([[i]]),
            "{result}"
        );
    }
    // Every call answered while the lock was held, and some events could not be queued.
    assert!(
        sink.dropped() > 0,
        "a queue of 20 cannot hold {calls} events"
    );
    lock.commit().await.unwrap();
    assert!(
        sink.flush(Duration::from_secs(30)).await,
        "the sink caught up"
    );

    let client = audit.connect().await.unwrap();
    let written: i64 = client
        .query_one(
            "SELECT count(*) FROM sluice_audit.calls WHERE tool = 'queryDatabase'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let dropped: i64 = client
        .query_one(
            "SELECT coalesce(sum(rows), 0)::int8 FROM sluice_audit.calls WHERE verdict = 'dropped'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(dropped > 0);
    assert_eq!(
        written + dropped,
        1 + i64::from(calls),
        "written {written}, dropped {dropped}"
    );
}
