//! The accept loop: every connection is counted (in all and per client address), given
//! a deadline for each request's headers (which also ends an idle keep-alive connection)
//! and, when a limit is reached, makes room by closing the connection that has waited
//! longest without a request in flight — so sockets that send nothing, or send headers a
//! byte at a time, cannot keep a well-behaved client out. Near the process's descriptor
//! limit the loop does the same instead of failing to accept. A connection that has never
//! had a request is closed before one that has: a client's pooled keep-alive connection
//! outlives sockets opened only to be held.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::limits::ClientKey;
use super::{Endpoint, lock};

/// Descriptors kept free below the process limit for everything else (database
/// connections, files, the listener).
const DESCRIPTOR_RESERVE: usize = 64;

/// The open connections.
#[derive(Default)]
struct Table {
    next: u64,
    open: HashMap<u64, Open>,
    per_client: HashMap<ClientKey, usize>,
}

struct Open {
    client: ClientKey,
    state: Arc<ConnState>,
    close: CancellationToken,
}

/// What a connection's requests tell the table.
struct ConnState {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
    served: AtomicBool,
}

impl ConnState {
    /// When idle: whether it has served a request, and since when it is idle (the order
    /// in which idle connections are closed to make room).
    fn idle(&self) -> Option<(bool, Instant)> {
        (self.in_flight.load(Ordering::Acquire) == 0)
            .then(|| (self.served.load(Ordering::Acquire), *lock(&self.idle_since)))
    }
}

/// Marks a request in flight on its connection until dropped (with the response body).
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn new(state: &Arc<ConnState>) -> Self {
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        state.served.store(true, Ordering::Release);
        InFlight(Arc::clone(state))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *lock(&self.0.idle_since) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight until it ends.
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The limits the loop applies, fixed when it starts.
struct Limits {
    total: usize,
    per_client: usize,
    header_timeout: Duration,
}

/// Why a connection was not taken.
enum Refused {
    Client,
    Full,
}

struct Connections {
    table: Mutex<Table>,
    limits: Limits,
}

impl Connections {
    /// Registers a connection from `client`, closing an idle one when a limit is reached;
    /// `None` when every connection counted against that limit is busy.
    fn admit(
        &self,
        client: &ClientKey,
    ) -> Result<(u64, Arc<ConnState>, CancellationToken), Refused> {
        let mut table = lock(&self.table);
        let theirs = table.per_client.get(client).copied().unwrap_or(0);
        // An unknown client (a trusted proxy's connection) has no limit of its own.
        let limited = *client != ClientKey::Unknown;
        if limited && theirs >= self.limits.per_client && !evict_idle(&mut table, Some(client)) {
            return Err(Refused::Client);
        }
        if table.open.len() >= self.limits.total && !evict_idle(&mut table, None) {
            return Err(Refused::Full);
        }
        table.next += 1;
        let id = table.next;
        let state = Arc::new(ConnState {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            served: AtomicBool::new(false),
        });
        let close = CancellationToken::new();
        *table.per_client.entry(client.clone()).or_insert(0) += 1;
        table.open.insert(
            id,
            Open {
                client: client.clone(),
                state: Arc::clone(&state),
                close: close.clone(),
            },
        );
        Ok((id, state, close))
    }

    fn forget(&self, id: u64) {
        let mut table = lock(&self.table);
        if let Some(open) = table.open.remove(&id) {
            release(&mut table, &open.client);
        }
    }

    /// Closes the connection idle longest (any client); false when none is idle.
    fn make_room(&self) -> bool {
        evict_idle(&mut lock(&self.table), None)
    }

    fn len(&self) -> usize {
        lock(&self.table).open.len()
    }

    /// Tells every connection to stop (idle ones close now, busy ones after their
    /// current request).
    fn close_all(&self) {
        for open in lock(&self.table).open.values() {
            open.close.cancel();
        }
    }
}

fn release(table: &mut Table, client: &ClientKey) {
    if let Some(count) = table.per_client.get_mut(client) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            table.per_client.remove(client);
        }
    }
}

/// Closes an idle connection (of `client`, or of anyone): one that never had a request
/// before one that had, then the one idle longest; false when none is idle.
fn evict_idle(table: &mut Table, client: Option<&ClientKey>) -> bool {
    let oldest = table
        .open
        .iter()
        .filter(|(_, open)| client.is_none_or(|c| open.client == *c))
        .filter_map(|(id, open)| open.state.idle().map(|idle| (idle, *id)))
        .min();
    let Some((_, id)) = oldest else {
        return false;
    };
    if let Some(open) = table.open.remove(&id) {
        // Dropped at once: nothing of a request is lost, none is in flight.
        open.close.cancel();
        release(table, &open.client);
    }
    true
}

