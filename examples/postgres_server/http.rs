//! `--transport http`: MCP over Streamable HTTP at `/mcp`, with the OAuth 2.1
//! authorization server (GitHub sign-in) and static bearer tokens beside it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, ValueEnum};
use sluice_auth::oauth::{
    AuthorizationServer, BearerVerifier, ClientRecord, GitHubConfig, MemoryStore, OAuthConfig,
    SigningKey, StaticTokens, TokenStore,
};
use sluice_auth::{Identity, PermissionPolicy};
use sluice_mcp::Server;
use sluice_mcp::transport::http::{Endpoint, HttpConfig, TrustedProxies};
use sluice_postgres::tls::TlsConfig;

/// The flags of the HTTP transport.
#[derive(Debug, Args)]
pub(crate) struct HttpFlags {
    /// The canonical URL clients use for the MCP endpoint, e.g.
    /// https://db.example.com/mcp: the `resource` of every token; the issuer is its
    /// origin. Behind a reverse proxy, the proxy's public URL. Default
    /// http://<--bind>/mcp.
    #[arg(long, env = "SLUICE_PUBLIC_URL")]
    public_url: Option<url::Url>,

    /// Reverse proxies (addresses or CIDR networks, comma-separated) believed about the
    /// client's address: their connections are not limited per address, and a request's
    /// client is the rightmost `X-Forwarded-For` entry that is not one of them. Only
    /// name proxies that overwrite or append that header.
    #[arg(long, env = "SLUICE_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,

    /// The GitHub OAuth app's client id. With the secret, turns on GitHub sign-in
    /// (OAuth 2.1 for MCP clients). The app's callback URL must be <issuer>/callback.
    #[arg(long, env = "GITHUB_CLIENT_ID")]
    github_client_id: Option<String>,

    /// The GitHub OAuth app's client secret.
    #[arg(long, env = "GITHUB_CLIENT_SECRET", hide_env_values = true)]
    github_client_secret: Option<String>,

    /// GitHub's web address (GitHub Enterprise: https://github.example.com).
    #[arg(long, env = "SLUICE_GITHUB_URL", default_value = "https://github.com")]
    github_url: url::Url,

    /// GitHub's API address (GitHub Enterprise: https://github.example.com/api/v3).
    #[arg(
        long,
        env = "SLUICE_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    github_api_url: url::Url,

    /// The key that signs cookies and consent forms (at least 16 bytes; e.g. `openssl
    /// rand -base64 32`). Unset: one is generated and kept in the token store, so
    /// restarts keep sign-ins in progress valid.
    #[arg(long, env = "COOKIE_ENCRYPTION_KEY", hide_env_values = true)]
    cookie_encryption_key: Option<String>,

    /// Where grants and token hashes live: memory (lost on restart) or postgres (the
    /// database of --database-url, schema sluice_oauth; shared by every process).
    #[arg(long, value_enum, env = "SLUICE_TOKEN_STORE", default_value_t = StoreKind::Memory)]
    token_store: StoreKind,

    /// Static bearer tokens for service accounts, by hash only:
    /// `login=sha256:<hex>,…` (`--hash-token` prints the hash of a token).
    #[arg(long, env = "SLUICE_STATIC_TOKENS", hide_env_values = true)]
    static_tokens: Option<String>,

    /// A JSON file of pre-registered OAuth clients: `[{"client_id": "…",
    /// "client_name": "…", "redirect_uris": ["…"], "client_secret_sha256": "…"}]`
    /// (the secret's hash only for confidential clients).
    #[arg(long, env = "SLUICE_OAUTH_CLIENTS")]
    oauth_clients: Option<std::path::PathBuf>,

    /// Extra host names accepted in `Host` and `Origin` (comma-separated); the public
    /// URL's host and loopback are always accepted.
    #[arg(long, env = "SLUICE_ALLOWED_HOSTS", default_value = "")]
    allowed_hosts: String,

    /// Extra origins accepted exactly (comma-separated, e.g. https://app.example.com).
    #[arg(long, env = "SLUICE_ALLOWED_ORIGINS", default_value = "")]
    allowed_origins: String,

