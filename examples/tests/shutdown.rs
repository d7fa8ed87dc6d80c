//! Stopping the built `postgres_server` over stdio: on SIGTERM (and SIGINT) it stops
//! reading, gives what is in flight `--drain-timeout` to finish, then stops it — the
//! request is answered with a shutting-down error and its statement is cancelled in
//! PostgreSQL — closes its pools (no backend of it left) and exits 0. A client that goes
//! away (end of input, its end of the pipe closed) gets the same, not a query running on
//! to its statement timeout.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::oauth::{ServerProcess, free_port};
use common::stdio::StdioServer;
use serde_json::json;

/// Runs far longer than any test: it only ends when cancelled.
const LONG_SQL: &str =
    "SELECT count(*) AS sluice_shutdown_probe FROM generate_series(1, 100000000000) AS g";

/// Backends of this test's database other than the watcher, and those running the probe.
async fn backends(watcher: &tokio_postgres::Client) -> (i64, i64) {
    let row = watcher
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE state = 'active' AND query LIKE '%sluice_shutdown_probe%') \
             FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Waits (at most 20 s) until `done` holds for the backends.
async fn until(watcher: &tokio_postgres::Client, what: &str, done: impl Fn((i64, i64)) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = backends(watcher).await;
        if done(now) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start(db: &sluice_testkit::TestDatabase) -> StdioServer {
    StdioServer::start(&[
        "--user".into(),
        "alice".into(),
        "--drain-timeout".into(),
        "1".into(),
        "--statement-timeout".into(),
        "600".into(),
        "--database-url".into(),
        db.url().to_owned(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_stops_in_flight_work_answers_it_and_leaves_no_backend() {
    for signal in ["TERM", "INT"] {
        let db = sluice_testkit::database().await.unwrap();
        let watcher = db.connect().await.unwrap();
        let mut server = start(&db);
        let quick = server.query("SELECT 1 AS one", None);
        assert_eq!(quick["structuredContent"]["rows"], json!([[1]]), "{quick}");
        let long = server.send(
            "tools/call",
            json!({"name": "queryDatabase", "arguments": {"sql": LONG_SQL}}),
        );
        until(&watcher, "the long query started", |(_, probe)| probe == 1).await;
        server.signal(signal);
        let answer = server.answer_to(long);
        assert_eq!(
            answer["error"]["code"],
            json!(sluice_mcp::SHUTTING_DOWN),
            "{answer}"
        );
        let (code, stderr) = server.wait();
        assert_eq!(code, Some(0), "SIG{signal}: {stderr}");
        // The statement was cancelled and the pool closed: no backend of the server.
        until(&watcher, "backends left after exit", |(all, _)| all == 0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_does_not_leave_its_query_running() {
    let db = sluice_testkit::database().await.unwrap();
    let watcher = db.connect().await.unwrap();
    let mut server = start(&db);
    server.send(
        "tools/call",
        json!({"name": "queryDatabase", "arguments": {"sql": LONG_SQL}}),
    );
    until(&watcher, "the long query started", |(_, probe)| probe == 1).await;
    // The client ends: its input closes (and nobody reads the answer).
    let (_code, stderr) = server.finish_status();
    assert!(stderr.contains("stopping what is left"), "{stderr}");
    until(
        &watcher,
        "backends left after the client went",
        |(all, _)| all == 0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_signal_answers_what_runs_and_leaves_no_backend() {
    let db = sluice_testkit::database().await.unwrap();
    let watcher = db.connect().await.unwrap();
    let flags = [
        "--database-url",
        db.url(),
        "--user",
        "tester",
        "--statement-timeout",
        "600",
        "--drain-timeout",
        "1",
    ];
    let mut server = ServerProcess::start(free_port(), &flags, &[]);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {},
                      "io.modelcontextprotocol/clientInfo": {"name": "shutdown-test", "version": "1"}});
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "queryDatabase", "arguments": {"sql": LONG_SQL}, "_meta": meta}});
    let request = reqwest::Client::new()
        .post(server.mcp())
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", "queryDatabase")
        .json(&body)
        .send();
    let long = tokio::spawn(async move { request.await.unwrap().text().await.unwrap() });
    until(&watcher, "the long query started", |(_, probe)| probe == 1).await;
    server.signal("TERM");
    let answer = tokio::time::timeout(Duration::from_secs(60), long)
        .await
        .expect("the request was answered after the drain time")
        .unwrap();
    assert!(
        answer.contains("-32001") && answer.contains("shutting down"),
        "{answer}"
    );
    assert_eq!(server.wait_exit(), Some(0), "{}", server.log());
    until(&watcher, "backends left after exit", |(all, _)| all == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_client_closes_both_pipes_and_the_query_is_cancelled() {
    use std::io::Write as _;
    let db = sluice_testkit::database().await.unwrap();
    let watcher = db.connect().await.unwrap();
    let mut child = std::process::Command::new(common::example_binary())
        .args(["--user", "alice", "--statement-timeout", "600"])
        .args(["--database-url", db.url()])
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "queryDatabase", "arguments": {"sql": LONG_SQL}}}),
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    until(&watcher, "the long query started", |(_, probe)| probe == 1).await;
    // Killed: both ends of its pipes close at once; the answer has nowhere to go.
    drop(child.stdout.take());
    drop(stdin);
    let waited = tokio::task::spawn_blocking(move || child.wait_with_output());
    let output = tokio::time::timeout(Duration::from_secs(60), waited)
        .await
        .expect("the server exited after its client was killed")
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code().is_some(),
        "it exited on its own: {stderr}"
    );
    // It saw its client go (standard output's reader closed) and stopped at once, not
    // after the drain time (10 s by default) spent answering nobody.
    assert!(stderr.contains("the client is gone"), "{stderr}");
    until(
        &watcher,
        "backends left after the client was killed",
        |(all, _)| all == 0,
    )
    .await;
}
