//! The Sluice PostgreSQL MCP server: `listTables`, `queryDatabase` and
//! `executeDatabase` over stdio or Streamable HTTP, guarded by the SQL guard, read-only
//! transactions and a per-login permission policy. Over HTTP, people sign in with
//! GitHub (OAuth 2.1) or present a static service token.
//!
//! ```sh
//! DATABASE_URL=postgres://app@localhost/app \
//!   cargo run --example postgres_server -- --user alice --writers alice
//! GITHUB_CLIENT_ID=… GITHUB_CLIENT_SECRET=… SLUICE_PUBLIC_URL=https://db.example.com/mcp \
//!   cargo run --example postgres_server -- --transport http --writers github:12345
//! ```
//!
//! Every flag has an environment variable; `--help` lists them. Logs go to standard
//! error (`RUST_LOG` filters them): standard output carries the protocol. This file only
//! composes the crates: the flags are in `flags.rs`, the HTTP side in `http.rs`.
#![allow(clippy::print_stderr, clippy::print_stdout)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod flags;
mod http;
mod report;
mod signals;
mod tls_serve;

use std::process::ExitCode;

use clap::Parser;
use flags::{Flags, Transport};
use sluice_auth::Identity;
use sluice_mcp::Server;
use sluice_postgres::Databases;
use sluice_postgres::audit::AuditSink;
use sluice_postgres::tools::DatabaseTools;

fn main() -> ExitCode {
    let flags = Flags::parse();
    let runtime = examples::runtime(flags.worker_threads());
    match runtime {
        Ok(runtime) => runtime.block_on(serve(flags)),
        Err(e) => {
            eprintln!("postgres_server: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

/// Everything after the runtime started: checks what it can without the database,
/// connects, and serves until told to stop.
async fn serve(flags: Flags) -> ExitCode {
    let fail = |code: u8, message: &dyn std::fmt::Display| {
        eprintln!("postgres_server: {message}");
        ExitCode::from(code)
    };
    let audit = match flags.audit_sink() {
        Ok(audit) => audit,
        Err(e) => return fail(2, &e),
    };
    // Counted from the audit events; served at /metrics over HTTP.
    let metrics = sluice_postgres::audit::metrics::Metrics::new();
    examples::init_logging_counted(audit.as_ref().map(AuditSink::layer), Some(metrics.layer()));
    if let Some(exit) = flags.hash_token() {
        return exit;
    }
    // Everything that can be checked without the database is checked first.
    if flags.transport == Transport::Http
        && let Err(e) = http::refuse_open_without_auth(&flags.http, &flags.bind)
    {
        return fail(2, &e);
    }
    let configs = match flags.database_configs() {
        Ok(configs) => configs,
        Err(e) => return fail(2, &e),
    };
    if let Some(exit) = flags.print_setup_sql(&configs[0].1) {
        return exit;
    }
    let policy = match flags.policy(&configs) {
        Ok(policy) => policy,
        Err(e) => return fail(2, &e),
    };
    // The token store lives in the default database.
    let (postgres, tls) = (configs[0].1.postgres.clone(), configs[0].1.tls.clone());
    let databases = match Databases::connect(configs).await {
        Ok(databases) => databases,
        Err(e) => return fail(1, &flags::start_error(&e)),
    };
    report::databases(&databases);
    let builder = Server::builder("sluice-postgres", env!("CARGO_PKG_VERSION"))
        .title("Sluice PostgreSQL")
        .instructions(
            "Tools for a PostgreSQL database. Call listTables first to learn the schema \
             (describeTable for one table), then queryDatabase with one read-only SQL query at \
             a time, values in params; explainQuery shows a query's plan. executeDatabase \
             changes data and is only offered to logins allowed to write. A server with \
             several databases says which in listTables; every tool then takes database.",
        );
    let server = DatabaseTools::new(databases.clone(), policy.clone())
        .register(builder)
        .build();
    let login = flags.login();
    let served = if flags.transport == Transport::Http {
        let context = http::Context {
            bind: &flags.bind,
            server,
            policy: &policy,
            local_login: login,
            postgres: &postgres,
            tls: &tls,
            drain: flags.drain(),
            drain_delay: std::time::Duration::from_secs(flags.drain_delay),
            databases: databases.clone(),
            metrics,
        };
        http::serve(&flags.http, context).await
    } else {
        let identity = Identity::new(login.clone());
        let may = policy.widest(Some(&identity), databases.names());
        tracing::info!(%login, %may, "serving PostgreSQL over MCP on stdio");
        let (stop, drain) = (signals::shutdown_signal(), flags.drain());
        sluice_mcp::transport::stdio::serve_until(&server, identity.into_extensions(), stop, drain)
            .await
            .map_err(|e| e.to_string())
    };
    // What was stopped is cancelled in PostgreSQL before the pools close.
    databases.shut_down(std::time::Duration::from_secs(5)).await;
    if let Some(audit) = &audit
        && !audit.flush(std::time::Duration::from_secs(5)).await
    {
        tracing::warn!("the audit table did not take the last events within 5 s");
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, &e),
    }
}
