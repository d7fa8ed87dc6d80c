//! An OAuth 2.1 authorization server for an MCP endpoint, with GitHub as the upstream
//! identity provider (feature `oauth`).
//!
//! The MCP server is both the protected resource and its own authorization server, on
//! one origin; GitHub only says who the person is. What it serves, beside the MCP
//! endpoint:
//!
//! | Path | What |
//! |---|---|
//! | `/.well-known/oauth-protected-resource[/mcp]` | RFC 9728 protected-resource metadata |
//! | `/.well-known/oauth-authorization-server` | RFC 8414 authorization-server metadata |
//! | `/authorize` | `GET`: checks the request, shows the consent page; `POST`: the consent decision, then GitHub |
//! | `/callback` | GitHub's answer: who signed in; then our code to the client |
//! | `/token` | `authorization_code` (PKCE S256) and `refresh_token` (rotating) grants |
//! | `/revoke` | RFC 7009 revocation |
//! | `/register` | RFC 7591 dynamic client registration |
//!
//! Clients are pre-registered ([`OAuthConfig::clients`]), registered dynamically, or
//! identified by the URL of their metadata document (fetched behind an SSRF fence).
//! Tokens are opaque, 256 random bits, and kept only as SHA-256 hashes in a
//! [`TokenStore`]: [`MemoryStore`] here, a PostgreSQL store in `sluice-postgres`.
//!
//! ```
//! use std::sync::Arc;
//! use sluice_auth::oauth::{AuthorizationServer, GitHubConfig, MemoryStore, OAuthConfig, StaticTokens};
//! use sluice_mcp::transport::http::{Endpoint, HttpConfig};
//! use sluice_mcp::Server;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let resource = url::Url::parse("https://db.example.com/mcp")?;
//! let config = OAuthConfig::new(resource)
//!     .with_github(GitHubConfig::new("Iv1.client-id", "client-secret"));
//! let store = Arc::new(MemoryStore::new());
//! let auth = AuthorizationServer::start(config, store, None, StaticTokens::new()).await?;
//! assert_eq!(auth.issuer(), "https://db.example.com");
//!
//! // The MCP endpoint checks bearer tokens with the server's verifier; the OAuth routes
//! // sit beside it on the same origin.
//! let http = HttpConfig::default()
//!     .allow_host("db.example.com")
//!     .with_verifier(auth.verifier())
//!     .with_resource_metadata(auth.resource_metadata_url())
//!     .with_challenge_scope(auth.challenge_scope());
//! let server = Server::builder("db", "1.0.0").build();
//! let endpoint = Endpoint::new(server, http);
//! let app = endpoint.router().merge(auth.router());
//! // Serve `app` with endpoint.serve_app(listener, app, shutdown).await
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

mod authorize;
mod callback;
mod clients;
mod config;
pub mod contract;
mod crypto;
mod fence;
mod github;
mod limits;
mod memory;
mod metadata;
mod pages;
mod register;
mod replies;
mod store;
mod token;
mod verifier;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

/// The axum this server is built with: [`AuthorizationServer::router`] is its `Router`.
pub use axum;
pub use config::{
    GitHubConfig, Limits, MetadataDocuments, OAuthConfig, SCOPE_READ, SCOPE_WRITE, SCOPES,
};
pub use crypto::{KeyTooShort, SigningKey};
pub use memory::MemoryStore;
pub use store::{
    AccessGrant, AuthorizationRequest, ClientRecord, CodeRecord, GrantRecord, PendingSignIn,
    Redemption, Rotation, StoreError, TokenStore, now,
};
/// The `url` crate's `Url`, as [`OAuthConfig::resource`] and [`GitHubConfig`] take it.
pub use url::Url;
pub use verifier::{BearerVerifier, StaticTokenError, StaticTokens};

/// The authorization server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The token store failed (while fetching or keeping the signing key).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The GitHub settings are unusable.
    #[error("{0}")]
    GitHub(String),
    /// No randomness for a key.
    #[error("the operating system's random number generator failed")]
    Random,
    /// The resource URL cannot serve as an issuer.
    #[error("the public URL {0} must be an http(s) URL with a host")]
    Resource(String),
}

/// Name of the generated signing key in the token store.
const KEY_NAME: &str = "cookie-signing-key";

/// The authorization server: its routes, and the verifier for the MCP endpoint.
#[derive(Debug, Clone)]
pub struct AuthorizationServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: OAuthConfig,
    pub(crate) issuer: String,
    pub(crate) resource: String,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) key: SigningKey,
    pub(crate) github: Option<github::GitHub>,
    pub(crate) clients: clients::Clients,
    pub(crate) limiter: limits::RateLimiter,
    pub(crate) verifier: BearerVerifier,
    pub(crate) cookies: replies::Cookies,
}

