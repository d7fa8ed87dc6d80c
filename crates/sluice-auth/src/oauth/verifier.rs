//! Turning `Authorization: Bearer …` into an [`Identity`]: static tokens for service
//! accounts and the access tokens our authorization server issued, through one
//! [`TokenVerifier`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_mcp::transport::http::{TokenVerifier, Unauthorized, Verified, VerifyFuture};

use super::config::{SCOPE_READ, SCOPE_WRITE};
use super::crypto;
use super::store::{AccessGrant, TokenStore, now};
use crate::identity::Identity;
use crate::policy::Permission;

/// Bearer tokens for service accounts, each mapped to a login. Only SHA-256 hashes are
/// kept (and configured): `SLUICE_STATIC_TOKENS="ci-bot=sha256:<hex>,…"`.
#[derive(Debug, Clone, Default)]
pub struct StaticTokens {
    by_hash: HashMap<String, Identity>,
}

/// A static token entry could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("static token entry {entry:?}: {reason}")]
pub struct StaticTokenError {
    entry: String,
    reason: &'static str,
}

impl StaticTokens {
    /// No tokens.
    pub fn new() -> Self {
        StaticTokens::default()
    }

    /// Adds a token by its SHA-256 hash (64 hex digits) for `login`.
    ///
    /// # Errors
    ///
    /// When `hash` is not 64 hex digits.
    pub fn add_hash(&mut self, login: &str, hash: &str) -> Result<(), StaticTokenError> {
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StaticTokenError {
                entry: login.to_owned(),
                reason: "the hash must be 64 hex digits (sha256 of the token)",
            });
        }
        if login.trim().is_empty() {
            return Err(StaticTokenError {
                entry: String::new(),
                reason: "the login is empty",
            });
        }
        self.by_hash.insert(hash, Identity::new(login.trim()));
        Ok(())
    }

    /// Reads `login=sha256:<hex>` entries separated by commas. The hashes only are
    /// ever configured, so the configuration itself holds no usable secret.
    ///
    /// # Errors
    ///
    /// When an entry is malformed (the error names the login, never a hash).
    pub fn parse(list: &str) -> Result<Self, StaticTokenError> {
        let mut tokens = StaticTokens::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((login, hash)) = entry.split_once('=') else {
                return Err(StaticTokenError {
                    entry: String::new(),
                    reason: "expected login=sha256:<hex>",
                });
            };
            let Some(hash) = hash.trim().strip_prefix("sha256:") else {
                return Err(StaticTokenError {
                    entry: login.to_owned(),
                    reason: "expected login=sha256:<hex>",
                });
            };
            tokens.add_hash(login, hash)?;
        }
        Ok(tokens)
    }

    /// The configuration form of `token`'s hash, `sha256:<hex>` (what
    /// `postgres_server --hash-token` prints).
    pub fn hash_of(token: &str) -> String {
        format!("sha256:{}", crypto::hash(token))
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// True when none are.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    fn identity(&self, hash: &str) -> Option<&Identity> {
        self.by_hash.get(hash)
    }
}

/// Access-token lookups remembered at most (beyond that the cache starts over).
const MAX_CACHED: usize = 50_000;

/// Longest bearer token looked at; anything longer is refused unread.
const MAX_TOKEN_LEN: usize = 4096;

/// The verifier for the MCP endpoint: static tokens first, then the access tokens of
/// the authorization server (when one is configured). Lookups in the token store are
/// cached briefly, so a call does not cost a database round trip.
#[derive(Debug, Clone)]
pub struct BearerVerifier {
    inner: Arc<VerifierInner>,
    /// Tools whose calls need a token with the write scope (else `403
    /// insufficient_scope`, so the client can ask for it).
    write_tools: Arc<[String]>,
}

#[derive(Debug)]
struct VerifierInner {
    static_tokens: StaticTokens,
    issued: Option<Issued>,
}

#[derive(Debug)]
struct Issued {
    store: Arc<dyn TokenStore>,
    resource: String,
    cache_ttl: Duration,
    cache: Mutex<HashMap<String, (AccessGrant, Instant)>>,
}

impl BearerVerifier {
    /// A verifier accepting only `static_tokens`.
    pub fn static_only(static_tokens: StaticTokens) -> Self {
        BearerVerifier {
            inner: Arc::new(VerifierInner {
                static_tokens,
                issued: None,
            }),
            write_tools: Arc::new([]),
        }
    }

    pub(crate) fn with_store(
        static_tokens: StaticTokens,
        store: Arc<dyn TokenStore>,
        resource: String,
        cache_ttl: Duration,
    ) -> Self {
        BearerVerifier {
            inner: Arc::new(VerifierInner {
                static_tokens,
                issued: Some(Issued {
                    store,
                    resource,
                    cache_ttl,
                    cache: Mutex::new(HashMap::new()),
                }),
            }),
            write_tools: Arc::new([]),
        }
    }

