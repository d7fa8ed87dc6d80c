//! Load bench: guarded `queryDatabase` calls through the built `postgres_server` over
//! stdio, against the same reads through raw tokio-postgres and through other MCP
//! servers, side by side in one run, printed as one table with the ratios.
//!
//! ```sh
//! cargo build --release --examples
//! target/release/examples/load_bench --requests 20000 --in-flight 1,16
//! # every case, over TCP and over the Unix socket, against the official Rust SDK:
//! cargo build --release --manifest-path bench/rmcp-baseline/Cargo.toml
//! target/release/examples/load_bench --case point,large,capped,limited \
//!     --unix-socket /var/run/postgresql \
//!     --compare bench/rmcp-baseline/target/release/rmcp_baseline
//! # over Streamable HTTP as well, Sluice with GitHub sign-in (the testkit's fake GitHub):
//! cargo build --release -p sluice-testkit --bins
//! target/release/examples/load_bench --http --http-auth \
//!     --compare bench/rmcp-baseline/target/release/rmcp_baseline
//! ```
//!
//! Columns, for each case ([`cases::Case`]) and number of requests in flight: raw
//! tokio-postgres (one connection, the statement prepared once, no guard — the floor);
//! `Database::read` in this process (the guarded read without MCP); `queryDatabase` to
//! the built `postgres_server` over stdio (the product); and each `--compare` server (any
//! number: a path each, started with the same `DATABASE_URL` and `POOL_SIZE`, answering
//! `queryDatabase { sql }`), with Sluice's ratio to it. A `ping` row gives the protocol
//! and the pipes alone. The cut-at-the-cap case is Sluice's own (a peer without a cap
//! would return all 100,000 rows); compare it with the `LIMIT 1000` case.
//!
//! `DATABASE_URL` (default: `host=127.0.0.1 user=postgres dbname=postgres`) names the
//! database; the bench creates and fills its tables there (`sluice_bench`,
//! `sluice_bench_wide`, `sluice_bench_long`) and drops those it created when it is done.
//! `--unix-socket DIR` measures everything a second time through the socket in `DIR`.
//!
//! Every column connects in plain text unless `--sslmode` says otherwise, so that they
//! compare like with like: a server that offers TLS would otherwise encrypt Sluice's
//! connections (libpq's default is `prefer`) and not the raw baseline's. With
//! `--sslmode prefer` (or stronger) the Sluice columns encrypt and the raw column stays
//! plain: the difference is what TLS costs.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

mod cases;
mod http;
mod stdio;

use std::sync::Arc;
use std::time::Instant;

use cases::Case;
use clap::Parser;
use stdio::{Request, Server};
use tokio::sync::Semaphore;

/// Measures calls per second with N requests in flight.
#[derive(Debug, Parser)]
struct Flags {
    /// Calls per measurement of the point query (and of ping).
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Calls per measurement of the cases that return 1,000 rows.
    #[arg(long, default_value_t = 1_000)]
    large_requests: usize,
    /// Requests in flight, comma-separated.
    #[arg(long, default_value = "1,16", value_delimiter = ',')]
    in_flight: Vec<usize>,
    /// The cases, comma-separated: point, large, capped, limited.
    #[arg(long, value_enum, default_value = "point", value_delimiter = ',')]
    case: Vec<Case>,
    /// The database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "host=127.0.0.1 user=postgres dbname=postgres"
    )]
    database_url: String,
    /// Also measure through PostgreSQL's Unix socket in this directory.
    #[arg(long)]
    unix_socket: Option<String>,
    /// Worker threads of the load generator's runtime (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Only the queryDatabase column (for profiling the server alone).
    #[arg(long)]
    query_only: bool,
    /// The `sslmode` of Sluice's connections (the raw baseline is always plain text).
    #[arg(long, default_value = "disable")]
    sslmode: String,
    /// Another MCP stdio server with a `queryDatabase { sql }` tool, measured alongside
    /// (repeat the flag for more).
    #[arg(long)]
    compare: Vec<std::path::PathBuf>,
    /// Also measure over Streamable HTTP (a second table): `postgres_server --transport
    /// http` and each `--compare` peer started with `RMCP_HTTP=ADDR`, the in-flight
    /// numbers as concurrent clients sending stateless 2026-07-28 calls.
    #[arg(long)]
    http: bool,
    /// With `--http`: Sluice signs its clients in with GitHub (the testkit's
    /// `fake-github`, built with `cargo build --release -p sluice-testkit --bins`) and
    /// verifies a bearer token on every call.
    #[arg(long)]
    http_auth: bool,
}

