//! Which clients exist: configured ones, dynamically registered ones (RFC 7591), and
//! clients whose `client_id` is the URL of their metadata document (client ID metadata
//! documents, fetched behind the SSRF fence). Also the rules for redirect URIs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use url::Url;

use super::config::MetadataDocuments;
use super::fence;
use super::store::{ClientRecord, StoreError, TokenStore};

/// Why a redirect URI is refused, or `Ok`.
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri:?} is not a URL ({e})"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "{uri:?} has a fragment, which redirect URIs may not"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{uri:?} carries credentials"));
    }
    match url.scheme() {
        "https" => {
            if url.host().is_none() {
                return Err(format!("{uri:?} has no host"));
            }
            Ok(())
        }
        "http" => {
            if is_loopback_url(&url) {
                Ok(())
            } else {
                Err(format!(
                    "{uri:?} uses plain http on a host that is not loopback; use https"
                ))
            }
        }
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" | "ftp" | "ws" | "wss" => {
            Err(format!("{uri:?} uses a scheme that may not receive codes"))
        }
        // Private-use schemes of native apps (RFC 8252 §7.1).
        _ => Ok(()),
    }
}

/// True when `url` points at this machine (`localhost`, `127.0.0.0/8`, `[::1]`).
pub(crate) fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// True when `client_id` names a metadata document: an `https` URL with a path.
pub(crate) fn is_document_id(client_id: &str, allow_http: bool) -> bool {
    Url::parse(client_id).is_ok_and(|u| {
        (u.scheme() == "https" || (allow_http && u.scheme() == "http" && is_loopback_url(&u)))
            && u.path() != "/"
            && !u.path().is_empty()
            && u.fragment().is_none()
            && u.username().is_empty()
            && u.password().is_none()
    })
}

/// The client registry.
#[derive(Debug)]
pub(crate) struct Clients {
    configured: HashMap<String, ClientRecord>,
    documents: MetadataDocuments,
    fetcher: Option<reqwest::Client>,
    cache: Mutex<HashMap<String, (ClientRecord, Instant)>>,
}

/// Documents kept in the cache at most.
const MAX_CACHED_DOCUMENTS: usize = 1000;