    /// Names the tools whose calls need the write scope: a token without it gets `403
    /// insufficient_scope` (with the scopes to ask for) instead of a tool error. The
    /// permission policy still decides whether the person may write at all.
    #[must_use]
    pub fn with_write_tools<I, S>(mut self, tools: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.write_tools = tools.into_iter().map(Into::into).collect();
        self
    }

    /// Forgets a cached lookup (after a revocation in this process).
    pub(crate) fn forget(&self, access_hash: &str) {
        if let Some(issued) = &self.inner.issued {
            issued
                .cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(access_hash);
        }
    }

    /// Forgets every cached lookup of `grant_id`.
    pub(crate) fn forget_grant(&self, grant_id: &str) {
        if let Some(issued) = &self.inner.issued {
            issued
                .cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, (g, _)| g.grant.id != grant_id);
        }
    }

    async fn check(&self, token: &str) -> Result<Verified, Unauthorized> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Unauthorized::invalid_token("the token is too long"));
        }
        let hash = crypto::hash(token);
        if let Some(identity) = self.inner.static_tokens.identity(&hash) {
            return Ok(verified(identity.clone()));
        }
        let Some(issued) = &self.inner.issued else {
            return Err(Unauthorized::invalid_token("unknown token"));
        };
        let now = now();
        let cached = {
            let cache = issued.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(&hash)
                .filter(|(_, at)| at.elapsed() < issued.cache_ttl)
                .map(|(g, _)| g.clone())
        };
        let grant = match cached {
            Some(grant) => grant,
            None => {
                let found = issued.store.access(&hash, now).await.map_err(|e| {
                    tracing::error!(error = %e, "cannot verify a token: the token store failed");
                    Unauthorized::invalid_token("the token could not be checked; try again")
                })?;
                let Some(grant) = found else {
                    return Err(Unauthorized::invalid_token(
                        "unknown, expired or revoked token",
                    ));
                };
                let mut cache = issued.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
                cache.insert(hash, (grant.clone(), Instant::now()));
                grant
            }
        };
        if grant.expires_at <= now || grant.grant.expires_at <= now {
            return Err(Unauthorized::invalid_token("the token has expired"));
        }
        if grant.grant.resource != issued.resource {
            return Err(Unauthorized::invalid_token(
                "the token was issued for another resource",
            ));
        }
        let scopes = &grant.grant.scopes;
        let ceiling = if scopes.iter().any(|s| s == SCOPE_WRITE) {
            Permission::Write
        } else if scopes.iter().any(|s| s == SCOPE_READ) {
            Permission::Read
        } else {
            return Err(Unauthorized {
                error: "insufficient_scope",
                description: format!("the token lacks the {SCOPE_READ} scope"),
            });
        };
        Ok(verified(grant.grant.identity.clone().with_ceiling(ceiling)))
    }
}

fn verified(identity: Identity) -> Verified {
    let subject = identity
        .id
        .clone()
        .unwrap_or_else(|| format!("login:{}", identity.login.to_lowercase()));
    Verified {
        subject,
        extensions: identity.into_extensions(),
    }
}

impl TokenVerifier for BearerVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(self.check(token))
    }

    fn authorize_request(
        &self,
        verified: &Verified,
        method: &str,
        params: &serde_json::Value,
    ) -> Result<(), Unauthorized> {
        if method != "tools/call" {
            return Ok(());
        }
        let Some(tool) = params.get("name").and_then(serde_json::Value::as_str) else {
            return Ok(());
        };
        let capped = Identity::of(&verified.extensions)
            .and_then(|i| i.ceiling)
            .is_some_and(|c| c < Permission::Write);
        if capped && self.write_tools.iter().any(|t| t == tool) {
            return Err(Unauthorized {
                error: "insufficient_scope",
                description: format!("{tool} needs a token with the {SCOPE_WRITE} scope"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_tokens_are_configured_by_hash_only() {
        let hash = StaticTokens::hash_of("s3cret-token");
        let tokens = StaticTokens::parse(&format!("ci-bot={hash}, ")).unwrap();
        assert_eq!(tokens.len(), 1);
        assert!(StaticTokens::parse("ci-bot=s3cret-token").is_err());
        assert!(StaticTokens::parse("ci-bot=sha256:abcd").is_err());
        let err = StaticTokens::parse("ci-bot").unwrap_err().to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[tokio::test]
    async fn static_tokens_verify_and_others_do_not() {
        let tokens =
            StaticTokens::parse(&format!("ci-bot={}", StaticTokens::hash_of("s3cret-token")))
                .unwrap();
        let verifier = BearerVerifier::static_only(tokens);
        let ok = verifier.verify("s3cret-token").await.unwrap();
        assert_eq!(Identity::of(&ok.extensions).unwrap().login, "ci-bot");
        assert!(verifier.verify("s3cret-tokeN").await.is_err());
        assert!(verifier.verify(&"x".repeat(1 << 20)).await.is_err());
    }
}