fn main() {
    let flags = Flags::parse();
    // The load generator's own runtime changes what it measures: one thread hands
    // nothing between threads (lowest latency at 1 in flight); several threads keep up
    // with more in flight. `--client-threads` picks; the docs quote both.
    let runtime = examples::runtime(flags.client_threads);
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
    let mut created = Vec::new();
    for (table, setup) in cases::TABLES {
        let exists = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .await
            .unwrap()
            .get::<_, bool>(0);
        if !exists {
            eprintln!("load_bench: creating table {table} (dropped at the end)");
            client.batch_execute(setup).await.unwrap();
            created.push(table);
        }
    }
    let mut databases = vec![("TCP", flags.database_url.clone())];
    if let Some(dir) = &flags.unix_socket {
        let url = flags
            .database_url
            .split_whitespace()
            .filter(|part| !part.starts_with("host=") && !part.starts_with("hostaddr="))
            .chain(std::iter::once(format!("host={dir}").as_str()))
            .collect::<Vec<_>>()
            .join(" ");
        databases.push(("Unix socket", url));
    }
    print_header(&flags);
    for (label, url) in &databases {
        measure(&flags, label, url).await;
    }
    if flags.http {
        print_http_header(&flags);
        for (label, url) in &databases {
            measure_http(&flags, label, url).await;
        }
    }
    for table in created {
        client
            .batch_execute(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
    }
}

fn print_header(flags: &Flags) {
    println!(
        "sslmode={} for Sluice, plain text for raw tokio-postgres; calls/s",
        flags.sslmode
    );
    let mut header = "| database | case | in flight | raw tokio-postgres | Database::read in process | queryDatabase over stdio | ratio to raw |".to_owned();
    let mut rule = "| --- | --- | --- | --- | --- | --- | --- |".to_owned();
    for peer in &flags.compare {
        let name = peer.file_name().unwrap_or_default().to_string_lossy();
        header.push_str(&format!(" {name} | Sluice / {name} |"));
        rule.push_str(" --- | --- |");
    }
    println!("{header}\n{rule}");
}

async fn measure(flags: &Flags, label: &str, url: &str) {
    let ours = Server {
        binary: std::env::current_exe()
            .unwrap()
            .with_file_name("postgres_server"),
        database_url: url.to_owned(),
        sslmode: flags.sslmode.clone(),
    };
    let peers: Vec<Server> = flags
        .compare
        .iter()
        .map(|binary| Server {
            binary: binary.clone(),
            ..ours.clone()
        })
        .collect();
    for &k in &flags.in_flight {
        let ping = ours.rate(flags.requests, k, Request::Ping).await;
        let empty = " | |".repeat(peers.len());
        println!("| {label} | ping (no database) | {k} | | | {ping:.0} | |{empty}");
        for &case in &flags.case {
            let n = match case {
                Case::Point => flags.requests,
                _ => flags.large_requests,
            };
            let sluice = ours.rate(n, k, Request::Query(case)).await;
            if flags.query_only {
                println!("| {label} | {} | {k} | | | {sluice:.0} | |", case.name());
                continue;
            }
            let raw = raw_rate(url, case, n, k).await;
            let direct = direct_rate(flags, url, case, n, k).await;
            let mut row = format!(
                "| {label} | {} | {k} | {raw:.0} | {direct:.0} | {sluice:.0} | {:.2} |",
                case.name(),
                sluice / raw
            );
            for peer in &peers {
                if case == Case::Capped {
                    // A peer without a row cap would send all 100,000 rows.
                    row.push_str(" (no cap) | |");
                    continue;
                }
                let rate = peer.rate(n, k, Request::Query(case)).await;
                row.push_str(&format!(" {rate:.0} | {:.2} |", sluice / rate));
            }
            println!("{row}");
        }
    }
}

fn print_http_header(flags: &Flags) {
    let auth = if flags.http_auth {
        "GitHub sign-in, bearer token verified on every call"
    } else {
        "no authentication"
    };
    println!(
        "\nStreamable HTTP, stateless 2026-07-28 calls; Sluice: {auth}; calls/s, and CPU µs per \
         call of the server and of the local PostgreSQL's processes"
    );
    let mut header =
        "| database | case | clients | queryDatabase over HTTP | server CPU | PostgreSQL CPU |"
            .to_owned();
    let mut rule = "| --- | --- | --- | --- | --- | --- |".to_owned();
    for peer in &flags.compare {
        let name = peer.file_name().unwrap_or_default().to_string_lossy();
        header.push_str(&format!(
            " {name} | server CPU | PostgreSQL CPU | Sluice / {name} |"
        ));
        rule.push_str(" --- | --- | --- | --- |");
    }
    println!("{header}\n{rule}");
}

async fn measure_http(flags: &Flags, label: &str, url: &str) {
    let binary = std::env::current_exe()
        .unwrap()
        .with_file_name("postgres_server");
    let ours = http::HttpServer::sluice(&binary, url, &flags.sslmode, flags.http_auth).await;
    let mut peers = Vec::new();
    for peer in &flags.compare {
        peers.push(http::HttpServer::peer(peer, url).await);
    }
    // Warm every pool and cache.
    ours.rate(200, 16, Case::Point).await;
    for peer in &peers {
        peer.rate(200, 16, Case::Point).await;
    }
    for &clients in &flags.in_flight {
        for &case in &flags.case {
            let n = match case {
                Case::Point => flags.requests,
                _ => flags.large_requests,
            };
            let (sluice, cpu, database) = ours.rate(n, clients, case).await;
            let mut row = format!(
                "| {label} | {} | {clients} | {sluice:.0} | {cpu:.0} | {database:.0} |",
                case.name()
            );
            for peer in &peers {
                if case == Case::Capped {
                    row.push_str(" (no cap) | | | |");
                    continue;
                }
                let (rate, peer_cpu, peer_database) = peer.rate(n, clients, case).await;
                row.push_str(&format!(
                    " {rate:.0} | {peer_cpu:.0} | {peer_database:.0} | {:.2} |",
                    sluice / rate
                ));
            }
            println!("{row}");
        }
    }
}

/// The same read on one raw connection, K at a time (tokio-postgres pipelines them).
async fn raw_rate(url: &str, case: Case, n: usize, k: usize) -> f64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let client = Arc::new(client);
    let statement = client.prepare(case.raw_sql()).await.unwrap();
    let permits = Arc::new(Semaphore::new(k));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let (client, statement) = (Arc::clone(&client), statement.clone());
        tasks.push(tokio::spawn(async move {
            let rows = if case == Case::Point {
                let id = i32::try_from(i % 1000).unwrap();
                client.query(&statement, &[&id]).await.unwrap()
            } else {
                client.query(&statement, &[]).await.unwrap()
            };
            assert_eq!(rows.len(), case.rows());
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// The guarded read the tool runs, called directly: the database side of the cost.
async fn direct_rate(flags: &Flags, url: &str, case: Case, n: usize, k: usize) -> f64 {
    let mut config = sluice_postgres::DatabaseConfig::from_url(url).unwrap();
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
            let output = database.read(&case.sql(i)).await.unwrap();
            assert_eq!(output.row_count, case.rows());
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
