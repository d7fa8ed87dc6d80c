//! The built `postgres_server` over stdio on two of the fault run's degraded items: a
//! result cut at `--max-rows` is not produced past the cap (a statement that fails at its
//! 5,000th row succeeds capped at 1,000, and its later page too), a second
//! `initialize` mid-session is refused with -32600 while the session serves on, a
//! storm of near-16 MiB lines is answered line by line within a bounded memory, and "the
//! database is down" and "every connection is busy" are told apart.
#![allow(clippy::unwrap_used)]

mod common;

use common::stdio::StdioServer;
use serde_json::json;

const POISONED: &str = "SELECT g, 1 / (g - 5000) AS x FROM generate_series(1, 10000) g";

#[tokio::test]
async fn a_capped_result_stops_at_the_cap_and_initialize_comes_once() {
    let db = sluice_testkit::database().await.unwrap();
    let mut server = StdioServer::start(&[
        "--user".into(),
        "alice".into(),
        "--max-rows".into(),
        "1000".into(),
        "--database-url".into(),
        db.url().to_owned(),
    ]);
    for _ in 0..2 {
        let capped = server.query(POISONED, None);
        assert_ne!(capped["isError"], true, "{capped}");
        let page = &capped["structuredContent"];
        assert_eq!(page["rowCount"], 1000, "{capped}");
        assert_eq!(page["truncated"], true, "{capped}");
    }
    let again = server.request(
        "initialize",
        json!({"protocolVersion": "2024-11-05", "capabilities": {},
               "clientInfo": {"name": "again", "version": "2"}}),
    );
    assert_eq!(again["error"]["code"], -32600, "{again}");
    let after = server.query("SELECT 41 + 1 AS answer", None);
    assert_eq!(after["structuredContent"]["rows"], json!([[42]]), "{after}");
    let (ok, stderr) = server.finish();
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn a_storm_of_large_lines_is_answered_within_bounded_memory() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let db = sluice_testkit::database().await.unwrap();
    let mut child = Command::new(common::example_binary())
        .args(["--user", "alice", "--database-url", db.url()])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let answers = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .map(|line| serde_json::from_str::<serde_json::Value>(&line).unwrap())
            .collect::<Vec<_>>()
    });
    let lines = 40;
    let pad = "x".repeat(15 * 1024 * 1024);
    writeln!(
        stdin,
        "{}",
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}})
    )
    .unwrap();
    for id in 1..=lines {
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","id":{id},"method":"ping","params":{{"pad":"{pad}"}}}}"#
        )
        .unwrap();
    }
    stdin.flush().unwrap();
    drop(stdin);
    // The high-water mark only rises: the last reading before the process ends is its
    // peak.
    let pid = child.id();
    let mut peak = 0.0f64;
    while !answers.is_finished() {
        if let Some(now) = common::high_water_mib(pid) {
            peak = peak.max(now);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let answers = answers.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(peak > 0.0, "no memory reading");
    // Every line answered by its id: a ping's result, or 'server busy' past the budget.
    for id in 1..=lines {
        let answer = answers.iter().find(|a| a["id"] == id).unwrap();
        assert!(
            answer["result"].is_object() || answer["error"]["code"] == -32000,
            "{answer}"
        );
    }
    eprintln!("{lines} lines of 15 MiB: peak memory {peak:.1} MiB");
    assert!(peak < 200.0, "peak memory {peak:.1} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_and_a_database_that_is_down_are_told_apart() {
    let db = sluice_testkit::database().await.unwrap();
    let (relay, url) = db.relayed().unwrap();
    let mut server = StdioServer::start(&[
        "--user".into(),
        "alice".into(),
        "--pool-size".into(),
        "1".into(),
        "--acquire-timeout".into(),
        "1".into(),
        "--statement-timeout".into(),
        "30".into(),
        "--database-url".into(),
        url,
    ]);
    // The one connection busy with a long query: another call finds it busy.
    let long = server.send(
        "tools/call",
        json!({"name": "queryDatabase", "arguments": {
            "sql": "SELECT count(*) FROM generate_series(1, 2000000000) busy_probe"}}),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let busy = server.query("SELECT 1", None);
    let text = busy["content"][0]["text"].as_str().unwrap_or("");
    assert!(text.contains("is busy with other calls"), "{busy}");
    // The long one cancelled (a cancelled request gets no answer).
    server.notify("notifications/cancelled", json!({"requestId": long}));
    // The database gone: a call says it cannot connect, not that it is busy.
    relay.stop();
    let down = server.query("SELECT 1", None);
    let text = down["content"][0]["text"].as_str().unwrap_or("");
    assert!(
        text.contains("cannot connect to the database now"),
        "{down}"
    );
    relay.resume();
    let (ok, stderr) = server.finish();
    assert!(ok, "{stderr}");
}
