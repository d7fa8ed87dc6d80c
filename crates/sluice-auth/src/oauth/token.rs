//! `/token` (authorization code with PKCE, rotating refresh tokens) and `/revoke`
//! (RFC 7009).

use crate::oauth::replies::ErrorCode;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::Inner;
use super::authorize::pkce_shaped;
use super::clients::ClientError;
use super::crypto;
use super::limits::Endpoint;
use super::replies::{self, ClientAddr, oauth_error};
use super::store::{ClientRecord, GrantRecord, Redemption, Rotation, now};

type Params = HashMap<String, String>;

fn invalid_request(why: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, why)
}

fn invalid_grant(why: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, ErrorCode::InvalidGrant, why)
}

fn store_failed(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "the token store failed");
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::TemporarilyUnavailable,
        "the token store failed; try again",
    )
}

/// The client making the request, authenticated: a secret (HTTP Basic or in the
/// form) for confidential clients, the `client_id` alone for public ones.
async fn authenticate(
    inner: &Inner,
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientRecord, Response> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, value)| value.trim().to_owned());
    let (client_id, secret) = match basic {
        Some(value) => {
            let decoded = STANDARD
                .decode(value)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| replies::invalid_client("malformed Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| replies::invalid_client("malformed Basic credentials"))?;
            let unescape = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            if params.contains_key("client_secret") {
                return Err(invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            (unescape(id), Some(unescape(secret)))
        }
        None => {
            let id = params
                .get("client_id")
                .cloned()
                .ok_or_else(|| replies::invalid_client("client_id is missing"))?;
            (id, params.get("client_secret").cloned())
        }
    };
    if let Some(form_id) = params.get("client_id")
        && *form_id != client_id
    {
        return Err(replies::invalid_client(
            "client_id does not match the credentials",
        ));
    }
    let client = match inner.clients.find(inner.store.as_ref(), &client_id).await {
        Ok(c) => c,
        Err(ClientError::Store(e)) => return Err(store_failed(&e)),
        Err(e) => return Err(replies::invalid_client(&e.to_string())),
    };
    if let Some(expected) = &client.secret_hash {
        let ok = secret.is_some_and(|s| crypto::same(&crypto::hash(&s), expected));
        if !ok {
            return Err(replies::invalid_client("client authentication failed"));
        }
    }
    Ok(client)
}

/// What `/token` and `/revoke` both do first: the address's budget, the form's
/// parameters (each at most once), the client authenticated.
async fn client_request(
    inner: &Inner,
    endpoint: Endpoint,
    addr: std::net::IpAddr,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Result<(Params, ClientRecord), Response> {
    if let Err(after) = inner.limiter.check(endpoint, addr) {
        return Err(replies::too_many(after));
    }
    let params = replies::single_params(pairs).map_err(|why| invalid_request(&why))?;
    let client = authenticate(inner, headers, &params).await?;
    Ok((params, client))
}

/// `POST /token`.
pub(crate) async fn token(
    State(inner): State<Arc<Inner>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (params, client) =
        match client_request(&inner, Endpoint::Token, addr, &headers, pairs).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    if let Some(resource) = params.get("resource")
        && *resource != inner.resource
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidTarget,
            "the resource is not this server's MCP endpoint",
        );
    }
    match params.get("grant_type").map(String::as_str) {
        Some("authorization_code") => code_grant(&inner, &client, &params).await,
        Some("refresh_token") => refresh_grant(&inner, &client, &params).await,
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedGrantType,
            "grant_type must be authorization_code or refresh_token",
        ),
        None => invalid_request("grant_type is missing"),
    }
}

fn issued(inner: &Inner, access: &str, refresh: &str, scopes: &[String]) -> Response {
    replies::json(
        StatusCode::OK,
        &json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": inner.config.access_ttl.as_secs(),
            "refresh_token": refresh,
            "scope": scopes.join(" "),
        }),
    )
}

