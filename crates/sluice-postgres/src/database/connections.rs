//! The pool's connections: [`Connections`] opens them, [`Connection`] is one.
//!
//! A configuration with one host and nothing that needs tokio-postgres's own choice
//! among hosts is opened here (the socket, then tokio-postgres's start-up on it) with a
//! [`Batching`](crate::batching) stream in the clear, so that a read goes to PostgreSQL
//! as one batch. Anything else (several hosts, `target_session_attrs`, host
//! balancing) tokio-postgres opens itself, and its reads go as separate requests.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_postgres::ClientWrapper;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::config::{Host, LoadBalanceHosts, SslNegotiation, TargetSessionAttrs};
use tokio_postgres::tls::NoTls;

use super::prepared::Statements;
#[cfg(feature = "tls")]
use crate::batching::BatchingTls;
use crate::batching::{Batches, Batching, Bounds};
use crate::tls::Connector;

/// A pool of [`Connections`].
pub(crate) type Pool = managed::Pool<Connections>;
/// Why the pool lent no connection.
pub(crate) type PoolError = managed::PoolError<ConnectionError>;
/// A connection lent by a [`Pool`].
pub(crate) type Object = managed::Object<Connections>;

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionError {
    /// The server refused or failed it.
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// No socket to the server.
    #[error("cannot reach the server: {0}")]
    Io(#[from] std::io::Error),
    /// No TLS connector for the host.
    #[cfg(feature = "tls")]
    #[error("TLS: {0}")]
    Tls(String),
    /// Not on a Tokio runtime.
    #[error("no Tokio runtime to run the connection on")]
    NoRuntime,
}

/// Opens and recycles the connections of one pool.
pub(crate) struct Connections {
    config: tokio_postgres::Config,
    tls: Connector,
    /// Whether reads may be batched (not behind a transaction pooler, where the
    /// statements that bound a batch could be missing from the next server connection).
    batch: bool,
    /// Batches sent on the pool's connections.
    batches_sent: Arc<AtomicU64>,
}

/// One connection: tokio-postgres's client, and how to batch and cancel on it.
pub(crate) struct Connection {
    client: ClientWrapper,
    /// The statements that bound a batch, on a connection opened here.
    batches: Option<Batches>,
    /// Where a cancel request goes, on a connection opened here (tokio-postgres knows
    /// only for those it opened itself).
    endpoint: Option<Endpoint>,
    /// Parameterised reads prepared on this connection ([`super::prepared`]).
    statements: Statements,
}

impl std::ops::Deref for Connection {
    type Target = ClientWrapper;

    fn deref(&self) -> &ClientWrapper {
        &self.client
    }
}

impl Connection {
    /// The statements that bound a batch, when reads on this connection may be batched.
    pub(crate) fn batches(&self) -> Option<&Batches> {
        self.batches.as_ref()
    }

    /// The parameterised reads prepared on this connection (kept only where reads are
    /// batched: [`batches`](Self::batches)).
    pub(crate) fn statements(&self) -> &Statements {
        &self.statements
    }

    /// What cancels the statement running on this connection.
    pub(crate) fn canceller(&self) -> Canceller {
        Canceller {
            token: self.client.cancel_token(),
            endpoint: self.endpoint.clone(),
        }
    }
}

/// Sends a cancel request for what runs on one connection.
pub(crate) struct Canceller {
    token: tokio_postgres::CancelToken,
    endpoint: Option<Endpoint>,
}

impl Canceller {
    /// Sends it, through `tls` as the connection itself was opened.
    pub(crate) fn cancel<'a>(
        &'a self,
        tls: &'a Connector,
    ) -> Pin<Box<dyn Future<Output = Result<(), ConnectionError>> + Send + 'a>> {
        Box::pin(async move {
            match &self.endpoint {
                None => Ok(tls.cancel(&self.token).await?),
                Some(endpoint) => {
                    let socket = endpoint.open(Some(Duration::from_secs(5)), None).await?;
                    tls.cancel_raw(&self.token, socket, endpoint.host()).await
                }
            }
        })
    }
}

/// Where one connection went.
#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    /// A TCP address, and the host name it was reached by (for TLS).
    Tcp(SocketAddr, String),
    /// A Unix socket.
    #[cfg(unix)]
    Unix(PathBuf),
}

