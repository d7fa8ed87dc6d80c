//! A fake GitHub on loopback: the three endpoints of an OAuth app's sign-in
//! (`/login/oauth/authorize`, `/login/oauth/access_token`, `/user`), strict about what
//! GitHub checks (client id and secret, redirect URI, PKCE S256, single-use codes).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use sluice_testkit::github::{FakeGitHub, FakeUser};
//!
//! let github = FakeGitHub::start("client-id", "client-secret").await.unwrap();
//! github.sign_in_as(FakeUser::new(42, "alice"));
//! assert!(github.url().starts_with("http://127.0.0.1:"));
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use sha2::Digest as _;

/// A person the fake signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    /// GitHub's numeric user id.
    pub id: u64,
    /// The login.
    pub login: String,
    /// The display name.
    pub name: Option<String>,
    /// The public e-mail address.
    pub email: Option<String>,
}

impl FakeUser {
    /// A user with a name and e-mail derived from the login.
    pub fn new(id: u64, login: &str) -> Self {
        FakeUser {
            id,
            login: login.to_owned(),
            name: Some(format!("{login} (fake)")),
            email: Some(format!("{login}@example.com")),
        }
    }
}

#[derive(Debug)]
struct Code {
    user: FakeUser,
    redirect_uri: String,
    challenge: String,
}

#[derive(Debug, Default)]
struct FakeState {
    client_id: String,
    client_secret: String,
    user: Option<FakeUser>,
    queue: std::collections::VecDeque<FakeUser>,
    codes: HashMap<String, Code>,
    tokens: HashMap<String, FakeUser>,
    issued: Vec<String>,
    requests: Vec<String>,
    next: u64,
}

/// The fake GitHub server; it stops when dropped.
#[derive(Debug)]
pub struct FakeGitHub {
    url: String,
    state: Arc<Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<FakeState>) -> std::sync::MutexGuard<'_, FakeState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeGitHub {
    /// Starts on a free loopback port, as an OAuth app with these credentials.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub async fn start(client_id: &str, client_secret: &str) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(FakeState {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            ..FakeState::default()
        }));
        let app = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/user", get(user))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeGitHub { url, state, task })
    }

    /// The base URL (`http://127.0.0.1:port`), for both the web and the API address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Who signs in from now on (until called again). With nobody set, `/authorize`
    /// answers as if the person refused (`error=access_denied`).
    pub fn sign_in_as(&self, user: FakeUser) {
        lock(&self.state).user = Some(user);
    }

    /// The people who sign in next, one per sign-in, in order; after the queue, the
    /// last one set with [`sign_in_as`](Self::sign_in_as) (for tests where a client
    /// drives several sign-ins on its own).
    pub fn queue_sign_ins(&self, users: impl IntoIterator<Item = FakeUser>) {
        lock(&self.state).queue.extend(users);
    }

    /// Every access token the fake has handed out (to check none leaks further).
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.state).issued.clone()
    }

    /// One line per request received (`GET /user`, …).
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }
}

fn redirect(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

async fn authorize(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = lock(&state);
    s.requests.push("GET /login/oauth/authorize".to_owned());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != s.client_id {
        return (StatusCode::NOT_FOUND, "unknown client_id").into_response();
    }
    let redirect_uri = get("redirect_uri");
    let Ok(mut target) = url::Url::parse(&redirect_uri) else {
        return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response();
    };
    let state_param = get("state");
    let next = s.queue.pop_front().or_else(|| s.user.clone());
    let Some(user) = next else {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("state", &state_param);
        return redirect(target.as_str());
    };
    if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
        return (StatusCode::BAD_REQUEST, "PKCE S256 required").into_response();
    }
    s.next += 1;
    let code = format!("ghcode{}", s.next);
    s.codes.insert(
        code.clone(),
        Code {
            user,
            redirect_uri: redirect_uri.clone(),
            challenge: get("code_challenge"),
        },
    );
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state_param);
    redirect(target.as_str())
}

fn json(value: &serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn access_token(
    State(state): State<Arc<Mutex<FakeState>>>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut s = lock(&state);
    s.requests.push("POST /login/oauth/access_token".to_owned());
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    // GitHub answers errors with 200 and an error body.
    let error = |code: &str| json(&serde_json::json!({"error": code}));
    if get("client_id") != s.client_id || get("client_secret") != s.client_secret {
        return error("incorrect_client_credentials");
    }
    let Some(code) = s.codes.remove(&get("code")) else {
        return error("bad_verification_code");
    };
    if code.redirect_uri != get("redirect_uri") {
        return error("redirect_uri_mismatch");
    }
    let digest = sha2::Sha256::digest(get("code_verifier").as_bytes());
    if base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) != code.challenge {
        return error("bad_verification_code");
    }
    s.next += 1;
    let token = format!("gho_fake{:020}", s.next);
    s.tokens.insert(token.clone(), code.user);
    s.issued.push(token.clone());
    json(&serde_json::json!({"access_token": token, "token_type": "bearer", "scope": "read:user"}))
}

async fn user(State(state): State<Arc<Mutex<FakeState>>>, headers: HeaderMap) -> Response {
    let mut s = lock(&state);
    s.requests.push("GET /user".to_owned());
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.to_owned()))
        .unwrap_or_default();
    if headers.get(header::USER_AGENT).is_none() {
        return (StatusCode::FORBIDDEN, "a User-Agent is required").into_response();
    }
    match s.tokens.get(&token) {
        Some(u) => json(&serde_json::json!({
            "id": u.id, "login": u.login, "name": u.name, "email": u.email,
        })),
        None => (StatusCode::UNAUTHORIZED, "Bad credentials").into_response(),
    }
}
