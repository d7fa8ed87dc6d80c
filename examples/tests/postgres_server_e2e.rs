//! Launches the built `postgres_server` example as a child process and drives it over
//! stdio with the official MCP Python SDK, as a reader and as a writer; then proves with
//! a second connection what the session changed in the database, and what it did not.
#![allow(clippy::unwrap_used)]

mod common;

use common::{example_binary, run_python};

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
    let args = vec![example_binary().display().to_string(), db.url().to_owned()];
    let log =
        tokio::task::spawn_blocking(move || run_python("tests/e2e/postgres_server_e2e.py", &args))
            .await
            .unwrap();
    let Some(log) = log else { return };
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
