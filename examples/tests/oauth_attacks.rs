//! What the authorization server refuses, each as a real HTTP exchange with the built
//! `postgres_server --transport http`: PKCE missing or plain or wrong, redirect URIs that
//! do not match (no open redirect), codes and states replayed, consent without its CSRF
//! token, tokens expired, revoked or for another resource, client metadata documents on
//! internal addresses (SSRF), a 1 MB `Authorization` header. None may panic the server
//! or put a secret in its log.
#![allow(clippy::unwrap_used)]

mod common;

use common::oauth::{
    Browser, GITHUB_ID, GITHUB_SECRET, Mcp, ServerProcess, authorize_url, exchange, free_port,
    hidden, location, pkce, query, register, sign_in,
};
use reqwest::StatusCode;
use sluice_testkit::github::{FakeGitHub, FakeUser};

const REDIRECT: &str = "http://127.0.0.1:33418/callback";

struct World {
    _db: sluice_testkit::TestDatabase,
    github: FakeGitHub,
    server: ServerProcess,
}

async fn world(extra: &[&str]) -> World {
    let db = sluice_testkit::database().await.unwrap();
    let github = FakeGitHub::start(GITHUB_ID, GITHUB_SECRET).await.unwrap();
    github.sign_in_as(FakeUser::new(42, "alice"));
    let mut args = vec![
        "--database-url",
        db.url(),
        "--writers",
        "github:42",
        "--github-url",
        github.url(),
        "--github-api-url",
        github.url(),
    ];
    args.extend_from_slice(extra);
    let server = ServerProcess::start(
        free_port(),
        &args,
        &[
            ("GITHUB_CLIENT_ID", GITHUB_ID),
            ("GITHUB_CLIENT_SECRET", GITHUB_SECRET),
        ],
    );
    World {
        _db: db,
        github,
        server,
    }
}

impl World {
    fn base(&self) -> &str {
        &self.server.base
    }

    /// A fresh client, signed in: (client_id, verifier, the parameters it received).
    async fn code(&self) -> (String, String, std::collections::HashMap<String, String>) {
        let client_id = register(self.base(), REDIRECT).await;
        let (verifier, challenge) = pkce();
        let got = sign_in(
            &mut Browser::new(),
            &authorize_url(self.base(), &client_id, REDIRECT, &challenge, &[]),
        )
        .await;
        (client_id, verifier, got)
    }

    async fn redeem(
        &self,
        client_id: &str,
        code: &str,
        verifier: &str,
    ) -> (StatusCode, serde_json::Value) {
        let (status, _, body) = exchange(
            self.base(),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("client_id", client_id),
                ("code_verifier", verifier),
            ],
        )
        .await;
        (status, body)
    }

    /// The log holds no panic and no secret.
    fn log_is_clean(&self, tokens: &[&str]) {
        let log = self.server.log();
        assert!(!log.contains("panicked"), "the server panicked:\n{log}");
        assert!(!log.contains(GITHUB_SECRET), "the GitHub secret was logged");
        for token in self.github.issued_tokens() {
            assert!(!log.contains(&token), "a GitHub token was logged");
        }
        for token in tokens {
            assert!(!log.contains(token), "a token was logged");
        }
    }
}

