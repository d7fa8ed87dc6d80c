//! A read's literals become parameters of a statement prepared once per connection:
//! every text of the same shape answers exactly what the text itself answers, a form
//! PostgreSQL cannot prepare runs as written, and a table changed under a kept
//! statement is read as it is now.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::json;
use sluice_postgres::{Database, DatabaseConfig, PoolUsage, QueryError, QueryOutput};
use sluice_sqlguard::RefusalReason;

const SCHEMA: &str = r#"
CREATE TABLE t (id int PRIMARY KEY, s text, n numeric, big bigint, d date, j jsonb,
                tags text[]);
INSERT INTO t VALUES
    (1, 'a', 1.5, 5000000000, '2024-01-01', '{"k": 1}', '{x,y}'),
    (2, 'b', 2.25, 7, '2024-02-29', '{"k": [2]}', '{y}'),
    (3, 'it''s', -1, -3, '1999-12-31', 'null', '{}');
CREATE FUNCTION side_effect() RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_lock(42); RETURN 1; END $$;
"#;

fn prepared(usage: &[PoolUsage]) -> u64 {
    usage.iter().map(|pool| pool.reads_prepared).sum()
}

fn config(db: &sluice_testkit::TestDatabase, pooled_transactions: bool) -> DatabaseConfig {
    let mut config = DatabaseConfig::new(db.config());
    config.pool_size = 1;
    // Behind a transaction pooler nothing named is kept: the texts run as written.
    config.transaction_pooling = pooled_transactions;
    config
}

/// What a read answers, as comparable values.
fn answer(out: Result<QueryOutput, QueryError>) -> serde_json::Value {
    match out {
        Ok(out) => json!({
            "columns": out.columns.iter().map(|c| json!([c.name, c.type_name])).collect::<Vec<_>>(),
            "rows": out.rows,
        }),
        Err(QueryError::Database(e)) => json!({ "error": e.message }),
        Err(QueryError::Refused(r)) => json!({ "refused": r.message }),
        Err(other) => json!({ "other": other.to_string() }),
    }
}

#[tokio::test]
async fn every_text_of_a_shape_answers_what_the_text_answers() {
    let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
    let kept = Database::connect(config(&db, false)).await.unwrap();
    let as_written = Database::connect(config(&db, true)).await.unwrap();
    // Each shape with several literal values, so the kept statement is bound with
    // values other than the ones it was prepared with.
    let shapes: &[&[&str]] = &[
        &[
            "SELECT s FROM t WHERE id = 1",
            "SELECT s FROM t WHERE id = 2",
            "SELECT s FROM t WHERE id = 99",
        ],
        &[
            "SELECT id FROM t WHERE s = 'it''s'",
            "SELECT id FROM t WHERE s = 'a'",
            "SELECT id FROM t WHERE s = $$b$$",
        ],
        // A string compared with a number column reads as that number; a bad one is
        // the database's error either way.
        &[
            "SELECT s FROM t WHERE id = '2'",
            "SELECT s FROM t WHERE id = ' 3 '",
            "SELECT s FROM t WHERE id = 'x'",
        ],
        // Integers by size (int4, int8, numeric), decimals, exponents.
        &[
            "SELECT 1 + 1, 2147483647 + 0, 2147483648, 99999999999999999999, 1.50, 1e3",
            "SELECT 7 + 1, 2147483646 + 0, 2147483649, 99999999999999999998, 2.25, 2e-3",
        ],
        // Integer overflow of int4 arithmetic stays an error.
        &["SELECT 2147483647 + 1", "SELECT 2147483640 + 10"],
        &[
            "SELECT id FROM t WHERE big > 6 AND n < 2 ORDER BY 1",
            "SELECT id FROM t WHERE big > -10 AND n < 3 ORDER BY 1",
        ],
        &[
            "SELECT id FROM t WHERE d >= '2024-01-15' ORDER BY id",
            "SELECT id FROM t WHERE d >= '1990-01-01' ORDER BY id",
        ],
        &[
            "SELECT j -> 'k', j ->> 'k' FROM t WHERE id = 1",
            "SELECT j -> 'k', j ->> 'k' FROM t WHERE id = 2",
        ],
        &[
            "SELECT id FROM t WHERE 'x' = ANY (tags) OR tags @> '{y}' ORDER BY id",
            "SELECT id FROM t WHERE 'q' = ANY (tags) OR tags @> '{x}' ORDER BY id",
        ],
        &[
            "SELECT CASE WHEN id = 1 THEN 'one' ELSE 'other' END, coalesce(s, 'none') || '!' FROM t ORDER BY id",
            "SELECT CASE WHEN id = 2 THEN 'two' ELSE 'else' END, coalesce(s, 'nil') || '?' FROM t ORDER BY id",
        ],
        &[
            "SELECT '{1,2}'::int[], CAST('5' AS int) * 2, '2024-01-01'::date + 1",
            "SELECT '{3}'::int[], CAST('6' AS int) * 2, '2023-12-31'::date + 2",
        ],
        // Literals that stay in the text: a label, grouping and sorting by position,
        // limits, signs, intervals, typed strings.
        &[
            "SELECT 'label' AS l, count(*), s IS NULL FROM t GROUP BY 3 ORDER BY 2 DESC LIMIT 5",
            "SELECT 'other' AS l, count(*), s IS NULL FROM t GROUP BY 3 ORDER BY 2 DESC LIMIT 1",
        ],
        &[
            "SELECT -5, -(6), date '2024-01-01' + interval '1 day', id FROM t WHERE id = 1",
            "SELECT -7, -(8), date '2020-02-28' + interval '2 days', id FROM t WHERE id = 3",
        ],
        &[
            "SELECT 'a' || 'b', length('abc'), upper('x')",
            "SELECT 'c' || 'd', length('de'), upper('y')",
        ],
        &["VALUES (1, 'a'), (2, 'b')", "VALUES (3, 'c'), (4, 'd')"],
        &[
            "SELECT x FROM generate_series(1, 3) AS g(x) WHERE x > 1",
            "SELECT x FROM generate_series(2, 5) AS g(x) WHERE x > 3",
        ],
        &[
            "SELECT s FROM t WHERE s LIKE 'a%' OR s ILIKE '%T%' ORDER BY s",
            "SELECT s FROM t WHERE s LIKE 'b%' OR s ILIKE '%A%' ORDER BY s",
        ],
        // No rows: the columns still come from the statement.
        &[
            "SELECT id, s FROM t WHERE id = 100",
            "SELECT id, s FROM t WHERE id = 101",
        ],
    ];
    for shape in shapes {
        // Twice over: first prepared, then through the kept statement.
        for _ in 0..2 {
            for sql in *shape {
                let expected = answer(as_written.read(sql).await);
                let got = answer(kept.read(sql).await);
                assert_eq!(got, expected, "{sql}");
            }
        }
    }
    assert!(
        prepared(&kept.pool_usage()) > 20,
        "most reads went through kept statements: {:?}",
        kept.pool_usage()
    );
    assert_eq!(prepared(&as_written.pool_usage()), 0);
}

