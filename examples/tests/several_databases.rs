//! The built `postgres_server` with two `--database`s, one of them down at start-up: it
//! starts, serves the other, and serves the second once it answers. Bad entries and a
//! policy section for a database it does not have stop it with a clear message that
//! quotes no secret.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::stdio::StdioServer;

use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_down_at_start_up_does_not_stop_the_server() {
    let shop = sluice_testkit::database_with(
        "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1);",
    )
    .await
    .unwrap();
    let billing = sluice_testkit::database_with(
        "CREATE TABLE invoices (id int PRIMARY KEY); INSERT INTO invoices VALUES (7);",
    )
    .await
    .unwrap();
    let audit = sluice_testkit::database().await.unwrap();
    let (relay, billing_url) = billing.relayed().unwrap();
    relay.stop();
    let mut server = StdioServer::start(&[
        "--audit-database-url".into(),
        audit.url().to_owned(),
        "--user".into(),
        "alice".into(),
        "--acquire-timeout".into(),
        "2".into(),
        "--database".into(),
        format!("shop={}", shop.url()),
        "--database".into(),
        format!("billing={billing_url}"),
    ]);
    let orders = server.query("SELECT id FROM orders", None);
    assert_eq!(
        orders["structuredContent"]["rows"],
        json!([[1]]),
        "{orders}"
    );
    let down = server.query("SELECT id FROM invoices", Some("billing"));
    assert_eq!(down["isError"], true, "{down}");
    relay.resume();
    let mut served = Value::Null;
    for _ in 0..100 {
        served = server.query("SELECT id FROM invoices", Some("billing"));
        if served["isError"] != json!(true) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        served["structuredContent"]["rows"],
        json!([[7]]),
        "{served}"
    );
    let (ok, stderr) = server.finish();
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("not reachable at start-up; serving the others and retrying"),
        "{stderr}"
    );
    assert!(stderr.contains("database reachable again"), "{stderr}");
    // The audit table has each call, on its database, with its verdict.
    let client = audit.connect().await.unwrap();
    let rows = client
        .query(
            "SELECT database, verdict FROM sluice_audit.calls WHERE tool = 'queryDatabase' ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        seen.first(),
        Some(&("shop".to_owned(), "ok".to_owned())),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(db, verdict)| db == "billing" && verdict == "ok"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|(db, verdict)| db == "billing"
            && verdict.starts_with("failed: database billing is not reachable")),
        "{seen:?}"
    );
}

#[test]
fn bad_database_entries_and_policy_sections_stop_it_without_quoting_secrets() {
    let run = |args: &[&str]| {
        let output = Command::new(common::example_binary())
            .args(args)
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // A URL where NAME=URL goes: refused, the password not repeated.
    let (code, stderr) = run(&[
        "--database",
        "postgres://app:s3cret@db/shop?sslmode=require",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--database takes NAME=URL"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    // The same name twice.
    let (code, stderr) = run(&[
        "--database",
        "a=host=127.0.0.1 port=1",
        "--database",
        "a=host=127.0.0.1 port=2",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("given twice"), "{stderr}");
    // A read connection for a database nobody defined.
    let (code, stderr) = run(&[
        "--database",
        "a=host=127.0.0.1 port=1",
        "--read-database",
        "b=host=127.0.0.1 port=1",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--read-database names b"), "{stderr}");
    // A policy section for a database the server does not serve (a typo).
    let dir = std::env::temp_dir().join(format!("sluice-several-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.json");
    std::fs::write(&policy, r#"{"databases": {"billnig": {"writers": []}}}"#).unwrap();
    let (code, stderr) = run(&[
        "--database",
        "billing=host=127.0.0.1 port=1",
        "--policy-file",
        policy.to_str().unwrap(),
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("section for database billnig") && stderr.contains("serves: billing"),
        "{stderr}"
    );
}