async fn code_grant(inner: &Inner, client: &ClientRecord, params: &Params) -> Response {
    let (Some(code), Some(verifier)) = (params.get("code"), params.get("code_verifier")) else {
        return invalid_request("code and code_verifier are required");
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return invalid_request("redirect_uri is required");
    };
    let now = now();
    let record = match inner.store.redeem_code(&crypto::hash(code), now).await {
        Ok(Redemption::Fresh(record)) => record,
        Ok(Redemption::Reused { grant_id }) => {
            // Someone replays a code: whatever its first use issued is revoked too.
            tracing::warn!(target: "sluice::audit", client_id = %client.client_id, "an authorization code was used twice; its grant is revoked");
            if let Err(e) = inner.store.revoke_grant(&grant_id).await {
                return store_failed(&e);
            }
            inner.verifier.forget_grant(&grant_id);
            return invalid_grant("the code was already used; what it issued is revoked");
        }
        Ok(_) => return invalid_grant("unknown or expired code"),
        Err(e) => return store_failed(&e),
    };
    let request = &record.request;
    if request.client_id != client.client_id {
        return invalid_grant("the code was issued to another client");
    }
    if request.redirect_uri != *redirect_uri {
        return invalid_grant("redirect_uri does not match the authorization request");
    }
    if !pkce_shaped(verifier) || !crypto::same(&crypto::s256(verifier), &request.code_challenge) {
        return invalid_grant("the code_verifier does not match the code_challenge");
    }
    let (Ok(access), Ok(refresh)) = (crypto::new_token("slc_at_"), crypto::new_token("slc_rt_"))
    else {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServerError,
            "no randomness available",
        );
    };
    let grant = GrantRecord {
        id: record.grant_id.clone(),
        client_id: client.client_id.clone(),
        identity: record.identity.clone(),
        scopes: request.scopes.clone(),
        resource: request.resource.clone(),
        expires_at: now + inner.config.refresh_ttl.as_secs(),
    };
    let access_expires = now + inner.config.access_ttl.as_secs();
    if let Err(e) = inner
        .store
        .add_grant(
            grant,
            &crypto::hash(&access),
            access_expires,
            &crypto::hash(&refresh),
        )
        .await
    {
        return store_failed(&e);
    }
    issued(inner, &access, &refresh, &request.scopes)
}

async fn refresh_grant(inner: &Inner, client: &ClientRecord, params: &Params) -> Response {
    let Some(refresh) = params.get("refresh_token") else {
        return invalid_request("refresh_token is required");
    };
    let hash = crypto::hash(refresh);
    // A client may only use its own refresh tokens (and a wrong client must not burn
    // someone else's).
    let grant_id = match inner.store.refresh_grant(&hash).await {
        Ok(Some(grant)) if grant.client_id == client.client_id => {
            if let Some(scope) = params.get("scope")
                && scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .any(|s| !grant.scopes.iter().any(|g| g == s))
            {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidScope,
                    "a refresh cannot add scopes the grant does not have",
                );
            }
            grant.id
        }
        Ok(_) => return invalid_grant("unknown, expired or revoked refresh token"),
        Err(e) => return store_failed(&e),
    };
    let (Ok(access), Ok(new_refresh)) =
        (crypto::new_token("slc_at_"), crypto::new_token("slc_rt_"))
    else {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServerError,
            "no randomness available",
        );
    };
    let now = now();
    let rotation = inner
        .store
        .rotate_refresh(
            &hash,
            &crypto::hash(&new_refresh),
            &crypto::hash(&access),
            now + inner.config.access_ttl.as_secs(),
            now,
        )
        .await;
    match rotation {
        Ok(Rotation::Rotated(grant)) => issued(inner, &access, &new_refresh, &grant.scopes),
        Ok(Rotation::Reused) => {
            inner.verifier.forget_grant(&grant_id);
            tracing::warn!(target: "sluice::audit", client_id = %client.client_id, "a replaced refresh token was used again; the whole grant is revoked");
            invalid_grant("the refresh token was already used; the grant is revoked, sign in again")
        }
        Ok(_) => invalid_grant("unknown, expired or revoked refresh token"),
        Err(e) => store_failed(&e),
    }
}

/// `POST /revoke` (RFC 7009): always `200` once the client is authenticated, whether
/// the token existed or not.
pub(crate) async fn revoke(
    State(inner): State<Arc<Inner>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (params, client) =
        match client_request(&inner, Endpoint::Revoke, addr, &headers, pairs).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let Some(token) = params.get("token") else {
        return invalid_request("token is required");
    };
    let hash = crypto::hash(token);
    let now = now();
    let result = async {
        if let Some(found) = inner.store.access(&hash, now).await?
            && found.grant.client_id == client.client_id
        {
            inner.store.revoke_access(&hash).await?;
            inner.verifier.forget(&hash);
            return Ok(());
        }
        if let Some(grant) = inner.store.refresh_grant(&hash).await?
            && grant.client_id == client.client_id
        {
            inner.store.revoke_grant(&grant.id).await?;
            inner.verifier.forget_grant(&grant.id);
        }
        Ok::<(), super::store::StoreError>(())
    }
    .await;
    match result {
        Ok(()) => replies::json(StatusCode::OK, &json!({})),
        Err(e) => store_failed(&e),
    }
}
