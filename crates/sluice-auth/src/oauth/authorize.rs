//! `/authorize`: the client's request is checked, the person consents (a form with a
//! CSRF token), and only then is the browser sent to GitHub with our own `state` (bound
//! to the browser by a signed cookie) and our own PKCE.

use crate::oauth::replies::ErrorCode;
use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Inner;
use super::clients::{ClientError, is_loopback_url};
use super::config::{SCOPE_READ, SCOPES};
use super::crypto;
use super::limits::Endpoint;
use super::pages::{self, Consent};
use super::replies::{self, ClientAddr};
use super::store::{AuthorizationRequest, PendingSignIn, now};

/// The CSRF cookie of the consent form.
pub(crate) const CSRF_COOKIE: &str = "sluice-csrf";
/// The cookie binding an upstream sign-in to the browser that started it.
pub(crate) const STATE_COOKIE: &str = "sluice-state";

/// The client's redirect URI with `params` and our `iss` added (RFC 9207).
pub(crate) fn client_redirect(
    inner: &Inner,
    redirect_uri: &str,
    params: &[(&str, &str)],
) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Invalid redirect",
            "The client's redirect URI is not a URL.",
        );
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        query.append_pair("iss", &inner.issuer);
    }
    replies::redirect(url.as_str())
}

/// An error sent back to the client (its redirect URI is known good by now).
fn refuse(
    inner: &Inner,
    redirect_uri: &str,
    state: Option<&str>,
    code: ErrorCode,
    description: &str,
) -> Response {
    let mut params = vec![("error", code.as_str()), ("error_description", description)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    client_redirect(inner, redirect_uri, &params)
}

/// True for a PKCE value of 43–128 unreserved characters (RFC 7636 §4.1–4.2).
pub(crate) fn pkce_shaped(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The scopes asked for, checked; omitted means every scope we know (the policy still
/// decides what a person may do).
pub(crate) fn parse_scopes(scope: Option<&str>) -> Result<Vec<String>, String> {
    let Some(scope) = scope.filter(|s| !s.trim().is_empty()) else {
        return Ok(SCOPES.iter().map(|s| (*s).to_owned()).collect());
    };
    let mut granted = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !SCOPES.contains(&s) {
            return Err(format!(
                "unknown scope {s:?}; this server knows {}",
                SCOPES.join(", ")
            ));
        }
        if !granted.iter().any(|g| g == s) {
            granted.push(s.to_owned());
        }
    }
    if !granted.iter().any(|g| g == SCOPE_READ) {
        // Writing includes reading: every tool set starts with reading.
        granted.insert(0, SCOPE_READ.to_owned());
    }
    Ok(granted)
}

/// `GET /authorize`.
pub(crate) async fn start(
    State(inner): State<Arc<Inner>>,
    ClientAddr(addr): ClientAddr,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(after) = inner.limiter.check(Endpoint::Authorize, addr) {
        return replies::too_many(after);
    }
    let params = match replies::single_params(pairs) {
        Ok(p) => p,
        Err(why) => return pages::error_page(StatusCode::BAD_REQUEST, "Invalid request", &why),
    };
    let get = |k: &str| params.get(k).map(String::as_str);
    // Until the client and its redirect URI are known good, errors are shown here,
    // never redirected (no open redirect).
    let Some(client_id) = get("client_id") else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "client_id is missing.",
        );
    };
    let client = match inner.clients.find(inner.store.as_ref(), client_id).await {
        Ok(c) => c,
        Err(ClientError::Store(e)) => {
            tracing::error!(error = %e, "cannot look up an OAuth client");
            return pages::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again later",
                "The server cannot look up clients right now.",
            );
        }
        Err(e) => {
            return pages::error_page(StatusCode::BAD_REQUEST, "Unknown client", &e.to_string());
        }
    };
    let redirect_uri = match get("redirect_uri") {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_owned(),
        Some(_) => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                "Redirect URI not registered",
                "The redirect_uri is not one this client registered (they must match exactly).",
            );
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "redirect_uri is missing and the client registered more than one.",
            );
        }
    };
    let state = get("state");
    let fail = |code: ErrorCode, why: &str| refuse(&inner, &redirect_uri, state, code, why);
    match get("response_type") {
        Some("code") => {}
        Some(_) => {
            return fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            );
        }
        None => return fail(ErrorCode::InvalidRequest, "response_type is missing"),
    }
    let Some(challenge) = get("code_challenge") else {
        return fail(
            ErrorCode::InvalidRequest,
            "PKCE is required: code_challenge is missing",
        );
    };
    match get("code_challenge_method") {
        Some("S256") => {}
        Some(_) => {
            return fail(
                ErrorCode::InvalidRequest,
                "only code_challenge_method=S256 is supported",
            );
        }
        None => {
            return fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method is missing; it must be S256 (plain is not accepted)",
            );
        }
    }
    if challenge.len() != 43 || !pkce_shaped(challenge) {
        return fail(
            ErrorCode::InvalidRequest,
            "code_challenge is not an S256 challenge",
        );
    }
    if let Some(resource) = get("resource")
        && resource != inner.resource
    {
        return fail(
            ErrorCode::InvalidTarget,
            "the resource is not this server's MCP endpoint",
        );
    }
    let scopes = match parse_scopes(get("scope")) {
        Ok(s) => s,
        Err(why) => return fail(ErrorCode::InvalidScope, &why),
    };
    if inner.github.is_none() {
        return fail(
            ErrorCode::TemporarilyUnavailable,
            "this server has no sign-in configured (it accepts static tokens only)",
        );
    }
    let request = AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        code_challenge: challenge.to_owned(),
        resource: inner.resource.clone(),
        scopes,
        state: state.map(str::to_owned),
    };
    let Some(sealed) = seal_request(&inner, &request) else {
        return fail(ErrorCode::ServerError, "the request could not be encoded");
    };
    let Ok(csrf_cookie) = crypto::new_token("") else {
        return fail(ErrorCode::ServerError, "no randomness available");
    };
    let csrf = inner.key.sign("csrf", &csrf_cookie);
    let redirect_url = url::Url::parse(&redirect_uri).ok();
    let redirect_host = redirect_url
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| redirect_uri.clone());
    let mut response = pages::consent(&Consent {
        client_name: client.client_name.as_deref().unwrap_or("An unnamed client"),
        client_id: &client.client_id,
        redirect_host: &redirect_host,
        loopback_redirect: redirect_url.as_ref().is_some_and(is_loopback_url),
        scopes: &request.scopes,
        sealed_request: &sealed,
        csrf: &csrf,
        upstream: "GitHub",
    });
    replies::add_cookie(
        &mut response,
        &inner.cookies.set(
            CSRF_COOKIE,
            &csrf_cookie,
            inner.config.sign_in_ttl.as_secs(),
        ),
    );
    response
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed {
    request: AuthorizationRequest,
    expires_at: u64,
}

