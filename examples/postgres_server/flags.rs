//! The flags of `postgres_server`, each with its environment variable, and what they
//! make: the database configuration and the permission policy; the one-shot commands.
#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use sluice_auth::PermissionPolicy;
use sluice_postgres::audit::{AuditOptions, AuditSink};
use sluice_postgres::{
    ConnectError, DEFAULT_NAME, DatabaseConfig, PrivilegeCheck, ReadConnection, is_database_name,
};

use crate::http;

/// An MCP server giving language models guarded access to PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "postgres_server", version)]
pub(crate) struct Flags {
    /// PostgreSQL connection string (URL or key=value). What it leaves out comes from
    /// libpq's environment as psql would take it (PGHOST, PGPORT, PGUSER, PGDATABASE,
    /// PGPASSWORD, ~/.pgpass, PGSSLMODE, PGSSLROOTCERT, …), else the local socket or
    /// localhost:5432. TLS as libpq: sslmode=disable|prefer|require|verify-ca|verify-full
    /// (default prefer) and sslrootcert=FILE (else the system's roots). A Unix socket (host=/var/run/postgresql) is plain text
    /// whatever sslmode says, and the faster way to a database on the same machine.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,

    /// A second connection string for reads (queryDatabase, listTables, table
    /// resources), as a role that may only read: the database's own permissions then
    /// back the SQL guard. Unset: reads use --database-url.
    #[arg(long, env = "SLUICE_READ_DATABASE_URL", hide_env_values = true)]
    pub(crate) read_database_url: Option<String>,

