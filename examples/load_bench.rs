//! Load bench: guarded `queryDatabase` calls through the built `postgres_server` over
//! stdio, against the same point query through raw tokio-postgres, side by side. Two more
//! columns split the cost: the same guarded read through `Database::read` in this process
//! (no MCP, no pipes), and MCP `ping` over the same stdio pipes (no database).
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/load_bench --requests 20000 --in-flight 1,16
//! ```
//!
//! `DATABASE_URL` (default: `host=127.0.0.1 user=postgres dbname=postgres`) names the
//! database; the bench creates and fills a table `sluice_bench` there, and drops it when
//! it is done (unless it was there before: then it is left as it was). Every column uses
//! it, so `DATABASE_URL="host=/var/run/postgresql user=postgres dbname=postgres"`
//! measures them all over the Unix socket instead of TCP.
//!
//! Every column connects in plain text unless `--sslmode` says otherwise, so that they
//! compare like with like: a server that offers TLS would otherwise encrypt Sluice's
//! connections (libpq's default is `prefer`) and not the raw baseline's. With
//! `--sslmode prefer` (or stronger) the Sluice columns encrypt and the raw column stays
//! plain: the difference is what TLS costs.
//!
//! `--compare PATH` adds a column: another MCP server over stdio, started with the same
//! `DATABASE_URL` and `POOL_SIZE`, answering the same `queryDatabase` calls (for example
//! a server built on another SDK, to measure both in one run).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Semaphore;

/// Measures calls per second with N requests in flight.
#[derive(Debug, Parser)]
struct Flags {
    /// Calls per measurement.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Requests in flight, comma-separated.
    #[arg(long, default_value = "1,16", value_delimiter = ',')]
    in_flight: Vec<usize>,
    /// The database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "host=127.0.0.1 user=postgres dbname=postgres"
    )]
    database_url: String,
    /// Worker threads of the load generator's runtime (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Only the queryDatabase column (for profiling the server alone).
    #[arg(long)]
    query_only: bool,
    /// The `sslmode` of Sluice's connections (the raw baseline is always plain text).
    #[arg(long, default_value = "disable")]
    sslmode: String,
    /// Another MCP stdio server with a `queryDatabase { sql }` tool, measured alongside.
    #[arg(long)]
    compare: Option<std::path::PathBuf>,
}

fn main() {
    let flags = Flags::parse();
    // The load generator's own runtime changes what it measures: one thread hands
    // nothing between threads (lowest latency at 1 in flight); several threads keep up
    // with more in flight. `--client-threads` picks; the docs quote both.
    let runtime = if flags.client_threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(flags.client_threads)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    runtime.unwrap().block_on(run(flags));
}

async fn run(flags: Flags) {
    assert!(
        !flags.database_url.contains("sslmode"),
        "give the TLS mode with --sslmode, not in the connection string"
    );
    assert!(
        sluice_postgres::tls::TlsMode::parse(&flags.sslmode).is_some(),
        "--sslmode: disable, prefer, require, verify-ca or verify-full"
    );
    let (client, connection) = tokio_postgres::connect(&flags.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let existed = client
        .query_one("SELECT to_regclass('sluice_bench') IS NOT NULL", &[])
        .await
        .unwrap()
        .get::<_, bool>(0);
    if !existed {
        eprintln!("load_bench: creating table sluice_bench in this database (dropped at the end)");
    }
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS sluice_bench (id int PRIMARY KEY, v text NOT NULL);
             INSERT INTO sluice_bench SELECT g, md5(g::text) FROM generate_series(0, 999) g ON CONFLICT DO NOTHING;",
        )
        .await
        .unwrap();
    measure(&flags).await;
    if !existed {
        client
            .batch_execute("DROP TABLE sluice_bench")
            .await
            .unwrap();
    }
}

