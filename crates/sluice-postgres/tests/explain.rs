//! `explainQuery` and `Database::explain` against a real PostgreSQL: plans and summaries,
//! `analyze` inside the read-only transaction under the statement timeout, and every
//! write form refused before anything runs.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use sluice_postgres::{Database, DatabaseConfig, Param, QueryError};

async fn setup() -> (sluice_testkit::TestDatabase, Database) {
    let db = sluice_testkit::database_with(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g;
         CREATE TABLE u (id int PRIMARY KEY, t_id int REFERENCES t (id));
         INSERT INTO u SELECT g, g FROM generate_series(1, 100) g;
         ANALYZE t; ANALYZE u;",
    )
    .await
    .unwrap();
    let mut config = DatabaseConfig::from_url(db.url()).unwrap();
    config.statement_timeout = Duration::from_secs(1);
    let database = Database::connect(config).await.unwrap();
    (db, database)
}

#[tokio::test]
async fn plans_with_and_without_analyze() {
    let (_db, database) = setup().await;
    let sql = "SELECT t.v FROM t JOIN u ON u.t_id = t.id WHERE t.id > $1";
    let plan = database
        .explain(sql, &[Param::from(10)], false)
        .await
        .unwrap();
    let explained = plan.rows.to_values()[0][0][0].clone();
    assert!(
        explained["Plan"]["Total Cost"].as_f64().unwrap() > 0.0,
        "{explained}"
    );
    assert!(
        explained["Plan"].get("Actual Rows").is_none(),
        "no analyze: nothing ran"
    );
    let analyzed = database
        .explain(sql, &[Param::from(10)], true)
        .await
        .unwrap();
    let explained = analyzed.rows.to_values()[0][0][0].clone();
    assert_eq!(explained["Plan"]["Actual Rows"], json!(90), "{explained}");
    assert!(explained["Execution Time"].as_f64().is_some());
}

#[tokio::test]
async fn only_plain_reads_are_explained_and_nothing_is_written() {
    let (db, database) = setup().await;
    for sql in [
        "INSERT INTO t VALUES (1000, 'x')",
        "UPDATE t SET v = 'x'",
        "DELETE FROM t",
        "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "SELECT * INTO t2 FROM t",
        "SELECT * FROM t FOR UPDATE",
        "CREATE TABLE t3 AS SELECT * FROM t",
        "EXPLAIN ANALYZE DELETE FROM t",
        "EXPLAIN SELECT 1",
        "SHOW search_path",
        "SELECT nextval('t_id_seq')",
        "SELECT 1; DELETE FROM t",
        "TRUNCATE t",
        "COPY t TO STDOUT",
    ] {
        for analyze in [false, true] {
            match database.explain(sql, &[], analyze).await {
                Err(QueryError::Refused(_) | QueryError::Database(_)) => {}
                other => panic!("{sql} (analyze {analyze}) was explained: {other:?}"),
            }
        }
    }
    let client = db.connect().await.unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 500, "nothing was written");
    // A parameter is a value: it cannot turn the explained query into another.
    let smuggled = database
        .explain(
            "SELECT v FROM t WHERE v = $1",
            &[Param::from("x'; DELETE FROM t; --")],
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        smuggled.rows.to_values()[0][0][0]["Plan"]["Actual Rows"],
        json!(0)
    );
    let count: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 500);
}

#[tokio::test]
async fn analyze_stops_at_the_statement_timeout() {
    let (_db, database) = setup().await;
    let slow = "SELECT count(*) FROM generate_series(1, 1000000000) g";
    let Err(QueryError::Database(error)) = database.explain(slow, &[], true).await else {
        panic!("a slow analyze was not stopped");
    };
    assert_eq!(error.sqlstate.as_deref(), Some("57014"), "{error}");
    // Without analyze it does not run, so it is quick.
    assert!(database.explain(slow, &[], false).await.is_ok());
}
