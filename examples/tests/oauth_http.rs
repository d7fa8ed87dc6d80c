//! `postgres_server --transport http` with GitHub sign-in, end to end over real HTTP:
//! the fake GitHub of the testkit, the built server as a child process, a browser
//! emulated by hand (cookies, redirects), MCP calls with the tokens it gets.
#![allow(clippy::unwrap_used)]

mod common;

use common::oauth::{
    Browser, GITHUB_ID, GITHUB_SECRET, Mcp, ServerProcess, authorize_url, exchange, free_port,
    pkce, register, sign_in,
};
use reqwest::StatusCode;
use serde_json::json;
use sluice_testkit::github::{FakeGitHub, FakeUser};

const REDIRECT: &str = "http://127.0.0.1:33418/callback";

async fn setup(extra: &[&str]) -> (sluice_testkit::TestDatabase, FakeGitHub, ServerProcess) {
    let db = sluice_testkit::database_with(
        "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
         INSERT INTO notes (body) VALUES ('first');",
    )
    .await
    .unwrap();
    let github = FakeGitHub::start(GITHUB_ID, GITHUB_SECRET).await.unwrap();
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
    let port = free_port();
    let server = ServerProcess::start(
        port,
        &args,
        &[
            ("GITHUB_CLIENT_ID", GITHUB_ID),
            ("GITHUB_CLIENT_SECRET", GITHUB_SECRET),
        ],
    );
    (db, github, server)
}

/// Signs `user` in with a freshly registered client; returns (client_id, token answer).
async fn tokens_for(
    server: &ServerProcess,
    github: &FakeGitHub,
    user: FakeUser,
) -> (String, serde_json::Value) {
    github.sign_in_as(user);
    let client_id = register(&server.base, REDIRECT).await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new();
    let got = sign_in(
        &mut browser,
        &authorize_url(&server.base, &client_id, REDIRECT, &challenge, &[]),
    )
    .await;
    assert_eq!(got["state"], "client-state-123");
    assert_eq!(got["iss"], server.base);
    let (status, headers, body) = exchange(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &got["code"]),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
            ("resource", &server.mcp()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    (client_id, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_and_writers_get_exactly_their_tools() {
    let (db, github, server) = setup(&[]).await;

    // Without a token: 401 with the challenge that starts discovery.
    let mut anonymous = Mcp::new(&server.mcp(), None);
    let answer = anonymous.initialize().await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let challenge = answer.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            server.base
        )),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"db:read db:write\""),
        "{challenge}"
    );

    // A reader (not on the writers list, signed in with GitHub id 7).
    let (_, reader) = tokens_for(&server, &github, FakeUser::new(7, "bob")).await;
    let mut bob = Mcp::new(&server.mcp(), reader["access_token"].as_str());
    assert_eq!(bob.initialize().await.status, StatusCode::OK);
    let tools = bob.tool_names().await;
    assert!(tools.contains(&"queryDatabase".to_owned()), "{tools:?}");
    assert!(!tools.contains(&"executeDatabase".to_owned()), "{tools:?}");
    let (error, text) = bob
        .call("queryDatabase", json!({"sql": "SELECT body FROM notes"}))
        .await;
    assert!(!error && text.contains("first"), "{text}");
    let (error, text) = bob
        .call(
            "executeDatabase",
            json!({"sql": "INSERT INTO notes (body) VALUES ('bob')"}),
        )
        .await;
    assert!(error, "a reader ran executeDatabase: {text}");

    // A writer named by numeric id, whatever the login is today.
    let (client_id, writer) =
        tokens_for(&server, &github, FakeUser::new(42, "alice-renamed")).await;
    let mut alice = Mcp::new(&server.mcp(), writer["access_token"].as_str());
    assert_eq!(alice.initialize().await.status, StatusCode::OK);
    assert!(
        alice
            .tool_names()
            .await
            .contains(&"executeDatabase".to_owned())
    );
    let (error, text) = alice
        .call(
            "executeDatabase",
            json!({"sql": "INSERT INTO notes (body) VALUES ('alice')"}),
        )
        .await;
    assert!(!error, "{text}");
    // Someone else who took the login "alice" is not the writer.
    let (_, squatter) = tokens_for(&server, &github, FakeUser::new(99, "alice")).await;
    let mut mallory = Mcp::new(&server.mcp(), squatter["access_token"].as_str());
    mallory.initialize().await;
    assert!(
        !mallory
            .tool_names()
            .await
            .contains(&"executeDatabase".to_owned())
    );

    // The second connection sees the writer's row and nothing of the reader's.
    let client = db.connect().await.unwrap();
    let bodies: Vec<String> = client
        .query("SELECT body FROM notes ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(bodies, ["first", "alice"]);

    // Refresh rotates; the old refresh token used again revokes the whole grant.
    let old_refresh = writer["refresh_token"].as_str().unwrap();
    let (status, _, rotated) = exchange(
        &server.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", old_refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(rotated["refresh_token"], writer["refresh_token"]);
    let mut refreshed = Mcp::new(&server.mcp(), rotated["access_token"].as_str());
    assert_eq!(refreshed.initialize().await.status, StatusCode::OK);
    let (status, _, reused) = exchange(
        &server.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", old_refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reused["error"], "invalid_grant");
    let mut after = Mcp::new(&server.mcp(), rotated["access_token"].as_str());
    assert_eq!(
        after.initialize().await.status,
        StatusCode::UNAUTHORIZED,
        "the grant must be revoked"
    );
    let (status, _, _) = exchange(
        &server.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rotated["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Revocation (RFC 7009) of the reader's access token.
    let bob_client = register(&server.base, REDIRECT).await;
    let _ = bob_client;
    let response = reqwest::Client::new()
        .post(format!("{}/revoke", server.base))
        .form(&[
            ("token", reader["access_token"].as_str().unwrap()),
            ("client_id", "slc_client_unknown"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "an unknown client may not revoke"
    );

    // Nothing secret in the log: not GitHub's secret, not GitHub's tokens, not ours.
    let log = server.log();
    assert!(!log.contains(GITHUB_SECRET), "the GitHub secret was logged");
    for token in github.issued_tokens() {
        assert!(!log.contains(&token), "a GitHub token was logged");
    }
    for token in [&reader, &writer, &rotated] {
        for field in ["access_token", "refresh_token"] {
            assert!(
                !log.contains(token[field].as_str().unwrap()),
                "a {field} was logged"
            );
        }
    }
    assert!(log.contains("signed in"), "{log}");
}
