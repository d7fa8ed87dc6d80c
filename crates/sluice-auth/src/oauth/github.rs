//! The upstream leg: sending a person to GitHub to sign in, and learning who they are.
//! The `oauth2` crate speaks the protocol (PKCE S256, code exchange); the GitHub access
//! token it returns is used for one call to `/user` and dropped.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};

use super::config::GitHubConfig;
use super::fence::read_limited;
use crate::identity::Identity;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// GitHub, as our authorization server's upstream.
#[derive(Debug)]
pub(crate) struct GitHub {
    client: Client,
    http: reqwest::Client,
    user_url: url::Url,
}

/// Why a sign-in at GitHub did not give us a person.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("the GitHub settings are not usable: {0}")]
    Config(String),
    #[error("GitHub did not accept the sign-in code: {0}")]
    Exchange(String),
    #[error("GitHub did not say who signed in: {0}")]
    User(String),
}

impl GitHub {
    pub(crate) fn new(config: &GitHubConfig, callback: &str) -> Result<Self, UpstreamError> {
        let join = |base: &url::Url, path: &str| -> Result<String, UpstreamError> {
            let base = base.as_str().trim_end_matches('/');
            Ok(format!("{base}{path}"))
        };
        let bad = |e: url::ParseError| UpstreamError::Config(e.to_string());
        let client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.clone()))
            .set_auth_uri(
                AuthUrl::new(join(&config.web_url, "/login/oauth/authorize")?).map_err(bad)?,
            )
            .set_token_uri(
                TokenUrl::new(join(&config.web_url, "/login/oauth/access_token")?).map_err(bad)?,
            )
            .set_redirect_uri(RedirectUrl::new(callback.to_owned()).map_err(bad)?)
            // GitHub documents the secret in the body.
            .set_auth_type(AuthType::RequestBody);
        let http = reqwest::Client::builder()
            // Following redirects from a token endpoint invites SSRF (oauth2's advice).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UpstreamError::Config(e.to_string()))?;
        let user_url = url::Url::parse(&join(&config.api_url, "/user")?).map_err(bad)?;
        Ok(GitHub {
            client,
            http,
            user_url,
        })
    }

    /// Where to send the browser, with our `state` and our PKCE challenge; returns the
    /// URL and the verifier to keep until the callback.
    pub(crate) fn authorize_url(&self, state: &str) -> (String, String) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let (url, _) = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .add_scope(Scope::new("read:user".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        (url.to_string(), verifier.secret().clone())
    }

    /// Exchanges GitHub's code and asks who signed in.
    pub(crate) async fn sign_in(
        &self,
        code: &str,
        verifier: &str,
    ) -> Result<Identity, UpstreamError> {
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| UpstreamError::Exchange(describe(&e)))?;
        let response = self
            .http
            .get(self.user_url.clone())
            .bearer_auth(token.access_token().secret())
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(|e| UpstreamError::User(e.without_url().to_string()))?;
        // The token is not needed past this point; it goes out of scope with `token`.
        drop(token);
        if !response.status().is_success() {
            return Err(UpstreamError::User(format!(
                "GET /user answered HTTP {}",
                response.status().as_u16()
            )));
        }
        let body = read_limited(response, 1 << 20)
            .await
            .map_err(|e| UpstreamError::User(e.without_url().to_string()))?
            .ok_or_else(|| UpstreamError::User("the answer was too large".to_owned()))?;
        let user: GitHubUser = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::User(format!("unexpected answer ({e})")))?;
        if user.login.trim().is_empty() {
            return Err(UpstreamError::User("the answer named no login".to_owned()));
        }
        let mut identity = Identity::new(user.login).with_id(format!("github:{}", user.id));
        if let Some(name) = user.name.filter(|n| !n.is_empty()) {
            identity = identity.with_name(name);
        }
        if let Some(email) = user.email.filter(|e| !e.is_empty()) {
            identity = identity.with_email(email);
        }
        Ok(identity)
    }
}

#[derive(serde::Deserialize)]
struct GitHubUser {
    id: u64,
    login: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// An exchange error in words. `oauth2` errors never carry the client secret; server
/// answers are summarised by their error code, not echoed.
fn describe<E: std::error::Error>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(300).collect()
}
