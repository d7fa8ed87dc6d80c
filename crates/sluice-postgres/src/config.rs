//! How a [`Database`](crate::Database) connects and what it allows: [`DatabaseConfig`].

use std::time::Duration;

use sluice_sqlguard::Guard;

use crate::tls::TlsConfig;

/// How a [`Database`](crate::Database) connects and what it allows.
///
/// Build one with [`from_url`](Self::from_url), [`from_env`](Self::from_env) (libpq's
/// environment), [`from_url_or_env`](Self::from_url_or_env) or [`new`](Self::new), then
/// change the fields you need; [`Database::connect`](crate::Database::connect) refuses
/// limits that make no sense (a pool of no connections, a cap of no rows, a timeout of
/// nothing) with [`ConnectError::Invalid`].
///
/// ```
/// use std::time::Duration;
/// use sluice_postgres::DatabaseConfig;
///
/// let mut config = DatabaseConfig::from_url("postgres://app@db.internal/shop")?;
/// config.max_rows = 200;
/// config.statement_timeout = Duration::from_secs(5);
/// assert!(config.validate().is_ok());
/// # Ok::<(), sluice_postgres::ConnectError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DatabaseConfig {
    /// Where to connect. Its `ssl_mode` is set from [`tls`](Self::tls) at connect time,
    /// except that, as with libpq, a configuration naming only Unix-domain sockets
    /// (`host=/var/run/postgresql`) connects without TLS whatever `sslmode` says.
    pub postgres: tokio_postgres::Config,
    /// TLS: whether to encrypt, and what to check (libpq's `sslmode`, `sslrootcert`).
    pub tls: TlsConfig,
    /// Where reads connect, when not where writes do: a role that may only read, so
    /// the database's own permissions are the last line of defence (default: none, reads
    /// use [`postgres`](Self::postgres)).
    pub reads: Option<ReadConnection>,
    /// Most connections in the pool (default 8).
    pub pool_size: usize,
    /// Longest a statement may run (default 30 s), enforced by PostgreSQL.
    pub statement_timeout: Duration,
    /// Longest a call waits for a pooled connection, and for a new connection to open
    /// (default 10 s).
    pub acquire_timeout: Duration,
    /// Most rows returned to the client (default 1000); the result says when it was cut.
    pub max_rows: usize,
    /// Most bytes of values returned to the client (default 1 MiB), counted as they are
    /// sent: JSON-escaped, and twice, since a result goes out both as text and as
    /// structured content.
    pub max_bytes: usize,
    /// The guard for reads (default: the read-only policy).
    pub read_guard: Guard,
    /// The guard for writes (default: the write policy).
    pub write_guard: Guard,
    /// Run each statement in one round trip, its results in PostgreSQL's binary format
    /// (default `true`). A result with a type the binary decoders do not reproduce
    /// exactly is read again through the text path. `false` sends every statement
    /// through the text path (two round trips).
    pub binary_results: bool,
    /// Whether [`Database::connect`](crate::Database::connect) inspects the roles it
    /// connects as ([`crate::posture`]) and what it does about a finding (default
    /// [`PrivilegeCheck::Skip`]).
    pub least_privilege: PrivilegeCheck,
    /// Whether the server is reached through a pooler in transaction mode (PgBouncer's
    /// `pool_mode = transaction`), which may hand each transaction, and each message
    /// outside one, to a different server connection (default `false`). When `true`, no
    /// named prepared statement outlives its transaction: the catalog check is sent
    /// unnamed (PostgreSQL plans it on every call, where a direct connection plans it
    /// once), statements are described inside the transaction, and no startup option
    /// is sent (PgBouncer 1.18 refuses `options`). A result of a type tokio-postgres
    /// looks up (an enum, a composite, an extension's type) has its look-up statements
    /// deallocated in the same transaction, and the connection that looked it up is
    /// closed after the call. Session mode needs nothing.
    pub transaction_pooling: bool,
    /// Prepare a query once per connection for every text of its shape, its literals
    /// bound as parameters (default `true`; never behind a transaction pooler): `WHERE
    /// id = 7` and `WHERE id = 8` share one parse and plan. PostgreSQL then chooses
    /// between a plan for the values and a generic plan after five runs
    /// (`plan_cache_mode`, which a role's settings can pin); `false` has every text
    /// parsed and planned on every call.
    pub prepared_forms: bool,
}

/// What [`Database::connect`](crate::Database::connect) does about roles wider than the
/// server needs (superuser, `BYPASSRLS`, server file roles, a read role that may change
/// or owns tables): [`DatabaseConfig::least_privilege`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrivilegeCheck {
    /// Nothing (no catalog query at connect).
    #[default]
    Skip,
    /// Logs a warning per finding (target `sluice::posture`).
    Warn,
    /// Logs them, and refuses to connect when there is one
    /// ([`ConnectError::NotLeastPrivilege`]).
    Require,
}