    /// A PEM certificate chain: serve HTTPS directly (with --tls-key). Unset: plain
    /// HTTP, for loopback or behind a TLS-terminating reverse proxy.
    #[arg(long, env = "SLUICE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "SLUICE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,

    /// Lifetime of access tokens in seconds (clients refresh them with their rotating
    /// refresh token).
    #[arg(long, env = "SLUICE_ACCESS_TOKEN_TTL", default_value_t = 3600)]
    access_token_ttl: u64,

    /// Requests per minute each client address may make to each of /authorize,
    /// /callback, /token, /register and /revoke (beyond it: 429 with Retry-After).
    #[arg(long, env = "SLUICE_AUTH_RATE_LIMIT", default_value_t = 120)]
    auth_rate_limit: u32,

    /// For tests only: fetch client metadata documents from loopback addresses over
    /// plain http. Never in a deployment: it opens the SSRF fence to this host.
    #[arg(long, hide = true, env = "SLUICE_TEST_LOOPBACK_CLIENT_METADATA")]
    test_loopback_client_metadata: bool,

    /// For tests only: a PEM root certificate trusted when fetching client metadata
    /// documents (a self-signed test server).
    #[arg(long, hide = true, env = "SLUICE_TEST_CLIENT_METADATA_CA")]
    test_client_metadata_ca: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StoreKind {
    /// In this process's memory.
    Memory,
    /// In PostgreSQL.
    Postgres,
}

/// A pre-registered client, as the clients file gives it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    #[serde(default)]
    client_secret_sha256: Option<String>,
}

/// What the HTTP server needs from the rest of `main`.
pub(crate) struct Context<'a> {
    pub(crate) bind: &'a str,
    pub(crate) server: Server,
    pub(crate) policy: &'a PermissionPolicy,
    pub(crate) local_login: String,
    pub(crate) postgres: &'a tokio_postgres::Config,
    pub(crate) tls: &'a TlsConfig,
    /// How long requests in flight have to finish at shutdown.
    pub(crate) drain: Duration,
    /// How long `/readyz` says draining, while all else is served, before the drain.
    pub(crate) drain_delay: Duration,
    /// The databases, for `/readyz` and `/metrics`.
    pub(crate) databases: sluice_postgres::Databases,
    /// The tool calls counted, for `/metrics`.
    pub(crate) metrics: sluice_postgres::audit::metrics::Metrics,
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Refuses, before anything starts, to listen on an address others can reach without
/// authentication.
pub(crate) fn refuse_open_without_auth(flags: &HttpFlags, bind: &str) -> Result<(), String> {
    let github = flags
        .github_client_id
        .as_deref()
        .is_some_and(|v| !v.is_empty())
        && flags
            .github_client_secret
            .as_deref()
            .is_some_and(|v| !v.is_empty());
    let tokens = flags
        .static_tokens
        .as_deref()
        .is_some_and(|v| !v.trim().is_empty());
    if github || tokens {
        return Ok(());
    }
    let loopback = match bind.parse::<SocketAddr>() {
        Ok(addr) => is_loopback(&addr),
        Err(_) => bind.starts_with("localhost:"),
    };
    if loopback {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {bind} without authentication: anyone who can reach it could \
         use the database. Configure GitHub sign-in (GITHUB_CLIENT_ID and \
         GITHUB_CLIENT_SECRET) or static tokens (SLUICE_STATIC_TOKENS), or bind a loopback \
         address (127.0.0.1)."
    ))
}

