//! A read cut at the row cap stops where the cap is: PostgreSQL produces the rows kept
//! and one more, not the rest. The proof is a statement that fails at its 5,000th row —
//! capped at 1,000 it succeeds, which it cannot if its result is read to the end — through
//! both protocols, with parameters, and on a later page.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use sluice_postgres::{Cap, Database, DatabaseConfig, Param};

/// Fails (division by zero) when row 5,000 is produced.
const POISONED: &str = "SELECT g, 1 / (g - 5000) AS x FROM generate_series(1, 10000) g";

async fn database(binary: bool) -> (sluice_testkit::TestDatabase, Database) {
    let db = sluice_testkit::database_with("CREATE TABLE grows (id int)")
        .await
        .unwrap();
    let mut config = DatabaseConfig::from_url(db.url()).unwrap();
    config.max_rows = 1000;
    config.binary_results = binary;
    let database = Database::connect(config).await.unwrap();
    (db, database)
}

#[tokio::test]
async fn a_result_cut_at_the_cap_is_not_produced_past_it() {
    for binary in [true, false] {
        let (_db, database) = database(binary).await;
        // Twice: a cut result is never remembered as small.
        for _ in 0..2 {
            let output = database.read(POISONED).await.unwrap();
            assert_eq!(output.row_count, 1000, "binary {binary}");
            assert!(output.truncated);
            assert_eq!(output.cut_by, Some(Cap::Rows));
            // How many rows the statement would give is not known: it was not run out.
            assert_eq!(output.rows_affected, None);
            assert_eq!(output.rows.to_values()[999][0], json!(1000));
        }
        // A later page starts where it should and still stops at the cap.
        let page = database.read_from(POISONED, &[], 2000).await.unwrap();
        assert_eq!((page.row_count, page.truncated), (1000, true));
        assert_eq!(page.rows.to_values()[0][0], json!(2001));
        // Read to row 5,000, the statement fails as it would on its own.
        let failed = database.read_from(POISONED, &[], 4500).await.unwrap_err();
        assert!(failed.to_string().contains("division by zero"), "{failed}");
        // A result within the cap says how many rows it had.
        let whole = database
            .read("SELECT g FROM generate_series(1, 10) g")
            .await
            .unwrap();
        assert_eq!((whole.row_count, whole.truncated), (10, false));
        assert_eq!(whole.rows_affected, Some(10));
    }
}

#[tokio::test]
async fn parameters_reach_the_statement_behind_the_cursor() {
    let (_db, database) = database(true).await;
    let sql = "SELECT g, 1 / (g - $1::int) AS x FROM generate_series(1, $2::int) g";
    let output = database
        .read_with(sql, &[Param::from(5000), Param::from(10_000)])
        .await
        .unwrap();
    assert_eq!((output.row_count, output.truncated), (1000, true));
    // A parameter given as a JSON array takes the path that prepares first.
    let sql = "SELECT g, 1 / (g - 5000) AS x FROM generate_series(1, 10000) g WHERE g <> ALL($1)";
    let output = database
        .read_with(sql, &[Param::from(json!([1, 2, 3]))])
        .await
        .unwrap();
    assert_eq!((output.row_count, output.truncated), (1000, true));
    assert_eq!(output.rows.to_values()[0][0], json!(4));
}

#[tokio::test]
async fn a_read_remembered_as_small_is_still_cut_exactly_when_it_grows() {
    let (db, database) = database(true).await;
    let sql = "SELECT id FROM grows ORDER BY id";
    let small = database.read(sql).await.unwrap();
    assert_eq!((small.row_count, small.truncated), (0, false));
    let writer = db.connect().await.unwrap();
    writer
        .batch_execute("INSERT INTO grows SELECT generate_series(1, 3000)")
        .await
        .unwrap();
    for _ in 0..2 {
        let output = database.read(sql).await.unwrap();
        assert_eq!((output.row_count, output.truncated), (1000, true));
        assert_eq!(output.rows.to_values()[999][0], json!(1000));
    }
}

#[tokio::test]
async fn a_query_bounded_by_its_own_limit_is_read_whole() {
    let (_db, database) = database(true).await;
    // Within the cap by its own LIMIT: no cursor is needed, and the rows say so.
    let within = database
        .read("SELECT g FROM generate_series(1, 10000) g LIMIT 1000")
        .await
        .unwrap();
    assert_eq!((within.row_count, within.truncated), (1000, false));
    assert_eq!(within.rows_affected, Some(1000));
    // A LIMIT above the cap is no bound: still cut exactly at the cap.
    let above = database
        .read("SELECT g, 1 / (g - 5000) FROM generate_series(1, 10000) g LIMIT 9000")
        .await
        .unwrap();
    assert_eq!((above.row_count, above.truncated), (1000, true));
}
