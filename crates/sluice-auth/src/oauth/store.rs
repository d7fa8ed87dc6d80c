//! Where grants live: the [`TokenStore`] trait and the records it keeps.
//!
//! Secrets never reach a store in the clear: access tokens, refresh tokens, codes,
//! upstream `state` values and client secrets are keyed and kept by their SHA-256
//! hash, so someone who reads the store cannot use what they read. Times are seconds
//! since the Unix epoch, so several server processes can share one store.

use serde::{Deserialize, Serialize};

use crate::identity::Identity;

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A client the server knows: registered dynamically (RFC 7591) or configured.
/// (Clients identified by a metadata document URL are fetched, not stored.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientRecord {
    /// The client's id.
    pub client_id: String,
    /// SHA-256 of its secret, for confidential clients; `None` for public clients.
    pub secret_hash: Option<String>,
    /// The redirect URIs it may use, matched exactly.
    pub redirect_uris: Vec<String>,
    /// The name the consent page shows.
    pub client_name: Option<String>,
    /// When it was registered.
    pub created_at: u64,
}

impl ClientRecord {
    /// A public client (no secret).
    pub fn public(
        client_id: impl Into<String>,
        client_name: Option<String>,
        redirect_uris: Vec<String>,
    ) -> Self {
        ClientRecord {
            client_id: client_id.into(),
            secret_hash: None,
            redirect_uris,
            client_name,
            created_at: now(),
        }
    }

    /// Makes the client confidential: it must present a secret whose SHA-256 is `hash`.
    #[must_use]
    pub fn with_secret_hash(mut self, hash: impl Into<String>) -> Self {
        self.secret_hash = Some(hash.into());
        self
    }
}

/// What a client asked for at `/authorize`, once checked: carried through consent and
/// the upstream sign-in, then bound to the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// Its redirect URI (one it registered).
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The resource the token will be for (our canonical URL).
    pub resource: String,
    /// The scopes granted, space-free names.
    pub scopes: Vec<String>,
    /// The client's `state`, returned unchanged.
    pub state: Option<String>,
}

/// A sign-in sent upstream and not yet back: kept under the hash of our upstream
/// `state`, taken (once) by the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingSignIn {
    /// The client's request.
    pub request: AuthorizationRequest,
    /// Our PKCE verifier for the upstream leg.
    pub upstream_verifier: String,
    /// When it stops being valid.
    pub expires_at: u64,
}

/// An authorization code, kept under its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeRecord {
    /// The grant the code will open (chosen when the code is issued, so a reused code
    /// can revoke what the first use issued).
    pub grant_id: String,
    /// The client's request.
    pub request: AuthorizationRequest,
    /// Who signed in.
    pub identity: Identity,
    /// When it stops being valid.
    pub expires_at: u64,
}

/// The outcome of redeeming a code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redemption {
    /// First use: the code, now spent.
    Fresh(Box<CodeRecord>),
    /// The code was spent before: its grant must be revoked.
    Reused {
        /// The grant the first use opened.
        grant_id: String,
    },
    /// No such code (or expired and purged).
    Unknown,
}

/// What a person granted a client: the tokens issued from one sign-in hang off it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GrantRecord {
    /// The grant's id.
    pub id: String,
    /// The client it was granted to.
    pub client_id: String,
    /// Who granted it.
    pub identity: Identity,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The resource its tokens are for.
    pub resource: String,
    /// When it (and its refresh token) stops being valid.
    pub expires_at: u64,
}

/// An access token's grant, as the verifier needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessGrant {
    /// The grant.
    pub grant: GrantRecord,
    /// When the access token expires.
    pub expires_at: u64,
}

impl AccessGrant {
    /// An access token's grant (for store implementations).
    pub fn new(grant: GrantRecord, expires_at: u64) -> Self {
        AccessGrant { grant, expires_at }
    }
}

/// The outcome of using a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// The current refresh token: replaced by the new one, the new access token stored.
    Rotated(Box<GrantRecord>),
    /// A refresh token already replaced: someone holds a stolen copy. The store has
    /// revoked the whole grant.
    Reused,
    /// No such refresh token, or its grant expired or was revoked.
    Unknown,
}

/// Where the authorization server keeps clients, pending sign-ins, codes, grants and
/// token hashes. Two implementations ship: [`MemoryStore`](super::MemoryStore) (one
/// process, lost on restart) and, in `sluice-postgres`, a PostgreSQL store that several
/// processes share and that survives restarts.
///
/// Every method that checks and changes must do both atomically: two processes racing
/// to redeem one code must not both succeed.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync + std::fmt::Debug + 'static {
    /// A short name for start-up logs (`memory`, `postgres`).
    fn kind(&self) -> &'static str;

    /// Adds a client unless the store already holds `max_clients`; false when full.
    async fn add_client(
        &self,
        client: ClientRecord,
        max_clients: usize,
    ) -> Result<bool, StoreError>;

    /// The client with this id.
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;

    /// Keeps a pending sign-in under `state_hash` unless `max_pending` unexpired ones
    /// are already waiting; false when full.
    async fn add_pending(
        &self,
        state_hash: &str,
        pending: PendingSignIn,
        max_pending: usize,
    ) -> Result<bool, StoreError>;

    /// Removes and returns the pending sign-in under `state_hash` (single use).
    async fn take_pending(&self, state_hash: &str) -> Result<Option<PendingSignIn>, StoreError>;

    /// Keeps a code under its hash.
    async fn add_code(&self, code_hash: &str, code: CodeRecord) -> Result<(), StoreError>;

    /// Spends the code under `code_hash`; unexpired codes only.
    async fn redeem_code(&self, code_hash: &str, now: u64) -> Result<Redemption, StoreError>;

    /// Opens a grant with its first access token and refresh token (hashes).
    async fn add_grant(
        &self,
        grant: GrantRecord,
        access_hash: &str,
        access_expires_at: u64,
        refresh_hash: &str,
    ) -> Result<(), StoreError>;

    /// The grant of an unexpired access token whose grant is still valid.
    async fn access(&self, access_hash: &str, now: u64) -> Result<Option<AccessGrant>, StoreError>;

    /// Uses the refresh token under `refresh_hash`: when it is the grant's current one,
    /// replaces it with `new_refresh_hash` and stores the new access token; when it was
    /// replaced before, revokes the grant.
    async fn rotate_refresh(
        &self,
        refresh_hash: &str,
        new_refresh_hash: &str,
        new_access_hash: &str,
        access_expires_at: u64,
        now: u64,
    ) -> Result<Rotation, StoreError>;

    /// The grant a refresh token (current or replaced) belongs to.
    async fn refresh_grant(&self, refresh_hash: &str) -> Result<Option<GrantRecord>, StoreError>;

    /// Revokes one access token. True when there was one.
    async fn revoke_access(&self, access_hash: &str) -> Result<bool, StoreError>;

    /// Revokes a grant and every token issued from it.
    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError>;

    /// Deletes whatever expired before `now`; returns how many records went.
    async fn purge_expired(&self, now: u64) -> Result<u64, StoreError>;

    /// The secret kept under `name`, storing `proposed` first when there is none (how
    /// a generated signing key survives restarts and is shared by every process).
    async fn secret(&self, name: &str, proposed: Vec<u8>) -> Result<Vec<u8>, StoreError>;
}

/// A store could not do what was asked (the database is down, a record is corrupt).
#[derive(Debug, thiserror::Error)]
#[error("token store: {message}")]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// An error saying `message` (which must carry no secret).
    pub fn new(message: impl Into<String>) -> Self {
        StoreError {
            message: message.into(),
        }
    }
}
