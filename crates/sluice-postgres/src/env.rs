//! libpq's environment: what `psql` would connect to.
//!
//! A connection string may leave things out (`postgres:///shop` names no host or user),
//! or there may be none. As with libpq, each setting the string does not give comes from
//! the environment, then from libpq's defaults:
//!
//! | setting | environment | default |
//! | --- | --- | --- |
//! | host | `PGHOST` (comma-separated; a path is a Unix-socket directory), `PGHOSTADDR` | the socket in `/var/run/postgresql` or `/tmp` when one is there for the port, else `localhost` |
//! | port | `PGPORT` (comma-separated) | 5432 |
//! | user | `PGUSER` | the operating system's user (`USER`, `LOGNAME`) |
//! | database | `PGDATABASE` | the user's name |
//! | password | `PGPASSWORD`, then the password file `PGPASSFILE` (default `~/.pgpass`, ignored unless only its owner may read it) | none |
//! | options | `PGOPTIONS`, `PGAPPNAME`, `PGCONNECT_TIMEOUT`, `PGTARGETSESSIONATTRS` | none |
//! | TLS | `PGSSLMODE`, `PGSSLROOTCERT` | `prefer`, the system's roots |
//!
//! An empty variable counts as unset, as in libpq. libpq would fail where no socket is
//! found; this falls back to `localhost` over TCP, which is where a server usually is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::config::{Host, TargetSessionAttrs};

use crate::config::{ConfigError, ConnectError, DatabaseConfig, parse_parts};
use crate::tls::{TlsConfig, TlsMode};

/// Where libpq looks for the server's socket when no host is given (Debian's directory,
/// then upstream's).
const SOCKET_DIRECTORIES: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// A variable of the process's environment; empty counts as unset.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

impl DatabaseConfig {
    /// Defaults for what libpq's environment says (`PGHOST`, `PGPORT`, `PGUSER`,
    /// `PGDATABASE`, `PGPASSWORD`, `~/.pgpass`, `PGSSLMODE`, …), as `psql` with no
    /// arguments would connect. See [the table](crate#libpqs-environment).
    ///
    /// # Errors
    ///
    /// [`ConnectError::Config`] when a variable does not read (a port that is not a
    /// number, an unknown `sslmode`).
    pub fn from_env() -> Result<Self, ConnectError> {
        Self::from_url_or_env(None)
    }

    /// Defaults for a connection string completed from libpq's environment, or for the
    /// environment alone when there is no string: what `psql "$url"` would connect to.
    ///
    /// # Errors
    ///
    /// As [`from_url`](Self::from_url) and [`from_env`](Self::from_env).
    pub fn from_url_or_env(url: Option<&str>) -> Result<Self, ConnectError> {
        let (postgres, tls) = resolve(url, &process_env)?;
        let mut config = DatabaseConfig::new(postgres);
        config.tls = tls;
        Ok(config)
    }
}

