//! The testkit's own tests: every path to a server, and databases that come and go.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test

use std::process::Command;
use std::time::Duration;

use sluice_testkit::{Origin, database};

/// Names the role a re-run of this test binary plays (see `run_self`).
const ROLE: &str = "SLUICE_TESTKIT_SELFTEST_ROLE";

#[tokio::test]
async fn each_call_gets_a_fresh_empty_database_that_is_dropped_after() {
    let first = database().await.unwrap();
    let second = database().await.unwrap();
    assert_ne!(first.name(), second.name());

    let client = first.connect().await.unwrap();
    client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    // The second database is its own: the first one's table is not there.
    let other = second.connect().await.unwrap();
    let found = other
        .query_one("SELECT count(*) FROM pg_tables WHERE tablename = 't'", &[])
        .await
        .unwrap();
    assert_eq!(found.get::<_, i64>(0), 0);

    let name = first.name().to_owned();
    // Dropping works even with a connection still open on the database.
    drop(first);
    let exists = other
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap();
    assert_eq!(exists.get::<_, i64>(0), 0, "{name} was not dropped");
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_can_be_made_in_parallel() {
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            tokio::spawn(async move {
                let db = database().await.unwrap();
                let client = db.connect().await.unwrap();
                let row = client.query_one("SELECT $1::int + 1", &[&i]).await.unwrap();
                assert_eq!(row.get::<_, i32>(0), i + 1);
                db.name().to_owned()
            })
        })
        .collect();
    let mut names = Vec::new();
    for task in tasks {
        names.push(task.await.unwrap());
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 6);
}

#[tokio::test]
async fn url_and_config_point_at_the_test_database() {
    let db = database().await.unwrap();
    assert_eq!(db.config().get_dbname(), Some(db.name()));
    let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), db.name());
    // UTF-8 and the C locale come from the template.
    let row = client
        .query_one("SELECT pg_encoding_to_char(encoding), datcollate FROM pg_database WHERE datname = current_database()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "UTF8");
    assert_eq!(row.get::<_, String>(1), "C");
}

/// Forces the ephemeral path even where a server runs, in a child process, and checks
/// that the cluster is gone once that process has ended.
#[tokio::test]
async fn ephemeral_cluster_serves_and_vanishes_with_the_process() {
    if std::env::var(ROLE).as_deref() == Ok("ephemeral") {
        let db = database().await.unwrap();
        assert_eq!(db.origin(), Origin::Ephemeral);
        let client = db.connect().await.unwrap();
        client
            .batch_execute("CREATE TABLE ok (x int)")
            .await
            .unwrap();
        let config = db.config();
        let port = config.get_ports().first().copied().unwrap();
        println!("\nEPHEMERAL_PORT={port}");
        return;
    }
    let output = run_self(
        "ephemeral_cluster_serves_and_vanishes_with_the_process",
        &[(ROLE, "ephemeral"), (sluice_testkit::EPHEMERAL_ENV, "1")],
    );
    let port: u16 = output
        .lines()
        .find_map(|line| line.split("EPHEMERAL_PORT=").nth(1))
        .unwrap_or_else(|| panic!("the child printed no port:\n{output}"))
        .trim()
        .parse()
        .unwrap();
    // The guardian notices the end of the process and shuts the server down.
    let mut gone = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "the ephemeral server on port {port} outlived its process"
    );
}

/// `DATABASE_URL` wins over the local server when it is set.
#[tokio::test]
async fn database_url_is_used_when_set() {
    if std::env::var(ROLE).as_deref() == Ok("url") {
        let db = database().await.unwrap();
        assert_eq!(db.origin(), Origin::DatabaseUrl);
        db.connect().await.unwrap();
        return;
    }
    // Point the child at whatever server this process uses, through a URL-form string
    // naming a database that exists there.
    let db = database().await.unwrap();
    let config = db.config();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        other => panic!("unexpected host {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let url = format!("postgres://{user}@{host}:{port}/{}", db.name());
    run_self(
        "database_url_is_used_when_set",
        &[(ROLE, "url"), ("DATABASE_URL", &url)],
    );
}

/// Runs one test of this binary again in a child process with extra environment, and
/// returns its output; the child's failure fails the caller.
fn run_self(test: &str, env: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command.args([test, "--exact", "--nocapture", "--test-threads=1"]);
    command.env_remove("DATABASE_URL");
    command.env_remove(sluice_testkit::EPHEMERAL_ENV);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "child run of {test} failed:\n{text}"
    );
    assert!(text.contains("1 passed"), "child ran no test:\n{text}");
    text
}
