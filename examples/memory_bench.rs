//! Memory bench: the resident set of `postgres_server` idle, across many calls over
//! stdio, and across many sessions over HTTP, read from `/proc/PID/status` (`VmRSS`).
//!
//! ```sh
//! cargo build --release -p examples --examples
//! target/release/examples/memory_bench --calls 20000 --sessions 1000 --rounds 3
//! ```
//!
//! Over stdio it sends `queryDatabase` calls in batches of 100 (a mix of distinct texts:
//! a computed row and a catalog look-up by a changing key, so the guard's and the
//! pool's caches fill) and prints the RSS after 1,000, 5,000, 10,000 and every further
//! 10,000. Over HTTP it opens `--sessions` 2025-11-25 sessions (initialize, initialized,
//! one call each), from distinct client addresses given in `X-Forwarded-For` with the
//! bench trusted as a proxy (`--trusted-proxies 127.0.0.1`, so the per-client session
//! limit does not stop it), then closes them, `--rounds` times: the RSS should return to
//! the same level each round. `DATABASE_URL` names the database (default: the local
//! server).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use examples::http_client::{Process, in_session, open_session, wait_until_listening};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Measures the server's resident set.
#[derive(Debug, Parser)]
struct Flags {
    /// Calls over stdio.
    #[arg(long, default_value_t = 20_000)]
    calls: usize,
    /// Sessions over HTTP per round.
    #[arg(long, default_value_t = 1_000)]
    sessions: usize,
    /// Rounds of sessions.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "host=127.0.0.1 user=postgres dbname=postgres"
    )]
    database_url: String,
}

/// `postgres_server`, beside this program.
fn server() -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .with_file_name("postgres_server")
}

/// The resident set of `pid`, in kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn sql(n: usize) -> String {
    if n % 2 == 1 {
        format!("SELECT {} AS n, repeat('x', {}) AS s", n % 1000, n % 200)
    } else {
        format!(
            "SELECT relname FROM pg_catalog.pg_class WHERE oid = {}",
            n % 3000
        )
    }
}

async fn over_stdio(flags: &Flags) {
    let mut child = tokio::process::Command::new(server())
        .env("DATABASE_URL", &flags.database_url)
        .env("SLUICE_USER", "bench")
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("postgres_server (cargo build --release --examples)");
    let pid = child.id().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = async |message: Value| {
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
    };
    send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "memory_bench", "version": "1"}}})).await;
    lines.next_line().await.unwrap().unwrap();
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut report = vec![format!("idle {} kB", rss_kb(pid))];
    let mut done = 0;
    while done < flags.calls {
        let batch = 100.min(flags.calls - done);
        for n in done..done + batch {
            send(json!({"jsonrpc": "2.0", "id": n + 1, "method": "tools/call", "params": {"name": "queryDatabase", "arguments": {"sql": sql(n)}}})).await;
        }
        for _ in 0..batch {
            let line = lines.next_line().await.unwrap().unwrap();
            assert!(
                line.contains("\"result\"") && !line.contains("\"isError\":true"),
                "{line}"
            );
        }
        done += batch;
        if [1_000, 5_000].contains(&done) || done % 10_000 == 0 || done == flags.calls {
            report.push(format!("{done} calls {} kB", rss_kb(pid)));
        }
    }
    println!("stdio: {}", report.join("; "));
}

async fn over_http(flags: &Flags) {
    let port = examples::free_port();
    let bind = format!("127.0.0.1:{port}");
    let process = Process(
        Command::new(server())
            .args(["--transport", "http", "--bind", &bind, "--user", "bench"])
            .args(["--trusted-proxies", "127.0.0.1"])
            .args(["--database-url", &flags.database_url])
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("postgres_server (cargo build --release --examples)"),
    );
    let pid = process.0.id();
    let base = format!("http://{bind}");
    let http = reqwest::Client::new();
    wait_until_listening(port, "postgres_server").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mcp = format!("{base}/mcp");
    let mut report = vec![format!("idle {} kB", rss_kb(pid))];
    for round in 0..flags.rounds {
        let mut sessions = Vec::with_capacity(flags.sessions);
        for i in 0..flags.sessions {
            // 200 clients per /24, well under the per-client session limit.
            let client = format!("10.{}.{}.{}", round, i / 200, i % 200 + 1);
            let with = |request: reqwest::RequestBuilder| {
                request.header("x-forwarded-for", client.as_str())
            };
            let session = open_session(&http, &mcp, &with).await;
            let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "queryDatabase", "arguments": {"sql": sql(i)}}});
            let called = in_session(&http, &mcp, Some(&session), &call, &with)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(called.contains("\"result\""), "{called}");
            sessions.push((session, client));
        }
        report.push(format!(
            "round {round}: {} sessions open {} kB",
            flags.sessions,
            rss_kb(pid)
        ));
        for (session, client) in sessions {
            http.delete(&mcp)
                .header("x-forwarded-for", client)
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25")
                .send()
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        report.push(format!("closed {} kB", rss_kb(pid)));
    }
    println!("HTTP: {}", report.join("; "));
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let flags = Flags::parse();
    over_stdio(&flags).await;
    over_http(&flags).await;
}
