//! The edges of the remote server: HTTPS served directly (with `__Host-` cookies),
//! GitHub failing or refusing (a readable page, never a panic), and the per-address
//! request budget of the authorization endpoints.
#![allow(clippy::unwrap_used)]

mod common;

use common::oauth::{
    Browser, GITHUB_ID, GITHUB_SECRET, ServerProcess, authorize_url, free_port, hidden, location,
    pkce, query, register,
};
use reqwest::StatusCode;
use sluice_testkit::github::{FakeGitHub, FakeUser};

const REDIRECT: &str = "http://127.0.0.1:33418/callback";

fn server(
    db: &sluice_testkit::TestDatabase,
    github: &FakeGitHub,
    secret: &str,
    extra: &[&str],
) -> ServerProcess {
    let mut args = vec![
        "--database-url",
        db.url(),
        "--github-url",
        github.url(),
        "--github-api-url",
        github.url(),
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(
        free_port(),
        &args,
        &[
            ("GITHUB_CLIENT_ID", GITHUB_ID),
            ("GITHUB_CLIENT_SECRET", secret),
        ],
    )
}

/// Consent approved; returns the browser and GitHub's redirect back to our callback.
async fn to_callback(base: &str) -> (Browser, String) {
    let client_id = register(base, REDIRECT).await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    let (_, _, html) = browser
        .get(&authorize_url(base, &client_id, REDIRECT, &challenge, &[]))
        .await;
    let (status, headers, _) = browser
        .post_form(
            &format!("{base}/authorize"),
            &[
                ("request", &hidden(&html, "request")),
                ("csrf", &hidden(&html, "csrf")),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let (_, headers, _) = browser.get(&location(&headers)).await;
    (browser, location(&headers))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_failures_become_readable_pages() {
    let db = sluice_testkit::database().await.unwrap();
    let github = FakeGitHub::start(GITHUB_ID, GITHUB_SECRET).await.unwrap();
    // Our server holds a wrong secret: GitHub refuses the code exchange.
    let wrong = "not-the-github-secret-0000";
    let s = server(&db, &github, wrong, &[]);
    github.sign_in_as(FakeUser::new(42, "alice"));
    let (mut browser, callback) = to_callback(&s.base).await;
    let (status, headers, body) = browser.get(&callback).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("Sign-in failed"), "{body}");
    assert!(headers.get("location").is_none());
    assert!(
        !body.contains(wrong) && !s.log().contains(wrong),
        "the secret leaked"
    );
    assert!(!s.log().contains("panicked"));

    // The person cancels at GitHub: the client hears access_denied, with its state.
    let db2 = sluice_testkit::database().await.unwrap();
    let refusing = FakeGitHub::start(GITHUB_ID, GITHUB_SECRET).await.unwrap();
    let s = server(&db2, &refusing, GITHUB_SECRET, &[]);
    let (mut browser, callback) = to_callback(&s.base).await;
    let (status, headers, _) = browser.get(&callback).await;
    assert_eq!(status, StatusCode::FOUND);
    let back = query(&location(&headers));
    assert_eq!(back["error"], "access_denied");
    assert_eq!(back["state"], "client-state-123");
    assert_eq!(back["iss"], s.base);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_endpoints_have_a_request_budget() {
    let db = sluice_testkit::database().await.unwrap();
    let github = FakeGitHub::start(GITHUB_ID, GITHUB_SECRET).await.unwrap();
    let s = server(&db, &github, GITHUB_SECRET, &["--auth-rate-limit", "5"]);
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let response = http
            .post(format!("{}/register", s.base))
            .json(&serde_json::json!({"redirect_uris": [REDIRECT]}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        3
    );
    // Another endpoint has its own budget; the MCP endpoint has none of these limits.
    let response = http
        .post(format!("{}/token", s.base))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_directly_with_host_prefixed_cookies() {
    let db = sluice_testkit::database().await.unwrap();
    let github = FakeGitHub::start(GITHUB_ID, GITHUB_SECRET).await.unwrap();
    let dir = std::env::temp_dir().join(format!("sluice-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let port = free_port();
    let _server = ServerProcess::start(
        port,
        &[
            "--database-url",
            db.url(),
            "--github-url",
            github.url(),
            "--github-api-url",
            github.url(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[
            ("GITHUB_CLIENT_ID", GITHUB_ID),
            ("GITHUB_CLIENT_SECRET", GITHUB_SECRET),
        ],
    );
    let base = format!("https://127.0.0.1:{port}");
    let https = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata: serde_json::Value = https
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], format!("{base}/mcp"));
    assert_eq!(metadata["authorization_servers"][0], base);
    let registered: serde_json::Value = https
        .post(format!("{base}/register"))
        .json(&serde_json::json!({"redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (_, challenge) = pkce();
    let page = https
        .get(authorize_url(
            &base,
            registered["client_id"].as_str().unwrap(),
            REDIRECT,
            &challenge,
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-sluice-csrf="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    // Plain HTTP to the HTTPS port gets nowhere.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_err_or_not_ok()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

trait NotOk {
    fn is_err_or_not_ok(&self) -> bool;
}

impl NotOk for Result<reqwest::Response, reqwest::Error> {
    fn is_err_or_not_ok(&self) -> bool {
        match self {
            Ok(r) => !r.status().is_success(),
            Err(_) => true,
        }
    }
}
