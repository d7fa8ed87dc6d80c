//! What the OAuth endpoints send back: JSON errors (RFC 6749 §5.2), token answers that
//! are never cached, redirects, cookies; and the caller's address for rate limits.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A JSON body with `Cache-Control: no-store` (tokens and errors of the token
/// endpoint must never be cached, RFC 6749 §5.1).
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An OAuth error code (RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2, RFC 8707 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_client`.
    InvalidClient,
    /// `invalid_grant`.
    InvalidGrant,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`.
    InvalidScope,
    /// `invalid_target`.
    InvalidTarget,
    /// `access_denied`.
    AccessDenied,
    /// `unsupported_response_type`.
    UnsupportedResponseType,
    /// `server_error`.
    ServerError,
    /// `temporarily_unavailable`.
    TemporarilyUnavailable,
    /// `invalid_redirect_uri`.
    InvalidRedirectUri,
    /// `invalid_client_metadata`.
    InvalidClientMetadata,
}

impl ErrorCode {
    /// The code as it goes on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
        }
    }
}

/// An OAuth error answer: `{"error": code, "error_description": why}`.
pub(crate) fn oauth_error(status: StatusCode, code: ErrorCode, description: &str) -> Response {
    json(
        status,
        &serde_json::json!({"error": code.as_str(), "error_description": description}),
    )
}

/// `invalid_client` with the `WWW-Authenticate` RFC 6749 asks for.
pub(crate) fn invalid_client(description: &str) -> Response {
    let mut response = oauth_error(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidClient,
        description,
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"oauth\""),
    );
    response
}

/// `429 Too Many Requests` with `Retry-After`.
pub(crate) fn too_many(retry_after: u64) -> Response {
    let mut response = oauth_error(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TemporarilyUnavailable,
        "too many requests from this address; try again later",
    );
    if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A `302 Found` to `location`.
pub(crate) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    super::pages::secure_headers(response.headers_mut());
    response
}

/// Cookie names and attributes. On an `https` issuer every cookie is `__Host-`
/// prefixed, `Secure`, `HttpOnly`, `SameSite=Lax`, `Path=/`: bound to exactly this
/// origin. On plain `http` (loopback development) browsers refuse `Secure` cookies, so
/// the prefix and the flag are dropped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cookies {
    pub(crate) secure: bool,
}

impl Cookies {
    pub(crate) fn name(self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// A `Set-Cookie` value.
    pub(crate) fn set(self, base: &str, value: &str, max_age_secs: u64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}",
            self.name(base)
        )
    }

    /// A `Set-Cookie` value that removes the cookie.
    pub(crate) fn clear(self, base: &str) -> String {
        self.set(base, "", 0)
    }

    /// The cookie's value in a request, when it holds exactly one.
    pub(crate) fn get(self, headers: &HeaderMap, base: &str) -> Option<String> {
        let name = self.name(base);
        let mut found = None;
        for value in headers.get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for pair in value.split(';') {
                let Some((k, v)) = pair.trim().split_once('=') else {
                    continue;
                };
                if k == name {
                    if found.is_some() {
                        // Two cookies of one name: someone planted one. Trust neither.
                        return None;
                    }
                    found = Some(v.to_owned());
                }
            }
        }
        found
    }
}

/// Adds a `Set-Cookie` header.
pub(crate) fn add_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The address a request came from (the peer's; behind a proxy, the proxy's).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        Ok(ClientAddr(ip))
    }
}

/// Parameters of a query string or form, refusing any given twice (RFC 6749 §3.1:
/// "Request and response parameters MUST NOT be included more than once").
pub(crate) fn single_params(
    pairs: Vec<(String, String)>,
) -> Result<std::collections::HashMap<String, String>, String> {
    let mut map = std::collections::HashMap::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), v).is_some() {
            return Err(format!("the parameter {k} is given more than once"));
        }
    }
    Ok(map)
}
