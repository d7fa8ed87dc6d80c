//! Scale-out bench: guarded `queryDatabase` calls over HTTP through HAProxy to 1, 2 and 3
//! `postgres_server --transport http` replicas, straight to PostgreSQL and through
//! PgBouncer in transaction mode, side by side in one run, with where the CPU goes.
//!
//! ```sh
//! cargo build --release -p examples --examples
//! target/release/examples/scale_bench --requests 5000 --clients 16
//! ```
//!
//! It starts everything itself, from the distribution's packages (`haproxy`,
//! `pgbouncer`, as `.ci/run` installs them) and the `postgres_server` beside it in the
//! target directory, on a database of its own (the testkit's: `DATABASE_URL`, else the
//! local server, else an ephemeral cluster). The clients send stateless 2026-07-28 calls
//! (no session, so the balancer may send each anywhere) of a point query, each client one
//! call after another. For each set-up it prints calls per second and the CPU time per
//! call of the replicas, HAProxy, PgBouncer, PostgreSQL's backends and the load generator
//! itself, read from `/proc` before and after: on a machine with few cores they compete
//! for them, and the CPU columns say who takes what.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use sluice_testkit::{HaProxy, PoolMode};

/// Measures calls per second through the balancer.
#[derive(Debug, Parser)]
struct Flags {
    /// Calls per measurement.
    #[arg(long, default_value_t = 5_000)]
    requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Replica counts, comma-separated.
    #[arg(long, default_value = "1,2,3", value_delimiter = ',')]
    replicas: Vec<usize>,
    /// Each replica's pool size.
    #[arg(long, default_value_t = 4)]
    pool_size: usize,
}

/// A replica; killed when dropped.
struct Replica {
    child: Child,
    port: u16,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `postgres_server`, beside this program in the target directory.
fn server_binary() -> PathBuf {
    let me = std::env::current_exe().unwrap();
    me.parent().unwrap().join("postgres_server")
}

/// Starts a replica on `url` and waits until its `/readyz` says ready.
async fn replica(url: &str, pool_size: usize, transaction_pooling: bool) -> Replica {
    let port = examples::free_port();
    let mut command = Command::new(server_binary());
    command
        .args([
            "--transport",
            "http",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--database-url", url, "--user", "bench"])
        .args(["--pool-size", &pool_size.to_string()])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if transaction_pooling {
        command.arg("--transaction-pooling");
    }
    let replica = Replica {
        child: command
            .spawn()
            .expect("postgres_server (cargo build --release --examples)"),
        port,
    };
    let ready = format!("http://127.0.0.1:{port}/readyz");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(answer) = reqwest::get(&ready).await
            && answer.status() == 200
        {
            return replica;
        }
        assert!(Instant::now() < deadline, "a replica did not get ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One stateless `queryDatabase` call; panics unless it succeeded.
async fn call(http: &reqwest::Client, mcp: &str, id: usize) {
    let sql = format!("SELECT v FROM bench WHERE id = {}", id % 1000 + 1);
    let answer = examples::http_client::stateless_request(
        http,
        mcp,
        id,
        "queryDatabase",
        json!({"sql": sql}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(answer.status(), 200);
    let body = answer.text().await.unwrap();
    assert!(
        body.contains("\"rowCount\":1") && !body.contains("\"isError\":true"),
        "{body}"
    );
}

/// `requests` calls from `clients` clients through `mcp`: calls per second.
async fn measure(mcp: &str, requests: usize, clients: usize) -> f64 {
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, next, mcp) = (http.clone(), Arc::clone(&next), mcp.to_owned());
            tokio::spawn(async move {
                loop {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if id >= requests {
                        return;
                    }
                    call(&http, &mcp, id).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    requests as f64 / started.elapsed().as_secs_f64()
}

/// The pids of `database`'s backends other than the asking one.
async fn backends(admin: &tokio_postgres::Client) -> Vec<u32> {
    admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .filter_map(|row| u32::try_from(row.get::<_, i32>(0)).ok())
        .collect()
}

fn cpu(pids: &[u32]) -> f64 {
    pids.iter().map(|&pid| examples::cpu_seconds(pid)).sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let flags = Flags::parse();
    let db = sluice_testkit::database_with(
        "CREATE TABLE bench (id int PRIMARY KEY, v text NOT NULL);
         INSERT INTO bench SELECT g, md5(g::text) FROM generate_series(1, 1000) g;",
    )
    .await
    .unwrap();
    let admin = db.connect().await.unwrap();
    let me = std::process::id();
    println!(
        "| path | replicas | calls/s | replicas µs/call | HAProxy | PgBouncer | PostgreSQL | load generator |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for pooled in [false, true] {
        // Enough server connections for every replica's pool: the comparison is of the
        // hop, not of a smaller pool.
        let servers = flags.pool_size * flags.replicas.iter().max().copied().unwrap_or(1);
        let bouncer = pooled.then(|| db.pgbouncer(PoolMode::Transaction, servers).unwrap());
        let url = bouncer.as_ref().map_or(db.url(), |b| b.url()).to_owned();
        for &n in &flags.replicas {
            let mut replicas = Vec::new();
            for _ in 0..n {
                replicas.push(replica(&url, flags.pool_size, pooled).await);
            }
            let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
            let balancer = HaProxy::start(examples::free_port(), &ports).unwrap();
            let mcp = format!("{}/mcp", balancer.base());
            // Warm up: every pool opens its connections, the guard's caches fill.
            measure(&mcp, flags.requests / 5, flags.clients).await;
            let replica_pids: Vec<u32> = replicas.iter().map(|r| r.child.id()).collect();
            let backend_pids = backends(&admin).await;
            let bouncer_pid: Vec<u32> = bouncer.iter().filter_map(|b| b.pid()).collect();
            // CPU seconds so far of the replicas, HAProxy, PgBouncer, the backends, us.
            let sample = || {
                [
                    cpu(&replica_pids),
                    cpu(&[balancer.pid()]),
                    cpu(&bouncer_pid),
                    cpu(&backend_pids),
                    cpu(&[me]),
                ]
            };
            let before = sample();
            let rate = measure(&mcp, flags.requests, flags.clients).await;
            let after = sample();
            let per_call: Vec<String> = before
                .iter()
                .zip(after)
                .map(|(b, a)| format!("{:.0}", (a - b) * 1e6 / flags.requests as f64))
                .collect();
            println!(
                "| {} | {n} | {rate:.0} | {} |",
                if pooled {
                    "PgBouncer (transaction)"
                } else {
                    "direct"
                },
                per_call.join(" | ")
            );
            drop(balancer);
            drop(replicas);
        }
    }
}