#[tokio::test]
async fn a_shape_is_prepared_once_and_its_texts_share_it() {
    let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
    let database = Database::connect(config(&db, false)).await.unwrap();
    for id in 0..10_u64 {
        let out = database
            .read(&format!("SELECT id FROM t WHERE id = {id}"))
            .await
            .unwrap();
        let expected: Vec<Vec<serde_json::Value>> = if (1..=3).contains(&id) {
            vec![vec![json!(id)]]
        } else {
            Vec::new()
        };
        assert_eq!(out.rows, expected, "id {id}");
        assert_eq!(out.columns.len(), 1);
        // The first text's result size is unknown: it is fetched behind a cursor. The
        // second prepares the shape, and every later one binds what it prepared.
        assert_eq!(prepared(&database.pool_usage()), id.saturating_sub(1));
    }
}

#[tokio::test]
async fn a_form_postgresql_cannot_prepare_runs_as_written() {
    let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
    let database = Database::connect(config(&db, false)).await.unwrap();
    // `$1 IS NULL` leaves the parameter's type undecided (42P18); the literal is text.
    for round in 0..3 {
        let sql = format!(
            "SELECT 'v{round}' IS NULL, id FROM t WHERE id = {}",
            round + 1
        );
        let out = database.read(&sql).await.unwrap();
        assert_eq!(
            out.rows,
            vec![vec![json!(false), json!(round + 1)]],
            "{sql}"
        );
    }
    assert_eq!(
        prepared(&database.pool_usage()),
        0,
        "a form that failed to prepare is not tried again"
    );
}

#[tokio::test]
async fn a_table_changed_under_a_kept_statement_is_read_as_it_is_now() {
    let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
    let admin = db.connect().await.unwrap();
    let database = Database::connect(config(&db, false)).await.unwrap();
    let first = database.read("SELECT * FROM t WHERE id = 1").await.unwrap();
    assert_eq!(first.columns.len(), 7);
    database.read("SELECT * FROM t WHERE id = 2").await.unwrap();
    database.read("SELECT * FROM t WHERE id = 3").await.unwrap();
    let before = prepared(&database.pool_usage());
    assert_eq!(
        before, 1,
        "the third text bound the statement the second prepared"
    );

    // Its result's columns change: PostgreSQL refuses the kept statement (0A000), which
    // is dropped, and the read runs again.
    admin
        .batch_execute("ALTER TABLE t ADD COLUMN extra int DEFAULT 7")
        .await
        .unwrap();
    let out = database.read("SELECT * FROM t WHERE id = 3").await.unwrap();
    assert_eq!(out.columns.len(), 8);
    assert_eq!(out.rows.to_values()[0][7], json!(7));
    assert_eq!(
        prepared(&database.pool_usage()),
        before,
        "the kept statement did not run; the shape was prepared again"
    );
    let out = database.read("SELECT * FROM t WHERE id = 1").await.unwrap();
    assert_eq!(out.rows.to_values()[0][7], json!(7));
    assert_eq!(prepared(&database.pool_usage()), before + 1);

    // A view planted in the table's place: the check refuses it before the kept
    // statement (analysed again by PostgreSQL under its old name) could run.
    let sql = "SELECT id FROM t WHERE id = 1";
    database.read(sql).await.unwrap();
    database
        .read("SELECT id FROM t WHERE id = 2")
        .await
        .unwrap();
    admin
        .batch_execute(
            "ALTER TABLE t RENAME TO t_old; \
             CREATE VIEW t AS SELECT side_effect() AS id, 'x'::text AS s",
        )
        .await
        .unwrap();
    match database.read("SELECT id FROM t WHERE id = 3").await {
        Err(QueryError::Refused(refusal)) => {
            assert_eq!(refusal.reason, RefusalReason::HiddenCode, "{refusal:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        common::advisory_locks(&admin, None).await,
        0,
        "the view never ran"
    );
    // Back to a table of that name: read as it is now.
    admin
        .batch_execute("DROP VIEW t; ALTER TABLE t_old RENAME TO t")
        .await
        .unwrap();
    let out = database
        .read("SELECT id FROM t WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(out.rows, vec![vec![json!(2)]]);
}
