//! `postgres_server` under MCP 2026-07-28 against a real PostgreSQL: a stateless
//! `queryDatabase` over stdio and over Streamable HTTP, and cancellation that reaches
//! the database — a client that closes its HTTP response stream, or sends
//! `notifications/cancelled` on stdio, stops the running statement (watched in
//! `pg_stat_activity` from a second connection), and the server keeps serving. The
//! official Python and TypeScript SDK clients do the same in both of their modes.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::oauth::{ServerProcess, free_port};
use common::{example_binary, python};
use serde_json::{Value, json};

/// A statement that runs for minutes unless cancelled; its alias names it in
/// `pg_stat_activity`.
const LONG_SQL: &str =
    "SELECT count(*) AS sluice_cancel_probe FROM generate_series(1, 100000000000) AS g";

fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
           "io.modelcontextprotocol/clientCapabilities": {},
           "io.modelcontextprotocol/clientInfo": {"name": "cancel-test", "version": "1"}})
}

/// The flags every server of these tests runs with: the test's database, a statement
/// timeout longer than any test, and the local login `tester`.
fn server_flags(db: &sluice_testkit::TestDatabase) -> [&str; 6] {
    [
        "--database-url",
        db.url(),
        "--statement-timeout",
        "300",
        "--user",
        "tester",
    ]
}

/// `postgres_server --transport http` on loopback without authentication, as `tester`.
fn serve_http(db: &sluice_testkit::TestDatabase) -> ServerProcess {
    ServerProcess::start(free_port(), &server_flags(db), &[])
}

/// How many backends run the probe statement now in this test's own database
/// (the tests run side by side, each with its own database and probe).
async fn running(db: &tokio_postgres::Client) -> i64 {
    db.query_one(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE state = 'active' AND query LIKE '%sluice_cancel_probe%' \
           AND datname = current_database() AND pid <> pg_backend_pid()",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// Waits until `running` reports `want`, at most 20 s; past that, fails saying `what`
/// and what the server logged (`log`).
async fn wait_for(db: &tokio_postgres::Client, want: i64, what: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while running(db).await != want {
        assert!(
            Instant::now() < deadline,
            "{what}; the server logged:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_http_stream_cancels_the_statement_in_postgres() {
    let db = sluice_testkit::database().await.unwrap();
    let watcher = db.connect().await.unwrap();
    let server = serve_http(&db);
    let http = reqwest::Client::new();
    let post = |id: i64, method: &str, name: Option<&str>, params: Value| {
        let mut request = http
            .post(server.mcp())
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", method)
            .json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        if let Some(name) = name {
            request = request.header("Mcp-Name", name);
        }
        request.send()
    };

    // A quick stateless read first: the server answers without any session.
    let quick = post(
        1,
        "tools/call",
        Some("queryDatabase"),
        json!({"name": "queryDatabase", "arguments": {"sql": "SELECT 41 + 1 AS answer"}, "_meta": meta()}),
    )
    .await
    .unwrap();
    assert_eq!(quick.status(), 200);
    assert!(quick.headers().get("mcp-session-id").is_none());
    let text = quick.text().await.unwrap();
    assert!(
        text.contains("42") && text.contains("\"resultType\":\"complete\""),
        "{text}"
    );

    let slow = tokio::spawn(post(
        2,
        "tools/call",
        Some("queryDatabase"),
        json!({"name": "queryDatabase", "arguments": {"sql": LONG_SQL}, "_meta": meta()}),
    ));
    let log = || server.log();
    wait_for(&watcher, 1, "the statement never started", log).await;
    // The client goes away: its connection closes with the request unanswered.
    slow.abort();
    let _ = slow.await;
    wait_for(
        &watcher,
        0,
        "the statement still runs after its client closed the stream",
        log,
    )
    .await;

    let after = post(3, "tools/list", None, json!({"_meta": meta()}))
        .await
        .unwrap();
    assert_eq!(after.status(), 200, "still serving");
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_notification_on_stdio_stops_the_statement_in_postgres() {
    let db = sluice_testkit::database().await.unwrap();
    let watcher = db.connect().await.unwrap();
    let mut child = Command::new(example_binary())
        .args(server_flags(&db))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .env("RUST_LOG", "info,sluice=debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = child.stderr.take().unwrap();
    let logged = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = logged.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let log = || logged.lock().unwrap().clone();
    let mut send = |message: Value| {
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    };
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "queryDatabase", "arguments": {"sql": LONG_SQL}, "_meta": meta()}}));
    wait_for(&watcher, 1, "the statement never started", log).await;
    send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": 1, "reason": "the user gave up"}}),
    );
    wait_for(
        &watcher,
        0,
        "the statement still runs after the cancellation",
        log,
    )
    .await;

    // Still serving; the cancelled request gets no answer, so the next line is id 2's.
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta()}}));
    let line = tokio::task::spawn_blocking(move || lines.next().unwrap().unwrap())
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(answer["id"], 2, "{answer}");
    assert_eq!(answer["result"]["resultType"], "complete");
    let names: Vec<&str> = answer["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"queryDatabase"), "{names:?}");
    // The tools/list of the database tools depends on the caller: private cache scope.
    assert_eq!(answer["result"]["cacheScope"], "private");
    let _ = child.kill();
    let _ = child.wait();
}

