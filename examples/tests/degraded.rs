//! The built `postgres_server` over stdio on two of the fault run's degraded items: a
//! result cut at `--max-rows` is not produced past the cap (a statement that fails at its
//! 5,000th row succeeds capped at 1,000, and its later page too), and a second
//! `initialize` mid-session is refused with -32600 while the session serves on.
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
