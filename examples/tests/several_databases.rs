//! The built `postgres_server` with two `--database`s, one of them down at start-up: it
//! starts, serves the other, and serves the second once it answers. Bad entries and a
//! policy section for a database it does not have stop it with a clear message that
//! quotes no secret.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

struct StdioServer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    next_id: i64,
}

impl StdioServer {
    fn start(args: &[String]) -> StdioServer {
        let mut child = Command::new(common::example_binary())
            .args(args)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = StdioServer {
            child,
            stdin,
            lines,
            next_id: 0,
        };
        server.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}),
        );
        writeln!(
            server.stdin,
            "{}",
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
        )
        .unwrap();
        server
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.stdin, "{line}").unwrap();
        loop {
            let got = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .expect("the server answers within 30 s");
            let message: Value = serde_json::from_str(&got).unwrap();
            if message["id"] == id {
                return message;
            }
        }
    }

    fn query(&mut self, sql: &str, database: Option<&str>) -> Value {
        let mut arguments = json!({"sql": sql});
        if let Some(database) = database {
            arguments["database"] = database.into();
        }
        self.request(
            "tools/call",
            json!({"name": "queryDatabase", "arguments": arguments}),
        )["result"]
            .clone()
    }

    fn finish(self) -> (bool, String) {
        drop(self.stdin);
        let output = self.child.wait_with_output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

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
