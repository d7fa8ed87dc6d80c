//! MCP over Streamable HTTP, both eras on one endpoint, on axum and hyper.
//!
//! **2026-07-28** (a POST whose body names its protocol version in `_meta`, or that is
//! neither an `initialize` nor part of a session): the request is served on its own —
//! no session, nothing minted — after its mirrored headers (`MCP-Protocol-Version`,
//! `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`) are checked against the body (`400` with
//! `-32020` when they differ). The answer is JSON, or an event stream carrying that
//! request's own notifications before its result; closing the stream cancels the
//! request. `_meta` errors, unsupported versions and missing client capabilities are
//! `400`, unknown methods `404` with `-32601`; `GET` and `DELETE` without a session are
//! `405`.
//!
//! **2025-11-25** sessions, opened by `initialize`. One endpoint (`/mcp` unless
//! [`HttpConfig::path`] says otherwise) takes:
//!
//! - `POST`: one JSON-RPC message. A notification or a response is accepted with
//!   `202 Accepted`. A request is answered with `application/json` when its handler
//!   sends nothing before its result, and with a `text/event-stream` otherwise
//!   (progress, log entries, requests to the client such as sampling), ending with the
//!   result. `initialize` opens a session and returns its `Mcp-Session-Id`.
//! - `GET`: the session's own event stream (list changes, resource updates), or, with
//!   `Last-Event-ID`, the resumption of an earlier stream from after that event.
//! - `DELETE`: ends the session.
//!
//! Every event carries an id (`<stream>-<sequence>`); a stream's events are kept (a
//! bounded number) so a client whose connection broke — or that the server asked to
//! reconnect, see [`RequestContext::close_connection`](crate::RequestContext::close_connection)
//! — resumes without losing any. Each stream starts with a priming event (an id, a
//! `retry` hint and empty data).
//!
//! Safety: `Host` and `Origin` are checked against an allow-list (DNS rebinding;
//! loopback names by default), bodies are capped ([`HttpConfig::max_body_bytes`]), each
//! session handles a bounded number of requests at once, idle sessions expire, and an
//! optional [`TokenVerifier`] turns `Authorization: Bearer` into the caller's identity or
//! a `401` with `WWW-Authenticate`. Accepted sockets get `TCP_NODELAY`.
//!
//! Status codes: `400` (malformed, missing session id, unsupported
//! `MCP-Protocol-Version`), `401`/`403` (authorization, origin), `404` (unknown or
//! expired session), `405` (other methods), `406` (`Accept` lacks what we send), `409` (a
//! second `GET` stream), `413` (body too large), `415` (not `application/json`), `503`
//! (too many sessions, or too many requests at once: with `Retry-After`).
//!
//! ```no_run
//! use sluice_mcp::transport::http::{self, HttpConfig};
//! use sluice_mcp::{CallToolResult, Server, Tool};
//!
//! # #[tokio::main]
//! # async fn main() -> std::io::Result<()> {
//! let server = Server::builder("hello", "1.0.0")
//!     .tool(
//!         Tool::new("hello", "Says hello.", serde_json::json!({"type": "object"})),
//!         |_args, _ctx| async { Ok(CallToolResult::text("hello")) },
//!     )
//!     .build();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let stop = async { let _ = tokio::signal::ctrl_c().await; };
//! http::serve(listener, server, HttpConfig::default(), stop).await
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::context::Related;
use crate::jsonrpc::{self, ErrorObject, Incoming, PARSE_ERROR};
use crate::server::Server;

mod auth;
mod config;
mod limits;
mod listener;
mod modern;
mod proxies;
mod sessions;
mod stats;

use limits::{Budget, ClientKey, PerClient};

use sessions::HttpSession;

pub use auth::{TokenVerifier, Unauthorized, Verified, VerifyFuture};
pub use config::HttpConfig;
pub use proxies::TrustedProxies;

/// The axum this transport is built with: [`Endpoint::router`] is its `Router`, to mount
/// in an application of the same axum.
pub use axum;

/// The session header.
const SESSION_HEADER: &str = "mcp-session-id";
/// The protocol version header.
const VERSION_HEADER: &str = "mcp-protocol-version";
/// The stream of a session's own messages (the `GET` stream).
const SESSION_STREAM: u64 = 0;

/// Serves `server` on `listener` until `shutdown` completes, then closes every session.
///
/// # Errors
///
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    server: Server,
    config: HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let endpoint = Endpoint::new(server, config);
    let app = endpoint.router();
    endpoint.serve_app(listener, app, shutdown).await
}

