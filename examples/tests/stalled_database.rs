//! The built `postgres_server` over stdio in front of a database that stalls (a frozen
//! relay: connections held, no byte passing, as PostgreSQL under SIGSTOP): a call
//! answers at its deadline instead of hanging, the server keeps serving, and once the
//! database answers again calls work.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::stdio::StdioServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_database_cannot_hold_a_call_past_its_deadline() {
    let db = sluice_testkit::database().await.unwrap();
    let (relay, url) = db.relayed().unwrap();
    let mut server = StdioServer::start(&[
        "--user".into(),
        "alice".into(),
        "--statement-timeout".into(),
        "1".into(),
        "--acquire-timeout".into(),
        "2".into(),
        "--database-url".into(),
        url,
    ]);
    let first = server.query("SELECT 41 + 1 AS answer", None);
    assert_eq!(first["structuredContent"]["rows"], json!([[42]]), "{first}");
    relay.freeze();
    // The answer comes while the database is still frozen (StdioServer waits 30 s at
    // most; the deadline here is 3 s).
    let stalled = server.query("SELECT 1", None);
    assert_eq!(stalled["isError"], true, "{stalled}");
    let text = stalled["content"][0]["text"].as_str().unwrap_or("");
    assert!(text.contains("did not answer within 3.0 s"), "{stalled}");
    // Other requests are still answered meanwhile.
    let ping = server.request("ping", json!({}));
    assert!(ping["result"].is_object(), "{ping}");
    relay.thaw();
    let mut again = serde_json::Value::Null;
    for _ in 0..50 {
        again = server.query("SELECT 2 AS n", None);
        if again["isError"] != json!(true) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(again["structuredContent"]["rows"], json!([[2]]), "{again}");
    let (ok, stderr) = server.finish();
    assert!(ok, "{stderr}");
    assert!(stderr.contains("did not answer in time"), "{stderr}");
}