/// A socket to the server, TCP or Unix.
pub(crate) enum Socket {
    Tcp(tokio::net::TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

/// Calls `$method` on whichever socket it is.
macro_rules! on_socket {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match $self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).$method($($arg),*),
            #[cfg(unix)]
            Socket::Unix(s) => Pin::new(s).$method($($arg),*),
        }
    };
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        on_socket!(self, poll_read(cx, buf))
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        on_socket!(self, poll_write(cx, buf))
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        on_socket!(self, poll_flush(cx))
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        on_socket!(self, poll_shutdown(cx))
    }
}

impl Endpoint {
    /// The host name, for TLS.
    fn host(&self) -> &str {
        match self {
            Endpoint::Tcp(_, host) => host,
            #[cfg(unix)]
            Endpoint::Unix(_) => "localhost",
        }
    }

    /// Opens a socket to it, with `config`'s keep-alive settings when given.
    async fn open(
        &self,
        timeout: Option<Duration>,
        config: Option<&tokio_postgres::Config>,
    ) -> std::io::Result<Socket> {
        let opening = async {
            match self {
                Endpoint::Tcp(address, _) => {
                    let stream = tokio::net::TcpStream::connect(address).await?;
                    stream.set_nodelay(true)?;
                    if let Some(config) = config {
                        keepalive(&stream, config)?;
                    }
                    Ok(Socket::Tcp(stream))
                }
                #[cfg(unix)]
                Endpoint::Unix(path) => {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok(Socket::Unix(stream))
                }
            }
        };
        match timeout {
            Some(limit) => tokio::time::timeout(limit, opening)
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
            None => opening.await,
        }
    }
}

impl Connections {
    /// Connections as `config` says, through `tls`; `batch` false behind a transaction
    /// pooler.
    pub(crate) fn new(config: tokio_postgres::Config, tls: Connector, batch: bool) -> Self {
        Connections {
            config,
            tls,
            batch,
            batches_sent: Arc::default(),
        }
    }

    /// Reads sent as one batch on these connections, since start.
    pub(crate) fn batches_sent(&self) -> u64 {
        self.batches_sent.load(Ordering::Relaxed)
    }

    /// The endpoints to try, in order, when the configuration is one this module opens;
    /// `None` when tokio-postgres must open it.
    async fn endpoints(&self) -> Option<Vec<Endpoint>> {
        let config = &self.config;
        let simple = config.get_hosts().len() == 1
            && config.get_ports().len() <= 1
            && config.get_hostaddrs().len() <= 1
            && config.get_target_session_attrs() == TargetSessionAttrs::Any
            && config.get_load_balance_hosts() == LoadBalanceHosts::Disable
            && config.get_ssl_negotiation() == SslNegotiation::Postgres;
        if !simple {
            return None;
        }
        let port = config.get_ports().first().copied().unwrap_or(5432);
        match config.get_hosts().first()? {
            Host::Tcp(host) => {
                if let Some(address) = config.get_hostaddrs().first() {
                    return Some(vec![Endpoint::Tcp(
                        SocketAddr::new(*address, port),
                        host.clone(),
                    )]);
                }
                // Resolved now, every address tried in turn as tokio-postgres does; a
                // name that does not resolve is left to tokio-postgres to report.
                let addresses = tokio::net::lookup_host((host.as_str(), port)).await.ok()?;
                let endpoints: Vec<Endpoint> = addresses
                    .map(|address| Endpoint::Tcp(address, host.clone()))
                    .collect();
                (!endpoints.is_empty()).then_some(endpoints)
            }
            #[cfg(unix)]
            Host::Unix(dir) => Some(vec![Endpoint::Unix(dir.join(format!(".s.PGSQL.{port}")))]),
        }
    }

    /// Opens a connection on `endpoint` with a batching stream.
    async fn open(&self, endpoint: &Endpoint) -> Result<Connection, ConnectionError> {
        let socket = endpoint
            .open(
                self.config.get_connect_timeout().copied(),
                Some(&self.config),
            )
            .await?;
        let bounds = Arc::new(Bounds::counting(self.batches_sent.clone()));
        // In the clear the socket's own stream batches; under TLS the one above it
        // does (the one below turns transparent once TLS begins).
        let below = Batching::new(socket, bounds.clone());
        let client = match &self.tls {
            #[cfg(feature = "tls")]
            Connector::Rustls(tls) => {
                start_tls(&self.config, below, tls, endpoint.host(), bounds.clone()).await?
            }
            Connector::Plain => {
                let (client, connection) = self.config.connect_raw(below, NoTls).await?;
                ClientWrapper::new(client, spawn(connection)?)
            }
        };
        let batches = if self.batch {
            Batches::prepare(&client, &bounds).await?
        } else {
            None
        };
        Ok(Connection {
            client,
            batches,
            endpoint: Some(endpoint.clone()),
            statements: Statements::default(),
        })
    }
}