/// A connection string (or none) completed from the environment `env` names.
pub(crate) fn resolve(
    url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(tokio_postgres::Config, TlsConfig), ConnectError> {
    let (mut config, mut tls, named) = match url {
        Some(url) => parse_parts(url)?,
        None => (
            tokio_postgres::Config::new(),
            TlsConfig::default(),
            Default::default(),
        ),
    };
    if config.get_ports().is_empty()
        && let Some(ports) = env("PGPORT")
    {
        for port in ports.split(',') {
            let port = port
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| ConfigError::new("PGPORT is not a port number (1 to 65535)"))?;
            config.port(port);
        }
    }
    let port = config.get_ports().first().copied().unwrap_or(5432);
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        if let Some(hosts) = env("PGHOST") {
            for host in hosts.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                config.host(host);
            }
        } else if let Some(address) = env("PGHOSTADDR") {
            let address = address
                .trim()
                .parse()
                .map_err(|_| ConfigError::new("PGHOSTADDR is not an IP address"))?;
            config.hostaddr(address);
        } else {
            config.host(default_host(port, &SOCKET_DIRECTORIES));
        }
    }
    if config.get_user().is_none() {
        let user = env("PGUSER")
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .unwrap_or_else(|| "postgres".to_owned());
        config.user(&user);
    }
    if config.get_dbname().is_none() {
        let database =
            env("PGDATABASE").unwrap_or_else(|| config.get_user().unwrap_or("postgres").to_owned());
        config.dbname(&database);
    }
    if config.get_password().is_none() {
        if let Some(password) = env("PGPASSWORD") {
            config.password(password);
        } else if let Some(password) = password_from_file(&config, port, env) {
            config.password(password);
        }
    }
    if config.get_options().is_none()
        && let Some(options) = env("PGOPTIONS")
    {
        config.options(&options);
    }
    if config.get_application_name().is_none()
        && let Some(name) = env("PGAPPNAME")
    {
        config.application_name(&name);
    }
    if config.get_connect_timeout().is_none()
        && let Some(seconds) = env("PGCONNECT_TIMEOUT")
    {
        let seconds: u64 = seconds
            .trim()
            .parse()
            .map_err(|_| ConfigError::new("PGCONNECT_TIMEOUT is not a number of seconds"))?;
        if seconds > 0 {
            // libpq waits at least 2 s: less is too short to be meant.
            config.connect_timeout(Duration::from_secs(seconds.max(2)));
        }
    }
    if let Some(attrs) = env("PGTARGETSESSIONATTRS") {
        config.target_session_attrs(match attrs.trim() {
            "any" => TargetSessionAttrs::Any,
            "read-write" => TargetSessionAttrs::ReadWrite,
            "read-only" => TargetSessionAttrs::ReadOnly,
            _ => {
                return Err(ConfigError::new(
                    "PGTARGETSESSIONATTRS is not any, read-write or read-only",
                )
                .into());
            }
        });
    }
    if !named.mode
        && let Some(mode) = env("PGSSLMODE")
    {
        tls.mode = TlsMode::parse(mode.trim()).ok_or_else(|| {
            ConfigError::new("PGSSLMODE is not disable, prefer, require, verify-ca or verify-full")
        })?;
    }
    if !named.root_cert
        && let Some(root) = env("PGSSLROOTCERT")
    {
        tls.root_cert = Some(PathBuf::from(root));
    }
    Ok((config, tls))
}

/// libpq's default host: the first socket directory holding the server's socket for
/// `port`, else `localhost`.
fn default_host(port: u16, directories: &[&str]) -> String {
    directories
        .iter()
        .find(|dir| Path::new(dir).join(format!(".s.PGSQL.{port}")).exists())
        .map_or_else(|| "localhost".to_owned(), |dir| (*dir).to_owned())
}

/// The password for the first host from the password file, as libpq looks it up: lines
/// `host:port:database:user:password`, `*` matching anything, `\` escaping `:` and `\`,
/// the first match winning. A socket connection matches `localhost` too. The file is
/// ignored (with a warning) when others than its owner may read it.
fn password_from_file(
    config: &tokio_postgres::Config,
    port: u16,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let file = env("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".pgpass")))?;
    let text = read_private(&file)?;
    let (host, socket) = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => (host.clone(), false),
        #[cfg(unix)]
        Some(Host::Unix(path)) => (path.display().to_string(), true),
        None => match config.get_hostaddrs().first() {
            Some(address) => (address.to_string(), false),
            None => ("localhost".to_owned(), false),
        },
    };
    let port = port.to_string();
    let database = config.get_dbname().unwrap_or_default();
    let user = config.get_user().unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let fields = pgpass_fields(line);
            let [h, p, d, u, password] = <[String; 5]>::try_from(fields).ok()?;
            let host_matches = h == "*" || h == host || (socket && h == "localhost");
            let matches = |field: &str, value: &str| field == "*" || field == value;
            (host_matches && matches(&p, &port) && matches(&d, database) && matches(&u, user))
                .then_some(password)
        })
        .next()
}

/// The file's text, when only its owner may read or write it (libpq's rule).
fn read_private(file: &Path) -> Option<String> {
    let metadata = std::fs::metadata(file).ok()?;
    if !metadata.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %file.display(),
                "password file has group or world access; it is ignored (chmod 0600 it)"
            );
            return None;
        }
    }
    std::fs::read_to_string(file).ok()
}

