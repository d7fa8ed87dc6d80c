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

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::Parser;
use serde_json::{Value, json};
use sha2::Digest as _;

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

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` and waits for a stderr/stdout line containing `ready`; returns the
/// process and that line.
fn start(binary: &Path, args: &[&str], envs: &[(&str, &str)], ready: &str) -> (Process, String) {
    let mut command = Command::new(binary);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.env("RUST_LOG", "warn,postgres_server=info");
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut process = Process(
        command
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display())),
    );
    let child = &mut process.0;
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("{} did not start", binary.display()));
        if line.contains(ready) {
            return (process, line);
        }
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// One sign-in through consent and the fake GitHub: an access token.
async fn sign_in(base: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = "http://127.0.0.1:9/callback";
    let registered: Value = http
        .post(format!("{base}/register"))
        .json(&json!({"client_name": "bench", "redirect_uris": [redirect]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let verifier = "bench-verifier-0123456789-0123456789-0123456789".to_owned();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let page = http.get(url.as_str()).send().await.unwrap();
    let cookies: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let html = page.text().await.unwrap();
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    };
    let consent = http
        .post(format!("{base}/authorize"))
        .header("cookie", cookies.join("; "))
        .form(&[
            ("request", field("request")),
            ("csrf", field("csrf")),
            ("decision", "approve".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    let state_cookie = consent
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("sluice-state="))
        .unwrap();
    let github = http.get(location(&consent)).send().await.unwrap();
    let callback = http
        .get(location(&github))
        .header("cookie", state_cookie)
        .send()
        .await
        .unwrap();
    let back: HashMap<String, String> = url::Url::parse(&location(&callback))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let tokens: Value = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", back["code"].as_str()),
            ("redirect_uri", redirect),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// An MCP session: initialize, then sequential queryDatabase calls.
async fn client_loop(mcp: String, token: Option<String>, calls: usize, id: usize) {
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let post = |body: Value, session: Option<&str>| {
        let mut request = http
            .post(&mcp)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.send()
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}),
        None,
    )
    .await
    .unwrap();
    assert!(init.status().is_success(), "initialize: {}", init.status());
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = init.bytes().await;
    let done = post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(&session),
    )
    .await
    .unwrap();
    assert_eq!(done.status().as_u16(), 202);
    for i in 0..calls {
        let key = (id * 7919 + i) % 1000 + 1;
        let body = json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call", "params": {"name": "queryDatabase", "arguments": {"sql": format!("SELECT id, name FROM sluice_bench WHERE id = {key}")}}});
        let response = post(body, Some(&session)).await.unwrap();
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
