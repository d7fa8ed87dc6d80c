//! Three `postgres_server --transport http` replicas behind a real HAProxy (round-robin,
//! health checks, 2025-11-25 sessions kept on their replica), PostgreSQL behind a real
//! PgBouncer in transaction mode, the token store shared through it. A client signs in
//! through the load balancer (registration, consent, GitHub's callback and the token
//! exchange each landing wherever HAProxy sends them), then calls tools in both eras;
//! every replica serves some. One replica is killed (SIGKILL) mid-run: reads go on,
//! and writes — retried by the client until answered, each with an idempotency check —
//! are neither lost nor doubled. Another is sent SIGTERM with calls in flight: each is
//! answered and it exits 0.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::oauth::{
    GITHUB_ID, GITHUB_SECRET, Mcp, ServerProcess, access_token, answer_of, free_port,
};
use reqwest::StatusCode;
use serde_json::json;
use sluice_testkit::github::{FakeGitHub, FakeUser};
use sluice_testkit::{HaProxy, PoolMode};

const REDIRECT: &str = "http://127.0.0.1:33419/callback";

/// One stateless (2026-07-28) tool call: `Ok((isError, text))` when a JSON-RPC answer
/// came back, `Err` for anything else (no connection, a 5xx from the balancer).
async fn stateless(
    url: &str,
    token: &str,
    id: u64,
    tool: &str,
    sql: &str,
) -> Result<(bool, String), String> {
    let response = examples::http_client::stateless_request(
        &reqwest::Client::new(),
        url,
        id,
        tool,
        json!({"sql": sql}),
    )
    .bearer_auth(token)
    .timeout(Duration::from_secs(30))
    .send()
    .await
    .map_err(|e| e.to_string())?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if status != StatusCode::OK {
        return Err(format!("{status}: {text}"));
    }
    let body = answer_of(&headers, text);
    if !body.is_object() {
        return Err(format!("no answer in {body}"));
    }
    let result = &body["result"];
    Ok((
        result["isError"]
            .as_bool()
            .unwrap_or(body.get("error").is_some()),
        result["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    ))
}

/// The write of key `k`, once: retried until it is answered, each attempt inserting only
/// when the key is not there yet.
async fn write_once(url: &str, token: &str, id: u64, k: u64) {
    let sql = format!(
        "INSERT INTO notes (k, body) SELECT {k}, 'note {k}' \
         WHERE NOT EXISTS (SELECT 1 FROM notes WHERE k = {k})"
    );
    for attempt in 0..50 {
        match stateless(url, token, id * 100 + attempt, "executeDatabase", &sql).await {
            Ok((false, _)) => return,
            Ok((true, text)) => panic!("the write of {k} failed: {text}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("the write of {k} was never answered");
}

/// Tool calls a replica counted (its `/metrics`).
async fn calls_served(replica: &ServerProcess) -> f64 {
    let text = reqwest::get(format!("{}/metrics", replica.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("sluice_tool_calls_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Three replicas behind HAProxy, PgBouncer (transaction mode) in front of the test
/// database, the fake GitHub signing in the writer (github id 42).
struct Deployment {
    db: sluice_testkit::TestDatabase,
    bouncer: sluice_testkit::PgBouncer,
    /// Between PgBouncer and PostgreSQL, when asked for.
    relay: Option<sluice_testkit::Relay>,
    _github: FakeGitHub,
    replicas: Vec<ServerProcess>,
    lb: HaProxy,
}

async fn deploy(relayed: bool) -> Deployment {
    let db =
        sluice_testkit::database_with("CREATE TABLE notes (k int NOT NULL, body text NOT NULL);")
            .await
            .unwrap();
    let (relay, upstream) = if relayed {
        let (relay, url) = db.relayed().unwrap();
        (Some(relay), url)
    } else {
        (None, db.url().to_owned())
    };
    let bouncer = sluice_testkit::PgBouncer::start(&upstream, PoolMode::Transaction, 6).unwrap();
    let github = FakeGitHub::start(GITHUB_ID, GITHUB_SECRET).await.unwrap();
    github.sign_in_as(FakeUser::new(42, "alice"));
    let lb_port = free_port();
    let public = format!("http://127.0.0.1:{lb_port}/mcp");
    let ports = [free_port(), free_port(), free_port()];
    let replicas: Vec<ServerProcess> = ports
        .iter()
        .map(|port| {
            ServerProcess::start(
                *port,
                &[
                    "--database-url",
                    bouncer.url(),
                    "--transaction-pooling",
                    "--pool-size",
                    "4",
                    "--token-store",
                    "postgres",
                    "--writers",
                    "github:42",
                    "--github-url",
                    github.url(),
                    "--github-api-url",
                    github.url(),
                    "--public-url",
                    &public,
                    // Time for HAProxy's /readyz checks to take a stopping replica out.
                    "--drain-delay",
                    "1",
                ],
                &[
                    ("GITHUB_CLIENT_ID", GITHUB_ID),
                    ("GITHUB_CLIENT_SECRET", GITHUB_SECRET),
                ],
            )
        })
        .collect();
    let lb = HaProxy::start(lb_port, &ports).unwrap();
    // Until the health checks have seen every replica.
    tokio::time::sleep(Duration::from_millis(800)).await;
    Deployment {
        db,
        bouncer,
        relay,
        _github: github,
        replicas,
        lb,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_behind_haproxy_and_pgbouncer_serve_both_eras_and_survive_a_kill() {
    let Deployment {
        db,
        bouncer: _bouncer,
        relay: _,
        _github,
        mut replicas,
        lb,
    } = deploy(false).await;
    let base = lb.base();

    // Sign in through the balancer.
    let token = access_token(&base, REDIRECT).await;
    let mcp = format!("{base}/mcp");

    // 2025-11-25: sessions, each kept on the replica that opened it.
    for _ in 0..6 {
        let mut session = Mcp::new(&mcp, Some(&token));
        assert_eq!(session.initialize().await.status, StatusCode::OK);
        assert!(
            session
                .tool_names()
                .await
                .contains(&"executeDatabase".to_owned())
        );
        for i in 0..5 {
            let (failed, text) = session
                .call("queryDatabase", json!({"sql": format!("SELECT {i} AS n")}))
                .await;
            assert!(!failed, "{text}");
        }
    }
    // 2026-07-28: stateless calls, spread over the replicas.
    let mut id = 1;
    for k in 0..30 {
        id += 1;
        let (failed, text) = stateless(
            &mcp,
            &token,
            id,
            "queryDatabase",
            "SELECT count(*) FROM notes",
        )
        .await
        .unwrap();
        assert!(!failed, "{text}");
        write_once(&mcp, &token, id, k).await;
    }
    for replica in &replicas {
        assert!(
            calls_served(replica).await > 0.0,
            "a replica served nothing:\n{}",
            replica.log()
        );
    }

    // Sessions opened before the kill, likely one on each replica.
    let mut before = Vec::new();
    for _ in 0..3 {
        let mut session = Mcp::new(&mcp, Some(&token));
        assert_eq!(session.initialize().await.status, StatusCode::OK);
        before.push(session);
    }

    // One replica killed mid-run: the client goes on through the balancer.
    let killer = {
        let victim = replicas.remove(1);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut victim = victim;
            victim.stop();
        })
    };
    // Four writers and readers at once, so calls are in flight on the victim when it
    // dies (not only between calls).
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let (mcp, token) = (mcp.clone(), token.clone());
            tokio::spawn(async move {
                let (mcp, token) = (mcp.as_str(), token.as_str());
                for k in (30 + w * 15)..(45 + w * 15) {
                    let id = 10_000 + k;
                    write_once(mcp, token, id, k).await;
                    let mut answered = false;
                    for attempt in 0..50 {
                        match stateless(
                            mcp,
                            token,
                            id * 1000 + attempt,
                            "queryDatabase",
                            "SELECT 1",
                        )
                        .await
                        {
                            Ok((false, _)) => {
                                answered = true;
                                break;
                            }
                            Ok((true, text)) => panic!("a read failed: {text}"),
                            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                        }
                    }
                    assert!(answered, "a read was never answered");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    killer.await.unwrap();
    // A session of the killed replica is unknown where the balancer now sends it: 404,
    // and the client opens a new one (the protocol's rule); the others go on.
    let mut lost = 0;
    for session in &mut before {
        let answer = session
            .post(
                "tools/call",
                json!({"name": "queryDatabase", "arguments": {"sql": "SELECT 1"}}),
            )
            .await;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => lost += 1,
            other => panic!("a session after the kill: {other} {}", answer.body),
        }
    }
    eprintln!("sessions lost with the killed replica: {lost} of 3");
    // A session opened now lands on a replica that is alive.
    let mut session = Mcp::new(&mcp, Some(&token));
    assert_eq!(session.initialize().await.status, StatusCode::OK);
    let (failed, text) = session
        .call("queryDatabase", json!({"sql": "SELECT 1"}))
        .await;
    assert!(!failed, "{text}");

    // SIGTERM one of the two left while calls are in flight: every call is answered
    // (the draining replica finishes what it accepted; HAProxy sends what it can no
    // longer connect to elsewhere), and it exits 0.
    let slow = "SELECT count(*) FROM generate_series(1, 3000000)";
    let in_flight: Vec<_> = (0..8u64)
        .map(|i| {
            let (mcp, token) = (mcp.clone(), token.clone());
            tokio::spawn(
                async move { stateless(&mcp, &token, 90_000 + i, "queryDatabase", slow).await },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    replicas[0].signal("TERM");
    for call in in_flight {
        let answer = call.await.unwrap();
        assert!(
            matches!(answer, Ok((false, _))),
            "a call during the drain: {answer:?}"
        );
    }
    let drained = replicas.remove(0);
    let code = tokio::task::spawn_blocking(move || {
        let mut drained = drained;
        (drained.wait_exit(), drained.log())
    })
    .await
    .unwrap();
    assert_eq!(code.0, Some(0), "{}", code.1);
    // Nothing the drained replica accepted runs on in PostgreSQL.
    let watcher = db.connect().await.unwrap();
    let running: i64 = watcher
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
             AND state = 'active' AND query LIKE '%generate_series(1, 3000000)%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(running, 0, "statements left running after the drain");
    let (failed, text) = stateless(&mcp, &token, 99_999, "queryDatabase", "SELECT 1")
        .await
        .unwrap();
    assert!(!failed, "{text}");

    let client = db.connect().await.unwrap();
    let row = client
        .query_one("SELECT count(*), count(DISTINCT k) FROM notes", &[])
        .await
        .unwrap();
    let (rows, keys): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!((rows, keys), (90, 90), "writes lost or doubled");
    for replica in &replicas {
        assert!(!replica.log().contains("panicked"), "{}", replica.log());
    }
    drop(lb);
}

/// The official Python SDK through the balancer, in its default (2026-07-28) and legacy
/// (2025-11-25) modes: signs in with its OAuth client (each step landing wherever
/// HAProxy sends it), then reads and writes; every replica serves some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_signs_in_and_calls_tools_through_the_balancer_in_both_eras() {
    let deployment = deploy(false).await;
    let mcp = format!("{}/mcp", deployment.lb.base());
    for (mode, first_key) in [("auto", 0), ("legacy", 1000)] {
        let args = vec![
            mcp.clone(),
            mode.to_owned(),
            "20".to_owned(),
            first_key.to_string(),
        ];
        let ran = tokio::task::spawn_blocking(move || {
            common::run_python("tests/e2e/load_balanced.py", &args)
        })
        .await
        .unwrap();
        let Some(log) = ran else { return };
        assert!(
            log.contains(&format!(
                "python load balanced ({mode}): 20 reads and writes passed, 0 failed"
            )),
            "{log}"
        );
    }
    for replica in &deployment.replicas {
        assert!(
            calls_served(replica).await > 0.0,
            "a replica served nothing:\n{}",
            replica.log()
        );
    }
    let client = deployment.db.connect().await.unwrap();
    let row = client
        .query_one("SELECT count(*), count(DISTINCT k) FROM notes", &[])
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (40, 40));
}

/// `/readyz` of `replica`: its status (0 when it does not answer).
async fn readyz(replica: &ServerProcess) -> u16 {
    match reqwest::Client::new()
        .get(format!("{}/readyz", replica.base))
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(answer) => answer.status().as_u16(),
        Err(_) => 0,
    }
}

/// Waits (at most 30 s) until every replica's `/readyz` answers `want`.
async fn all_ready(replicas: &[ServerProcess], want: u16) {
    for replica in replicas {
        let mut last = 0;
        for _ in 0..300 {
            last = readyz(replica).await;
            if last == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            last,
            want,
            "/readyz of {}:\n{}",
            replica.base,
            replica.log()
        );
    }
}

/// Reads through the balancer until one succeeds (at most 30 s).
async fn until_a_read_succeeds(mcp: &str, token: &str) {
    for attempt in 0..150 {
        if let Ok((false, _)) =
            stateless(mcp, token, 500_000 + attempt, "queryDatabase", "SELECT 1").await
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no read succeeded after the outage");
}

/// PgBouncer restarted and PostgreSQL unreachable, with reads going on: every call ends
/// (answered or refused, none hangs), `/readyz` of every replica says 503 during each
/// outage and 200 after it, and the replicas serve again without a restart of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_recover_from_pgbouncer_and_postgres_outages_without_a_restart() {
    let mut deployment = deploy(true).await;
    let mcp = format!("{}/mcp", deployment.lb.base());
    let token = access_token(&deployment.lb.base(), REDIRECT).await;
    until_a_read_succeeds(&mcp, &token).await;

    // Reads all along; each must end (the client gives up at 30 s: a hang fails it).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (mcp, token, stop) = (mcp.clone(), token.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut answered, mut refused) = (0, 0);
            let mut id = 700_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                id += 1;
                match stateless(&mcp, &token, id, "queryDatabase", "SELECT 1").await {
                    Ok(_) => answered += 1,
                    Err(e) => {
                        assert!(!e.contains("operation timed out"), "a call hung: {e}");
                        refused += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (answered, refused)
        })
    };

    // PgBouncer down, then back.
    deployment.bouncer.stop();
    all_ready(&deployment.replicas, 503).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    deployment.bouncer.restart().unwrap();
    all_ready(&deployment.replicas, 200).await;
    until_a_read_succeeds(&mcp, &token).await;

    // PostgreSQL unreachable behind PgBouncer, then back.
    let relay = deployment.relay.as_ref().unwrap();
    relay.stop();
    all_ready(&deployment.replicas, 503).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    relay.resume();
    all_ready(&deployment.replicas, 200).await;
    until_a_read_succeeds(&mcp, &token).await;
    let written = stateless(
        &mcp,
        &token,
        800_000,
        "executeDatabase",
        "INSERT INTO notes (k, body) VALUES (1, 'after the outages')",
    )
    .await
    .unwrap();
    assert!(!written.0, "{}", written.1);

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (answered, refused) = load.await.unwrap();
    eprintln!("reads during the outages: {answered} answered, {refused} refused by the balancer");
    assert!(answered > 0);
    for replica in &deployment.replicas {
        assert!(!replica.log().contains("panicked"), "{}", replica.log());
    }
}