impl AuthorizationServer {
    /// Sets the server up. `key` signs cookies and consent forms; when `None`, a key is
    /// generated once and kept in `store`, so restarts (and other processes sharing
    /// the store) keep accepting what was signed before.
    ///
    /// # Errors
    ///
    /// When the store fails, the GitHub URLs are unusable, or the resource URL has no
    /// host.
    pub async fn start(
        config: OAuthConfig,
        store: Arc<dyn TokenStore>,
        key: Option<SigningKey>,
        static_tokens: StaticTokens,
    ) -> Result<Self, StartError> {
        let scheme = config.resource.scheme();
        if !(scheme == "https" || scheme == "http") || config.resource.host().is_none() {
            return Err(StartError::Resource(config.resource.to_string()));
        }
        let issuer = config.issuer();
        let resource = config.resource_id();
        let key = match key {
            Some(key) => key,
            None => {
                let proposed =
                    crypto::random_bytes(crypto::TOKEN_BYTES).map_err(|_| StartError::Random)?;
                SigningKey::from_bytes(store.secret(KEY_NAME, proposed).await?)
            }
        };
        let callback = format!("{issuer}/callback");
        let github = match &config.github {
            Some(gh) => Some(
                github::GitHub::new(gh, &callback)
                    .map_err(|e| StartError::GitHub(e.to_string()))?,
            ),
            None => None,
        };
        let verifier = BearerVerifier::with_store(
            static_tokens,
            Arc::clone(&store),
            resource.clone(),
            config.verify_cache_ttl,
        );
        let inner = Inner {
            issuer,
            resource,
            key,
            github,
            clients: clients::Clients::new(
                config.clients.clone(),
                config.metadata_documents.clone(),
            ),
            limiter: limits::RateLimiter::new(config.limits.requests_per_minute),
            verifier,
            cookies: replies::Cookies {
                secure: scheme == "https",
            },
            store,
            config,
        };
        Ok(AuthorizationServer {
            inner: Arc::new(inner),
        })
    }

    /// Every route of the authorization server (mount beside the MCP endpoint, on the
    /// same origin). Serve the application with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so rate limits see the
    /// caller's address.
    pub fn router(&self) -> Router {
        let state = Arc::clone(&self.inner);
        let mcp_path = self
            .inner
            .config
            .resource
            .path()
            .trim_end_matches('/')
            .to_owned();
        let mut router = Router::new()
            .route(
                "/.well-known/oauth-protected-resource",
                get(metadata::protected_resource),
            )
            .route(
                "/.well-known/oauth-authorization-server",
                get(metadata::authorization_server),
            );
        if !mcp_path.is_empty() {
            router = router.route(
                &format!("/.well-known/oauth-protected-resource{mcp_path}"),
                get(metadata::protected_resource),
            );
        }
        router
            .route("/authorize", get(authorize::start).post(authorize::decide))
            .route("/callback", get(callback::callback))
            .route("/token", post(token::token))
            .route("/revoke", post(token::revoke))
            .route("/register", post(register::register))
            .with_state(state)
    }

    /// The verifier to give the MCP endpoint
    /// ([`HttpConfig::with_verifier`](sluice_mcp::transport::http::HttpConfig::with_verifier)).
    pub fn verifier(&self) -> BearerVerifier {
        self.inner.verifier.clone()
    }

    /// The issuer (`https://db.example.com`).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The URL of the protected-resource metadata, for `WWW-Authenticate` challenges.
    pub fn resource_metadata_url(&self) -> String {
        metadata::resource_metadata_url(&self.inner)
    }

    /// The scopes a `401` challenge names: every scope the server knows, so a client
    /// asks for both and the permission policy decides what a person gets.
    pub fn challenge_scope(&self) -> String {
        SCOPES.join(" ")
    }

    /// The token store's kind (`memory`, `postgres`).
    pub fn store_kind(&self) -> &'static str {
        self.inner.store.kind()
    }

    /// Deletes expired records every `every` until the returned task is aborted.
    pub fn spawn_cleanup(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let store = Arc::clone(&self.inner.store);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match store.purge_expired(now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(removed = n, "purged expired OAuth records"),
                    Err(e) => tracing::warn!(error = %e, "cannot purge expired OAuth records"),
                }
            }
        })
    }
}