    /// Serve one more database, as NAME=URL (repeatable; in the environment, entries
    /// separated by `;`). NAME is letters, digits, _ and -; URL as for --database-url,
    /// with its own TLS options. The first database is the default; --database-url, when
    /// given, is the first, named `main`. Every tool then takes a `database` argument,
    /// listTables names the databases, resources are postgres://db/NAME/…, and a policy
    /// file may grant per database. A database that is down at start does not stop the
    /// others: it is retried and serves once it answers.
    #[arg(
        long = "database",
        value_name = "NAME=URL",
        env = "SLUICE_DATABASES",
        value_delimiter = ';',
        hide_env_values = true
    )]
    pub(crate) databases: Vec<String>,

    /// A read-only connection for the --database named NAME, as NAME=URL (repeatable;
    /// `;` between entries in the environment): what --read-database-url is for `main`.
    #[arg(
        long = "read-database",
        value_name = "NAME=URL",
        env = "SLUICE_READ_DATABASES",
        value_delimiter = ';',
        hide_env_values = true
    )]
    pub(crate) read_databases: Vec<String>,

    /// How clients connect.
    #[arg(long, value_enum, default_value_t = Transport::Stdio, env = "SLUICE_TRANSPORT")]
    pub(crate) transport: Transport,

    /// Address for the HTTP transport (endpoint path /mcp). A non-loopback address
    /// needs authentication (GitHub sign-in or static tokens).
    #[arg(long, default_value = "127.0.0.1:8000", env = "SLUICE_BIND")]
    pub(crate) bind: String,

    #[command(flatten)]
    pub(crate) http: http::HttpFlags,

    /// Read a token on standard input, print the `sha256:<hex>` form SLUICE_STATIC_TOKENS
    /// takes, and exit.
    #[arg(long)]
    pub(crate) hash_token: bool,

    /// The caller's login on stdio (and over HTTP on loopback without authentication),
    /// where there is no OAuth. Unset: the operating system's user name ($USER).
    #[arg(long, env = "SLUICE_USER")]
    pub(crate) user: Option<String>,

    /// Comma-separated logins allowed to write (executeDatabase). Over HTTP, name GitHub
    /// users by numeric id (`github:12345`): logins can be renamed and re-registered.
    #[arg(long, env = "SLUICE_WRITERS", default_value = "")]
    pub(crate) writers: String,

    /// Comma-separated logins allowed to read. Unset: every authenticated caller may
    /// read. Set: a login on neither list gets no tools at all.
    #[arg(long, env = "SLUICE_READERS")]
    pub(crate) readers: Option<String>,

    /// A JSON policy file (`{"writers": [...], "readers": [...]}`); when given, it
    /// replaces --writers and --readers. With several databases, a `databases` object
    /// may give one its own lists: `{"databases": {"billing": {"writers": []}}}` (a list
    /// it leaves out is the top-level one).
    #[arg(long, env = "SLUICE_POLICY_FILE")]
    pub(crate) policy_file: Option<std::path::PathBuf>,

    /// Longest a statement may run, in seconds (at least 1).
    #[arg(long, env = "SLUICE_STATEMENT_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) statement_timeout: u64,

    /// Most rows a result returns (at least 1).
    #[arg(long, env = "SLUICE_MAX_ROWS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_rows: u64,

    /// Most bytes of values a result returns (at least 1; counted as sent, JSON-escaped).
    #[arg(long, env = "SLUICE_MAX_BYTES", default_value_t = 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_bytes: u64,

    /// Seconds a call waits for a database connection before it fails (at least 1).
    #[arg(long, env = "SLUICE_ACQUIRE_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) acquire_timeout: u64,

    /// Most connections in the pool (at least 1).
    #[arg(long, env = "SLUICE_POOL_SIZE", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub(crate) pool_size: u64,

    /// Threads serving requests. 1: a single-threaded runtime, the lowest latency for
    /// one client making one call at a time (the default over stdio). 2 or more: a
    /// multi-threaded runtime, which spreads many concurrent calls over the cores at the
    /// cost of a hand-over between threads on each call (the default over HTTP: one per
    /// core). docs/performance.md measures both.
    #[arg(long, env = "SLUICE_WORKER_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) worker_threads: Option<u16>,

    /// Also write every audit event (each call: who, tool, database, SQL, the
    /// parameters' shapes, verdict, SQLSTATE, rows, duration; each refusal; each sign-in)
    /// to the table sluice_audit.calls in this database (created when missing). Calls
    /// never wait for it: when it is slow or down, what its queue cannot hold is
    /// counted and reported there as a `dropped` row.
    #[arg(long, env = "SLUICE_AUDIT_DATABASE_URL", hide_env_values = true)]
    pub(crate) audit_database_url: Option<String>,

    /// Seconds the requests in flight have to finish when the server stops (SIGTERM,
    /// Ctrl-C, or the end of standard input): then those still running are stopped,
    /// answered with a shutting-down error, and their statements cancelled in PostgreSQL.
    #[arg(long, env = "SLUICE_DRAIN_TIMEOUT", default_value_t = 10)]
    pub(crate) drain_timeout: u64,

    /// Over HTTP: seconds between the signal to stop and the start of the drain, during
    /// which /readyz answers 503 (draining) and everything else is served as before,
    /// so a load balancer checking /readyz stops sending work before the listener
    /// closes (default 0). Set it above the balancer's check interval × fall count.
    #[arg(long, env = "SLUICE_DRAIN_DELAY", default_value_t = 0)]
    pub(crate) drain_delay: u64,

    /// Refuse to start when a role the server connects as is wider than it needs
    /// (superuser, BYPASSRLS, server file roles, a read role that may change or owns
    /// tables). Without it, each finding is a warning at start-up; either way they are
    /// the resource postgres://posture.
    #[arg(long, env = "SLUICE_REQUIRE_LEAST_PRIVILEGE")]
    pub(crate) require_least_privilege: bool,

    /// The databases are reached through a pooler in transaction mode (PgBouncer's
    /// pool_mode = transaction): no prepared statement outlives its transaction, and no
    /// startup option is sent. Not needed for session mode. Results of types looked up
    /// by name (enums, composites, extension types) need a cast to text in this mode.
    #[arg(long, env = "SLUICE_TRANSACTION_POOLING")]
    pub(crate) transaction_pooling: bool,

    /// Print the SQL that creates a role that may only read (named ROLE, default
    /// sluice_reader) in the database of --database-url, for --read-database-url, and
    /// exit. Run it once as the database's owner: `postgres_server --print-setup-sql |
    /// psql "$DATABASE_URL"`.
    #[arg(long, value_name = "ROLE", num_args = 0..=1, default_missing_value = "sluice_reader")]
    pub(crate) print_setup_sql: Option<String>,

    /// The schemas the read role of --print-setup-sql may read (comma-separated).
    #[arg(long, default_value = "public")]
    pub(crate) setup_schemas: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Transport {
    /// MCP over standard input and output.
    Stdio,
    /// MCP over Streamable HTTP.
    Http,
}

impl Flags {
    /// How many threads serve requests: `--worker-threads`, else one over stdio and one
    /// per core over HTTP.
    pub(crate) fn worker_threads(&self) -> usize {
        match self.worker_threads {
            Some(threads) => usize::from(threads),
            None if self.transport == Transport::Http => {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            }
            None => 1,
        }
    }

