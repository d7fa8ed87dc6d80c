//! Era bench: the same guarded `queryDatabase` call as a 2025-11-25 session request and
//! as a stateless MCP 2026-07-28 request (protocol version and client capabilities in
//! `_meta`, no session), against one `postgres_server` process, side by side: over
//! stdio with K requests in flight, and over Streamable HTTP with N clients (each
//! calling one after another; the legacy ones in their own sessions, the modern ones
//! with the mirrored headers and no session).
//!
//! ```sh
//! cargo build --release --examples -p examples
//! target/release/examples/era_bench --requests 20000 --in-flight 1,16
//! ```
//!
//! `DATABASE_URL` (default: the local server) holds the table `sluice_bench` it creates.
//! Rounds alternate which era goes first, so that drift favours neither.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio as Stdio_};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Measures both eras.
#[derive(Debug, Parser)]
struct Flags {
    /// Calls per measurement.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Requests in flight (stdio) and concurrent clients (HTTP), comma-separated.
    #[arg(long, default_value = "1,16", value_delimiter = ',')]
    in_flight: Vec<usize>,
    /// Measurements of each kind.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Only this era ("legacy" or "modern"; for profiling one at a time).
    #[arg(long)]
    only: Option<String>,
    /// The database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "host=127.0.0.1 user=postgres dbname=postgres"
    )]
    database_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Era {
    Legacy,
    Modern,
}

fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
           "io.modelcontextprotocol/clientCapabilities": {},
           "io.modelcontextprotocol/clientInfo": {"name": "era-bench", "version": "1"}})
}

