//! `/callback`: GitHub sends the browser back here. The `state` must be the one this
//! browser's cookie holds and a pending sign-in must wait under it (single use); then
//! GitHub's code is exchanged, the person looked up, and our own code sent to the client.

use crate::oauth::replies::ErrorCode;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::Inner;
use super::authorize::{STATE_COOKIE, client_redirect};
use super::crypto;
use super::limits::Endpoint;
use super::pages;
use super::replies::{self, ClientAddr};
use super::store::{CodeRecord, now};

pub(crate) async fn callback(
    State(inner): State<Arc<Inner>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let mut response = handle(&inner, addr, &headers, pairs).await;
    replies::add_cookie(&mut response, &inner.cookies.clear(STATE_COOKIE));
    response
}

async fn handle(
    inner: &Inner,
    addr: std::net::IpAddr,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Response {
    if let Err(after) = inner.limiter.check(Endpoint::Callback, addr) {
        return replies::too_many(after);
    }
    let bad = |what: &str, why: &str| pages::error_page(StatusCode::BAD_REQUEST, what, why);
    let params = match replies::single_params(pairs) {
        Ok(p) => p,
        Err(why) => return bad("Invalid sign-in answer", &why),
    };
    let get = |k: &str| params.get(k).map(String::as_str);
    let Some(state) = get("state") else {
        return bad(
            "Invalid sign-in answer",
            "GitHub's answer carries no state.",
        );
    };
    let cookie_state = inner
        .cookies
        .get(headers, STATE_COOKIE)
        .and_then(|c| inner.key.open("state-cookie", &c).map(str::to_owned));
    if !cookie_state.is_some_and(|c| crypto::same(&c, state)) {
        return bad(
            "Sign-in not recognised",
            "This sign-in was not started in this browser, or it was already used.",
        );
    }
    let pending = match inner.store.take_pending(&crypto::hash(state)).await {
        Ok(Some(p)) if p.expires_at > now() => p,
        Ok(_) => {
            return bad(
                "Sign-in expired",
                "This sign-in has expired or was already used.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read a pending sign-in");
            return pages::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again later",
                "The server cannot complete sign-ins right now.",
            );
        }
    };
    let request = pending.request;
    let client_state = request.state.clone();
    let refuse = |code: ErrorCode, why: &str| {
        let mut params = vec![("error", code.as_str()), ("error_description", why)];
        if let Some(s) = client_state.as_deref() {
            params.push(("state", s));
        }
        client_redirect(inner, &request.redirect_uri, &params)
    };
    if let Some(error) = get("error") {
        tracing::info!(error, "GitHub refused a sign-in");
        return refuse(
            ErrorCode::AccessDenied,
            "the sign-in at GitHub was not completed",
        );
    }
    let Some(code) = get("code") else {
        return refuse(ErrorCode::AccessDenied, "GitHub's answer carries no code");
    };
    let Some(github) = &inner.github else {
        return refuse(ErrorCode::TemporarilyUnavailable, "no sign-in configured");
    };
    let identity = match github.sign_in(code, &pending.upstream_verifier).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(error = %e, "a GitHub sign-in failed");
            return pages::error_page(StatusCode::BAD_GATEWAY, "Sign-in failed", &format!("{e}."));
        }
    };
    let (Ok(code), Ok(grant_id)) = (crypto::new_token("slc_code_"), crypto::new_token("")) else {
        return refuse(ErrorCode::ServerError, "no randomness available");
    };
    tracing::info!(
        target: "sluice::audit",
        login = %identity.login,
        id = identity.id.as_deref().unwrap_or(""),
        client_id = %request.client_id,
        scopes = %request.scopes.join(" "),
        "signed in"
    );
    let record = CodeRecord {
        grant_id,
        request: request.clone(),
        identity,
        expires_at: now() + inner.config.code_ttl.as_secs(),
    };
    if let Err(e) = inner.store.add_code(&crypto::hash(&code), record).await {
        tracing::error!(error = %e, "cannot keep an authorization code");
        return refuse(ErrorCode::ServerError, "the token store failed");
    }
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = client_state.as_deref() {
        params.push(("state", s));
    }
    client_redirect(inner, &request.redirect_uri, &params)
}
