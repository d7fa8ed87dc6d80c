//! The seam for bearer-token authentication: [`TokenVerifier`] and what it returns.

use std::future::Future;
use std::pin::Pin;

use crate::context::Extensions;

/// The future a [`TokenVerifier`] returns.
pub type VerifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Verified, Unauthorized>> + Send + 'a>>;

/// Checks bearer tokens: the hook through which an authorization layer (OAuth, API keys)
/// tells the transport who is calling.
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies `token` (the text after `Bearer `).
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a>;

    /// Checks that a verified caller's token covers one request (the scopes a method or
    /// a tool needs). A refusal with `insufficient_scope` becomes `403` with a challenge
    /// naming the scopes, so the client can ask for more (step-up). The default allows
    /// every request.
    ///
    /// # Errors
    ///
    /// The refusal to answer with.
    fn authorize_request(
        &self,
        verified: &Verified,
        method: &str,
        params: &serde_json::Value,
    ) -> Result<(), Unauthorized> {
        let _ = (verified, method, params);
        Ok(())
    }
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Who the token belongs to; a session opened with one subject refuses requests
    /// carrying another's token.
    pub subject: String,
    /// What the session's handlers will see in
    /// [`RequestContext::extensions`](crate::RequestContext::extensions) (the identity).
    pub extensions: Extensions,
}

/// A refused token: the transport answers `401` (or `403` for `insufficient_scope`) with a
/// `WWW-Authenticate: Bearer` challenge carrying this error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct Unauthorized {
    /// The RFC 6750 error code: `invalid_token`, `insufficient_scope` or
    /// `invalid_request`.
    pub error: &'static str,
    /// A human-readable reason.
    pub description: String,
}

impl Unauthorized {
    /// An invalid, expired or revoked token.
    pub fn invalid_token(description: impl Into<String>) -> Self {
        Unauthorized {
            error: "invalid_token",
            description: description.into(),
        }
    }
}
