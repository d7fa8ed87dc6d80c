//! A real PgBouncer in front of a test database, started from the installed binary.
//!
//! PgBouncer refuses to run as root, so as root it runs as the `postgres` user (the
//! ephemeral cluster's rule). It logs in to PostgreSQL as the test database's own user
//! and lets any client in (`auth_type = any`): the tests exercise pooling, not PgBouncer's
//! authentication.

use std::path::PathBuf;
use std::process::{Child, Command};

use crate::{Error, TestDatabase, cluster, connstr, process};

/// How PgBouncer hands server connections to its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// A server connection per transaction (and per message outside one).
    Transaction,
    /// A server connection per client connection.
    Session,
}

/// A running PgBouncer; stopped (and its files removed) when dropped.
#[derive(Debug)]
pub struct PgBouncer {
    child: Option<Child>,
    /// The binary, and its configuration file (in `dir`).
    binary: PathBuf,
    ini: PathBuf,
    /// The user and group it runs as, when not this process's.
    user: Option<(u32, u32)>,
    dir: PathBuf,
    port: u16,
    url: String,
}

impl PgBouncer {
    /// A connection string to the test database through PgBouncer.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its process id while it runs (to read its CPU time, say).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What PgBouncer has logged so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }

    /// Stops it (SIGKILL): its port refuses and its connections are cut.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, with the same configuration.
    ///
    /// # Errors
    ///
    /// [`Error::NoServer`] when it does not start.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.stop();
        self.child = Some(spawn(
            &self.binary,
            &self.ini,
            self.user,
            &self.dir,
            self.port,
        )?);
        Ok(())
    }
}

/// The `postgres` user's user and group ids.
fn postgres_ids() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// Runs `binary` on `ini` (as `user`, when given) and waits until `port` accepts connections.
fn spawn(
    binary: &std::path::Path,
    ini: &std::path::Path,
    user: Option<(u32, u32)>,
    dir: &std::path::Path,
    port: u16,
) -> Result<Child, Error> {
    use std::os::unix::process::CommandExt as _;
    let mut command = Command::new(binary);
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    command.arg(ini);
    process::spawn_listening(command, "pgbouncer", port, || {
        std::fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default()
    })
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SIGINT would wait for clients; the test is over.
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestDatabase {
    /// Starts PgBouncer (`pool_mode` `mode`, at most `server_connections` connections to
    /// PostgreSQL) in front of this database.
    ///
    /// # Errors
    ///
    /// As [`PgBouncer::start`].
    pub fn pgbouncer(&self, mode: PoolMode, server_connections: usize) -> Result<PgBouncer, Error> {
        PgBouncer::start(self.url(), mode, server_connections)
    }
}

impl PgBouncer {
    /// Starts PgBouncer in front of the database `upstream` (a connection string: this
    /// database's, or one through a [`crate::Relay`]), serving it under its own name.
    ///
    /// # Errors
    ///
    /// [`Error::NoServer`] when PgBouncer is not installed (`apt-get install pgbouncer`)
    /// or does not start (the message carries its log); [`Error::BadUrl`] when
    /// `upstream` does not parse.
    pub fn start(
        upstream: &str,
        mode: PoolMode,
        server_connections: usize,
    ) -> Result<PgBouncer, Error> {
        let binary = cluster::find_program("pgbouncer").ok_or_else(|| {
            Error::NoServer("pgbouncer is not installed (apt-get install pgbouncer)".to_owned())
        })?;
        let config: tokio_postgres::Config = upstream
            .parse()
            .map_err(|e: tokio_postgres::Error| Error::BadUrl(e.to_string()))?;
        let name = config.get_dbname().unwrap_or("postgres").to_owned();
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Unix(dir)) => dir.display().to_string(),
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            None => "127.0.0.1".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres");
        let password = config
            .get_password()
            .map(|p| format!(" password={}", String::from_utf8_lossy(p)))
            .unwrap_or_default();
        let listen = cluster::free_port()
            .map_err(|e| Error::NoServer(format!("cannot find a free TCP port: {e}")))?;
        let dir = std::path::Path::new("/tmp")
            .join(format!("sluice-pgbouncer-{}-{listen}", std::process::id()));
        let io = |e: std::io::Error| Error::NoServer(format!("pgbouncer's directory: {e}"));
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mode = match mode {
            PoolMode::Transaction => "transaction",
            PoolMode::Session => "session",
        };
        let ini = format!(
            "[databases]\n{name} = host={host} port={port} dbname={name} user={user}{password}\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n\
             auth_type = any\npool_mode = {mode}\ndefault_pool_size = {server_connections}\n\
             max_client_conn = 500\nserver_login_retry = 1\nignore_startup_parameters = extra_float_digits,options\n\
             logfile = {log}\npidfile = {pid}\n",
            log = dir.join("pgbouncer.log").display(),
            pid = dir.join("pgbouncer.pid").display(),
        );
        let path = dir.join("pgbouncer.ini");
        std::fs::write(&path, ini).map_err(io)?;
        // As root, PgBouncer itself runs as `postgres` (not under runuser, which would
        // stay its parent: killing it would leave PgBouncer running).
        let user = if cluster::is_root() {
            let _ = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status();
            Some(postgres_ids().ok_or_else(|| {
                Error::NoServer("running as root, and there is no `postgres` user".to_owned())
            })?)
        } else {
            None
        };
        let child = match spawn(&binary, &path, user, &dir, listen) {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let url = connstr::on_loopback_port(upstream, listen).map_err(Error::BadUrl)?;
        Ok(PgBouncer {
            child: Some(child),
            binary,
            ini: path,
            user,
            dir,
            port: listen,
            url,
        })
    }
}