/// The soft limit on open descriptors, where the platform says.
fn descriptor_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        limit.current.and_then(|n| usize::try_from(n).ok())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// A canned answer for a connection refused before it is served; written if the socket
/// takes it at once, then the socket is closed.
fn refuse(socket: &TcpStream, why: &Refused) {
    let message = match why {
        Refused::Client => "too many connections from this client",
        Refused::Full => "too many connections",
    };
    let body = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{{\"code\":-32000,\"message\":\"{message}\"}}}}"
    );
    let status = match why {
        Refused::Client => "429 Too Many Requests",
        Refused::Full => "503 Service Unavailable",
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.try_write(response.as_bytes());
}

/// Serves `app` on `listener` until `shutdown`, each accepted socket first passed
/// through `handshake` (TLS, or nothing).
pub(super) async fn serve<H, F, S>(
    endpoint: &Endpoint,
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    handshake: H,
) -> std::io::Result<()>
where
    H: Fn(TcpStream) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = std::io::Result<S>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = &endpoint.shared.config;
    let mut total = config.max_connections.max(1);
    if let Some(limit) = descriptor_limit() {
        total = total.min(limit.saturating_sub(DESCRIPTOR_RESERVE).max(16));
    }
    let connections = Arc::new(Connections {
        table: Mutex::new(Table::default()),
        limits: Limits {
            total,
            per_client: config.max_connections_per_client.max(1),
            header_timeout: config.header_timeout,
        },
    });
    let trusted = config.trusted_proxies.clone();
    let stopping = CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_failed(&e, &connections).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A trusted proxy carries many clients: only the server-wide limit counts it.
        let client = if trusted.contains(peer.ip()) {
            ClientKey::Unknown
        } else {
            ClientKey::address(peer.ip())
        };
        let (id, state, close) = match connections.admit(&client) {
            Ok(admitted) => admitted,
            Err(why) => {
                tracing::debug!(%peer, open = connections.len(), "refused a connection at the limit");
                refuse(&socket, &why);
                continue;
            }
        };
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let task = Connection {
            connections: Arc::clone(&connections),
            id,
            state,
            close,
            stopping: stopping.clone(),
            peer,
            app: app.clone(),
        };
        tokio::spawn(task.run(socket, handshake.clone()));
    }
    // No new connections from here.
    endpoint.begin_shutdown();
    stopping.cancel();
    connections.close_all();
    while connections.len() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// An accept error: out of descriptors makes room (an idle connection closes) and pauses
/// briefly, so the loop neither spins nor stops.
async fn accept_failed(error: &std::io::Error, connections: &Connections) {
    let exhausted = matches!(error.raw_os_error(), Some(code) if code == 24 || code == 23);
    if exhausted {
        let made_room = connections.make_room();
        tracing::warn!(
            open = connections.len(),
            made_room,
            "out of file descriptors while accepting"
        );
    } else {
        tracing::debug!(%error, "accept failed");
    }
    tokio::time::sleep(Duration::from_millis(if exhausted { 10 } else { 1 })).await;
}

/// One accepted connection.
struct Connection {
    connections: Arc<Connections>,
    id: u64,
    state: Arc<ConnState>,
    close: CancellationToken,
    stopping: CancellationToken,
    peer: SocketAddr,
    app: Router,
}

impl Connection {
    async fn run<H, F, S>(self, socket: TcpStream, handshake: H)
    where
        H: Fn(TcpStream) -> F,
        F: Future<Output = std::io::Result<S>>,
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limits = &self.connections.limits;
        let peer = self.peer;
        let stream = tokio::select! {
            shaken = tokio::time::timeout(limits.header_timeout, handshake(socket)) => match shaken {
                Ok(Ok(stream)) => Some(stream),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "handshake failed");
                    None
                }
                Err(_) => None,
            },
            () = self.close.cancelled() => None,
        };
        if let Some(stream) = stream {
            self.serve(stream).await;
        }
        self.connections.forget(self.id);
    }

    async fn serve<S>(&self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let state = Arc::clone(&self.state);
        let app = self.app.clone();
        let peer = self.peer;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let in_flight = InFlight::new(&state);
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                let response = match app.oneshot(request.map(Body::new)).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|inner| Tracked {
                    inner,
                    _in_flight: in_flight,
                }))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.connections.limits.header_timeout);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            () = self.close.cancelled() => {}
        }
        if !self.stopping.is_cancelled() {
            // Evicted while idle: dropping closes the socket.
            return;
        }
        // Stopping: an idle connection closes now, a busy one after its request.
        connection.as_mut().graceful_shutdown();
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
    }
}