/// The `:`-separated fields of a password-file line, `\:` and `\\` unescaped.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next()
                    && let Some(field) = fields.last_mut()
                {
                    field.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name: &str| map.get(name).filter(|v| !v.is_empty()).cloned()
    }

    fn tcp_hosts(config: &tokio_postgres::Config) -> Vec<String> {
        config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                Host::Unix(p) => p.display().to_string(),
            })
            .collect()
    }

    #[test]
    fn the_environment_fills_what_the_string_leaves_out() {
        let env = env_of(&[
            ("PGHOST", "db1,db2"),
            ("PGPORT", "6432,6433"),
            ("PGUSER", "app"),
            ("PGPASSWORD", "from-env"),
            ("PGSSLMODE", "require"),
            ("PGAPPNAME", "sluice"),
        ]);
        let (config, tls) = resolve(None, &env).unwrap();
        assert_eq!(tcp_hosts(&config), ["db1", "db2"]);
        assert_eq!(config.get_ports(), [6432, 6433]);
        assert_eq!(config.get_user(), Some("app"));
        assert_eq!(config.get_dbname(), Some("app"));
        assert_eq!(config.get_password(), Some(&b"from-env"[..]));
        assert_eq!(config.get_application_name(), Some("sluice"));
        assert_eq!(tls.mode, TlsMode::Require);

        // What the string names wins; only the rest comes from the environment.
        let (config, tls) =
            resolve(Some("postgres://other@db9:7000/shop?sslmode=disable"), &env).unwrap();
        assert_eq!(tcp_hosts(&config), ["db9"]);
        assert_eq!(config.get_ports(), [7000]);
        assert_eq!(config.get_user(), Some("other"));
        assert_eq!(config.get_dbname(), Some("shop"));
        assert_eq!(config.get_password(), Some(&b"from-env"[..]));
        assert_eq!(tls.mode, TlsMode::Disable);
    }

    /// The old example tested whether the string contained "sslmode": a password
    /// holding that word turned PGSSLMODE off.
    #[test]
    fn a_password_naming_sslmode_does_not_hide_pgsslmode() {
        let env = env_of(&[("PGSSLMODE", "verify-full")]);
        let (_, tls) = resolve(Some("postgres://u:sslmode-is-my-password@db/app"), &env).unwrap();
        assert_eq!(tls.mode, TlsMode::VerifyFull);
        let (_, tls) = resolve(Some("host=db password='sslmode=disable'"), &env).unwrap();
        assert_eq!(tls.mode, TlsMode::VerifyFull);
    }

    #[test]
    fn defaults_are_libpqs() {
        let env = env_of(&[("USER", "carol")]);
        let (config, tls) = resolve(None, &env).unwrap();
        assert_eq!(config.get_user(), Some("carol"));
        assert_eq!(config.get_dbname(), Some("carol"));
        assert_eq!(tls.mode, TlsMode::Prefer);
        let socket = SOCKET_DIRECTORIES
            .iter()
            .find(|d| Path::new(d).join(".s.PGSQL.5432").exists());
        assert_eq!(tcp_hosts(&config), [socket.map_or("localhost", |d| *d)]);
        let dir = std::env::temp_dir().join(format!("sluice-socket-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".s.PGSQL.5999"), b"").unwrap();
        let dir_name = dir.display().to_string();
        assert_eq!(default_host(5999, &["/nonexistent", &dir_name]), dir_name);
        assert_eq!(default_host(5998, &[&dir_name]), "localhost");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_variables_are_named_and_not_quoted() {
        for (name, value) in [
            ("PGPORT", "54x32"),
            ("PGSSLMODE", "sometimes"),
            ("PGCONNECT_TIMEOUT", "soon"),
            ("PGHOSTADDR", "not-an-ip"),
        ] {
            let env = env_of(&[(name, value)]);
            let error = resolve(None, &env).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
            assert!(!error.contains(value), "{error}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_password_file_is_read_as_libpq_reads_it() {
        use std::os::unix::fs::PermissionsExt;
        let file = std::env::temp_dir().join(format!("sluice-pgpass-{}", std::process::id()));
        std::fs::write(
            &file,
            "# comment\nother:*:*:*:wrong\ndb:5432:shop:app:first\\:part\n*:*:*:app:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = file.display().to_string();
        let env = env_of(&[("PGPASSFILE", &path)]);
        let (config, _) = resolve(Some("postgres://app@db/shop"), &env).unwrap();
        assert_eq!(config.get_password(), Some(&b"first:part"[..]));
        let (config, _) = resolve(Some("postgres://app@elsewhere/shop"), &env).unwrap();
        assert_eq!(config.get_password(), Some(&b"fallback"[..]));
        let (config, _) = resolve(Some("postgres://bob@db/shop"), &env).unwrap();
        assert_eq!(config.get_password(), None);
        // Readable by others: ignored, as libpq does.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (config, _) = resolve(Some("postgres://app@db/shop"), &env).unwrap();
        assert_eq!(config.get_password(), None);
        std::fs::remove_file(&file).unwrap();
    }
}
