//! [`HttpConfig`]: how the HTTP transport behaves.

use std::sync::Arc;
use std::time::Duration;

use super::auth::TokenVerifier;
use super::proxies::TrustedProxies;
use crate::context::Extensions;

/// How the HTTP transport behaves. Start from [`HttpConfig::default`].
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The endpoint's path (default `/mcp`).
    pub path: String,
    /// Host names (without port) accepted in `Host` and `Origin`; default the loopback
    /// names `localhost`, `127.0.0.1` and `[::1]`. Empty accepts any host: only behind a
    /// proxy that checks.
    pub allowed_hosts: Vec<String>,
    /// Further origins accepted (`https://app.example.com`), compared exactly.
    pub allowed_origins: Vec<String>,
    /// The largest request body accepted (default 4 MiB).
    pub max_body_bytes: usize,
    /// How long a session may stay unused before it is closed (default 30 minutes).
    pub session_idle_timeout: Duration,
    /// The most sessions open at once (default 10 000).
    pub max_sessions: usize,
    /// The most requests one session handles at once (default 64); more wait.
    pub max_in_flight: usize,
    /// The most `POST`s the endpoint handles at once, once their bodies have arrived
    /// (default 1024): beyond it, `503` with `Retry-After`. (Bodies still arriving are
    /// bounded by the connection limits, [`body_timeout`](Self::body_timeout) and
    /// [`max_buffered_bytes`](Self::max_buffered_bytes).)
    pub max_pending_posts: usize,
    /// The most events kept per stream for resumption (default 1024).
    pub max_events_per_stream: usize,
    /// The reconnection delay suggested to clients (`retry`, default 1 s).
    pub retry: Duration,
    /// How often an idle event stream carries a keep-alive comment (default 15 s).
    pub keep_alive: Duration,
    /// Checks bearer tokens; without one, requests need none.
    pub verifier: Option<Arc<dyn TokenVerifier>>,
    /// The URL of the protected resource metadata (RFC 9728), named in `401` challenges.
    pub resource_metadata: Option<String>,
    /// The scopes a `401` challenge names (`scope="…"`), so a client knows what to ask
    /// the authorization server for.
    pub challenge_scope: Option<String>,
    /// What sessions carry when no [`verifier`](Self::verifier) is configured (for a
    /// server on loopback serving one local person, as stdio does). Empty by default.
    pub anonymous: Extensions,
    /// How long a connection may take to send a request's headers, counted from when it
    /// is ready for the next request — so also how long an idle keep-alive connection
    /// stays open (default 10 s). Bounds a TLS handshake too.
    pub header_timeout: Duration,
    /// How long a request's whole body may take to arrive (default 30 s): past it, `408`
    /// and the connection closes.
    pub body_timeout: Duration,
    /// The most connections open at once (default 4 096; never more than the process's
    /// descriptor limit less a reserve). At the limit a new connection takes the place of
    /// the one idle longest; when none is idle it is refused with `503`.
    pub max_connections: usize,
    /// The most connections one client address holds at once (default 256; an IPv6 peer
    /// counts by its `/64`). At the limit the client's own idle connection longest open is
    /// closed to make room, else the new one is refused with `429`.
    pub max_connections_per_client: usize,
    /// The most `POST`s one client handles at once (default 128): beyond, `429` with
    /// `Retry-After`. A client is the token's subject when requests are authenticated,
    /// else the peer address.
    pub max_pending_posts_per_client: usize,
    /// The most sessions one client holds (default 256, counted like
    /// [`max_pending_posts_per_client`](Self::max_pending_posts_per_client)): beyond,
    /// `initialize` is refused with `429` and `Retry-After` until one of them ends.
    pub max_sessions_per_client: usize,
    /// The most bytes of request bodies held at once across every request (default
    /// 64 MiB): beyond, `503` with `Retry-After`, so a storm of large bodies cannot grow
    /// the process without bound.
    pub max_buffered_bytes: usize,
    /// Reverse proxies believed about the client's address (default: none): their
    /// connections are not counted per address, and an unauthenticated request's client
    /// is the address they wrote into `X-Forwarded-For` ([`TrustedProxies`]).
    pub trusted_proxies: TrustedProxies,
    /// How long requests in flight have to finish once the server is told to stop
    /// (default 10 s); then those still running are stopped and answered with
    /// [`SHUTTING_DOWN`](crate::SHUTTING_DOWN).
    pub drain: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            path: "/mcp".to_owned(),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()],
            allowed_origins: Vec::new(),
            max_body_bytes: 4 * 1024 * 1024,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
            max_in_flight: 64,
            max_pending_posts: 1024,
            max_events_per_stream: 1024,
            retry: Duration::from_secs(1),
            keep_alive: Duration::from_secs(15),
            verifier: None,
            resource_metadata: None,
            challenge_scope: None,
            anonymous: Extensions::new(),
            drain: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_client: 256,
            max_pending_posts_per_client: 128,
            max_sessions_per_client: 256,
            max_buffered_bytes: 64 * 1024 * 1024,
            trusted_proxies: TrustedProxies::none(),
        }
    }
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("path", &self.path)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_origins", &self.allowed_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("max_connections", &self.max_connections)
            .field(
                "max_connections_per_client",
                &self.max_connections_per_client,
            )
            .field("verifier", &self.verifier.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpConfig {
    /// Serves on `path` instead of `/mcp`.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Also accepts `host` (a name without port) in `Host` and `Origin`.
    #[must_use]
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into().to_ascii_lowercase());
        self
    }

    /// Also accepts requests from `origin` (`scheme://host[:port]`).
    #[must_use]
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Requires a bearer token on every request, checked by `verifier`.
    #[must_use]
    pub fn with_verifier(mut self, verifier: impl TokenVerifier) -> Self {
        self.verifier = Some(Arc::new(verifier));
        self
    }

    /// Names the protected resource metadata URL in `WWW-Authenticate` challenges.
    #[must_use]
    pub fn with_resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Sets what sessions carry when no verifier is configured.
    #[must_use]
    pub fn with_anonymous(mut self, extensions: Extensions) -> Self {
        self.anonymous = extensions;
        self
    }

    /// Names the scopes to ask for in `WWW-Authenticate` challenges.
    #[must_use]
    pub fn with_challenge_scope(mut self, scope: impl Into<String>) -> Self {
        self.challenge_scope = Some(scope.into());
        self
    }

    /// Sets the largest request body accepted.
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets [`drain`](Self::drain): how long requests in flight have to finish at shutdown.
    #[must_use]
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// Sets [`header_timeout`](Self::header_timeout) and
    /// [`body_timeout`](Self::body_timeout).
    #[must_use]
    pub fn with_read_timeouts(mut self, header: Duration, body: Duration) -> Self {
        self.header_timeout = header;
        self.body_timeout = body;
        self
    }

    /// Sets the per-client limits: connections, `POST`s handled at once, sessions.
    #[must_use]
    pub fn with_client_limits(mut self, connections: usize, posts: usize, sessions: usize) -> Self {
        self.max_connections_per_client = connections;
        self.max_pending_posts_per_client = posts;
        self.max_sessions_per_client = sessions;
        self
    }

    /// Sets the reverse proxies believed about the client's address.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Sets how long an unused session lives.
    #[must_use]
    pub fn with_session_idle_timeout(mut self, timeout: Duration) -> Self {
        self.session_idle_timeout = timeout;
        self
    }
}
