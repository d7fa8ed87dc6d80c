//! `postgres_server --worker-threads N`: with a multi-threaded runtime the server answers
//! many calls in flight at once, each with its own rows (small and large results mixed),
//! and still stops cleanly at the end of its input; a thread count it cannot use is
//! refused before anything starts.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::stdio::StdioServer;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_threaded_server_answers_every_call_in_flight_with_its_own_rows() {
    let db = sluice_testkit::database().await.unwrap();
    let client = db.connect().await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE numbers AS SELECT g AS id, 'n' || g AS label FROM generate_series(1, 2000) AS g;",
        )
        .await
        .unwrap();
    let url = db.url().to_owned();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut server = StdioServer::start(&[
            "--user".into(),
            "alice".into(),
            "--worker-threads".into(),
            "3".into(),
            "--database-url".into(),
            url,
        ]);
        // 48 calls sent before any answer is read: point reads of different rows and,
        // every eighth, a result of 1,000 rows (cut at the default row cap).
        let mut expected = HashMap::new();
        for i in 1..=48i64 {
            let (sql, rows) = if i % 8 == 0 {
                ("SELECT id, label FROM numbers ORDER BY id".to_owned(), 1000)
            } else {
                (
                    format!("SELECT id, label FROM numbers WHERE id = {}", i * 7),
                    1,
                )
            };
            let id = server.send(
                "tools/call",
                json!({"name": "queryDatabase", "arguments": {"sql": sql}}),
            );
            expected.insert(id, (i, rows));
        }
        // Three workers besides the thread that started them.
        let threads = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .map(Iterator::count)
            .unwrap_or(0);
        let mut answered = HashMap::new();
        while answered.len() < expected.len() {
            let message = server.next_message();
            if let Some(id) = message["id"].as_i64() {
                answered.insert(id, message);
            }
        }
        (server.finish_status(), expected, answered, threads)
    })
    .await
    .unwrap();
    let ((code, stderr), expected, answered, threads) = outcome;
    assert!(threads >= 4, "{threads} threads");
    for (id, (i, rows)) in expected {
        let result = &answered[&id]["result"];
        assert_ne!(result["isError"], true, "call {i}: {result}");
        let structured = &result["structuredContent"];
        assert_eq!(structured["rowCount"], rows, "call {i}: {structured}");
        let first = &structured["rows"][0];
        if rows == 1 {
            assert_eq!(*first, json!([i * 7, format!("n{}", i * 7)]), "call {i}");
        } else {
            assert_eq!(*first, json!([1, "n1"]), "call {i}");
            assert_eq!(structured["rows"][999], json!([1000, "n1000"]), "call {i}");
            assert_eq!(structured["truncated"], Value::Bool(true), "call {i}");
        }
    }
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_thread_count_of_zero_is_refused_before_anything_starts() {
    let output = std::process::Command::new(common::example_binary())
        .args(["--user", "alice", "--worker-threads", "0"])
        .env("DATABASE_URL", "host=127.0.0.1 port=1 user=nobody")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--worker-threads"), "{stderr}");
}
