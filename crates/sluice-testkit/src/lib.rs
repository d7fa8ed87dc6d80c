//! # sluice-testkit: a real PostgreSQL database for every test
//!
//! Sluice's tests run against a real PostgreSQL server, never a mock: the SQL guard, the
//! read-only transactions and the row encoding are only worth what a real server says
//! about them. This crate finds or starts that server and hands each test a database of
//! its own.
//!
//! ## Where the server comes from
//!
//! The first call to [`database`] in a process picks a server, in this order:
//!
//! 1. **`DATABASE_URL`**, when it is set (a `postgres://` URL or a libpq `key=value`
//!    string). The role must be allowed to create databases.
//! 2. **The local server** at `127.0.0.1:5432` as user `postgres`, if it answers.
//! 3. **An ephemeral cluster** started from the installed PostgreSQL binaries (`initdb`
//!    and `postgres`, found on `PATH` or under `/usr/lib/postgresql/*/bin`) in a temporary
//!    directory on a free port. When the process runs as root it runs them as the
//!    `postgres` user, because `initdb` refuses to run as root. A small guardian process
//!    stops the cluster and removes its directory when the test process ends, however it
//!    ends.
//!
//! Setting `SLUICE_TESTKIT_EPHEMERAL=1` skips the first two and always starts a cluster,
//! so the third path is exercised even where a server runs. When none of the three is
//! possible, [`database`] returns an [`Error`] that says what to install or set.
//!
//! ## One database per test
//!
//! Each [`TestDatabase`] is a fresh database with a unique name, created from a template
//! and dropped (with `WITH (FORCE)`, so open connections do not keep it alive) when the
//! value is dropped. Tests can therefore run in parallel and leave nothing behind.
//!
//! [`github::FakeGitHub`] is the other real component the OAuth tests need: a
//! loopback GitHub that signs people in the way GitHub does.
//!
//! ## Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = sluice_testkit::database().await?;
//! let client = db.connect().await?;
//! client.batch_execute("CREATE TABLE t (id int primary key)").await?;
//! let row = client.query_one("SELECT count(*) FROM t", &[]).await?;
//! assert_eq!(row.get::<_, i64>(0), 0);
//! // `db` is dropped here, and the database with it.
//! # Ok(())
//! # }
//! ```
#![doc(test(attr(deny(warnings))))]

mod cluster;
mod connstr;
mod haproxy;
mod pgbouncer;
mod process;
mod relay;

pub use haproxy::HaProxy;
pub use pgbouncer::{PgBouncer, PoolMode};
pub use relay::Relay;
pub mod github;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

pub use cluster::EPHEMERAL_ENV;

/// Everything that can go wrong while finding a server or making a database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No server could be found or started; the message says what to install or set.
    #[error("no PostgreSQL server for tests: {0}")]
    NoServer(String),
    /// `DATABASE_URL` is set but is not a connection string PostgreSQL understands.
    #[error("DATABASE_URL is not a valid PostgreSQL connection string: {0}")]
    BadUrl(String),
    /// The server answered with an error, or the connection failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
}

/// The server this process's tests use, chosen once.
#[derive(Debug)]
struct Server {
    /// Connection string of the maintenance database (where we create and drop).
    admin: String,
    /// Where the server came from, for messages.
    origin: Origin,
    /// Keeps an ephemeral cluster alive for as long as the process lives.
    _cluster: Option<cluster::Cluster>,
}

/// Where the server came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The server named by `DATABASE_URL`.
    DatabaseUrl,
    /// The local server at `127.0.0.1:5432`.
    Local,
    /// A cluster this process started and will stop.
    Ephemeral,
}

const TEMPLATE: &str = "sluice_testkit_template";
const LOCAL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3";

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh database for one test, dropped when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin: String,
    origin: Origin,
}

/// Creates a fresh, empty database for the calling test.
///
/// The first call in a process also chooses (or starts) the server; see the
/// [crate documentation](crate) for the order. Later calls reuse it.
///
/// # Errors
///
/// [`Error::NoServer`] when no server can be found or started, [`Error::BadUrl`] for a
/// malformed `DATABASE_URL`, [`Error::Postgres`] when the server refuses to create the
/// database.
pub async fn database() -> Result<TestDatabase, Error> {
    let server = server()?;
    let name = format!(
        "sluice_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos() % 1_000_000
    );
    let (admin, connection) = tokio_postgres::connect(&server.admin, NoTls).await?;
    let driver = tokio::spawn(connection);
    ensure_template(&admin).await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
        .await?;
    drop(admin);
    let _ = driver.await;
    let url = connstr::with_dbname(&server.admin, &name).map_err(Error::BadUrl)?;
    Ok(TestDatabase {
        name,
        url,
        admin: server.admin.clone(),
        origin: server.origin,
    })
}

