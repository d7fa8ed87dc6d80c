//! Launches the built `postgres_server` example as a child process and drives it over
//! stdio with the official MCP Python SDK, as a reader and as a writer; then proves with
//! a second connection what the session changed in the database, and what it did not.
#![allow(clippy::unwrap_used)]

mod common;

use common::{example_binary, python};

use std::path::PathBuf;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_reader_and_writer_against_the_real_server() {
    let db = sluice_testkit::database().await.unwrap();
    let client = db.connect().await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
             INSERT INTO notes (body) VALUES ('first'), ('second'), ('third');",
        )
        .await
        .unwrap();
    let binary = example_binary();
    assert!(
        binary.exists(),
        "{} is not built: run `cargo build --examples` first (scripts/test does)",
        binary.display()
    );
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/postgres_server_e2e.py");
    let url = db.url().to_owned();
    let Some(python) = python() else { return };
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(binary)
            .arg(url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the Python client failed:\n{log}");
    assert!(log.contains("python e2e: 2 passed, 0 failed"), "{log}");

    // The second connection: the writer's insert is there, nothing the reader tried
    // (DELETE, a DELETE hidden in a CTE, executeDatabase) nor the writer's refused
    // DROP TABLE changed anything else.
    let rows = client
        .query("SELECT id, body FROM notes ORDER BY id", &[])
        .await
        .unwrap();
    let notes: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        notes,
        [
            (1, "first".to_owned()),
            (2, "second".to_owned()),
            (3, "third".to_owned()),
            (4, "from python".to_owned())
        ]
    );
}
