//! An MCP server started as a child process and driven over its stdio, K requests in
//! flight: Sluice's `postgres_server`, or a peer given with `--compare`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Semaphore;

use crate::cases::Case;

/// What each request is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Request {
    /// `ping`: the protocol and the pipes, no database.
    Ping,
    /// `queryDatabase` with the case's SQL.
    Query(Case),
}

/// A server binary and how it reaches the database.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub(crate) binary: std::path::PathBuf,
    pub(crate) database_url: String,
    pub(crate) sslmode: String,
}

impl Server {
    /// Calls per second, `n` calls with `k` in flight.
    pub(crate) async fn rate(&self, n: usize, k: usize, request: Request) -> f64 {
        let binary = &self.binary;
        let pool_size = k.clamp(1, 16).to_string();
        let mut child = tokio::process::Command::new(binary)
            .env("DATABASE_URL", &self.database_url)
            .env("PGSSLMODE", &self.sslmode)
            .env("SLUICE_USER", "bench")
            .env("SLUICE_POOL_SIZE", &pool_size)
            .env("POOL_SIZE", &pool_size)
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (cargo build --release --examples)",
                    binary.display()
                )
            });
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        stdin
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
            .await
            .unwrap();
        lines.next_line().await.unwrap().unwrap();
        let permits = Arc::new(Semaphore::new(k));
        let reader_permits = Arc::clone(&permits);
        let reader = tokio::spawn(async move {
            for _ in 0..n {
                let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap();
                assert!(!line.contains("\"isError\":true"), "{line}");
                reader_permits.add_permits(1);
            }
        });
        let start = Instant::now();
        for i in 0..n {
            permits.acquire().await.unwrap().forget();
            let request = match request {
                Request::Query(case) => format!(
                    "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"tools/call\",\"params\":{{\"name\":\"queryDatabase\",\"arguments\":{{\"sql\":\"{}\"}}}}}}\n",
                    i + 1,
                    case.sql(i)
                ),
                Request::Ping => {
                    format!(
                        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}}\n",
                        i + 1
                    )
                }
            };
            stdin.write_all(request.as_bytes()).await.unwrap();
        }
        reader.await.unwrap();
        let rate = n as f64 / start.elapsed().as_secs_f64();
        drop(stdin);
        let _ = child.wait().await;
        rate
    }
}