/// Why a client could not be found.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("unknown client_id")]
    Unknown,
    #[error("the client's metadata document could not be used: {0}")]
    Document(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Clients {
    pub(crate) fn new(configured: Vec<ClientRecord>, documents: MetadataDocuments) -> Self {
        let fetcher = if documents.enabled {
            match fence::fenced_client(
                documents.allow_loopback_for_tests,
                documents.timeout,
                documents.extra_roots_pem.as_deref(),
            ) {
                Ok(client) => Some(client),
                Err(e) => {
                    tracing::warn!(error = %e, "client metadata documents disabled: no HTTP client");
                    None
                }
            }
        } else {
            None
        };
        Clients {
            configured: configured
                .into_iter()
                .map(|c| (c.client_id.clone(), c))
                .collect(),
            documents,
            fetcher,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether metadata documents are accepted.
    pub(crate) fn documents_enabled(&self) -> bool {
        self.fetcher.is_some()
    }

    /// The client `client_id`.
    pub(crate) async fn find(
        &self,
        store: &dyn TokenStore,
        client_id: &str,
    ) -> Result<ClientRecord, ClientError> {
        if client_id.is_empty() || client_id.len() > 2048 {
            return Err(ClientError::Unknown);
        }
        if let Some(client) = self.configured.get(client_id) {
            return Ok(client.clone());
        }
        if let Some(fetcher) = &self.fetcher
            && is_document_id(client_id, self.documents.allow_loopback_for_tests)
        {
            return self.document(fetcher, client_id).await;
        }
        store.client(client_id).await?.ok_or(ClientError::Unknown)
    }

    async fn document(
        &self,
        fetcher: &reqwest::Client,
        client_id: &str,
    ) -> Result<ClientRecord, ClientError> {
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((client, at)) = cache.get(client_id)
                && at.elapsed() < self.documents.cache_for
            {
                return Ok(client.clone());
            }
        }
        let client = self.fetch(fetcher, client_id).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_DOCUMENTS {
            let keep = self.documents.cache_for;
            cache.retain(|_, (_, at)| at.elapsed() < keep);
            if cache.len() >= MAX_CACHED_DOCUMENTS {
                cache.clear();
            }
        }
        cache.insert(client_id.to_owned(), (client.clone(), Instant::now()));
        Ok(client)
    }

    async fn fetch(
        &self,
        fetcher: &reqwest::Client,
        client_id: &str,
    ) -> Result<ClientRecord, ClientError> {
        let bad = |why: String| ClientError::Document(why);
        let url = Url::parse(client_id).map_err(|e| bad(e.to_string()))?;
        // A literal address is never resolved, so the fence checks it here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            let fence = fence::FencedResolver {
                allow_loopback: self.documents.allow_loopback_for_tests,
            };
            if !fence.allows(ip) {
                return Err(bad(format!(
                    "{ip} is not a public address; metadata documents are not fetched from \
                     private, loopback or link-local addresses"
                )));
            }
        }
        let response = fetcher
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| bad(describe_fetch_error(&e)))?;
        if !response.status().is_success() {
            return Err(bad(format!(
                "it answered HTTP {}",
                response.status().as_u16()
            )));
        }
        let body = fence::read_limited(response, self.documents.max_bytes)
            .await
            .map_err(|e| bad(describe_fetch_error(&e)))?
            .ok_or_else(|| {
                bad(format!(
                    "it is larger than {} bytes",
                    self.documents.max_bytes
                ))
            })?;
        let doc: DocumentFields = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("it is not valid JSON metadata ({e})")))?;
        if doc.client_id != client_id {
            return Err(bad(
                "its client_id is not the URL it was fetched from".to_owned()
            ));
        }
        if doc.redirect_uris.is_empty() {
            return Err(bad("it lists no redirect_uris".to_owned()));
        }
        for uri in &doc.redirect_uris {
            check_redirect_uri(uri).map_err(bad)?;
        }
        if doc
            .token_endpoint_auth_method
            .as_deref()
            .is_some_and(|m| m != "none")
        {
            return Err(bad(
                "only public clients (token_endpoint_auth_method \"none\") may be identified \
                 by a metadata document"
                    .to_owned(),
            ));
        }
        Ok(ClientRecord::public(
            client_id,
            doc.client_name.filter(|n| !n.trim().is_empty()),
            doc.redirect_uris,
        ))
    }
}

/// The fields of a metadata document we use (others are ignored).
#[derive(serde::Deserialize)]
struct DocumentFields {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

/// A fetch error in words, without the URL's query (which could carry anything).
fn describe_fetch_error(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "the fetch timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else if e.is_body() || e.is_decode() {
        "could not read the answer".to_owned()
    } else {
        "the fetch failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_loopback_or_private_use() {
        assert!(check_redirect_uri("https://app.example.com/cb").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:3000/callback").is_ok());
        assert!(check_redirect_uri("http://localhost/cb").is_ok());
        assert!(check_redirect_uri("http://[::1]:9/cb").is_ok());
        assert!(check_redirect_uri("com.example.app:/cb").is_ok());
        assert!(check_redirect_uri("http://evil.example.com/cb").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
        assert!(check_redirect_uri("JavaScript:alert(1)").is_err());
        assert!(check_redirect_uri("data:text/html,x").is_err());
        assert!(check_redirect_uri("https://a.example/cb#frag").is_err());
        assert!(check_redirect_uri("https://user:pw@a.example/cb").is_err());
        assert!(check_redirect_uri("not a url").is_err());
    }

    #[test]
    fn document_ids_are_https_urls_with_a_path() {
        assert!(is_document_id("https://app.example.com/client.json", false));
        assert!(!is_document_id("https://app.example.com/", false));
        assert!(!is_document_id("http://app.example.com/client.json", false));
        assert!(!is_document_id("http://127.0.0.1:9/client.json", false));
        assert!(is_document_id("http://127.0.0.1:9/client.json", true));
        assert!(!is_document_id("slc_client_abc", false));
    }
}
