//! HTTP bench: guarded `queryDatabase` calls over Streamable HTTP with OAuth bearer
//! tokens verified (PostgreSQL token store) against the same server with no
//! authentication, side by side in one run, with N clients (each its own MCP session,
//! calling one after another).
//!
//! ```sh
//! cargo build --release --examples -p examples && cargo build --release -p sluice-testkit --bins
//! target/release/examples/http_auth_bench --requests 20000 --clients 1,16
//! ```
//!
//! It starts the testkit's `fake-github` and two `postgres_server --transport http`
//! processes from the same target directory, signs in once through the consent page and
//! the fake GitHub to get a token, and measures. `DATABASE_URL` (default: the local
//! server) holds the table `sluice_bench` it creates and the token store's schema.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use examples::http_client::{in_session, open_session, sign_in, start};
use serde_json::json;

/// Measures calls per second with N clients.
#[derive(Debug, Parser)]
struct Flags {
    /// Calls per measurement.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent clients, comma-separated.
    #[arg(long, default_value = "1,16", value_delimiter = ',')]
    clients: Vec<usize>,
    /// The database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1/postgres?sslmode=disable"
    )]
    database_url: String,
    /// Rounds of the whole table (the ratio is taken from each round's side-by-side pair).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

/// An MCP session: initialize, then sequential queryDatabase calls.
async fn client_loop(mcp: String, token: Option<String>, calls: usize, id: usize) {
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let with = |request: reqwest::RequestBuilder| match &token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let session = open_session(&http, &mcp, &with).await;
    for i in 0..calls {
        let key = (id * 7919 + i) % 1000 + 1;
        let body = json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call", "params": {"name": "queryDatabase", "arguments": {"sql": format!("SELECT id, name FROM sluice_bench WHERE id = {key}")}}});
        let response = in_session(&http, &mcp, Some(&session), &body, &with)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let text = response.text().await.unwrap();
        assert!(text.contains("\"result\""), "{text}");
    }
}

/// Calls per second, and the server's CPU microseconds per call.
async fn measure(
    mcp: &str,
    token: Option<&str>,
    clients: usize,
    requests: usize,
    pid: u32,
) -> (f64, f64) {
    let per_client = requests / clients;
    let cpu_before = examples::cpu_seconds(pid);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|id| {
            tokio::spawn(client_loop(
                mcp.to_owned(),
                token.map(str::to_owned),
                per_client,
                id,
            ))
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let calls = (per_client * clients) as f64;
    let cpu = examples::cpu_seconds(pid) - cpu_before;
    (calls / started.elapsed().as_secs_f64(), cpu * 1e6 / calls)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let flags = Flags::parse();
    let dir: PathBuf = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let server = dir.join("postgres_server");
    let fake = dir.parent().unwrap().join("fake-github");
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

    let (_github, line) = start(
        &fake,
        &["bench-gh", "bench-gh-secret-0123456789", "42", "bench"],
        &[],
        "fake-github:",
    );
    let github_url = line.trim_start_matches("fake-github: ").to_owned();
    let (auth_port, open_port) = (examples::free_port(), examples::free_port());
    let common = [
        "--transport",
        "http",
        "--database-url",
        flags.database_url.as_str(),
        "--pool-size",
        "8",
    ];
    let auth_bind = format!("127.0.0.1:{auth_port}");
    let mut auth_args = common.to_vec();
    auth_args.extend_from_slice(&[
        "--bind",
        &auth_bind,
        "--token-store",
        "postgres",
        "--github-url",
        &github_url,
        "--github-api-url",
        &github_url,
    ]);
    let (auth_server, _) = start(
        &server,
        &auth_args,
        &[
            ("GITHUB_CLIENT_ID", "bench-gh"),
            ("GITHUB_CLIENT_SECRET", "bench-gh-secret-0123456789"),
        ],
        "serving PostgreSQL",
    );
    let open_bind = format!("127.0.0.1:{open_port}");
    let mut open_args = common.to_vec();
    open_args.extend_from_slice(&["--bind", &open_bind, "--user", "bench"]);
    let (open_server, _) = start(&server, &open_args, &[], "serving PostgreSQL");
    let (auth_pid, open_pid) = (auth_server.0.id(), open_server.0.id());
    let token = sign_in(&format!("http://127.0.0.1:{auth_port}")).await;
    let auth_mcp = format!("http://127.0.0.1:{auth_port}/mcp");
    let open_mcp = format!("http://127.0.0.1:{open_port}/mcp");
    // Warm both (connections, prepared statements, the verifier's cache).
    measure(&auth_mcp, Some(&token), 4, 2000, auth_pid).await;
    measure(&open_mcp, None, 4, 2000, open_pid).await;

    println!(
        "| clients | no auth (calls/s) | OAuth bearer, postgres store (calls/s) | ratio | server CPU µs/call, no auth | with auth |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for round in 0..flags.rounds {
        for &clients in &flags.clients {
            // Alternate which goes first, so drift does not favour one side.
            let ((open, open_cpu), (auth, auth_cpu)) = if round % 2 == 0 {
                let open = measure(&open_mcp, None, clients, flags.requests, open_pid).await;
                (
                    open,
                    measure(&auth_mcp, Some(&token), clients, flags.requests, auth_pid).await,
                )
            } else {
                let auth =
                    measure(&auth_mcp, Some(&token), clients, flags.requests, auth_pid).await;
                (
                    measure(&open_mcp, None, clients, flags.requests, open_pid).await,
                    auth,
                )
            };
            println!(
                "| {clients} | {open:.0} | {auth:.0} | {:.2}× | {open_cpu:.0} | {auth_cpu:.0} |",
                auth / open
            );
        }
    }
    setup
        .batch_execute("DROP TABLE sluice_bench")
        .await
        .unwrap();
}