fn call(id: usize, era: Era) -> Value {
    let sql = format!(
        "SELECT id, name FROM sluice_bench WHERE id = {}",
        id % 1000 + 1
    );
    let mut params = json!({"name": "queryDatabase", "arguments": {"sql": sql}});
    if era == Era::Modern {
        params["_meta"] = meta();
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

/// One stdio server: legacy calls go after its initialize, modern ones carry `_meta`;
/// both on the same pipe.
struct StdioServer {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    next_id: usize,
}

impl StdioServer {
    async fn start(binary: &std::path::Path, database_url: &str) -> StdioServer {
        let mut child = tokio::process::Command::new(binary)
            .env("DATABASE_URL", database_url)
            .env("SLUICE_USER", "bench")
            .env("SLUICE_POOL_SIZE", "16")
            .env("RUST_LOG", "warn")
            .stdin(Stdio_::piped())
            .stdout(Stdio_::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        stdin
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
            .await
            .unwrap();
        lines.next_line().await.unwrap().unwrap();
        StdioServer {
            child,
            stdin,
            lines,
            next_id: 1,
        }
    }

    /// Calls per second and server CPU µs per call, K in flight.
    async fn rate(&mut self, n: usize, k: usize, era: Era) -> (f64, f64) {
        let pid = self.child.id().unwrap();
        let permits = Arc::new(Semaphore::new(k));
        let cpu = examples::cpu_seconds(pid);
        let start = Instant::now();
        let first = self.next_id;
        self.next_id += n;
        let lines = &mut self.lines;
        let stdin = &mut self.stdin;
        let reading = async {
            for _ in 0..n {
                let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap();
                assert!(
                    line.contains("\"result\"") && !line.contains("\"isError\":true"),
                    "{line}"
                );
                permits.add_permits(1);
            }
        };
        let writing = async {
            for i in 0..n {
                permits.acquire().await.unwrap().forget();
                let mut text = call(first + i, era).to_string();
                text.push('\n');
                stdin.write_all(text.as_bytes()).await.unwrap();
            }
        };
        tokio::join!(reading, writing);
        let elapsed = start.elapsed().as_secs_f64();
        (
            n as f64 / elapsed,
            (examples::cpu_seconds(pid) - cpu) * 1e6 / n as f64,
        )
    }
}

/// A `postgres_server --transport http` child, killed when dropped.
struct Http(Child, String);

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Http {
    fn start(binary: &std::path::Path, database_url: &str) -> Http {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(binary)
            .args([
                "--transport",
                "http",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .args([
                "--database-url",
                database_url,
                "--user",
                "bench",
                "--pool-size",
                "16",
            ])
            .env("RUST_LOG", "warn,postgres_server=info")
            .stdin(Stdio_::null())
            .stdout(Stdio_::null())
            .stderr(Stdio_::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            let line = lines
                .next()
                .expect("the server says when it serves")
                .unwrap();
            if line.contains("serving PostgreSQL") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Http(child, format!("http://127.0.0.1:{port}/mcp"))
    }

    /// N clients, each calling one after another: calls per second and server CPU µs
    /// per call.
    async fn rate(&self, n: usize, clients: usize, era: Era) -> (f64, f64) {
        let per_client = n / clients;
        let pid = self.0.id();
        let cpu = examples::cpu_seconds(pid);
        let start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| tokio::spawn(client(self.1.clone(), era, per_client, c * per_client)))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let calls = (per_client * clients) as f64;
        (
            calls / start.elapsed().as_secs_f64(),
            (examples::cpu_seconds(pid) - cpu) * 1e6 / calls,
        )
    }
}

async fn client(mcp: String, era: Era, calls: usize, first: usize) {
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let post = |body: Value, session: Option<&str>| {
        let mut request = http
            .post(&mcp)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        match (era, session) {
            (Era::Modern, _) => {
                request = request
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", "tools/call")
                    .header("mcp-name", "queryDatabase");
            }
            (Era::Legacy, Some(session)) => {
                request = request
                    .header("mcp-session-id", session)
                    .header("mcp-protocol-version", "2025-11-25");
            }
            (Era::Legacy, None) => {}
        }
        request.body(body.to_string()).send()
    };
    let mut session = None;
    if era == Era::Legacy {
        let init = post(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}),
            None,
        )
        .await
        .unwrap();
        let id = init.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let _ = init.bytes().await;
        let _ = post(
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            Some(&id),
        )
        .await
        .unwrap()
        .bytes()
        .await;
        session = Some(id);
    }
    for i in 0..calls {
        let response = post(call(first + i + 1, era), session.as_deref())
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let text = response.text().await.unwrap();
        assert!(text.contains("\"result\""), "{text}");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let flags = Flags::parse();
    let binary = std::env::current_exe()
        .unwrap()
        .with_file_name("postgres_server");
    let (setup, connection) = tokio_postgres::connect(&flags.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS sluice_bench; CREATE TABLE sluice_bench (id int PRIMARY KEY, name text NOT NULL);
             INSERT INTO sluice_bench SELECT g, 'name ' || g FROM generate_series(1, 1000) g; ANALYZE sluice_bench;",
        )
        .await
        .unwrap();
    let mut stdio = StdioServer::start(&binary, &flags.database_url).await;
    let http = Http::start(&binary, &flags.database_url);
    // Warm both eras on both transports.
    for era in [Era::Legacy, Era::Modern] {
        stdio.rate(2000, 4, era).await;
        http.rate(2000, 4, era).await;
    }
    println!(
        "| transport | in flight / clients | 2025-11-25 (calls/s) | 2026-07-28 (calls/s) | ratio | server CPU µs/call, 2025 | 2026 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for round in 0..flags.rounds {
        let order = if round % 2 == 0 {
            [Era::Legacy, Era::Modern]
        } else {
            [Era::Modern, Era::Legacy]
        };
        for &k in &flags.in_flight {
            let mut stdio_rates = [(0.0, 0.0); 2];
            let mut http_rates = [(0.0, 0.0); 2];
            for era in order {
                let skip = match flags.only.as_deref() {
                    Some("legacy") => era != Era::Legacy,
                    Some("modern") => era != Era::Modern,
                    _ => false,
                };
                if skip {
                    continue;
                }
                let slot = usize::from(era == Era::Modern);
                stdio_rates[slot] = stdio.rate(flags.requests, k, era).await;
                http_rates[slot] = http.rate(flags.requests, k, era).await;
            }
            for (name, [(legacy, legacy_cpu), (modern, modern_cpu)]) in
                [("stdio", stdio_rates), ("HTTP", http_rates)]
            {
                println!(
                    "| {name} | {k} | {legacy:.0} | {modern:.0} | {:.2}× | {legacy_cpu:.0} | {modern_cpu:.0} |",
                    modern / legacy
                );
            }
        }
    }
    setup
        .batch_execute("DROP TABLE sluice_bench")
        .await
        .unwrap();
}