/// Serves until Ctrl-C / SIGTERM. Errors are for the person starting the server.
pub(crate) async fn serve(flags: &HttpFlags, cx: Context<'_>) -> Result<(), String> {
    let addr: SocketAddr = tokio::net::lookup_host(cx.bind)
        .await
        .map_err(|e| format!("--bind {}: {e}", cx.bind))?
        .next()
        .ok_or_else(|| format!("--bind {}: no address", cx.bind))?;
    let scheme = if flags.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let public_url = match &flags.public_url {
        Some(url) => url.clone(),
        None => url::Url::parse(&format!("{scheme}://{addr}/mcp"))
            .map_err(|e| format!("cannot form the default public URL: {e}"))?,
    };
    let path = public_url.path().trim_end_matches('/').to_owned();
    let path = if path.is_empty() {
        "/mcp".to_owned()
    } else {
        path
    };

    let static_tokens = match &flags.static_tokens {
        Some(list) => {
            StaticTokens::parse(list).map_err(|e| format!("SLUICE_STATIC_TOKENS: {e}"))?
        }
        None => StaticTokens::new(),
    };
    let github = match (&flags.github_client_id, &flags.github_client_secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Some(
            GitHubConfig::new(id, secret)
                .with_urls(flags.github_url.clone(), flags.github_api_url.clone()),
        ),
        (None, None) => None,
        _ => {
            return Err(
                "GitHub sign-in needs both GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET".to_owned(),
            );
        }
    };
    refuse_open_without_auth(flags, &addr.to_string())?;
    let proxies = TrustedProxies::parse(&flags.trusted_proxies)
        .map_err(|e| format!("--trusted-proxies: {e}"))?;
    let mut http = HttpConfig::default()
        .with_trusted_proxies(proxies)
        .with_path(path.clone())
        .with_drain(cx.drain);
    if let Some(host) = public_url.host_str() {
        http = http.allow_host(host);
    }
    for host in flags
        .allowed_hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        http = http.allow_host(host);
    }
    for origin in flags
        .allowed_origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        http = http.allow_origin(origin);
    }

    let mut auth = None;
    let issuer;
    let store_kind;
    if let Some(github) = github {
        let store: Arc<dyn TokenStore> = match flags.token_store {
            StoreKind::Memory => Arc::new(MemoryStore::new()),
            StoreKind::Postgres => Arc::new(
                sluice_postgres::PgTokenStore::connect(cx.postgres, cx.tls, "sluice_oauth", 4)
                    .await
                    .map_err(|e| format!("token store: {e}"))?,
            ),
        };
        let key = match &flags.cookie_encryption_key {
            Some(secret) => Some(
                SigningKey::from_secret(secret)
                    .map_err(|e| format!("COOKIE_ENCRYPTION_KEY: {e}"))?,
            ),
            None => None,
        };
        let mut config = OAuthConfig::new(public_url.clone()).with_github(github);
        config.metadata_documents.allow_loopback_for_tests = flags.test_loopback_client_metadata;
        config.access_ttl = Duration::from_secs(flags.access_token_ttl.max(1));
        config.limits.requests_per_minute = flags.auth_rate_limit.max(1);
        if let Some(ca) = &flags.test_client_metadata_ca {
            config.metadata_documents.extra_roots_pem = Some(
                std::fs::read(ca)
                    .map_err(|e| format!("--test-client-metadata-ca {}: {e}", ca.display()))?,
            );
        }
        if let Some(file) = &flags.oauth_clients {
            for client in read_clients(file)? {
                config = config.with_client(client);
            }
        }
        let server = AuthorizationServer::start(config, store, key, static_tokens)
            .await
            .map_err(|e| format!("authorization server: {e}"))?;
        server.spawn_cleanup(Duration::from_secs(300));
        http = http
            .with_verifier(server.verifier().with_write_tools(["executeDatabase"]))
            .with_resource_metadata(server.resource_metadata_url())
            .with_challenge_scope(server.challenge_scope());
        issuer = server.issuer().to_owned();
        store_kind = server.store_kind();
        auth = Some(server);
    } else if !static_tokens.is_empty() {
        http = http.with_verifier(BearerVerifier::static_only(static_tokens));
        issuer = "none (static tokens only)".to_owned();
        store_kind = "none";
    } else {
        // Loopback without authentication: one local person, as on stdio.
        http = http.with_anonymous(Identity::new(cx.local_login.clone()).into_extensions());
        issuer = format!("none (unauthenticated; every caller is {})", cx.local_login);
        store_kind = "none";
    }

    let endpoint = Endpoint::new(cx.server, http);
    let mut app = endpoint.router();
    if let Some(auth) = &auth {
        app = app.merge(auth.router());
    }
    // Set once the signal to stop has come: `/readyz` then says so while requests drain.
    let draining = Arc::new(AtomicBool::new(false));
    let readiness = Readiness {
        databases: cx.databases.clone(),
        draining: Arc::clone(&draining),
    };
    let app = app
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/readyz",
            axum::routing::get(move || readiness.clone().answer()),
        )
        .route(
            "/metrics",
            axum::routing::get({
                let (metrics, databases) = (cx.metrics.clone(), cx.databases.clone());
                let sessions = endpoint.clone();
                move || {
                    let text = metrics.render()
                        + &sluice_postgres::audit::metrics::render_pools(&databases)
                        + &sessions.render_metrics();
                    async move {
                        (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "text/plain; version=0.0.4",
                            )],
                            text,
                        )
                    }
                }
            }),
        );

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let writers = cx.policy.writers().count();
    let readers = cx.policy.readers().map_or_else(
        || "every signed-in caller".to_owned(),
        |r| r.count().to_string(),
    );
    tracing::info!(
        listen = %format!("{scheme}://{local}{path}"),
        public_url = %public_url,
        issuer = %issuer,
        token_store = store_kind,
        writers,
        readers = %readers,
        "serving PostgreSQL over MCP (Streamable HTTP)"
    );
    let drain_delay = cx.drain_delay;
    let shutdown = async move {
        crate::signals::shutdown_signal().await;
        draining.store(true, Ordering::Release);
        if !drain_delay.is_zero() {
            tracing::info!(
                delay_s = drain_delay.as_secs(),
                "stopping: /readyz says draining; the drain starts after the delay"
            );
            tokio::time::sleep(drain_delay).await;
        }
    };
    match (&flags.tls_cert, &flags.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = crate::tls_serve::server_config(cert, key)?;
            crate::tls_serve::serve(listener, app, tls, endpoint, shutdown)
                .await
                .map_err(|e| e.to_string())
        }
        _ => endpoint
            .serve_app(listener, app, shutdown)
            .await
            .map_err(|e| e.to_string()),
    }
}