/// Drops the template database the test databases are copied from
/// (`sluice_testkit_template`), on the server the testkit chose; true when there was one.
/// On a shared server it outlives the tests so the next run need not make it again;
/// `scripts/test` drops it when every step is done (`testkit-database --drop-template`),
/// so a run leaves nothing behind. Call it only when no test is running.
///
/// # Errors
///
/// As [`database`].
pub async fn drop_template() -> Result<bool, Error> {
    let server = server()?;
    let (admin, connection) = tokio_postgres::connect(&server.admin, NoTls).await?;
    let driver = tokio::spawn(connection);
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&TEMPLATE])
        .await?
        .is_some();
    if exists {
        // Two messages: DROP DATABASE cannot run in the implicit transaction of one.
        admin
            .batch_execute(&format!("ALTER DATABASE {TEMPLATE} IS_TEMPLATE false"))
            .await?;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {TEMPLATE}"))
            .await?;
    }
    drop(admin);
    let _ = driver.await;
    Ok(exists)
}

/// A fresh database, as [`database`], with `sql` (a schema and its rows) already run
/// in it.
///
/// # Errors
///
/// As [`database`], and [`Error::Postgres`] when `sql` fails.
pub async fn database_with(sql: &str) -> Result<TestDatabase, Error> {
    let db = database().await?;
    db.connect().await?.batch_execute(sql).await?;
    Ok(db)
}

impl TestDatabase {
    /// The database's name (unique to this test).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A libpq connection string for this database, usable by tokio-postgres, `psql` or
    /// a child process's `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the server came from.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The tokio-postgres configuration for this database.
    pub fn config(&self) -> tokio_postgres::Config {
        // The URL was built from a string that parsed already; parsing it again after
        // changing only the database name cannot fail, but stay total anyway.
        self.url.parse().unwrap_or_else(|_| {
            let mut config = tokio_postgres::Config::new();
            config.dbname(&self.name);
            config
        })
    }

    /// A [`Relay`] in front of this database's server and a connection string to this
    /// database through it: a database the test can take down ([`Relay::stop`]) and
    /// bring back ([`Relay::resume`]) without touching the server itself.
    ///
    /// # Errors
    ///
    /// [`Error::NoServer`] when the relay cannot listen, [`Error::BadUrl`] when the
    /// connection string cannot be pointed at it.
    pub fn relayed(&self) -> Result<(Relay, String), Error> {
        let config = self.config();
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let upstream = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Unix(dir)) => {
                relay::Upstream::Unix(dir.join(format!(".s.PGSQL.{port}")))
            }
            Some(tokio_postgres::config::Host::Tcp(host)) => {
                relay::Upstream::Tcp(host.clone(), port)
            }
            None => relay::Upstream::Tcp("127.0.0.1".to_owned(), port),
        };
        let relay = Relay::start(upstream)
            .map_err(|e| Error::NoServer(format!("the relay cannot listen: {e}")))?;
        let url = connstr::on_loopback_port(&self.url, relay.port()).map_err(Error::BadUrl)?;
        Ok((relay, url))
    }

    /// Connects to this database without TLS and spawns the connection's driver on the
    /// current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Postgres`] when the connection fails.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, Error> {
        let (client, connection) = self.config().connect(NoTls).await?;
        tokio::spawn(async move {
            // A connection ends with an error when the database is dropped under it;
            // that is the test's business, not a reason to panic here.
            let _ = connection.await;
        });
        Ok(client)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which may be single-threaded and busy
        // running us; so the drop happens on a thread with a runtime of its own.
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&admin, NoTls).await.ok()?;
                let driver = tokio::spawn(connection);
                let result = client.batch_execute(&sql).await.ok();
                drop(client);
                let _ = driver.await;
                result
            })
        });
        let _ = dropper.join();
    }
}

/// An ephemeral PostgreSQL cluster that accepts TLS, for tests of encrypted connections.
/// Its certificate names `localhost` and is signed by a test authority whose certificate
/// is [`TlsServer::root_cert`]. The cluster stops when this value is dropped (or the
/// process ends).
#[derive(Debug)]
pub struct TlsServer {
    cluster: cluster::Cluster,
}

