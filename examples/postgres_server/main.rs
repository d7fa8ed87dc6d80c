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
//! error (`RUST_LOG` filters them): standard output carries the protocol.
#![allow(clippy::print_stderr, clippy::print_stdout)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod http;
mod tls_serve;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use sluice_auth::{Identity, Permission, PermissionPolicy};
use sluice_mcp::Server;
use sluice_postgres::tls::{TlsConfig, TlsMode};
use sluice_postgres::{Database, DatabaseConfig, ReadConnection};

/// An MCP server giving language models guarded access to PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "postgres_server", version, about)]
struct Flags {
    /// PostgreSQL connection string (URL or key=value). Unset: libpq's defaults from
    /// PGHOST, PGPORT, PGUSER, PGDATABASE and PGPASSWORD, else localhost:5432. TLS as
    /// libpq: sslmode=disable|prefer|require|verify-ca|verify-full (default prefer) and
    /// sslrootcert=FILE (else the system's roots); PGSSLMODE and PGSSLROOTCERT apply when
    /// the string names neither. A Unix socket (host=/var/run/postgresql) is plain text
    /// whatever sslmode says, and the faster way to a database on the same machine.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,

    /// A second connection string for reads (queryDatabase, listTables, table
    /// resources), as a role that may only read: the database's own permissions then
    /// back the SQL guard. Unset: reads use --database-url.
    #[arg(long, env = "SLUICE_READ_DATABASE_URL", hide_env_values = true)]
    read_database_url: Option<String>,

    /// How clients connect.
    #[arg(long, value_enum, default_value_t = Transport::Stdio, env = "SLUICE_TRANSPORT")]
    transport: Transport,

    /// Address for the HTTP transport (endpoint path /mcp). A non-loopback address
    /// needs authentication (GitHub sign-in or static tokens).
    #[arg(long, default_value = "127.0.0.1:8000", env = "SLUICE_BIND")]
    bind: String,

    #[command(flatten)]
    http: http::HttpFlags,

    /// Read a token on standard input, print the `sha256:<hex>` form SLUICE_STATIC_TOKENS
    /// takes, and exit.
    #[arg(long)]
    hash_token: bool,

    /// The caller's login on stdio (and over HTTP on loopback without authentication),
    /// where there is no OAuth. Unset: the operating system's user name ($USER).
    #[arg(long, env = "SLUICE_USER")]
    user: Option<String>,

    /// Comma-separated logins allowed to write (executeDatabase). Over HTTP, name GitHub
    /// users by numeric id (`github:12345`): logins can be renamed and re-registered.
    #[arg(long, env = "SLUICE_WRITERS", default_value = "")]
    writers: String,

    /// Comma-separated logins allowed to read. Unset: every authenticated caller may
    /// read. Set: a login on neither list gets no tools at all.
    #[arg(long, env = "SLUICE_READERS")]
    readers: Option<String>,

    /// A JSON policy file (`{"writers": [...], "readers": [...]}`); when given, it
    /// replaces --writers and --readers.
    #[arg(long, env = "SLUICE_POLICY_FILE")]
    policy_file: Option<std::path::PathBuf>,

    /// Longest a statement may run, in seconds.
    #[arg(long, env = "SLUICE_STATEMENT_TIMEOUT", default_value_t = 30)]
    statement_timeout: u64,

    /// Most rows a result returns.
    #[arg(long, env = "SLUICE_MAX_ROWS", default_value_t = 1000)]
    max_rows: usize,

    /// Seconds a call waits for a database connection before it fails.
    #[arg(long, env = "SLUICE_ACQUIRE_TIMEOUT", default_value_t = 10)]
    acquire_timeout: u64,

    /// Most connections in the pool.
    #[arg(long, env = "SLUICE_POOL_SIZE", default_value_t = 8)]
    pool_size: usize,

    /// Print the SQL that creates a role that may only read (named ROLE, default
    /// sluice_reader) in the database of --database-url, for --read-database-url, and
    /// exit. Run it once as the database's owner: `postgres_server --print-setup-sql |
    /// psql "$DATABASE_URL"`.
    #[arg(long, value_name = "ROLE", num_args = 0..=1, default_missing_value = "sluice_reader")]
    print_setup_sql: Option<String>,

