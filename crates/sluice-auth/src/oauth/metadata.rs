//! The two discovery documents: RFC 9728 protected-resource metadata and RFC 8414
//! authorization-server metadata.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Inner;
use super::config::SCOPES;

pub(crate) fn resource_metadata_url(inner: &Inner) -> String {
    let path = inner.config.resource.path().trim_end_matches('/');
    format!(
        "{}/.well-known/oauth-protected-resource{path}",
        inner.issuer
    )
}

fn document(value: &serde_json::Value) -> Response {
    let mut response = (StatusCode::OK, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    // Browser-based clients read metadata across origins.
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

pub(crate) async fn protected_resource(State(inner): State<Arc<Inner>>) -> Response {
    document(&json!({
        "resource": inner.resource,
        "authorization_servers": [inner.issuer],
        "scopes_supported": SCOPES,
        "bearer_methods_supported": ["header"],
        "resource_name": "Sluice PostgreSQL MCP server",
    }))
}

pub(crate) async fn authorization_server(State(inner): State<Arc<Inner>>) -> Response {
    let issuer = &inner.issuer;
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "scopes_supported": SCOPES,
        "client_id_metadata_document_supported": inner.clients.documents_enabled(),
        "authorization_response_iss_parameter_supported": true,
    });
    if inner.config.dynamic_registration
        && let Some(map) = doc.as_object_mut()
    {
        map.insert(
            "registration_endpoint".to_owned(),
            json!(format!("{issuer}/register")),
        );
    }
    document(&doc)
}