/// The start-up over TLS on `below`, the TLS stream batching (boxed: the compiler
/// cannot see this future is `Send` inside the manager's own).
#[cfg(feature = "tls")]
fn start_tls<'a>(
    config: &'a tokio_postgres::Config,
    below: Batching<Socket>,
    tls: &'a tokio_postgres_rustls::MakeRustlsConnect,
    host: &'a str,
    bounds: Arc<Bounds>,
) -> Pin<Box<dyn Future<Output = Result<ClientWrapper, ConnectionError>> + Send + 'a>> {
    Box::pin(async move {
        use tokio_postgres::tls::MakeTlsConnect;
        let inner = <tokio_postgres_rustls::MakeRustlsConnect as MakeTlsConnect<
            Batching<Socket>,
        >>::make_tls_connect(&mut tls.clone(), host)
        .map_err(|e| ConnectionError::Tls(e.to_string()))?;
        let tls = BatchingTls { inner, bounds };
        let (client, connection) = config.connect_raw(below, tls).await?;
        Ok(ClientWrapper::new(client, spawn(connection)?))
    })
}

/// Runs `connection` on the current runtime: the task the client's requests go through.
fn spawn<F>(connection: F) -> Result<tokio::task::JoinHandle<()>, ConnectionError>
where
    F: Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConnectionError::NoRuntime)?;
    Ok(runtime.spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "a database connection ended with an error");
        }
    }))
}

/// `config`'s keep-alive settings (and TCP user timeout) on `stream`, as tokio-postgres
/// sets them on the sockets it opens.
fn keepalive(
    stream: &tokio::net::TcpStream,
    config: &tokio_postgres::Config,
) -> std::io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(config.get_tcp_user_timeout().copied())?;
    if config.get_keepalives() {
        let mut keepalive = socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
        if let Some(interval) = config.get_keepalives_interval() {
            keepalive = keepalive.with_interval(interval);
        }
        if let Some(retries) = config.get_keepalives_retries() {
            keepalive = keepalive.with_retries(retries);
        }
        socket.set_tcp_keepalive(&keepalive)?;
    }
    Ok(())
}

impl Connections {
    /// A connection opened by tokio-postgres itself (several hosts and the like):
    /// reads on it are not batched.
    async fn open_by_tokio_postgres(&self) -> Result<Connection, ConnectionError> {
        let client = match &self.tls {
            #[cfg(feature = "tls")]
            Connector::Rustls(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                ClientWrapper::new(client, spawn(connection)?)
            }
            Connector::Plain => {
                let (client, connection) = self.config.connect(NoTls).await?;
                ClientWrapper::new(client, spawn(connection)?)
            }
        };
        Ok(Connection {
            client,
            batches: None,
            endpoint: None,
            statements: Statements::default(),
        })
    }
}

impl managed::Manager for Connections {
    type Type = Connection;
    type Error = ConnectionError;

    fn create(&self) -> impl Future<Output = Result<Connection, ConnectionError>> + Send {
        // Boxed: the start-up's future is large, and every future that waits for a
        // connection would otherwise hold it.
        Box::pin(self.create_connection())
    }

    async fn recycle(
        &self,
        connection: &mut Connection,
        _: &Metrics,
    ) -> RecycleResult<ConnectionError> {
        if connection.is_closed() {
            return Err(RecycleError::message("the connection has closed"));
        }
        Ok(())
    }
}

impl Connections {
    /// Opens a connection: on each endpoint in turn when it is one this module opens.
    async fn create_connection(&self) -> Result<Connection, ConnectionError> {
        let Some(endpoints) = self.endpoints().await else {
            return self.open_by_tokio_postgres().await;
        };
        let mut failed = None;
        for endpoint in &endpoints {
            match self.open(endpoint).await {
                Ok(connection) => return Ok(connection),
                // The next address, as tokio-postgres tries them; the server's own
                // refusal (a password, a missing database) ends it.
                Err(ConnectionError::Io(e)) => failed = Some(ConnectionError::Io(e)),
                Err(other) => return Err(other),
            }
        }
        Err(failed.unwrap_or_else(|| {
            ConnectionError::Io(std::io::Error::other("no address to connect to"))
        }))
    }
}