/// What `/readyz` answers from: ready when not draining and the default database
/// answers a round trip within [`READY_WITHIN`] (a load balancer sends traffic
/// elsewhere otherwise). Its body says which; the reason a database is down goes to the
/// log, not to whoever asks.
#[derive(Clone)]
struct Readiness {
    databases: sluice_postgres::Databases,
    draining: Arc<AtomicBool>,
}

/// How long `/readyz` waits for the database.
const READY_WITHIN: Duration = Duration::from_secs(2);

impl Readiness {
    async fn answer(self) -> (axum::http::StatusCode, &'static str) {
        use axum::http::StatusCode;
        if self.draining.load(Ordering::Acquire) {
            return (StatusCode::SERVICE_UNAVAILABLE, "not ready: draining\n");
        }
        let probe = async {
            let database = self.databases.get(None).await.map_err(|e| e.to_string())?;
            database.ping().await.map_err(|e| e.to_string())
        };
        match tokio::time::timeout(READY_WITHIN, probe).await {
            Ok(Ok(())) => (StatusCode::OK, "ready\n"),
            Ok(Err(reason)) => {
                tracing::warn!(%reason, "/readyz: the database does not answer");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: the database does not answer\n",
                )
            }
            Err(_) => {
                tracing::warn!("/readyz: the database did not answer within 2 s");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: the database did not answer in time\n",
                )
            }
        }
    }
}

fn read_clients(path: &std::path::Path) -> Result<Vec<ClientRecord>, String> {
    let shown = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("SLUICE_OAUTH_CLIENTS {shown}: {e}"))?;
    let entries: Vec<ClientEntry> =
        serde_json::from_str(&text).map_err(|e| format!("SLUICE_OAUTH_CLIENTS {shown}: {e}"))?;
    let mut clients = Vec::new();
    for entry in entries {
        let mut client =
            ClientRecord::public(entry.client_id, entry.client_name, entry.redirect_uris);
        if let Some(hash) = entry.client_secret_sha256 {
            client = client.with_secret_hash(hash.trim().to_ascii_lowercase());
        }
        clients.push(client);
    }
    Ok(clients)
}