/// The MCP endpoint as an axum router, to mount in an application of your own (add
/// your routes, layers, TLS). [`serve`] is the ready-made server.
#[derive(Clone)]
pub struct Endpoint {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("path", &self.shared.config.path)
            .field("sessions", &lock(&self.shared.sessions).len())
            .finish()
    }
}

impl Endpoint {
    /// An endpoint serving `server` as `config` says.
    pub fn new(server: Server, config: HttpConfig) -> Self {
        let config_pending = config.max_pending_posts.max(1);
        Endpoint {
            shared: Arc::new(Shared {
                server,
                sessions: Mutex::new(HashMap::new()),
                shutdown: CancellationToken::new(),
                stopping: CancellationToken::new(),
                reaper_started: AtomicBool::new(false),
                pending_posts: Arc::new(Semaphore::new(config_pending)),
                posts_per_client: PerClient::new(config.max_pending_posts_per_client),
                budget: Budget::new(config.max_buffered_bytes),
                stats: Arc::default(),
                config,
            }),
        }
    }

    /// The router: the endpoint's path, every method.
    pub fn router(&self) -> Router {
        Router::new()
            .route(&self.shared.config.path, any(handle))
            .with_state(Arc::clone(&self.shared))
    }

    /// Serves `app` — this endpoint's [`router`](Self::router) merged with routes of your
    /// own (an authorization server, health checks) — on `listener` until `shutdown`
    /// completes, then stops as [`begin_shutdown`](Self::begin_shutdown) says and closes
    /// every session. Handlers can read the peer's address as
    /// `axum::extract::ConnectInfo<std::net::SocketAddr>`; accepted sockets get
    /// `TCP_NODELAY`.
    ///
    /// The loop applies [`HttpConfig`]'s connection limits and deadlines
    /// ([`header_timeout`](HttpConfig::header_timeout),
    /// [`max_connections`](HttpConfig::max_connections),
    /// [`max_connections_per_client`](HttpConfig::max_connections_per_client)): a
    /// connection that sends nothing, or sends its headers slowly, is closed, and one idle
    /// longest makes room at a limit, so such sockets cannot keep other clients out.
    ///
    /// # Errors
    ///
    /// When the listener fails.
    pub async fn serve_app(
        &self,
        listener: tokio::net::TcpListener,
        app: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.serve_app_with(listener, app, shutdown, |socket| {
            std::future::ready(Ok(socket))
        })
        .await
    }

    /// [`serve_app`](Self::serve_app) with each accepted socket first passed through
    /// `handshake` — a TLS acceptor, say — which has
    /// [`header_timeout`](HttpConfig::header_timeout) to finish.
    ///
    /// # Errors
    ///
    /// When the listener fails.
    pub async fn serve_app_with<H, F, S>(
        &self,
        listener: tokio::net::TcpListener,
        app: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
        handshake: H,
    ) -> std::io::Result<()>
    where
        H: Fn(tokio::net::TcpStream) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = std::io::Result<S>> + Send + 'static,
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let result = listener::serve(self, listener, app, shutdown, handshake).await;
        self.close();
        result
    }

    /// The number of open sessions.
    pub fn session_count(&self) -> usize {
        lock(&self.shared.sessions).len()
    }

    /// The endpoint's gauges and counters in Prometheus' text format, to serve beside
    /// an application's own: `sluice_http_sessions` (open 2025-11-25 sessions),
    /// `sluice_http_event_streams` (event streams open now) and
    /// `sluice_token_verifications_total` by `outcome` (`valid`, `missing`,
    /// `invalid_token`, `invalid_request`, `insufficient_scope`, `other`; counted only
    /// with a [`TokenVerifier`] configured).
    pub fn render_metrics(&self) -> String {
        self.shared.stats.render(self.session_count())
    }

    /// Starts stopping, for a server that stopped accepting connections: ends every
    /// event stream now, and once [`HttpConfig::drain`] has passed stops the requests
    /// still running (each answered with [`SHUTTING_DOWN`](crate::SHUTTING_DOWN)) and
    /// closes every session. [`serve_app`](Self::serve_app) calls it when its `shutdown`
    /// completes; call it yourself when you run the server loop.
    pub fn begin_shutdown(&self) {
        let drain = self.shared.config.drain;
        tracing::info!(
            drain_s = drain.as_secs(),
            "stopping: requests in flight have the drain time to finish"
        );
        self.shared.shutdown.cancel();
        let closing = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(drain).await;
            tracing::warn!("drain time over: stopping the requests still running");
            closing.shared.stopping.cancel();
            closing.close();
        });
    }

    /// Closes every session and ends every event stream.
    pub fn close(&self) {
        self.shared.shutdown.cancel();
        let sessions: Vec<_> = lock(&self.shared.sessions).drain().collect();
        for (_, session) in sessions {
            session.session.close();
        }
    }
}