    /// The databases, by name, the default first: --database-url (`main`; libpq's
    /// environment when nothing names a database), then each --database; each completed
    /// from libpq's environment and given the limits.
    pub(crate) fn database_configs(&self) -> Result<Vec<(String, DatabaseConfig)>, String> {
        let mut urls: Vec<(String, Option<&str>)> = Vec::new();
        if self.database_url.is_some() || self.databases.is_empty() {
            urls.push((DEFAULT_NAME.to_owned(), self.database_url.as_deref()));
        }
        for entry in &self.databases {
            let (name, url) = split_entry("--database", entry)?;
            urls.push((name.to_owned(), Some(url)));
        }
        let mut reads: Vec<(&str, &str)> = Vec::new();
        for entry in &self.read_databases {
            let (name, url) = split_entry("--read-database", entry)?;
            if !urls.iter().any(|(n, _)| n == name) {
                return Err(format!(
                    "--read-database names {name}, which no --database defines"
                ));
            }
            reads.push((name, url));
        }
        let mut configs = Vec::with_capacity(urls.len());
        for (name, url) in urls {
            let in_db = |e: ConnectError| format!("database {name}: {e}");
            let mut config = DatabaseConfig::from_url_or_env(url).map_err(in_db)?;
            let read_url = match reads.iter().find(|(n, _)| *n == name) {
                Some((_, url)) => Some(*url),
                None if name == DEFAULT_NAME => self.read_database_url.as_deref(),
                None => None,
            };
            if let Some(url) = read_url {
                config.reads = Some(ReadConnection::from_url_or_env(url).map_err(in_db)?);
            }
            let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            config.statement_timeout = Duration::from_secs(self.statement_timeout);
            config.max_rows = size(self.max_rows);
            config.max_bytes = size(self.max_bytes);
            config.pool_size = size(self.pool_size);
            config.acquire_timeout = Duration::from_secs(self.acquire_timeout);
            config.transaction_pooling = self.transaction_pooling;
            config.least_privilege = if self.require_least_privilege {
                PrivilegeCheck::Require
            } else {
                PrivilegeCheck::Warn
            };
            config.validate().map_err(in_db)?;
            configs.push((name, config));
        }
        Ok(configs)
    }

    /// The permission policy: the policy file, else --writers and --readers. A section
    /// for a database the server does not have is refused (a typo would leave the real
    /// one on the top-level lists).
    pub(crate) fn policy(
        &self,
        databases: &[(String, DatabaseConfig)],
    ) -> Result<PermissionPolicy, String> {
        let policy = match &self.policy_file {
            Some(path) => PermissionPolicy::from_file(path).map_err(|e| e.to_string())?,
            None => PermissionPolicy::from_lists(&self.writers, self.readers.as_deref()),
        };
        if let Some(unknown) = policy
            .database_sections()
            .find(|section| !databases.iter().any(|(name, _)| name == section))
        {
            let names: Vec<&str> = databases.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!(
                "the policy file has a section for database {unknown}, which this server does not \
                 serve (it serves: {})",
                names.join(", ")
            ));
        }
        Ok(policy)
    }

    /// The audit sink of --audit-database-url, started (it connects on its own).
    pub(crate) fn audit_sink(&self) -> Result<Option<AuditSink>, String> {
        let Some(url) = &self.audit_database_url else {
            return Ok(None);
        };
        let (postgres, tls) = DatabaseConfig::from_url_or_env(Some(url))
            .map(|c| (c.postgres, c.tls))
            .map_err(|e| format!("--audit-database-url: {e}"))?;
        AuditSink::start(AuditOptions::new(postgres, tls))
            .map(Some)
            .map_err(|e| format!("--audit-database-url: {e}"))
    }

    /// `--hash-token`: reads a token on standard input and prints its hash.
    pub(crate) fn hash_token(&self) -> Option<ExitCode> {
        if !self.hash_token {
            return None;
        }
        let mut token = String::new();
        if std::io::stdin().read_line(&mut token).is_err() || token.trim().is_empty() {
            eprintln!("postgres_server: --hash-token reads the token on standard input");
            return Some(ExitCode::from(2));
        }
        println!(
            "{}",
            sluice_auth::oauth::StaticTokens::hash_of(token.trim())
        );
        Some(ExitCode::SUCCESS)
    }

    /// `--print-setup-sql`: prints the SQL that creates the read role.
    pub(crate) fn print_setup_sql(&self, config: &DatabaseConfig) -> Option<ExitCode> {
        let role = self.print_setup_sql.as_ref()?;
        let database = config.postgres.get_dbname().unwrap_or("postgres");
        let schemas: Vec<&str> = self
            .setup_schemas
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        print!(
            "{}",
            sluice_postgres::setup::read_role_sql(role, database, &schemas)
        );
        Some(ExitCode::SUCCESS)
    }

    /// --drain-timeout as a duration.
    pub(crate) fn drain(&self) -> Duration {
        Duration::from_secs(self.drain_timeout)
    }

    /// The caller's login on stdio: --user, else the operating system's user.
    pub(crate) fn login(&self) -> String {
        self.user
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_default()
    }
}

/// `NAME=URL` of --database and --read-database.
fn split_entry<'a>(flag: &str, entry: &'a str) -> Result<(&'a str, &'a str), String> {
    match entry.trim().split_once('=') {
        Some((name, url)) if is_database_name(name.trim()) && !url.trim().is_empty() => {
            Ok((name.trim(), url.trim()))
        }
        // Never the entry itself: its URL may hold a password.
        _ => Err(format!(
            "{flag} takes NAME=URL: a name of letters, digits, _ and -, then '=', then a \
             connection string"
        )),
    }
}

/// Why the databases could not be set up, as the server says it when it stops.
pub(crate) fn start_error(e: &ConnectError) -> String {
    match e {
        ConnectError::InDatabase { source, .. }
            if matches!(**source, ConnectError::NotLeastPrivilege(_)) =>
        {
            format!("refusing to start (--require-least-privilege): {e}")
        }
        _ => e.to_string(),
    }
}
