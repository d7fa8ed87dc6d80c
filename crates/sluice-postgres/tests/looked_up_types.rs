//! Results of types tokio-postgres has to look up in the catalog (enums, composites,
//! domains, arrays of them): large ones come back as fast as built-in ones on a
//! connection that never saw the type. Sent in one round trip, such a statement's rows
//! were queued ahead of the look-up's answer and the call waited for its deadline
//! (`result_types` in the crate says why); a statement not known to give only built-in
//! types is now prepared first.

#![allow(clippy::unwrap_used)]
use std::time::Duration;

use serde_json::json;
use sluice_postgres::{Database, DatabaseConfig, Param};

/// Enough rows that their bytes (several megabytes) far exceed what a connection
/// buffers ahead of the reader.
const ROWS: i32 = 20_000;

fn setup() -> String {
    format!(
        "CREATE TYPE mood AS ENUM ('calm', 'busy');
         CREATE TYPE pair AS (m mood, n int);
         CREATE DOMAIN short_mood AS mood;
         CREATE TABLE moods (id int PRIMARY KEY, m mood, p pair, d short_mood, a mood[],
                             pad text);
         INSERT INTO moods SELECT g, 'busy', ROW('calm'::mood, g)::pair, 'calm', ARRAY['calm', 'busy']::mood[],
                                  repeat('x', 200)
                           FROM generate_series(1, {ROWS}) g;"
    )
}

/// A pool of one connection (so every call meets what the earlier ones left) with a
/// deadline of a few seconds: a call that waits for it fails the test quickly.
async fn connect(url: &str) -> Database {
    let mut config = DatabaseConfig::from_url(url).unwrap();
    config.pool_size = 1;
    config.statement_timeout = Duration::from_secs(3);
    config.max_rows = ROWS as usize;
    config.max_bytes = 64 * 1024 * 1024;
    Database::connect(config).await.unwrap()
}

#[tokio::test]
async fn large_results_of_looked_up_types_come_back_on_a_new_connection() {
    let db = sluice_testkit::database_with(&setup()).await.unwrap();
    for column in ["m", "p", "d", "a"] {
        // A new pool each time: its connection has looked up nothing yet.
        let database = connect(db.url()).await;
        let sql = format!("SELECT {column}, pad FROM moods ORDER BY id");
        for round in 0..3 {
            let output = database
                .read(&sql)
                .await
                .unwrap_or_else(|e| panic!("{column}, round {round}: {e}"));
            assert_eq!(output.rows.len(), ROWS as usize, "{column}");
        }
        database.close();
    }
    // The types come out as they should.
    let database = connect(db.url()).await;
    let output = database
        .read("SELECT m, p, d, a FROM moods WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(output.rows.to_values()[0][0], json!("busy"));
    assert_eq!(output.rows.to_values()[0][2], json!("calm"));
    assert_eq!(output.rows.to_values()[0][3], json!(["calm", "busy"]));
    database.close();
}

#[tokio::test]
async fn writes_and_parameters_of_looked_up_types_come_back() {
    let db = sluice_testkit::database_with(&setup()).await.unwrap();
    let database = connect(db.url()).await;
    let written = database
        .write_with(
            "UPDATE moods SET m = $1 WHERE id > $2 RETURNING m, pad",
            &[Param::from("calm"), Param::from(10)],
        )
        .await
        .unwrap();
    assert_eq!(written.rows.len(), ROWS as usize - 10);
    assert_eq!(written.rows.to_values()[0][0], json!("calm"));
    let counted = database
        .read_with(
            "SELECT count(*) AS n FROM moods WHERE m = $1",
            &[Param::from("busy")],
        )
        .await
        .unwrap();
    assert_eq!(counted.rows, vec![vec![json!(10)]]);
    database.close();
}

/// A statement learned to give only built-in types whose column then becomes an enum:
/// at most one call fails (at its deadline), and every later one works.
#[tokio::test]
async fn a_statement_whose_types_change_recovers_after_one_call_at_most() {
    let db = sluice_testkit::database_with(&setup()).await.unwrap();
    let database = connect(db.url()).await;
    let sql = "SELECT t, pad FROM moods ORDER BY id";
    let setup = db.connect().await.unwrap();
    setup
        .batch_execute("ALTER TABLE moods ADD COLUMN t text DEFAULT 'calm'")
        .await
        .unwrap();
    assert_eq!(database.read(sql).await.unwrap().rows.len(), ROWS as usize);
    setup
        .batch_execute(
            "ALTER TABLE moods ALTER COLUMN t DROP DEFAULT, ALTER COLUMN t TYPE mood USING t::mood",
        )
        .await
        .unwrap();
    // The same connection, which has not looked up the enum.
    let mut failures = 0;
    for _ in 0..4 {
        match database.read(sql).await {
            Ok(output) => assert_eq!(output.rows.len(), ROWS as usize),
            Err(_) => failures += 1,
        }
    }
    assert!(failures <= 1, "{failures} calls failed");
    database.close();
}