struct Shared {
    server: Server,
    config: HttpConfig,
    sessions: Mutex<HashMap<String, Arc<HttpSession>>>,
    shutdown: CancellationToken,
    /// Cancelled when the drain time is over: sessionless requests still running stop.
    stopping: CancellationToken,
    reaper_started: AtomicBool,
    pending_posts: Arc<Semaphore>,
    /// `POST`s handled at once, per client.
    posts_per_client: Arc<PerClient>,
    /// Bytes of request bodies held at once.
    budget: Budget,
    /// What `/metrics` shows of this endpoint.
    stats: Arc<stats::Stats>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `text/event-stream` framing of one message, with an event id when the stream is
/// resumable (2025-11-25 sessions).
fn event(id: Option<(u64, u64)>, data: &str) -> Bytes {
    let mut frame = String::with_capacity(data.len() + 48);
    if let Some((stream, seq)) = id {
        frame.push_str("id: ");
        frame.push_str(&stream.to_string());
        frame.push('-');
        frame.push_str(&seq.to_string());
        frame.push('\n');
    }
    frame.push_str("event: message\n");
    // JSON text from serde_json has no raw newlines, but framing must not depend on it.
    for line in data.split('\n') {
        frame.push_str("data: ");
        frame.push_str(line.strip_suffix('\r').unwrap_or(line));
        frame.push('\n');
    }
    frame.push('\n');
    Bytes::from(frame)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared.start_reaper();
    // A refusal sent before the body is read closes the connection, and says so: the
    // unread body leaves nothing a next request could follow.
    let body_present = has_body(request.headers());
    let unread_body = |response: Response| {
        if body_present {
            closing(response)
        } else {
            response
        }
    };
    if let Err(refusal) = shared.check_host_and_origin(request.headers()) {
        return unread_body(refusal);
    }
    let verified = match shared.authorize(request.headers()).await {
        Ok(verified) => verified,
        Err(refusal) => return unread_body(refusal),
    };
    let client = match (
        &verified,
        request.extensions().get::<ConnectInfo<SocketAddr>>(),
    ) {
        (Some(verified), _) => ClientKey::Subject(Arc::from(verified.subject.as_str())),
        (None, Some(ConnectInfo(peer))) => ClientKey::address(
            shared
                .config
                .trusted_proxies
                .client_of(peer.ip(), request.headers()),
        ),
        (None, None) => ClientKey::Unknown,
    };
    match *request.method() {
        Method::POST => shared.post(request, verified, client).await,
        // Without a session, GET and DELETE are 2026-07-28 traffic, which has neither.
        Method::GET | Method::DELETE if !request.headers().contains_key(SESSION_HEADER) => {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "without a session (opened by initialize) only POST is served",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            response
        }
        Method::GET => shared.get(request.headers(), verified.as_ref()),
        Method::DELETE => shared.delete(request.headers(), verified.as_ref()),
        _ => {
            let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "use POST, GET or DELETE");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            response
        }
    }
}

/// True when a request carries a body (a length above zero, or chunks).
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.to_str().map_or(true, |v| v.trim() != "0"))
}

/// `response` with `Connection: close`: the server closes the connection after it.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn retry_after(mut response: Response, seconds: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
    response
}

/// A plain HTTP error with a JSON-RPC error body (no id).
fn error(status: StatusCode, message: &str) -> Response {
    let body = jsonrpc::error_response(None, &ErrorObject::new(-32000, message));
    json_response(status, body)
}