impl DatabaseConfig {
    /// Defaults for a connection string (`postgres://…` URL or libpq `key=value` form).
    ///
    /// # Errors
    ///
    /// When the string is not a valid connection string.
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let (postgres, tls) = parse_connection_string(url)?;
        let mut config = DatabaseConfig::new(postgres);
        config.tls = tls;
        Ok(config)
    }

    /// Defaults for a tokio-postgres configuration.
    pub fn new(postgres: tokio_postgres::Config) -> Self {
        DatabaseConfig {
            postgres,
            tls: TlsConfig::default(),
            reads: None,
            pool_size: 8,
            statement_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(10),
            max_rows: 1000,
            max_bytes: 1024 * 1024,
            read_guard: Guard::read_only(),
            write_guard: Guard::write(),
            binary_results: true,
            least_privilege: PrivilegeCheck::Skip,
            transaction_pooling: false,
            prepared_forms: true,
        }
    }

    /// Checks the limits: at least one connection, one row, one byte, and timeouts
    /// longer than zero.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<(), ConnectError> {
        let refuse = |what: &str| Err(ConnectError::Invalid(what.to_owned()));
        if self.pool_size == 0 {
            return refuse("pool_size is 0: the pool needs at least one connection");
        }
        if self.max_rows == 0 {
            return refuse("max_rows is 0: a result must be able to hold at least one row");
        }
        if self.max_bytes == 0 {
            return refuse("max_bytes is 0: a result must be able to hold at least one value");
        }
        if self.statement_timeout.is_zero() {
            return refuse(
                "statement_timeout is 0, which PostgreSQL reads as no limit; give a duration",
            );
        }
        if self.acquire_timeout.is_zero() {
            return refuse("acquire_timeout is 0: a call could never get a connection");
        }
        Ok(())
    }
}

/// A separate connection for reads ([`DatabaseConfig::reads`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReadConnection {
    /// Where to connect, as a role that may only read.
    pub postgres: tokio_postgres::Config,
    /// TLS for it.
    pub tls: TlsConfig,
}

impl ReadConnection {
    /// From a connection string.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Config`] when the string is not a valid connection string.
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let (postgres, tls) = parse_connection_string(url)?;
        Ok(ReadConnection { postgres, tls })
    }

    /// From a connection string, completed from libpq's environment as
    /// [`DatabaseConfig::from_url_or_env`] does.
    ///
    /// # Errors
    ///
    /// As [`DatabaseConfig::from_url_or_env`].
    pub fn from_url_or_env(url: &str) -> Result<Self, ConnectError> {
        let (postgres, tls) = crate::env::resolve(Some(url), &crate::env::process_env)?;
        Ok(ReadConnection { postgres, tls })
    }

    /// A read connection from its parts.
    pub fn new(postgres: tokio_postgres::Config, tls: TlsConfig) -> Self {
        ReadConnection { postgres, tls }
    }
}

/// Reads a connection string (`postgres://…` URL or libpq `key=value` form), including
/// the TLS options tokio-postgres does not know (`sslmode=verify-ca|verify-full`,
/// `sslrootcert`).
///
/// ```
/// use sluice_postgres::parse_connection_string;
/// use sluice_postgres::tls::TlsMode;
///
/// let (config, tls) =
///     parse_connection_string("postgres://app@db.internal/shop?sslmode=verify-full").unwrap();
/// assert_eq!(config.get_dbname(), Some("shop"));
/// assert_eq!(tls.mode, TlsMode::VerifyFull);
/// ```
///
/// # Errors
///
/// [`ConnectError::Config`] when the string is not a valid connection string.
pub fn parse_connection_string(
    text: &str,
) -> Result<(tokio_postgres::Config, TlsConfig), ConnectError> {
    let (postgres, tls, _) = parse_parts(text)?;
    Ok((postgres, tls))
}

/// [`parse_connection_string`], and which TLS options the string named.
pub(crate) fn parse_parts(
    text: &str,
) -> Result<(tokio_postgres::Config, TlsConfig, crate::tls::Named), ConnectError> {
    let (rest, tls, named) = crate::tls::split_options(text)
        .map_err(|message| ConnectError::Config(ConfigError::new(message)))?;
    let postgres = rest.parse::<tokio_postgres::Config>().map_err(|e| {
        ConnectError::Config(ConfigError {
            message: "tokio-postgres does not accept it".to_owned(),
            source: Some(Box::new(e)),
        })
    })?;
    Ok((postgres, tls, named))
}

/// What is wrong with a connection string, naming the part and never quoting a secret.
#[derive(Debug, thiserror::Error)]
#[error("{message}{}", source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
pub struct ConfigError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
            source: None,
        }
    }
}

/// Connecting failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connection string (or libpq's environment) is not valid.
    #[error("invalid database connection string: {0}")]
    Config(#[from] ConfigError),
    /// A limit of the configuration makes no sense ([`DatabaseConfig::validate`]).
    #[error("invalid database configuration: {0}")]
    Invalid(String),
    /// TLS could not be set up (a root certificate file that cannot be read, …).
    #[error("cannot set up TLS to the database: {0}")]
    Tls(String),
    /// The pool could not be built.
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
    /// The database did not answer the start-up check.
    #[error("cannot reach the database at {target}: {reason}")]
    Unreachable {
        /// Where we tried (no password).
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// A role is wider than the server needs and [`PrivilegeCheck::Require`] is set.
    #[error("the database roles are wider than least privilege: {0}")]
    NotLeastPrivilege(String),
    /// One database of several ([`crate::Databases`]) could not be set up.
    #[error("database {name}: {source}")]
    InDatabase {
        /// The database's name in the set.
        name: String,
        /// Why.
        source: Box<ConnectError>,
    },
}
