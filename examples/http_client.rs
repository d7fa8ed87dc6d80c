//! What the HTTP benches and tests share: a child process that is killed when dropped,
//! started until it prints a line saying it is ready; a sign-in through
//! `postgres_server`'s consent page and the testkit's fake GitHub, for a bearer token;
//! waiting until a server listens; a 2025-11-25 session opened and requests in it; and
//! a stateless 2026-07-28 `tools/call`. Support for benches and tests: it panics on
//! whatever goes wrong.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

/// A child process, killed and reaped when dropped.
#[derive(Debug)]
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` and waits for a stderr/stdout line containing `ready`; returns the
/// process and that line.
///
/// # Panics
///
/// When it cannot start, or prints no such line within 30 s (this is bench support).
pub fn start(
    binary: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    ready: &str,
) -> (Process, String) {
    let mut command = Command::new(binary);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.env("RUST_LOG", "warn,postgres_server=info");
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut process = Process(
        command
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display())),
    );
    let child = &mut process.0;
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("{} did not start", binary.display()));
        if line.contains(ready) {
            return (process, line);
        }
    }
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
///
/// # Panics
///
/// When nothing does within 30 s; `what` names it in the message.
pub async fn wait_until_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `Location` of a redirect.
fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// One sign-in through consent and the fake GitHub: an access token.
///
/// # Panics
///
/// When any step fails (this is bench support).
pub async fn sign_in(base: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = "http://127.0.0.1:9/callback";
    let registered: Value = http
        .post(format!("{base}/register"))
        .json(&json!({"client_name": "bench", "redirect_uris": [redirect]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let verifier = "bench-verifier-0123456789-0123456789-0123456789".to_owned();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let page = http.get(url.as_str()).send().await.unwrap();
    let cookies: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let html = page.text().await.unwrap();
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    };
    let consent = http
        .post(format!("{base}/authorize"))
        .header("cookie", cookies.join("; "))
        .form(&[
            ("request", field("request")),
            ("csrf", field("csrf")),
            ("decision", "approve".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    let state_cookie = consent
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("sluice-state="))
        .unwrap();
    let github = http.get(location(&consent)).send().await.unwrap();
    let callback = http
        .get(location(&github))
        .header("cookie", state_cookie)
        .send()
        .await
        .unwrap();
    let back: HashMap<String, String> = url::Url::parse(&location(&callback))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let tokens: Value = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", back["code"].as_str()),
            ("redirect_uri", redirect),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// A POST of `body` to `url`, in `session` when given (a 2025-11-25 session), with what
/// `with` adds (a bearer token, `X-Forwarded-For`).
pub fn in_session(
    http: &reqwest::Client,
    url: &str,
    session: Option<&str>,
    body: &Value,
    with: &(dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Sync),
) -> reqwest::RequestBuilder {
    let mut request = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    with(request)
}

/// Opens a 2025-11-25 session at `url` (`initialize`, then `notifications/initialized`),
/// every request with what `with` adds: the session's id.
pub async fn open_session(
    http: &reqwest::Client,
    url: &str,
    with: &(dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Sync),
) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "sluice-bench", "version": "1"}}});
    let answer = in_session(http, url, None, &init, with)
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_success(),
        "initialize: {}",
        answer.status()
    );
    let session = answer.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = answer.bytes().await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let done = in_session(http, url, Some(&session), &initialized, with)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 202);
    session
}

/// A stateless 2026-07-28 `tools/call` of `tool` with `arguments`, ready to send to
/// `url`: the headers that version requires (the method and name mirrored from the
/// body) and a body whose `_meta` carries the protocol version, capabilities and client
/// information an `initialize` would have. Add a bearer token or a timeout, then send.
pub fn stateless_request(
    http: &reqwest::Client,
    url: &str,
    id: impl Into<Value>,
    tool: &str,
    arguments: Value,
) -> reqwest::RequestBuilder {
    let body = json!({"jsonrpc": "2.0", "id": id.into(), "method": "tools/call",
        "params": {"name": tool, "arguments": arguments,
                   "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                             "io.modelcontextprotocol/clientCapabilities": {},
                             "io.modelcontextprotocol/clientInfo": {"name": "sluice-bench", "version": "1"}}}});
    http.post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(body.to_string())
}
