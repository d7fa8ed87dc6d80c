//! `/register`: dynamic client registration (RFC 7591). Deprecated by MCP 2026-07-28 in
//! favour of client ID metadata documents, and kept for the clients that still use it.

use std::sync::Arc;

use crate::oauth::replies::ErrorCode;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::Inner;
use super::clients::check_redirect_uri;
use super::crypto;
use super::limits::Endpoint;
use super::replies::{self, ClientAddr, oauth_error};
use super::store::ClientRecord;

/// Largest registration request read.
const MAX_BODY: usize = 16 * 1024;

#[derive(serde::Deserialize)]
struct Metadata {
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
}

fn invalid(code: ErrorCode, why: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, code, why)
}

pub(crate) async fn register(
    State(inner): State<Arc<Inner>>,
    ClientAddr(addr): ClientAddr,
    body: Bytes,
) -> Response {
    if !inner.config.dynamic_registration {
        return oauth_error(
            StatusCode::FORBIDDEN,
            ErrorCode::AccessDenied,
            "dynamic registration is closed on this server",
        );
    }
    if let Err(after) = inner.limiter.check(Endpoint::Register, addr) {
        return replies::too_many(after);
    }
    if body.len() > MAX_BODY {
        return invalid(
            ErrorCode::InvalidClientMetadata,
            "the registration request is too large",
        );
    }
    let meta: Metadata = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            return invalid(
                ErrorCode::InvalidClientMetadata,
                &format!("not valid client metadata: {e}"),
            );
        }
    };
    if meta.redirect_uris.is_empty() || meta.redirect_uris.len() > 20 {
        return invalid(
            ErrorCode::InvalidRedirectUri,
            "give between 1 and 20 redirect_uris",
        );
    }
    for uri in &meta.redirect_uris {
        if uri.len() > 2000 {
            return invalid(ErrorCode::InvalidRedirectUri, "a redirect URI is too long");
        }
        if let Err(why) = check_redirect_uri(uri) {
            return invalid(ErrorCode::InvalidRedirectUri, &why);
        }
    }
    let method = meta.token_endpoint_auth_method.as_deref().unwrap_or("none");
    if !matches!(
        method,
        "none" | "client_secret_post" | "client_secret_basic"
    ) {
        return invalid(
            ErrorCode::InvalidClientMetadata,
            "token_endpoint_auth_method must be none, client_secret_post or client_secret_basic",
        );
    }
    let grant_types = meta
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]);
    if grant_types
        .iter()
        .any(|g| g != "authorization_code" && g != "refresh_token")
    {
        return invalid(
            ErrorCode::InvalidClientMetadata,
            "grant_types may hold only authorization_code and refresh_token",
        );
    }
    let response_types = meta
        .response_types
        .unwrap_or_else(|| vec!["code".to_owned()]);
    if response_types.iter().any(|r| r != "code") {
        return invalid(
            ErrorCode::InvalidClientMetadata,
            "response_types may hold only code",
        );
    }
    let name = meta
        .client_name
        .map(|n| {
            n.chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect::<String>()
        })
        .filter(|n| !n.trim().is_empty());
    let Ok(client_id) = crypto::new_token("slc_client_") else {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServerError,
            "no randomness available",
        );
    };
    let mut record =
        ClientRecord::public(client_id.clone(), name.clone(), meta.redirect_uris.clone());
    let secret = if method == "none" {
        None
    } else {
        let Ok(secret) = crypto::new_token("slc_secret_") else {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::ServerError,
                "no randomness available",
            );
        };
        record = record.with_secret_hash(crypto::hash(&secret));
        Some(secret)
    };
    let issued_at = record.created_at;
    match inner
        .store
        .add_client(record, inner.config.limits.max_clients)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::TemporarilyUnavailable,
                "this server holds as many registered clients as it may",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot register a client");
            return oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::TemporarilyUnavailable,
                "the token store failed",
            );
        }
    }
    let mut answer = json!({
        "client_id": client_id,
        "client_id_issued_at": issued_at,
        "redirect_uris": meta.redirect_uris,
        "token_endpoint_auth_method": method,
        "grant_types": grant_types,
        "response_types": response_types,
    });
    if let Some(map) = answer.as_object_mut() {
        if let Some(name) = name {
            map.insert("client_name".to_owned(), json!(name));
        }
        if let Some(secret) = secret {
            map.insert("client_secret".to_owned(), json!(secret));
            map.insert("client_secret_expires_at".to_owned(), json!(0));
        }
    }
    replies::json(StatusCode::CREATED, &answer)
}
