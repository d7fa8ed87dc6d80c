//! A pool of connections to one role: [`Pooled`].

use std::time::Duration;

use tokio_postgres::SimpleQueryMessage;

use super::connections::{Connections, Pool, PoolError};

use crate::binary::OutputSettings;
use crate::config::{ConnectError, DatabaseConfig};
use crate::errors::{sanitise, with_causes};
use crate::session;
use crate::tls::{Connector, TlsConfig};

/// A pool and what goes with it.
#[derive(Clone)]
pub(crate) struct Pooled {
    pub(crate) pool: Pool,
    /// The TLS connector, also for cancel requests.
    pub(crate) tls: Connector,
    /// How the server prints values to this pool's role, read at start-up.
    pub(crate) output: OutputSettings,
    /// `user@host:port/database`, for messages.
    pub(crate) target: String,
    /// Statements seen to give only built-in types ([`super::result_types`]).
    pub(crate) result_types: std::sync::Arc<super::result_types::ResultTypes>,
    /// Catalog checks that passed under the newest token seen ([`crate::reuse`]).
    pub(crate) passed_checks: std::sync::Arc<crate::reuse::PassedChecks>,
    /// How calls fared getting a connection, for metrics.
    pub(crate) acquires: std::sync::Arc<Acquires>,
    /// Parameterised forms PostgreSQL would not prepare ([`super::prepared`]).
    pub(crate) unpreparable: std::sync::Arc<super::prepared::Unpreparable>,
    /// Reads that bound a statement kept on their connection, since start.
    pub(crate) reads_prepared: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// How long calls waited for a connection of one pool, and how many got none in time.
#[derive(Debug, Default)]
pub(crate) struct Acquires {
    count: std::sync::atomic::AtomicU64,
    nanos: std::sync::atomic::AtomicU64,
    timeouts: std::sync::atomic::AtomicU64,
}

impl Acquires {
    /// Counts one attempt that took `waited`; `timed_out` when it got no connection
    /// because every one stayed busy.
    pub(crate) fn record(&self, waited: Duration, timed_out: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.count.fetch_add(1, Relaxed);
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Relaxed);
        if timed_out {
            self.timeouts.fetch_add(1, Relaxed);
        }
    }

    /// Attempts, the microseconds they took in all, and the attempts that timed out.
    pub(crate) fn totals(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.count.load(Relaxed),
            self.nanos.load(Relaxed) / 1_000,
            self.timeouts.load(Relaxed),
        )
    }
}

impl Pooled {
    /// Builds a pool and checks that the database answers.
    pub(crate) async fn open(
        postgres: &tokio_postgres::Config,
        tls_config: &TlsConfig,
        config: &DatabaseConfig,
    ) -> Result<Self, ConnectError> {
        let tls = crate::tls::connector(tls_config).map_err(ConnectError::Tls)?;
        let mut settings = postgres.clone();
        settings.ssl_mode(tls_config.ssl_mode_for(postgres));
        if !config.transaction_pooling {
            session::startup_options(&mut settings);
        }
        let manager = Connections::new(settings, tls.clone(), !config.transaction_pooling);
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.acquire_timeout))
            .build()
            .map_err(|e| ConnectError::Pool(e.to_string()))?;
        let target = target(postgres);
        let check = async {
            let client = pool.get().await.map_err(|e| match e {
                // deadpool's own wording ("error occurred while creating a new object")
                // says nothing; the connection's error and its causes do.
                PoolError::Backend(e) => with_causes(&e),
                other => with_causes(&other),
            })?;
            // The health check also reads how this server prints values, which every
            // connection of the pool shares (same user, same database).
            let rows = client
                .simple_query(
                    "SELECT current_setting('TimeZone'), current_setting('DateStyle'), \
                     current_setting('IntervalStyle'), current_setting('extra_float_digits')",
                )
                .await
                .map_err(|e| sanitise(&e).message)?;
            let settings = rows.iter().find_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some(OutputSettings::from_settings(
                    row.get(0).unwrap_or(""),
                    row.get(1).unwrap_or(""),
                    row.get(2).unwrap_or(""),
                    row.get(3).unwrap_or(""),
                )),
                _ => None,
            });
            Ok::<_, String>(settings.unwrap_or_default())
        };
        match tokio::time::timeout(Duration::from_secs(10), check).await {
            Ok(Ok(output)) => {
                tracing::debug!(?output, %target, "server output settings");
                Ok(Pooled {
                    pool,
                    tls,
                    output,
                    target,
                    result_types: Default::default(),
                    passed_checks: Default::default(),
                    acquires: Default::default(),
                    unpreparable: Default::default(),
                    reads_prepared: Default::default(),
                })
            }
            Ok(Err(reason)) => Err(ConnectError::Unreachable { target, reason }),
            Err(_) => Err(ConnectError::Unreachable {
                target,
                reason: "no answer within 10 s".to_owned(),
            }),
        }
    }
}

/// A small pool of plain connections for the crate's own bookkeeping (the OAuth token
/// store, the audit table): TLS as `tls` says, named `application_name` in
/// `pg_stat_activity`, 10 s to get or open a connection, nothing checked at start.
#[cfg(any(feature = "oauth", feature = "audit"))]
pub(crate) fn side_pool(
    postgres: &tokio_postgres::Config,
    tls: &TlsConfig,
    application_name: &str,
    size: usize,
) -> Result<deadpool_postgres::Pool, ConnectError> {
    use deadpool_postgres::{ManagerConfig, RecyclingMethod};
    let connector = crate::tls::connector(tls).map_err(ConnectError::Tls)?;
    let mut settings = postgres.clone();
    settings.ssl_mode(tls.ssl_mode_for(postgres));
    settings.application_name(application_name);
    let manager = connector.manager(
        settings,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .map_err(|e| ConnectError::Pool(e.to_string()))
}

/// Where a configuration connects, for messages: `user@host:port/database`, never the
/// password.
pub(crate) fn target(pg: &tokio_postgres::Config) -> String {
    let host = match pg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        pg.get_user().unwrap_or("(default user)"),
        pg.get_dbname().unwrap_or("(default database)")
    )
}