/// A `200` event stream of `frames`: not cached, and passed on by proxies as it comes
/// (nginx reads `X-Accel-Buffering`); counted in `stats` while it is open.
fn sse_response<S>(stats: &Arc<stats::Stats>, frames: S) -> Response
where
    S: futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
{
    let open = stats.stream_opened();
    let frames = futures_util::StreamExt::map(frames, move |frame| {
        let _open = &open;
        frame
    });
    let mut response = Response::new(Body::from_stream(frames));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn with_session_header(mut response: Response, id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

/// True when the `Accept` header admits `wanted` (`type/subtype`).
fn accepts(headers: &HeaderMap, wanted: &str) -> bool {
    let (kind, _) = wanted.split_once('/').unwrap_or((wanted, ""));
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|item| {
            item.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .any(|item| item == wanted || item == "*/*" || item == format!("{kind}/*"))
}

/// The host part of a `Host` value or an origin's authority, lower-case, without port.
fn host_name(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    if let Some(rest) = authority.strip_prefix('[') {
        // An IPv6 literal keeps its brackets.
        return match rest.split_once(']') {
            Some((address, _)) => format!("[{address}]"),
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.to_owned(),
        _ => authority,
    }
}

impl Shared {
    fn start_reaper(self: &Arc<Self>) {
        if self.reaper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::downgrade(self);
        let idle = self.config.session_idle_timeout;
        let period = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(60));
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let Some(shared) = shared.upgrade() else {
                    break;
                };
                shared.expire_idle(idle);
            }
        });
    }

    fn expire_idle(&self, idle: Duration) {
        let max = self.config.max_in_flight;
        let expired: Vec<Arc<HttpSession>> = {
            let mut sessions = lock(&self.sessions);
            let ids: Vec<String> = sessions
                .values()
                .filter(|s| {
                    lock(&s.last_seen).elapsed() >= idle
                        && s.permits.available_permits() == max
                        && !s.has_live_stream(SESSION_STREAM)
                })
                .map(|s| s.id.clone())
                .collect();
            ids.iter().filter_map(|id| sessions.remove(id)).collect()
        };
        for session in expired {
            tracing::debug!(session = %session.id, "closing an idle session");
            session.session.close();
        }
    }

    #[allow(clippy::result_large_err)]
    fn check_host_and_origin(&self, headers: &HeaderMap) -> Result<(), Response> {
        let allowed = &self.config.allowed_hosts;
        if allowed.is_empty() {
            return Ok(());
        }
        let host_ok = |authority: &str| allowed.iter().any(|h| *h == host_name(authority));
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        if !host.is_some_and(host_ok) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "the Host header is not allowed",
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
            let exact = self.config.allowed_origins.iter().any(|o| o == origin);
            if !exact && (authority.is_empty() || !host_ok(authority)) {
                return Err(error(StatusCode::FORBIDDEN, "the Origin is not allowed"));
            }
        }
        Ok(())
    }

    fn challenge(&self, refusal: Option<&Unauthorized>) -> Response {
        let mut value = String::from("Bearer");
        let mut parts = Vec::new();
        if let Some(url) = &self.config.resource_metadata {
            parts.push(format!("resource_metadata=\"{url}\""));
        }
        if let Some(scope) = &self.config.challenge_scope {
            let scope: String = scope
                .chars()
                .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                .collect();
            parts.push(format!("scope=\"{scope}\""));
        }
        if let Some(refusal) = refusal {
            parts.push(format!("error=\"{}\"", refusal.error));
            let description: String = refusal
                .description
                .chars()
                .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                .collect();
            parts.push(format!("error_description=\"{description}\""));
        }
        if !parts.is_empty() {
            value.push(' ');
            value.push_str(&parts.join(", "));
        }
        let status = if refusal.is_some_and(|r| r.error == "insufficient_scope") {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        let mut response = error(status, "authorization required");
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }

    /// `Ok(None)` when no verifier is configured.
    async fn authorize(&self, headers: &HeaderMap) -> Result<Option<Verified>, Response> {
        let Some(verifier) = &self.config.verifier else {
            return Ok(None);
        };
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty());
        let Some(token) = token else {
            self.stats.verified(Err(None));
            return Err(self.challenge(None));
        };
        let verified = verifier.verify(token).await;
        self.stats
            .verified(verified.as_ref().map(|_| ()).map_err(|r| Some(r.error)));
        match verified {
            Ok(verified) => Ok(Some(verified)),
            Err(refusal) => {
                tracing::info!(error = refusal.error, reason = %refusal.description, "refused a bearer token");
                Err(self.challenge(Some(&refusal)))
            }
        }
    }

    async fn post(
        self: &Arc<Self>,
        request: Request,
        verified: Option<Verified>,
        client: ClientKey,
    ) -> Response {
        let headers = request.headers().clone();
        if !(accepts(&headers, "application/json") && accepts(&headers, "text/event-stream")) {
            return closing(error(
                StatusCode::NOT_ACCEPTABLE,
                "Accept must list application/json and text/event-stream",
            ));
        }
        let json_body = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json_body {
            return closing(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            ));
        }
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        // The body's bytes stay counted in the budget until the answer is made.
        let (body, _held) = match limits::read_body(
            request.into_body(),
            declared,
            self.config.max_body_bytes,
            self.config.body_timeout,
            &self.budget,
        )
        .await
        {
            Ok(read) => read,
            Err(refusal) => return refusal.response(),
        };
        // Counted once the body is here: a body that is slow to arrive holds a connection
        // (bounded per client, and by the body deadline), not a place to be handled.
        let Some(_theirs) = self.posts_per_client.try_hold(&client) else {
            let busy = error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests at once from this client",
            );
            return retry_after(busy, "1");
        };
        let Ok(_pending) = Arc::clone(&self.pending_posts).try_acquire_owned() else {
            let busy = error(StatusCode::SERVICE_UNAVAILABLE, "too many requests at once");
            return retry_after(busy, "1");
        };
        let incoming = match std::str::from_utf8(&body) {
            Ok(text) => Incoming::parse(text),
            Err(_) => Err(jsonrpc::Malformed {
                id: None,
                error: ErrorObject::new(PARSE_ERROR, "parse error: the body is not UTF-8"),
            }),
        };
        let incoming = match incoming {
            Ok(incoming) => incoming,
            Err(malformed) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    jsonrpc::error_response(malformed.id.as_ref(), &malformed.error),
                );
            }
        };
        if let (Some(verifier), Some(who), Incoming::Request { method, params, .. }) =
            (&self.config.verifier, &verified, &incoming)
            && let Err(refusal) = verifier.authorize_request(who, method, params)
        {
            tracing::info!(error = refusal.error, reason = %refusal.description, "refused a request its token does not cover");
            return self.challenge(Some(&refusal));
        }
        if modern::is_modern(&incoming, headers.contains_key(SESSION_HEADER)) {
            return self.modern(&headers, incoming, verified).await;
        }
        let initialize =
            matches!(&incoming, Incoming::Request { method, .. } if method == "initialize");
        if initialize
            && headers.contains_key(SESSION_HEADER)
            && let Incoming::Request { id, .. } = &incoming
        {
            // A session is initialized once, by the request that opens it.
            return json_response(
                StatusCode::BAD_REQUEST,
                jsonrpc::error_response(
                    Some(id),
                    &ErrorObject::new(
                        jsonrpc::INVALID_REQUEST,
                        "initialize opens a new session: send it without Mcp-Session-Id",
                    ),
                ),
            );
        }
        let session = if initialize {
            match self.open_session(verified, client) {
                Ok(session) => session,
                Err(refusal) => return refusal,
            }
        } else {
            match self.find_session(&headers, verified.as_ref()) {
                Ok(session) => session,
                Err(refusal) => return refusal,
            }
        };
        let response = if let Incoming::Request { .. } = &incoming {
            self.answer(&session, incoming).await
        } else {
            // Notifications and responses are handled at once and acknowledged.
            let answer = session
                .session
                .handle_incoming(Ok(incoming), Related::Session(session.session.outgoing()))
                .await;
            match answer {
                None => {
                    let mut response = Response::new(Body::empty());
                    *response.status_mut() = StatusCode::ACCEPTED;
                    response
                }
                Some(error_text) => json_response(StatusCode::BAD_REQUEST, error_text),
            }
        };
        if initialize && response.status() != StatusCode::OK {
            // The session never started; forget it.
            lock(&self.sessions).remove(&session.id);
        }
        with_session_header(response, &session.id)
    }
}

#[cfg(test)]
mod tests {
    use super::sessions::new_session_id;
    use super::*;

    #[test]
    fn host_names_drop_ports_and_keep_ipv6_brackets() {
        assert_eq!(host_name("localhost:3000"), "localhost");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("Evil.Example.com"), "evil.example.com");
    }

    #[test]
    fn accept_headers_are_read_per_item() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;q=0.9, text/event-stream"),
        );
        assert!(accepts(&headers, "application/json"));
        assert!(accepts(&headers, "text/event-stream"));
        assert!(!accepts(&headers, "text/html"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(accepts(&headers, "text/event-stream"));
    }

    #[test]
    fn events_are_framed_with_ids() {
        let frame = event(Some((3, 7)), "{\"a\":1}");
        assert_eq!(&frame[..], b"id: 3-7\nevent: message\ndata: {\"a\":1}\n\n");
        let frame = event(Some((1, 1)), "a\nb");
        assert_eq!(&frame[..], b"id: 1-1\nevent: message\ndata: a\ndata: b\n\n");
    }

    #[test]
    fn session_ids_are_random_and_visible_ascii() {
        let a = new_session_id();
        let b = new_session_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