async fn measure(flags: &Flags) {
    let ours = Server {
        binary: std::env::current_exe()
            .unwrap()
            .with_file_name("postgres_server"),
        database_url: flags.database_url.clone(),
        sslmode: flags.sslmode.clone(),
    };
    let other = flags.compare.as_ref().map(|binary| Server {
        binary: binary.clone(),
        ..ours.clone()
    });
    let other_header = match &flags.compare {
        Some(path) => format!(
            " {} queryDatabase over stdio | queryDatabase ratio to it |",
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
        None => String::new(),
    };
    let other_rule = if other.is_some() { " --- | --- |" } else { "" };
    println!(
        "sslmode={} for Sluice, plain text for raw tokio-postgres",
        flags.sslmode
    );
    println!(
        "| in flight | raw tokio-postgres | Database::read in process | MCP ping over stdio | queryDatabase over stdio | ratio to raw |{other_header}"
    );
    println!("| --- | --- | --- | --- | --- | --- |{other_rule}");
    let mut sum_of_hops = None;
    for &k in &flags.in_flight {
        if flags.query_only {
            let sluice = ours.rate(flags.requests, k, Call::Query).await;
            println!("| {k} | | | | {sluice:.0} | |");
            continue;
        }
        let raw = raw_rate(&flags.database_url, flags.requests, k).await;
        let direct = direct_rate(flags, k).await;
        let ping = ours.rate(flags.requests, k, Call::Ping).await;
        let sluice = ours.rate(flags.requests, k, Call::Query).await;
        let compared = match &other {
            Some(other) => {
                let rate = other.rate(flags.requests, k, Call::Query).await;
                format!(" {rate:.0} | {:.2} |", sluice / rate)
            }
            None => String::new(),
        };
        println!(
            "| {k} | {raw:.0} | {direct:.0} | {ping:.0} | {sluice:.0} | {:.2} |{compared}",
            sluice / raw
        );
        if k == 1 {
            sum_of_hops = Some((1.0 / (1.0 / ping + 1.0 / raw), sluice));
        }
    }
    if let Some((sum, sluice)) = sum_of_hops {
        // One request in flight crosses the pipes, then the database, then the pipes
        // again, each waiting for the last: to a first approximation a call takes the
        // time of a ping plus the time of a raw query. The raw column moves a lot from
        // one run to the next, so this is a yardstick, not a bound.
        println!(
            "\nAt 1 in flight a call waits for the pipes and then the database in turn: if \
             the two simply added up, 1/(1/ping + 1/raw) = {sum:.0} calls/s; queryDatabase \
             reached {:.0}% of that.",
            100.0 * sluice / sum
        );
    }
}

/// The same query on one raw connection, K at a time (tokio-postgres pipelines them).
async fn raw_rate(url: &str, n: usize, k: usize) -> f64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let client = Arc::new(client);
    let statement = client
        .prepare("SELECT v FROM sluice_bench WHERE id = $1")
        .await
        .unwrap();
    let permits = Arc::new(Semaphore::new(k));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let (client, statement) = (Arc::clone(&client), statement.clone());
        tasks.push(tokio::spawn(async move {
            let id = i32::try_from(i % 1000).unwrap();
            client.query_one(&statement, &[&id]).await.unwrap();
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// The guarded read the tool runs, called directly: the database side of the cost.
async fn direct_rate(flags: &Flags, k: usize) -> f64 {
    let n = flags.requests;
    let mut config = sluice_postgres::DatabaseConfig::from_url(&flags.database_url).unwrap();
    config.tls.mode = sluice_postgres::tls::TlsMode::parse(&flags.sslmode).unwrap();
    config.pool_size = k.clamp(1, 16);
    let database = sluice_postgres::Database::connect(config).await.unwrap();
    let permits = Arc::new(Semaphore::new(k));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let database = database.clone();
        tasks.push(tokio::spawn(async move {
            let sql = format!("SELECT v FROM sluice_bench WHERE id = {}", i % 1000);
            let output = database.read(&sql).await.unwrap();
            assert_eq!(output.row_count, 1);
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    database.close();
    rate
}

#[derive(Debug, Clone, Copy)]
enum Call {
    /// `ping`: the protocol and the pipes, no database.
    Ping,
    /// `queryDatabase` with the point query.
    Query,
}

/// An MCP server started as a child process and driven over its stdio.
#[derive(Debug, Clone)]
struct Server {
    binary: std::path::PathBuf,
    database_url: String,
    sslmode: String,
}

impl Server {
    /// `ping` or `queryDatabase` calls, K in flight.
    async fn rate(&self, n: usize, k: usize, call: Call) -> f64 {
        let binary = &self.binary;
        let pool_size = k.clamp(1, 16).to_string();
        let mut child = tokio::process::Command::new(binary)
            .env("DATABASE_URL", &self.database_url)
            .env("PGSSLMODE", &self.sslmode)
            .env("SLUICE_USER", "bench")
            .env("SLUICE_POOL_SIZE", &pool_size)
            .env("POOL_SIZE", &pool_size)
            .env("RUST_LOG", "warn")
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
                let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
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
            let request = match call {
                Call::Query => format!(
                    "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"tools/call\",\"params\":{{\"name\":\"queryDatabase\",\"arguments\":{{\"sql\":\"SELECT v FROM sluice_bench WHERE id = {}\"}}}}}}\n",
                    i + 1,
                    i % 1000
                ),
                Call::Ping => format!(
                    "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}}\n",
                    i + 1
                ),
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
