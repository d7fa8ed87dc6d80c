//! Driving `postgres_server --transport http` as the OAuth tests need: the server as a
//! child process (its log kept), a browser (cookies, no automatic redirects), the sign-in
//! dance through the consent page and the fake GitHub, and MCP over HTTP with a token.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sha2::Digest as _;

use super::example_binary;

/// The GitHub OAuth app the tests configure.
pub(crate) const GITHUB_ID: &str = "Iv1.fake-client-id";
pub(crate) const GITHUB_SECRET: &str = "fake-github-secret-0123456789";

/// A free loopback port (bound, read, released): the benches' own, for the tests that
/// use this module (not every test binary that includes it does, hence the allow).
#[allow(unused_imports)]
pub(crate) use examples::free_port;

/// A running `postgres_server --transport http`; killed when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) base: String,
    log: Arc<Mutex<String>>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts the server on `port` with `args` and `envs`, and waits until it listens.
    pub(crate) fn start(port: u16, args: &[&str], envs: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new(example_binary());
        command
            .args([
                "--transport",
                "http",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .args(args)
            .env("RUST_LOG", "info,sluice=debug")
            .env_remove("GITHUB_CLIENT_ID")
            .env_remove("GITHUB_CLIENT_SECRET")
            .env_remove("COOKIE_ENCRYPTION_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = log.lock().unwrap().clone();
            if text.contains("serving PostgreSQL over MCP (Streamable HTTP)") {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!("the server exited ({status}):\n{}", log.lock().unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Stops the server (SIGKILL) and waits for it.
    /// Sends the process a signal (`TERM`, `INT`, …) with kill(1).
    pub(crate) fn signal(&self, name: &str) {
        super::signal(self.child.id(), name);
    }

    /// Waits (at most 60 s) for the process to exit on its own: its exit code.
    pub(crate) fn wait_exit(&mut self) -> Option<i32> {
        for _ in 0..600 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not exit within 60 s:\n{}", self.log());
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything the server logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The MCP endpoint.
    pub(crate) fn mcp(&self) -> String {
        format!("{}/mcp", self.base)
    }
}

/// A browser: a cookie jar, redirects followed by hand.
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    pub(crate) fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attrs) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A cookie's value.
    pub(crate) fn cookie(&self, name: &str) -> Option<&String> {
        self.cookies.get(name)
    }

    /// Drops every cookie (another browser).
    pub(crate) fn forget_cookies(&mut self) {
        self.cookies.clear();
    }

    pub(crate) async fn get(&mut self, url: &str) -> (StatusCode, HeaderMap, String) {
        let response = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    pub(crate) async fn post_form(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let response = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    async fn finish(&mut self, response: reqwest::Response) -> (StatusCode, HeaderMap, String) {
        let status = response.status();
        let headers = response.headers().clone();
        self.keep_cookies(&headers);
        (status, headers, response.text().await.unwrap())
    }
}

/// The `Location` of a redirect.
pub(crate) fn location(headers: &HeaderMap) -> String {
    headers.get(LOCATION).unwrap().to_str().unwrap().to_owned()
}

/// The query parameters of a URL.
pub(crate) fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// A hidden form field of the consent page.
pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in:\n{html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// A PKCE verifier and its S256 challenge.
pub(crate) fn pkce() -> (String, String) {
    let verifier = format!("verifier-{}-{}", std::process::id(), rand_suffix());
    let verifier = format!("{verifier:-<50}");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Registers a public client (RFC 7591) with one redirect URI; returns its id.
pub(crate) async fn register(base: &str, redirect_uri: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/register"))
        .json(&json!({"client_name": "Test Client", "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["client_id"].as_str().unwrap().to_owned()
}

/// The authorization URL for a client.
pub(crate) fn authorize_url(
    base: &str,
    client_id: &str,
    redirect_uri: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "client-state-123");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

/// Walks a browser from the authorization URL to the client's redirect: consent
/// (approved), GitHub (the fake signs in whoever it was told), our callback. Returns
/// the parameters the client receives.
pub(crate) async fn sign_in(browser: &mut Browser, authorize: &str) -> HashMap<String, String> {
    let (status, _, html) = browser.get(authorize).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let request = hidden(&html, "request");
    let csrf = hidden(&html, "csrf");
    let base = authorize.split("/authorize").next().unwrap().to_owned();
    let (status, headers, body) = browser
        .post_form(
            &format!("{base}/authorize"),
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    let github = location(&headers);
    let (status, headers, body) = browser.get(&github).await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    let callback = location(&headers);
    // Our issuer's callback (behind a load balancer, possibly another process's).
    assert_eq!(
        url::Url::parse(&callback).unwrap().path(),
        "/callback",
        "{callback}"
    );
    let (status, headers, body) = browser.get(&callback).await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    query(&location(&headers))
}

/// Exchanges a code at `/token`.
pub(crate) async fn exchange(base: &str, form: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// The JSON-RPC answer in an MCP POST's response body: the message with an `id` of an
/// event stream (`Null` when there is none), else the JSON body (the text itself when it
/// is not JSON).
pub(crate) fn answer_of(headers: &HeaderMap, text: String) -> Value {
    let stream = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if stream {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m.get("id").is_some())
            .unwrap_or(Value::Null)
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Signs in (whoever the fake GitHub signs in) with a freshly registered public client
/// at `base`, and exchanges the code: the access token.
pub(crate) async fn access_token(base: &str, redirect_uri: &str) -> String {
    let client_id = register(base, redirect_uri).await;
    let (verifier, challenge) = pkce();
    let got = sign_in(
        &mut Browser::new(),
        &authorize_url(base, &client_id, redirect_uri, &challenge, &[]),
    )
    .await;
    let (status, _, tokens) = exchange(
        base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &got["code"]),
            ("redirect_uri", redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// An MCP session over HTTP with a bearer token.
pub(crate) struct Mcp {
    url: String,
    token: Option<String>,
    session: Option<String>,
    next: u64,
    http: reqwest::Client,
}

/// What one MCP POST returned.
pub(crate) struct McpAnswer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Mcp {
    pub(crate) fn new(url: &str, token: Option<&str>) -> Mcp {
        Mcp {
            url: url.to_owned(),
            token: token.map(str::to_owned),
            session: None,
            next: 1,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn post(&mut self, method: &str, params: Value) -> McpAnswer {
        let id = self.next;
        self.next += 1;
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = &self.session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(session) = headers.get("mcp-session-id") {
            self.session = Some(session.to_str().unwrap().to_owned());
        }
        let text = response.text().await.unwrap();
        let body = answer_of(&headers, text);
        McpAnswer {
            status,
            headers,
            body,
        }
    }

    /// `initialize` then `notifications/initialized`; the answer of `initialize`.
    pub(crate) async fn initialize(&mut self) -> McpAnswer {
        let answer = self
            .post(
                "initialize",
                json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
            )
            .await;
        if answer.status.is_success() {
            let mut request = self
                .http
                .post(&self.url)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-11-25")
                .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            if let Some(session) = &self.session {
                request = request.header("mcp-session-id", session);
            }
            assert_eq!(request.send().await.unwrap().status(), StatusCode::ACCEPTED);
        }
        answer
    }

    /// The names `tools/list` shows.
    pub(crate) async fn tool_names(&mut self) -> Vec<String> {
        let answer = self.post("tools/list", json!({})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// `tools/call`: (isError, text).
    pub(crate) async fn call(&mut self, tool: &str, arguments: Value) -> (bool, String) {
        let answer = self
            .post("tools/call", json!({"name": tool, "arguments": arguments}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        if let Some(error) = answer.body.get("error") {
            return (true, error.to_string());
        }
        let result = &answer.body["result"];
        let text = result["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        (result["isError"].as_bool().unwrap_or(false), text)
    }
}
