//! The documented least-privilege set-up, end to end: `postgres_server --print-setup-sql`
//! creates the read role, the server then reads as that role (`--read-database-url`)
//! and writes through `--database-url`, driven over stdio as an MCP client would.
#![allow(clippy::unwrap_used)]

mod common;

use common::example_binary;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_setup_makes_a_reader_the_server_reads_as() {
    let db = sluice_testkit::database().await.unwrap();
    let admin = db.connect().await.unwrap();
    admin
        .batch_execute("CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'first');")
        .await
        .unwrap();
    let binary = example_binary();
    assert!(
        binary.exists(),
        "{} is not built (scripts/test builds it)",
        binary.display()
    );
    let role = format!("sluice_e2e_reader_{}", std::process::id());
    let printed = Command::new(&binary)
        .args(["--database-url", db.url(), "--print-setup-sql", &role])
        .output()
        .unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    admin
        .batch_execute(&String::from_utf8(printed.stdout).unwrap())
        .await
        .unwrap();

    let config = db.config();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let read_url = format!(
        "host={host} port={port} dbname={} user={role} sslmode=disable",
        db.name()
    );
    let (url, binary_for_task) = (db.url().to_owned(), binary.clone());
    let exchange = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(binary_for_task)
            .args(["--database-url", &url, "--read-database-url", &read_url])
            .args(["--user", "alice", "--writers", "alice"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut ask = |line: String| {
            writeln!(stdin, "{line}").unwrap();
            if line.contains("\"initialize\"") {
                writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#)
                    .unwrap();
            }
            let mut answer = String::new();
            stdout.read_line(&mut answer).unwrap();
            serde_json::from_str::<serde_json::Value>(&answer).unwrap()
        };
        let init = ask(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#.to_owned());
        let call = |id: u32, tool: &str, sql: &str| {
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": tool, "arguments": {"sql": sql}}})
            .to_string()
        };
        let who = ask(call(1, "queryDatabase", "SELECT current_user AS who, body FROM notes"));
        let wrote = ask(call(2, "executeDatabase", "INSERT INTO notes VALUES (2, 'second')"));
        drop(stdin);
        let status = child.wait().unwrap();
        (init, who, wrote, status)
    })
    .await;
    admin
        .batch_execute(&format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\""))
        .await
        .unwrap();
    let (init, who, wrote, status) = exchange.unwrap();
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    let rows = &who["result"]["structuredContent"]["rows"];
    assert_eq!(rows[0][0], serde_json::json!(role), "{who}");
    assert_eq!(rows[0][1], "first");
    assert_eq!(
        wrote["result"]["structuredContent"]["rowsAffected"], 1,
        "{wrote}"
    );
    assert!(status.success());
    let count: i64 = admin
        .query_one("SELECT count(*) FROM notes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
}