/// The official SDKs' clients that give up on a long call.
#[derive(Clone, Copy)]
enum Sdk {
    Python,
    TypeScript,
}

impl Sdk {
    /// The client's command; `None` (said on standard error) when its runtime cannot be
    /// had outside CI.
    fn command(self) -> Option<Command> {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        match self {
            Sdk::Python => {
                let mut command = Command::new(python()?);
                command.arg(root.join("tests/e2e/postgres_modern_e2e.py"));
                Some(command)
            }
            Sdk::TypeScript => {
                let folder = root.join("tests/interop/ts");
                // The tests of this binary run side by side: one installs, the others
                // wait for it (two `npm ci` at once delete each other's files).
                static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
                let _installing = INSTALL
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if !folder
                    .join("node_modules/@modelcontextprotocol/client")
                    .exists()
                {
                    // The pinned SDK, from the lock file (scripts/test.d/50 does the same).
                    let status = Command::new("npm")
                        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                        .current_dir(&folder)
                        .status();
                    match status {
                        Ok(status) => {
                            assert!(status.success(), "npm ci in tests/interop/ts failed");
                        }
                        Err(e) => {
                            assert!(std::env::var_os("CI").is_none(), "npm: {e}");
                            eprintln!("SKIPPED (the TypeScript SDK cannot be had here): npm: {e}");
                            return None;
                        }
                    }
                }
                let mut command = Command::new("node");
                command.arg(folder.join("postgres_cancel.mjs"));
                Some(command)
            }
        }
    }

    fn done(self, transport: &str, mode: &str) -> String {
        match self {
            Sdk::Python => {
                format!("python postgres modern e2e ({transport}, {mode}): 6 passed, 0 failed")
            }
            Sdk::TypeScript => {
                format!("typescript postgres cancel ({transport}, {mode}): 4 passed, 0 failed")
            }
        }
    }
}

/// Runs an SDK's client script and checks, while it waits, that the statement it gave
/// up on no longer runs in PostgreSQL.
async fn sdk_client(
    sdk: Sdk,
    db: &sluice_testkit::TestDatabase,
    transport: &str,
    target: &str,
    mode: &str,
) {
    let Some(mut command) = sdk.command() else {
        return;
    };
    let watcher = db.connect().await.unwrap();
    let mut child = command
        .args([transport, target, db.url(), mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let first = tokio::time::timeout(Duration::from_secs(90), lines_rx.recv()).await;
    let first = first.ok().flatten();
    if first.as_deref() != Some("cancelled") {
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        panic!(
            "the client ({transport}, {mode}) did not get to the cancellation: {first:?}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    wait_for(
        &watcher,
        0,
        &format!("the statement still runs after the client ({transport}, {mode}) gave up"),
        // The server is the client's child (stdio) or a process of the caller's.
        String::new,
    )
    .await;
    writeln!(stdin, "go on").unwrap();
    drop(stdin);
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let mut rest = Vec::new();
    while let Ok(line) = lines_rx.try_recv() {
        rest.push(line);
    }
    let log = format!(
        "{}\n{}",
        rest.join("\n"),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the client ({transport}, {mode}) failed:\n{log}"
    );
    assert!(log.contains(&sdk.done(transport, mode)), "{log}");
}

async fn notes() -> sluice_testkit::TestDatabase {
    let db = sluice_testkit::database().await.unwrap();
    db.connect()
        .await
        .unwrap()
        .batch_execute(
            "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
             INSERT INTO notes (body) VALUES ('first'), ('second');",
        )
        .await
        .unwrap();
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdks_in_both_modes_over_stdio_cancel_in_postgres() {
    let db = notes().await;
    let binary = example_binary();
    for sdk in [Sdk::Python, Sdk::TypeScript] {
        for mode in ["auto", "legacy"] {
            sdk_client(sdk, &db, "stdio", binary.to_str().unwrap(), mode).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdks_in_both_modes_over_http_cancel_in_postgres() {
    let db = notes().await;
    let server = serve_http(&db);
    for sdk in [Sdk::Python, Sdk::TypeScript] {
        for mode in ["auto", "legacy"] {
            sdk_client(sdk, &db, "http", &server.mcp(), mode).await;
        }
    }
    assert!(!server.log().contains("panicked"));
}