    /// The schemas the read role of --print-setup-sql may read (comma-separated).
    #[arg(long, default_value = "public")]
    setup_schemas: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    /// MCP over standard input and output.
    Stdio,
    /// MCP over Streamable HTTP.
    Http,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    examples::init_logging();
    let flags = Flags::parse();
    if flags.hash_token {
        let mut token = String::new();
        if std::io::stdin().read_line(&mut token).is_err() || token.trim().is_empty() {
            eprintln!("postgres_server: --hash-token reads the token on standard input");
            return ExitCode::from(2);
        }
        println!(
            "{}",
            sluice_auth::oauth::StaticTokens::hash_of(token.trim())
        );
        return ExitCode::SUCCESS;
    }
    if flags.transport == Transport::Http
        && let Err(e) = http::refuse_open_without_auth(&flags.http, &flags.bind)
    {
        eprintln!("postgres_server: {e}");
        return ExitCode::from(2);
    }
    let (postgres, mut tls) = match &flags.database_url {
        Some(url) => match sluice_postgres::parse_connection_string(url) {
            Ok((config, tls)) => (with_libpq_fallbacks(config), tls),
            Err(e) => {
                eprintln!("postgres_server: DATABASE_URL: {e}");
                return ExitCode::from(2);
            }
        },
        None => (libpq_defaults(), TlsConfig::default()),
    };
    // libpq's PGSSLMODE and PGSSLROOTCERT, where the connection string says nothing.
    let says = |key: &str| {
        flags
            .database_url
            .as_deref()
            .is_some_and(|u| u.contains(key))
    };
    if let Some(mode) = std::env::var("PGSSLMODE").ok().filter(|_| !says("sslmode")) {
        match TlsMode::parse(&mode) {
            Some(mode) => tls.mode = mode,
            None => {
                eprintln!("postgres_server: PGSSLMODE={mode:?} is not an sslmode");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(root) = std::env::var_os("PGSSLROOTCERT").filter(|_| !says("sslrootcert")) {
        tls.root_cert = Some(root.into());
    }
    if let Some(role) = &flags.print_setup_sql {
        let database = postgres
            .get_dbname()
            .or(postgres.get_user())
            .unwrap_or("postgres");
        let schemas: Vec<&str> = flags
            .setup_schemas
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        print!(
            "{}",
            sluice_postgres::setup::read_role_sql(role, database, &schemas)
        );
        return ExitCode::SUCCESS;
    }
    let mut config = DatabaseConfig::new(postgres.clone());
    config.tls = tls.clone();
    if let Some(url) = &flags.read_database_url {
        match ReadConnection::from_url(url) {
            Ok(mut reads) => {
                reads.postgres = with_libpq_fallbacks(reads.postgres);
                config.reads = Some(reads);
            }
            Err(e) => {
                eprintln!("postgres_server: SLUICE_READ_DATABASE_URL: {e}");
                return ExitCode::from(2);
            }
        }
    }
    config.statement_timeout = Duration::from_secs(flags.statement_timeout.max(1));
    config.max_rows = flags.max_rows.max(1);
    config.pool_size = flags.pool_size.max(1);
    config.acquire_timeout = Duration::from_secs(flags.acquire_timeout.max(1));
    let database = match Database::connect(config).await {
        Ok(database) => database,
        Err(e) => {
            eprintln!("postgres_server: {e}");
            return ExitCode::from(1);
        }
    };
    let policy = match &flags.policy_file {
        Some(path) => match PermissionPolicy::from_file(path) {
            Ok(policy) => policy,
            Err(e) => {
                eprintln!("postgres_server: {e}");
                return ExitCode::from(2);
            }
        },
        None => PermissionPolicy::from_lists(&flags.writers, flags.readers.as_deref()),
    };
    let login = flags
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default();
    let builder = Server::builder("sluice-postgres", env!("CARGO_PKG_VERSION"))
        .title("Sluice PostgreSQL")
        .instructions(
            "Tools for a PostgreSQL database. Call listTables first to learn the schema, then \
             queryDatabase with one read-only SQL query at a time. executeDatabase changes \
             data and is only offered to logins allowed to write.",
        );
    let server =
        sluice_postgres::tools::register(builder, database.clone(), policy.clone()).build();
    if flags.transport == Transport::Http {
        let served = http::serve(
            &flags.http,
            http::Context {
                bind: &flags.bind,
                server,
                policy: &policy,
                local_login: login,
                postgres: &postgres,
                tls: &tls,
            },
        )
        .await;
        database.close();
        return match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("postgres_server: {e}");
                ExitCode::from(2)
            }
        };
    }
    let identity = Identity::new(login.clone());
    let permission = match policy.permission(Some(&identity)) {
        Permission::Write => "read and write",
        Permission::Read => "read only",
        _ => "nothing: no tools (not on --readers or --writers)",
    };
    tracing::info!(
        database = %database.target(),
        reads_as = %database.read_target().unwrap_or_else(|| "the same connection".to_owned()),
        login = %login,
        may = permission,
        "serving PostgreSQL over MCP on stdio"
    );
    let served = sluice_mcp::transport::stdio::serve(&server, identity.into_extensions()).await;
    database.close();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("postgres_server: {e}");
            ExitCode::from(1)
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// Fills what a connection string left out (`postgres:///shop` has no host or user)
/// from libpq's defaults, as `psql` would.
fn with_libpq_fallbacks(mut config: tokio_postgres::Config) -> tokio_postgres::Config {
    let defaults = libpq_defaults();
    if config.get_hosts().is_empty() {
        for host in defaults.get_hosts() {
            if let tokio_postgres::config::Host::Tcp(host) = host {
                config.host(host);
            }
        }
    }
    if config.get_user().is_none()
        && let Some(user) = defaults.get_user()
    {
        config.user(user);
    }
    config
}

/// libpq's defaults: PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, else
/// localhost:5432 as the operating system's user, database of the same name.
fn libpq_defaults() -> tokio_postgres::Config {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = tokio_postgres::Config::new();
    config.host(var("PGHOST").as_deref().unwrap_or("localhost"));
    config.port(var("PGPORT").and_then(|p| p.parse().ok()).unwrap_or(5432));
    let user = var("PGUSER")
        .or_else(|| var("USER"))
        .unwrap_or_else(|| "postgres".to_owned());
    config.dbname(var("PGDATABASE").as_deref().unwrap_or(&user));
    config.user(&user);
    if let Some(password) = var("PGPASSWORD") {
        config.password(password);
    }
    config
}