/// The error a client receives at its redirect URI.
async fn refused_at_redirect(
    browser: &mut Browser,
    url: &str,
) -> std::collections::HashMap<String, String> {
    let (status, headers, body) = browser.get(url).await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    let to = location(&headers);
    assert!(to.starts_with(REDIRECT), "{to}");
    query(&to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_is_required_s256_only_and_checked() {
    let w = world(&[]).await;
    let client_id = register(w.base(), REDIRECT).await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    // Missing challenge, plain, missing method.
    let mut url = url::Url::parse(&format!("{}/authorize", w.base())).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "s1");
    let got = refused_at_redirect(&mut browser, url.as_str()).await;
    assert_eq!(got["error"], "invalid_request");
    assert_eq!(got["state"], "s1");
    assert_eq!(got["iss"], w.base());
    let plain =
        authorize_url(w.base(), &client_id, REDIRECT, &challenge, &[]).replace("S256", "plain");
    assert_eq!(
        refused_at_redirect(&mut browser, &plain).await["error"],
        "invalid_request"
    );
    let no_method = authorize_url(w.base(), &client_id, REDIRECT, &challenge, &[])
        .replace("&code_challenge_method=S256", "");
    assert_eq!(
        refused_at_redirect(&mut browser, &no_method).await["error"],
        "invalid_request"
    );
    // A wrong verifier spends the code and gets nothing.
    let (client_id, verifier, got) = w.code().await;
    let (status, body) = w
        .redeem(&client_id, &got["code"], &format!("{verifier}x"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (status, _) = w.redeem(&client_id, &got["code"], &verifier).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a code must not survive a failed attempt"
    );
    w.log_is_clean(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_uris_match_exactly_and_never_open_a_redirect() {
    let w = world(&[]).await;
    let client_id = register(w.base(), REDIRECT).await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    for evil in [
        "https://evil.example/callback",
        "http://127.0.0.1:33418/callback/../steal",
        "http://127.0.0.1:33418/callback?x=1",
        "http://127.0.0.1:33419/callback",
    ] {
        let (status, headers, body) = browser
            .get(&authorize_url(w.base(), &client_id, evil, &challenge, &[]))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{evil}: {body}");
        assert!(
            headers.get("location").is_none(),
            "{evil} was redirected to"
        );
        assert!(body.contains("Redirect URI not registered"), "{body}");
    }
    // The code is bound to the redirect URI it was issued for.
    let (client_id, verifier, got) = w.code().await;
    let (status, _, body) = exchange(
        w.base(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &got["code"]),
            ("redirect_uri", "http://127.0.0.1:33418/other"),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Registration refuses dangerous redirect URIs.
    for bad in [
        "javascript:alert(1)",
        "http://evil.example/cb",
        "data:text/html,x",
        "https://a.example/cb#x",
    ] {
        let response = reqwest::Client::new()
            .post(format!("{}/register", w.base()))
            .json(&serde_json::json!({"redirect_uris": [bad]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // An unknown client sees an error page, not a redirect.
    let (status, headers, _) = browser
        .get(&authorize_url(
            w.base(),
            "slc_client_nope",
            REDIRECT,
            &challenge,
            &[],
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers.get("location").is_none());
    w.log_is_clean(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_code_revokes_what_it_issued() {
    let w = world(&[]).await;
    let (client_id, verifier, got) = w.code().await;
    let (status, first) = w.redeem(&client_id, &got["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let access = first["access_token"].as_str().unwrap();
    let mut mcp = Mcp::new(&w.server.mcp(), Some(access));
    assert_eq!(mcp.initialize().await.status, StatusCode::OK);
    let (status, again) = w.redeem(&client_id, &got["code"], &verifier).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let mut after = Mcp::new(&w.server.mcp(), Some(access));
    assert_eq!(after.initialize().await.status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = exchange(
        w.base(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the refresh token must be revoked too"
    );
    // Another client cannot redeem someone's code.
    let (client_id, verifier, got) = w.code().await;
    let other = register(w.base(), REDIRECT).await;
    let (status, _) = w.redeem(&other, &got["code"], &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let _ = client_id;
    w.log_is_clean(&[access]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_for_another_resource_are_refused() {
    let w = world(&[]).await;
    let client_id = register(w.base(), REDIRECT).await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new();
    let other = authorize_url(
        w.base(),
        &client_id,
        REDIRECT,
        &challenge,
        &[("resource", "https://other.example/mcp")],
    );
    assert_eq!(
        refused_at_redirect(&mut browser, &other).await["error"],
        "invalid_target"
    );
    let got = sign_in(
        &mut browser,
        &authorize_url(w.base(), &client_id, REDIRECT, &challenge, &[]),
    )
    .await;
    let (status, _, body) = exchange(
        w.base(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &got["code"]),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
            ("resource", "https://other.example/mcp"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
    w.log_is_clean(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_revoked_tokens_are_refused() {
    let w = world(&["--access-token-ttl", "2"]).await;
    let (client_id, verifier, got) = w.code().await;
    let (_, tokens) = w.redeem(&client_id, &got["code"], &verifier).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let answer = Mcp::new(&w.server.mcp(), Some(&access)).initialize().await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // A refresh gives a working token; revoking it ends it at once.
    let (status, _, fresh) = exchange(
        w.base(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let fresh_access = fresh["access_token"].as_str().unwrap();
    let mut mcp = Mcp::new(&w.server.mcp(), Some(fresh_access));
    assert_eq!(mcp.initialize().await.status, StatusCode::OK);
    let response = reqwest::Client::new()
        .post(format!("{}/revoke", w.base()))
        .form(&[("token", fresh_access), ("client_id", &client_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        Mcp::new(&w.server.mcp(), Some(fresh_access))
            .initialize()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Revoking the refresh token ends the grant.
    let response = reqwest::Client::new()
        .post(format!("{}/revoke", w.base()))
        .form(&[
            ("token", fresh["refresh_token"].as_str().unwrap()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _, _) = exchange(
        w.base(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", fresh["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    w.log_is_clean(&[&access, fresh_access]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_state_and_consent_without_csrf_are_refused() {
    let w = world(&[]).await;
    let client_id = register(w.base(), REDIRECT).await;
    let (_, challenge) = pkce();
    let authorize = authorize_url(w.base(), &client_id, REDIRECT, &challenge, &[]);

    // Consent without the CSRF token, with a wrong one, and from another browser.
    let mut browser = Browser::new();
    let (_, _, html) = browser.get(&authorize).await;
    let request = hidden(&html, "request");
    let csrf = hidden(&html, "csrf");
    let consent = format!("{}/authorize", w.base());
    let (status, headers, _) = browser
        .post_form(&consent, &[("request", &request), ("decision", "approve")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["x-frame-options"], "DENY");
    let (status, _, _) = browser
        .post_form(
            &consent,
            &[
                ("request", &request),
                ("csrf", "AAAA"),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut stranger = Browser::new();
    let (status, _, _) = stranger
        .post_form(
            &consent,
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a CSRF token works only with its browser's cookie"
    );
    // A tampered request (another redirect URI) fails its signature.
    let tampered = request.replacen('e', "f", 1);
    let (status, _, _) = browser
        .post_form(
            &consent,
            &[
                ("request", &tampered),
                ("csrf", &csrf),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The real consent, then GitHub; the callback from another browser, forged, replayed.
    let (status, headers, _) = browser
        .post_form(
            &consent,
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let (_, headers2, _) = browser.get(&location(&headers)).await;
    let callback = location(&headers2);
    let (status, _, body) = stranger.get(&callback).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a callback without the state cookie: {body}"
    );
    let forged = {
        let mut url = url::Url::parse(&callback).unwrap();
        let code = query(&callback)["code"].clone();
        url.query_pairs_mut()
            .clear()
            .append_pair("code", &code)
            .append_pair("state", "forged-state");
        url.to_string()
    };
    let (status, _, _) = browser.get(&forged).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The forged attempt cleared this browser's state cookie: the real callback now
    // fails too (a state is bound to its browser, and tried once).
    let (status, _, _) = browser.get(&callback).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Replay: a completed callback used again.
    let mut browser = Browser::new();
    let (_, _, html) = browser.get(&authorize).await;
    let (_, headers, _) = browser
        .post_form(
            &consent,
            &[
                ("request", &hidden(&html, "request")),
                ("csrf", &hidden(&html, "csrf")),
                ("decision", "approve"),
            ],
        )
        .await;
    let state_cookie = browser.cookie("sluice-state").cloned().unwrap();
    let (_, headers, _) = browser.get(&location(&headers)).await;
    let callback = location(&headers);
    let (status, _, _) = browser.get(&callback).await;
    assert_eq!(status, StatusCode::FOUND);
    let replay = Browser::new();
    let response = replay
        .http
        .get(&callback)
        .header("cookie", format!("sluice-state={state_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "a state works once"
    );

    // Denying consent sends the client access_denied.
    let mut browser = Browser::new();
    let (_, _, html) = browser.get(&authorize).await;
    let (status, headers, _) = browser
        .post_form(
            &consent,
            &[
                ("request", &hidden(&html, "request")),
                ("csrf", &hidden(&html, "csrf")),
                ("decision", "deny"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(query(&location(&headers))["error"], "access_denied");
    w.log_is_clean(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_metadata_documents_on_internal_addresses_are_not_fetched() {
    let w = world(&[]).await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new();
    for internal in [
        "https://127.0.0.1/client.json",
        "https://169.254.169.254/latest/meta-data/client.json",
        "https://[::1]/client.json",
        "https://10.0.0.1/client.json",
        "https://localhost/client.json",
        "https://[::ffff:127.0.0.1]/client.json",
    ] {
        let (status, headers, body) = browser
            .get(&authorize_url(
                w.base(),
                internal,
                REDIRECT,
                &challenge,
                &[],
            ))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{internal}: {body}");
        assert!(headers.get("location").is_none());
        assert!(
            body.contains("not a public address") || body.contains("no public address"),
            "{internal}: {body}"
        );
    }
    w.log_is_clean(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_authorization_header_is_refused_and_the_server_keeps_serving() {
    let w = world(&[]).await;
    let huge = format!("Bearer {}", "a".repeat(1 << 20));
    let response = reqwest::Client::new()
        .post(w.server.mcp())
        .header("authorization", huge)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await;
    if let Ok(response) = response {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    // Long but within limits: refused as a token, not a crash.
    let long = "b".repeat(8000);
    let answer = Mcp::new(&w.server.mcp(), Some(&long)).initialize().await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // And the server still serves.
    let (client_id, verifier, got) = w.code().await;
    let (status, _) = w.redeem(&client_id, &got["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK);
    w.log_is_clean(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_granted_only_reading_caps_a_writer() {
    let w = world(&[]).await;
    let client_id = register(w.base(), REDIRECT).await;
    let (verifier, challenge) = pkce();
    let got = sign_in(
        &mut Browser::new(),
        &authorize_url(
            w.base(),
            &client_id,
            REDIRECT,
            &challenge,
            &[("scope", "db:read")],
        ),
    )
    .await;
    let (status, tokens) = w.redeem(&client_id, &got["code"], &verifier).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tokens["scope"], "db:read");
    let mut mcp = Mcp::new(&w.server.mcp(), tokens["access_token"].as_str());
    mcp.initialize().await;
    assert!(
        !mcp.tool_names()
            .await
            .contains(&"executeDatabase".to_owned())
    );
    // Calling it anyway: 403 insufficient_scope, naming the scopes to ask for (step-up).
    let answer = mcp
        .post(
            "tools/call",
            serde_json::json!({"name": "executeDatabase", "arguments": {"sql": "CREATE TABLE t (x int)"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let www = answer.headers["www-authenticate"].to_str().unwrap();
    assert!(www.contains("error=\"insufficient_scope\""), "{www}");
    assert!(www.contains("scope=\"db:read db:write\""), "{www}");
    // Reading is still fine.
    let (error, text) = mcp
        .call("queryDatabase", serde_json::json!({"sql": "SELECT 1"}))
        .await;
    assert!(!error, "{text}");
    // Unknown scopes are refused.
    let mut browser = Browser::new();
    let unknown = authorize_url(
        w.base(),
        &client_id,
        REDIRECT,
        &challenge,
        &[("scope", "db:read admin")],
    );
    assert_eq!(
        refused_at_redirect(&mut browser, &unknown).await["error"],
        "invalid_scope"
    );
    w.log_is_clean(&[]);
}