fn seal_request(inner: &Inner, request: &AuthorizationRequest) -> Option<String> {
    let sealed = Sealed {
        request: request.clone(),
        expires_at: now() + inner.config.sign_in_ttl.as_secs(),
    };
    let json = serde_json::to_vec(&sealed).ok()?;
    Some(inner.key.seal("consent", &URL_SAFE_NO_PAD.encode(json)))
}

fn open_request(inner: &Inner, sealed: &str) -> Option<AuthorizationRequest> {
    let data = inner.key.open("consent", sealed)?;
    let json = URL_SAFE_NO_PAD.decode(data).ok()?;
    let sealed: Sealed = serde_json::from_slice(&json).ok()?;
    (sealed.expires_at > now()).then_some(sealed.request)
}

/// `POST /authorize`: the consent form's answer.
pub(crate) async fn decide(
    State(inner): State<Arc<Inner>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(after) = inner.limiter.check(Endpoint::Authorize, addr) {
        return replies::too_many(after);
    }
    let params = match replies::single_params(pairs) {
        Ok(p) => p,
        Err(why) => return pages::error_page(StatusCode::BAD_REQUEST, "Invalid request", &why),
    };
    let get = |k: &str| params.get(k).map(String::as_str);
    let csrf_ok = match (inner.cookies.get(&headers, CSRF_COOKIE), get("csrf")) {
        (Some(cookie), Some(field)) => inner.key.verify("csrf", &cookie, field),
        _ => false,
    };
    if !csrf_ok {
        return pages::error_page(
            StatusCode::FORBIDDEN,
            "Consent not accepted",
            "The consent form's security token is missing or does not match this browser.",
        );
    }
    let Some(request) = get("request").and_then(|r| open_request(&inner, r)) else {
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Consent expired",
            "The consent form is invalid or has expired.",
        );
    };
    let state = request.state.as_deref();
    if get("decision") != Some("approve") {
        return refuse(
            &inner,
            &request.redirect_uri,
            state,
            ErrorCode::AccessDenied,
            "the person denied access",
        );
    }
    let Some(github) = &inner.github else {
        return refuse(
            &inner,
            &request.redirect_uri,
            state,
            ErrorCode::TemporarilyUnavailable,
            "no sign-in configured",
        );
    };
    let Ok(upstream_state) = crypto::new_token("") else {
        return refuse(
            &inner,
            &request.redirect_uri,
            state,
            ErrorCode::ServerError,
            "no randomness available",
        );
    };
    let (location, verifier) = github.authorize_url(&upstream_state);
    let ttl = inner.config.sign_in_ttl.as_secs();
    let pending = PendingSignIn {
        request: request.clone(),
        upstream_verifier: verifier,
        expires_at: now() + ttl,
    };
    match inner
        .store
        .add_pending(
            &crypto::hash(&upstream_state),
            pending,
            inner.config.limits.max_pending,
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                &inner,
                &request.redirect_uri,
                state,
                ErrorCode::TemporarilyUnavailable,
                "too many sign-ins are in progress; try again in a few minutes",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot keep a pending sign-in");
            return refuse(
                &inner,
                &request.redirect_uri,
                state,
                ErrorCode::ServerError,
                "the token store failed",
            );
        }
    }
    let mut response = replies::redirect(&location);
    let cookie_value = inner.key.seal("state-cookie", &upstream_state);
    replies::add_cookie(
        &mut response,
        &inner.cookies.set(STATE_COOKIE, &cookie_value, ttl),
    );
    replies::add_cookie(&mut response, &inner.cookies.clear(CSRF_COOKIE));
    response
}
