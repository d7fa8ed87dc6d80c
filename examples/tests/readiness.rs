//! `/readyz` of the built `postgres_server --transport http`, for a load balancer: ready
//! while the database answers; not ready, within its 2 s bound, while the database is
//! down or stalled (a relay in front of the test database stops or freezes), and ready
//! again once it is back, without a restart; not ready once the server drains.
//! `/healthz` answers throughout: the process is alive.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::oauth::{ServerProcess, free_port};

/// `/readyz`'s status and body (a new connection each time, as a load balancer's probe).
async fn readyz(server: &ServerProcess) -> Result<(u16, String), reqwest::Error> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let answer = client.get(format!("{}/readyz", server.base)).send().await?;
    let status = answer.status().as_u16();
    Ok((status, answer.text().await?))
}

async fn healthz(server: &ServerProcess) -> u16 {
    reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Asks until `/readyz` answers `want`, at most 30 s; the last answer.
async fn until(server: &ServerProcess, want: u16) -> (u16, String, Duration) {
    let start = Instant::now();
    loop {
        let asked = Instant::now();
        let (status, body) = readyz(server).await.unwrap();
        if status == want {
            return (status, body, asked.elapsed());
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "/readyz stayed {status} ({body}); the server logged:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_database_and_the_drain() {
    let db = sluice_testkit::database().await.unwrap();
    let (relay, url) = db.relayed().unwrap();
    let server = ServerProcess::start(
        free_port(),
        &[
            "--database-url",
            &url,
            "--user",
            "tester",
            "--drain-timeout",
            "30",
        ],
        &[],
    );
    let (_, body, _) = until(&server, 200).await;
    assert_eq!(body, "ready\n");

    // Down: the port refuses, open connections are cut.
    relay.stop();
    let (_, body, _) = until(&server, 503).await;
    assert_eq!(body, "not ready: the database does not answer\n");
    assert_eq!(healthz(&server).await, 200, "alive all the same");
    relay.resume();
    until(&server, 200).await;

    // Stalled: connections are kept and nothing passes; the probe gives up in time.
    relay.freeze();
    let (_, body, took) = until(&server, 503).await;
    assert_eq!(body, "not ready: the database did not answer in time\n");
    assert!(took < Duration::from_secs(8), "the probe took {took:?}");
    relay.thaw();
    until(&server, 200).await;

    // Draining: a long call holds the drain open; the probe is no longer ready (the
    // listener may already be closed: then the probe cannot connect at all).
    let slow = tokio::spawn({
        let mcp = server.mcp();
        async move {
            let http = reqwest::Client::new();
            examples::http_client::stateless_request(
                &http,
                &mcp,
                1,
                "queryDatabase",
                serde_json::json!({"sql": "SELECT pg_catalog.count(*) FROM pg_catalog.generate_series(1, 100000000000)"}),
            )
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    match readyz(&server).await {
        Ok((status, body)) => {
            assert_eq!(status, 503, "{body}");
            assert_eq!(body, "not ready: draining\n");
        }
        Err(e) => {
            eprintln!("the draining server no longer accepts connections: {e}");
            assert!(e.is_connect() || e.is_request(), "{e}");
        }
    }
    assert!(!slow.is_finished(), "the long call is still being drained");
    slow.abort();
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

/// One stateless `queryDatabase` call over HTTP.
async fn query(server: &ServerProcess, id: i64, sql: &str) -> String {
    send(server, None, id, sql).await.text().await.unwrap()
}

/// A stateless `queryDatabase` call, with `token` as its bearer token when given.
async fn send(
    server: &ServerProcess,
    token: Option<&str>,
    id: i64,
    sql: &str,
) -> reqwest::Response {
    let mut request = examples::http_client::stateless_request(
        &reqwest::Client::new(),
        &server.mcp(),
        id,
        "queryDatabase",
        serde_json::json!({"sql": sql}),
    );
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_refusals_errors_and_pools() {
    let db = sluice_testkit::database().await.unwrap();
    let server = ServerProcess::start(
        free_port(),
        &[
            "--database-url",
            db.url(),
            "--user",
            "tester",
            "--pool-size",
            "3",
        ],
        &[],
    );
    for id in 0..3 {
        let answer = query(&server, id, "SELECT 41 + 1 AS answer").await;
        assert!(answer.contains("42"), "{answer}");
    }
    let refused = query(&server, 10, "DELETE FROM pg_catalog.pg_class").await;
    assert!(refused.contains("\"isError\":true"), "{refused}");
    let failed = query(&server, 11, "SELECT 1 / 0").await;
    assert!(failed.contains("\"isError\":true"), "{failed}");
    let answer = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = answer.text().await.unwrap();
    let acquires = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("sluice_pool_acquires_total{database=\"main\",pool=\"main\"} ")
        })
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    // Each of the five calls asked the pool at least once (start-up asks too).
    assert!(acquires >= 5, "{text}");
    for line in [
        "sluice_tool_calls_total{tool=\"queryDatabase\",outcome=\"ok\"} 3",
        "sluice_tool_calls_total{tool=\"queryDatabase\",outcome=\"refused\"} 1",
        "sluice_tool_calls_total{tool=\"queryDatabase\",outcome=\"failed\"} 1",
        "sluice_guard_refusals_total{reason=\"statement_not_allowed\"} 1",
        "sluice_database_errors_total{sqlstate=\"22012\"} 1",
        "sluice_tool_call_duration_seconds_count{tool=\"queryDatabase\"} 5",
        "sluice_pool_connections{database=\"main\",pool=\"main\",state=\"max\"} 3",
        "sluice_pool_waiting{database=\"main\",pool=\"main\"} 0",
        "sluice_pool_acquire_timeouts_total{database=\"main\",pool=\"main\"} 0",
        "sluice_http_event_streams 0",
        // The calls were stateless (2026-07-28): no session.
        "sluice_http_sessions 0",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

/// A tool call carrying `token` (or none) as its bearer token; the status it got.
async fn call_with(server: &ServerProcess, token: Option<&str>) -> reqwest::StatusCode {
    send(server, token, 1, "SELECT 1").await.status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_token_verifications_by_outcome() {
    use sha2::Digest as _;
    let db = sluice_testkit::database().await.unwrap();
    let token = "svc-token-0123456789abcdef0123456789";
    let digest: String = sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let entry = format!("ci-bot=sha256:{digest}");
    let server = ServerProcess::start(
        free_port(),
        &["--database-url", db.url(), "--readers", "ci-bot"],
        &[("SLUICE_STATIC_TOKENS", &entry)],
    );
    for _ in 0..3 {
        assert_eq!(call_with(&server, Some(token)).await, 200);
    }
    assert_eq!(call_with(&server, Some("not-the-token")).await, 401);
    assert_eq!(call_with(&server, None).await, 401);
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "sluice_token_verifications_total{outcome=\"valid\"} 3",
        "sluice_token_verifications_total{outcome=\"invalid_token\"} 1",
        "sluice_token_verifications_total{outcome=\"missing\"} 1",
        "sluice_http_event_streams 0",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}