/// Starts a [`TlsServer`]: always an ephemeral cluster (whatever `DATABASE_URL` says),
/// from the installed PostgreSQL binaries, with a certificate made by `openssl`.
///
/// # Errors
///
/// [`Error::NoServer`] when the cluster cannot be started (no PostgreSQL binaries, no
/// `openssl`).
pub async fn tls_server() -> Result<TlsServer, Error> {
    let started = tokio::task::spawn_blocking(|| cluster::Cluster::start_with(true))
        .await
        .map_err(|e| Error::NoServer(format!("the thread starting the cluster failed: {e}")))?;
    started
        .map(|cluster| TlsServer { cluster })
        .map_err(Error::NoServer)
}

impl TlsServer {
    /// A libpq connection string to its `postgres` database naming the server as
    /// `host` (the address is always 127.0.0.1), with `extra` options appended
    /// (`sslmode=verify-full`, say).
    pub fn url(&self, host: &str, extra: &str) -> String {
        format!(
            "host={host} hostaddr=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=5 {extra}",
            self.cluster.port()
        )
    }

    /// A libpq connection string to its `postgres` database through its Unix-domain
    /// socket, with `extra` options appended. The socket carries no TLS, as with every
    /// PostgreSQL server.
    pub fn socket_url(&self, extra: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname=postgres connect_timeout=5 {extra}",
            self.cluster.dir().display(),
            self.cluster.port()
        )
    }

    /// The PEM file of the authority that signed the server's certificate.
    pub fn root_cert(&self) -> std::path::PathBuf {
        self.cluster.dir().join("ca.crt")
    }
}

/// The process's server, chosen on first use.
fn server() -> Result<&'static Server, Error> {
    let chosen = SERVER.get_or_init(|| {
        // Choosing may start a cluster and talks to servers with blocking waits; a
        // thread of its own keeps that off whatever runtime the caller is on.
        std::thread::spawn(choose_server)
            .join()
            .unwrap_or_else(|_| Err("the thread choosing a server panicked".to_owned()))
    });
    chosen
        .as_ref()
        .map_err(|message| Error::NoServer(message.clone()))
}

fn choose_server() -> Result<Server, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
    let forced = cluster::ephemeral_forced();
    if !forced {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            let url = url.trim().to_owned();
            if !url.is_empty() {
                url.parse::<tokio_postgres::Config>()
                    .map_err(|e| format!("DATABASE_URL is not a valid connection string: {e}"))?;
                runtime
                    .block_on(probe(&url))
                    .map_err(|e| format!("DATABASE_URL is set but its server refused: {e}"))?;
                return Ok(Server {
                    admin: url,
                    origin: Origin::DatabaseUrl,
                    _cluster: None,
                });
            }
        }
        if runtime.block_on(probe(LOCAL)).is_ok() {
            return Ok(Server {
                admin: LOCAL.to_owned(),
                origin: Origin::Local,
                _cluster: None,
            });
        }
    }
    let cluster = cluster::Cluster::start()?;
    let admin = cluster.connection_string();
    let mut last = String::new();
    // The cluster said it is ready; give the first connection a few tries all the same.
    for _ in 0..50 {
        match runtime.block_on(probe(&admin)) {
            Ok(()) => {
                return Ok(Server {
                    admin,
                    origin: Origin::Ephemeral,
                    _cluster: Some(cluster),
                });
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!(
        "started an ephemeral cluster but could not connect to it: {last}"
    ))
}

async fn probe(conn: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conn, NoTls).await?;
    let driver = tokio::spawn(connection);
    let result = client.simple_query("SELECT 1").await.map(drop);
    drop(client);
    let _ = driver.await;
    result
}

/// Creates the template database once per server. Several test processes may race
/// here; the loser sees "already exists", which is as good as winning.
async fn ensure_template(admin: &tokio_postgres::Client) -> Result<(), Error> {
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&TEMPLATE])
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    // template0 has no connections by rule, so copying it never meets "being accessed by
    // other users"; UTF8 and the C locale make every test see the same text behaviour.
    let sql = format!(
        "CREATE DATABASE {TEMPLATE} TEMPLATE template0 ENCODING 'UTF8' \
         LC_COLLATE 'C' LC_CTYPE 'C' IS_TEMPLATE true"
    );
    match admin.batch_execute(&sql).await {
        Ok(()) => Ok(()),
        // Two sessions creating the same name at once may also meet on the catalog's
        // unique index instead of the friendlier duplicate-database check.
        Err(e)
            if e.code() == Some(&SqlState::DUPLICATE_DATABASE)
                || e.code() == Some(&SqlState::UNIQUE_VIOLATION) =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
