//! The PostgreSQL token store: tokens are kept as hashes only (read from its tables),
//! two server processes on one store accept each other's tokens, both survive a
//! restart, and a server for another resource refuses them. Plus the set-ups without
//! GitHub: static service tokens, and the refusal to listen openly without
//! authentication.
#![allow(clippy::unwrap_used)]

mod common;

use common::oauth::{
    Browser, GITHUB_ID, GITHUB_SECRET, Mcp, ServerProcess, authorize_url, exchange, free_port,
    pkce, register, sign_in,
};
use reqwest::StatusCode;
use sha2::Digest as _;
use sluice_testkit::github::{FakeGitHub, FakeUser};

const REDIRECT: &str = "http://127.0.0.1:33418/callback";

fn sha256_hex(text: &str) -> String {
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn start(
    db: &sluice_testkit::TestDatabase,
    github: &FakeGitHub,
    port: u16,
    public_url: Option<&str>,
) -> ServerProcess {
    let mut args = vec![
        "--database-url",
        db.url(),
        "--token-store",
        "postgres",
        "--writers",
        "github:42",
        "--github-url",
        github.url(),
        "--github-api-url",
        github.url(),
    ];
    if let Some(url) = public_url {
        args.extend_from_slice(&["--public-url", url]);
    }
    ServerProcess::start(
        port,
        &args,
        &[
            ("GITHUB_CLIENT_ID", GITHUB_ID),
            ("GITHUB_CLIENT_SECRET", GITHUB_SECRET),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_grants_that_survive_restarts() {
    let db = sluice_testkit::database().await.unwrap();
    let github = FakeGitHub::start(GITHUB_ID, GITHUB_SECRET).await.unwrap();
    github.sign_in_as(FakeUser::new(42, "alice"));
    // Both serve one public URL (as behind a load balancer).
    let (port_a, port_b) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{port_a}/mcp");
    let mut a = start(&db, &github, port_a, None);
    let mut b = start(&db, &github, port_b, Some(&public));

    // Registered on A, signed in through B's consent page and callback (the sealed
    // consent form and the state cookie are signed with the key both share).
    let client_id = register(&a.base, REDIRECT).await;
    let (verifier, challenge) = pkce();
    let got = sign_in(
        &mut Browser::new(),
        &authorize_url(&b.base, &client_id, REDIRECT, &challenge, &[]),
    )
    .await;
    let (status, _, tokens) = exchange(
        &a.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &got["code"]),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    for server in [&a, &b] {
        let mut mcp = Mcp::new(&server.mcp(), Some(&access));
        assert_eq!(
            mcp.initialize().await.status,
            StatusCode::OK,
            "{}",
            server.base
        );
        assert!(
            mcp.tool_names()
                .await
                .contains(&"executeDatabase".to_owned())
        );
    }

    // At rest: hashes only.
    let client = db.connect().await.unwrap();
    let row = client
        .query_one(
            "SELECT count(*) FROM sluice_oauth.access_tokens WHERE token_hash = $1",
            &[&sha256_hex(&access)],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    let row = client
        .query_one(
            "SELECT count(*) FROM sluice_oauth.refresh_tokens WHERE token_hash = $1",
            &[&sha256_hex(&refresh)],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    let dump: String = client
        .query_one(
            "SELECT coalesce(string_agg(t::text, ' '), '') FROM (
               SELECT row_to_json(x)::text AS t FROM sluice_oauth.access_tokens x UNION ALL
               SELECT row_to_json(x)::text FROM sluice_oauth.refresh_tokens x UNION ALL
               SELECT row_to_json(x)::text FROM sluice_oauth.grants x UNION ALL
               SELECT row_to_json(x)::text FROM sluice_oauth.codes x UNION ALL
               SELECT row_to_json(x)::text FROM sluice_oauth.clients x) all_rows",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        !dump.contains(&access) && !dump.contains(&refresh),
        "a token is stored in the clear"
    );
    assert!(
        !dump.contains(&got["code"]),
        "a code is stored in the clear"
    );
    for token in github.issued_tokens() {
        assert!(!dump.contains(&token), "a GitHub token is stored");
    }

    // Both restart: the token still works, and the refresh token rotates on B.
    a.stop();
    b.stop();
    let a = start(&db, &github, port_a, None);
    let b = start(&db, &github, port_b, Some(&public));
    let mut mcp = Mcp::new(&a.mcp(), Some(&access));
    assert_eq!(mcp.initialize().await.status, StatusCode::OK);
    let (status, _, rotated) = exchange(
        &b.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    // The old refresh token, replayed on A, revokes the grant for both.
    let (status, _, _) = exchange(
        &a.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut on_a = Mcp::new(&a.mcp(), rotated["access_token"].as_str());
    assert_eq!(on_a.initialize().await.status, StatusCode::UNAUTHORIZED);

    // A server for another resource on the same store refuses these tokens.
    let (_, other_tokens) = {
        let client_id = register(&a.base, REDIRECT).await;
        let (verifier, challenge) = pkce();
        let got = sign_in(
            &mut Browser::new(),
            &authorize_url(&a.base, &client_id, REDIRECT, &challenge, &[]),
        )
        .await;
        let (status, _, tokens) = exchange(
            &a.base,
            &[
                ("grant_type", "authorization_code"),
                ("code", &got["code"]),
                ("redirect_uri", REDIRECT),
                ("client_id", &client_id),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        (status, tokens)
    };
    let port_c = free_port();
    let c = start(
        &db,
        &github,
        port_c,
        Some(&format!("http://127.0.0.1:{port_c}/mcp")),
    );
    let answer = Mcp::new(&c.mcp(), other_tokens["access_token"].as_str())
        .initialize()
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("another resource")
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_tokens_alone_serve_service_accounts() {
    let db = sluice_testkit::database().await.unwrap();
    let token = "svc-token-0123456789abcdef0123456789";
    let entry = format!("ci-bot=sha256:{}", sha256_hex(token));
    let server = ServerProcess::start(
        free_port(),
        &["--database-url", db.url(), "--writers", "ci-bot"],
        &[("SLUICE_STATIC_TOKENS", &entry)],
    );
    let mut mcp = Mcp::new(&server.mcp(), Some(token));
    assert_eq!(mcp.initialize().await.status, StatusCode::OK);
    assert!(
        mcp.tool_names()
            .await
            .contains(&"executeDatabase".to_owned())
    );
    let answer = Mcp::new(&server.mcp(), Some("svc-token-wrong"))
        .initialize()
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        Mcp::new(&server.mcp(), None).initialize().await.status,
        StatusCode::UNAUTHORIZED
    );
    // No authorization server without GitHub: nothing to discover or sign in to.
    let response = reqwest::get(format!("{}/authorize", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(!server.log().contains(token));
}

#[test]
fn an_open_address_without_authentication_is_refused() {
    let output = std::process::Command::new(common::example_binary())
        .args([
            "--transport",
            "http",
            "--bind",
            "0.0.0.0:0",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
        ])
        .env_remove("GITHUB_CLIENT_ID")
        .env_remove("GITHUB_CLIENT_SECRET")
        .env_remove("SLUICE_STATIC_TOKENS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("without authentication"), "{stderr}");
}
