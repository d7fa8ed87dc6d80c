//! The official MCP Python SDK's OAuth client drives the whole flow against the built
//! `postgres_server --transport http`, headless (tests/e2e/oauth_http_e2e.py): discovery,
//! dynamic registration and a client ID metadata document (served over HTTPS with a
//! certificate made here), consent, the fake GitHub, tokens, tools as a reader and a
//! writer, refresh, revocation. Then a second connection checks what changed.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::oauth::{GITHUB_ID, GITHUB_SECRET, ServerProcess, free_port};
use common::python;
use sluice_testkit::github::{FakeGitHub, FakeUser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_signs_in_headless_as_reader_and_writer() {
    let db = sluice_testkit::database_with(
        "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
         INSERT INTO notes (body) VALUES ('first');",
    )
    .await
    .unwrap();
    let github = FakeGitHub::start(GITHUB_ID, GITHUB_SECRET).await.unwrap();
    github.queue_sign_ins([
        FakeUser::new(7, "bob"),
        FakeUser::new(42, "alice"),
        FakeUser::new(42, "alice"),
    ]);

    // A certificate for the metadata document's HTTPS server, trusted by our fetcher.
    let dir = std::env::temp_dir().join(format!("sluice-oauth-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();

    let server = ServerProcess::start(
        free_port(),
        &[
            "--database-url",
            db.url(),
            "--writers",
            "github:42",
            "--github-url",
            github.url(),
            "--github-api-url",
            github.url(),
            "--access-token-ttl",
            "3",
            "--test-loopback-client-metadata",
            "--test-client-metadata-ca",
            cert.to_str().unwrap(),
        ],
        &[
            ("GITHUB_CLIENT_ID", GITHUB_ID),
            ("GITHUB_CLIENT_SECRET", GITHUB_SECRET),
        ],
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/oauth_http_e2e.py");
    let args = [
        script.to_str().unwrap().to_owned(),
        server.mcp(),
        free_port().to_string(),
        cert.to_str().unwrap().to_owned(),
        key.to_str().unwrap().to_owned(),
    ];
    let Some(python) = python() else { return };
    let output =
        tokio::task::spawn_blocking(move || Command::new(python).args(args).output().unwrap())
            .await
            .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "the Python client failed:\n{out}\nserver log:\n{}",
        server.log()
    );
    assert!(
        out.contains("python oauth e2e: 3 passed, 0 failed"),
        "{out}"
    );

    // The second connection: the writer's row is there; the reader's insert and the
    // writer's refused DROP changed nothing.
    let client = db.connect().await.unwrap();
    let bodies: Vec<String> = client
        .query("SELECT body FROM notes ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(bodies, ["first", "from python"]);
    let log = server.log();
    assert!(
        !log.contains(GITHUB_SECRET) && !log.contains("panicked"),
        "{log}"
    );
    for token in github.issued_tokens() {
        assert!(!log.contains(&token));
    }
}
