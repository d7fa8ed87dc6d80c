//! How the authorization server is set up: [`OAuthConfig`] and its parts.

use std::time::Duration;

use url::Url;

use super::store::ClientRecord;

/// The scope that lets a token read (`listTables`, `queryDatabase`, resources).
pub const SCOPE_READ: &str = "db:read";
/// The scope that lets a token write (`executeDatabase`), for a writer identity.
pub const SCOPE_WRITE: &str = "db:write";
/// Every scope the server knows, in the order metadata lists them.
pub const SCOPES: [&str; 2] = [SCOPE_READ, SCOPE_WRITE];

/// The upstream identity provider: a GitHub OAuth app (github.com or GitHub Enterprise).
#[derive(Clone)]
#[non_exhaustive]
pub struct GitHubConfig {
    /// The OAuth app's client id (`GITHUB_CLIENT_ID`).
    pub client_id: String,
    /// The OAuth app's client secret (`GITHUB_CLIENT_SECRET`). Never logged.
    pub client_secret: String,
    /// Where people sign in: `https://github.com` (`/login/oauth/authorize` and
    /// `/login/oauth/access_token` are under it).
    pub web_url: Url,
    /// The REST API: `https://api.github.com` (`/user` is under it).
    pub api_url: Url,
    /// How long one call to GitHub may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for GitHubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"…")
            .field("web_url", &self.web_url.as_str())
            .field("api_url", &self.api_url.as_str())
            .finish()
    }
}

impl GitHubConfig {
    /// github.com with this OAuth app.
    ///
    /// # Panics
    ///
    /// Never: the default URLs are constants that parse.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        #[allow(clippy::unwrap_used)] // constant URLs
        GitHubConfig {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            web_url: Url::parse("https://github.com").unwrap(),
            api_url: Url::parse("https://api.github.com").unwrap(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Points at another GitHub (Enterprise, or a fake one in tests).
    #[must_use]
    pub fn with_urls(mut self, web_url: Url, api_url: Url) -> Self {
        self.web_url = web_url;
        self.api_url = api_url;
        self
    }
}

/// How client ID metadata documents (a client whose `client_id` is an `https` URL) are
/// fetched. The fetch goes to an address a stranger chose, so it is fenced: no private,
/// loopback or link-local addresses, no redirects, bounded size and time.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MetadataDocuments {
    /// Whether such clients are accepted at all (default true).
    pub enabled: bool,
    /// Largest document accepted (default 64 KiB).
    pub max_bytes: usize,
    /// How long a fetch may take (default 5 s).
    pub timeout: Duration,
    /// How long a fetched document is trusted before it is fetched again (default
    /// 5 minutes).
    pub cache_for: Duration,
    /// For tests only: also fetch from loopback addresses, over plain `http`. Never set
    /// this in a deployment: it opens the SSRF fence to the server's own host.
    pub allow_loopback_for_tests: bool,
    /// Extra root certificates (PEM) trusted for these fetches besides the system's,
    /// for tests (a self-signed loopback server) or clients on a private PKI.
    pub extra_roots_pem: Option<Vec<u8>>,
}

impl Default for MetadataDocuments {
    fn default() -> Self {
        MetadataDocuments {
            enabled: true,
            max_bytes: 64 * 1024,
            timeout: Duration::from_secs(5),
            cache_for: Duration::from_secs(300),
            allow_loopback_for_tests: false,
            extra_roots_pem: None,
        }
    }
}

/// Bounds that keep a flood of requests from exhausting the server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Requests per minute per client address on `/authorize`, `/token`, `/register`
    /// and `/revoke` (each its own budget).
    pub requests_per_minute: u32,
    /// Sign-ins waiting for GitHub at once.
    pub max_pending: usize,
    /// Dynamically registered clients kept.
    pub max_clients: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_minute: 120,
            max_pending: 10_000,
            max_clients: 10_000,
        }
    }
}

/// Everything the authorization server needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OAuthConfig {
    /// The canonical URL of the MCP endpoint (`https://db.example.com/mcp`): the
    /// `resource` of our tokens. The issuer is its origin.
    pub resource: Url,
    /// The upstream sign-in; `None` serves only static tokens.
    pub github: Option<GitHubConfig>,
    /// Clients configured ahead (they need no registration).
    pub clients: Vec<ClientRecord>,
    /// Whether `/register` (RFC 7591 dynamic registration) is open (default true).
    pub dynamic_registration: bool,
    /// Client ID metadata documents.
    pub metadata_documents: MetadataDocuments,
    /// Abuse limits.
    pub limits: Limits,
    /// Lifetime of access tokens (default 1 hour).
    pub access_ttl: Duration,
    /// Lifetime of a grant and its refresh tokens (default 30 days).
    pub refresh_ttl: Duration,
    /// Lifetime of an authorization code (default 2 minutes).
    pub code_ttl: Duration,
    /// Lifetime of a consent form and of a sign-in at GitHub (default 10 minutes).
    pub sign_in_ttl: Duration,
    /// How long the verifier trusts what it looked up before asking the store again
    /// (default 5 s; revocation by another process takes effect within it).
    pub verify_cache_ttl: Duration,
}

impl OAuthConfig {
    /// A configuration for the MCP endpoint at `resource`, with defaults everywhere else.
    pub fn new(resource: Url) -> Self {
        OAuthConfig {
            resource,
            github: None,
            clients: Vec::new(),
            dynamic_registration: true,
            metadata_documents: MetadataDocuments::default(),
            limits: Limits::default(),
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            code_ttl: Duration::from_secs(120),
            sign_in_ttl: Duration::from_secs(600),
            verify_cache_ttl: Duration::from_secs(5),
        }
    }

    /// Signs people in through `github`.
    #[must_use]
    pub fn with_github(mut self, github: GitHubConfig) -> Self {
        self.github = Some(github);
        self
    }

    /// Adds a pre-registered client.
    #[must_use]
    pub fn with_client(mut self, client: ClientRecord) -> Self {
        self.clients.push(client);
        self
    }

    /// The issuer: the origin of the resource URL (`https://db.example.com`).
    pub fn issuer(&self) -> String {
        self.resource.origin().ascii_serialization()
    }

    /// The resource URL as clients compare it.
    pub fn resource_id(&self) -> String {
        self.resource.as_str().to_owned()
    }
}
