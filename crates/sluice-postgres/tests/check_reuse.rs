//! A catalog check that passed is reused only while nothing it depends on has changed:
//! each object that acts behind a name is planted *after* the same statement has been
//! read (and its check reused), and the next read of that statement is refused before it
//! runs.
#![allow(clippy::unwrap_used)]

mod common;

use sluice_postgres::{Database, DatabaseConfig, PoolUsage, QueryError};
use sluice_sqlguard::RefusalReason;

const SCHEMA: &str = r"
CREATE EXTENSION file_fdw;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE FUNCTION side_effect(k int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_lock(k); RETURN 1; END $$;
CREATE FUNCTION check_it(int) RETURNS boolean LANGUAGE sql AS $$ SELECT side_effect(7) = 1 $$;
CREATE FUNCTION op_text(text, int) RETURNS text LANGUAGE sql AS $$ SELECT side_effect(8)::text $$;
CREATE TYPE tag AS (v text);
CREATE FUNCTION to_tag(int) RETURNS tag LANGUAGE sql AS $$ SELECT ROW(side_effect(9)::text)::tag $$;
CREATE TABLE t (id int PRIMARY KEY, s text);
INSERT INTO t VALUES (1, 'a');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TABLE other (x int);
";

/// (statement, what a database owner plants after it was read, what the plant does)
const PLANTS: &[(&str, &str, &str)] = &[
    (
        "SELECT id FROM t WHERE id = 1",
        "ALTER TABLE t RENAME TO t_old; CREATE VIEW t AS SELECT side_effect(1) AS id",
        "a view in the table's place",
    ),
    (
        "SELECT upper(s) FROM t",
        "CREATE FUNCTION public.upper(x int) RETURNS text LANGUAGE sql AS $$ SELECT side_effect(2)::text $$",
        "an overload of a function the statement calls",
    ),
    (
        "SELECT s || 1 FROM t",
        "CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = int, FUNCTION = op_text)",
        "an operator that out-ranks the built-in one the statement used",
    ),
    (
        "SELECT s FROM t",
        "ALTER TABLE t ENABLE ROW LEVEL SECURITY; ALTER TABLE t FORCE ROW LEVEL SECURITY; \
         CREATE POLICY p ON t USING (side_effect(4) = 1)",
        "a row-level security policy",
    ),
    (
        "SELECT 5::positive",
        "ALTER DOMAIN positive ADD CONSTRAINT locks CHECK (check_it(VALUE))",
        "a domain check",
    ),
    (
        "SELECT id FROM t",
        "CREATE CAST (int AS tag) WITH FUNCTION to_tag(int) AS IMPLICIT",
        "an implicit cast (the statement names nothing of it)",
    ),
    (
        "SELECT * FROM t",
        "ALTER TABLE t RENAME TO t_old; \
         CREATE FOREIGN TABLE t (line text) SERVER files OPTIONS (filename '/etc/hostname')",
        "a foreign table in the table's place",
    ),
    (
        "SELECT s FROM t",
        "CREATE SCHEMA USER_SCHEMA; CREATE VIEW USER_SCHEMA.t AS SELECT side_effect(6)::text AS s",
        "a view earlier on the search_path (the role's own schema, \"$user\")",
    ),
];

/// Reads `sql` until a read reuses its check. Other tests commit in the same cluster at
/// any time, and each commit ends reuse until the next check, so this may take several
/// reads; right after a reuse, the next read tries to reuse too.
async fn read_until_reused(database: &Database, sql: &str) {
    let (before, _) = totals(&database.pool_usage());
    for _ in 0..5_000 {
        database.read(sql).await.unwrap();
        if totals(&database.pool_usage()).0 > before {
            return;
        }
    }
    panic!("{sql}: no check was reused in 5,000 reads");
}

fn totals(usage: &[PoolUsage]) -> (u64, u64) {
    usage.iter().fold((0, 0), |(reused, stale), pool| {
        (reused + pool.checks_reused, stale + pool.checks_stale)
    })
}

#[tokio::test]
async fn what_is_planted_after_a_reused_check_is_refused_on_the_next_read() {
    let mut wrong = Vec::new();
    for (sql, plant, what) in PLANTS {
        let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
        let database = Database::connect(DatabaseConfig::new(db.config()))
            .await
            .unwrap();
        read_until_reused(&database, sql).await;
        let (_, stale) = totals(&database.pool_usage());
        let admin = db.connect().await.unwrap();
        let user: String = admin
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap()
            .get(0);
        let plant = plant.replace("USER_SCHEMA", &format!("\"{user}\""));
        admin.batch_execute(&plant).await.unwrap();
        match database.read(sql).await {
            Err(QueryError::Refused(refusal)) if refusal.reason == RefusalReason::HiddenCode => {}
            other => wrong.push(format!("{what}: {sql} gave {other:?}")),
        }
        assert_eq!(
            common::advisory_locks(&admin, None).await,
            0,
            "{what}: something ran"
        );
        let (_, stale_after) = totals(&database.pool_usage());
        if stale_after == stale {
            wrong.push(format!("{what}: no stale token was seen"));
        }
        database.close();
    }
    assert!(wrong.is_empty(), "not refused:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn a_commit_elsewhere_makes_the_check_run_again_and_the_read_still_answers() {
    let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
    let database = Database::connect(DatabaseConfig::new(db.config()))
        .await
        .unwrap();
    let admin = db.connect().await.unwrap();
    let sql = "SELECT s FROM t WHERE id = 1";
    for round in 0..5 {
        read_until_reused(&database, sql).await;
        let (_, stale) = totals(&database.pool_usage());
        admin
            .batch_execute(&format!("INSERT INTO other VALUES ({round})"))
            .await
            .unwrap();
        let output = database.read(sql).await.unwrap();
        assert_eq!(output.rows, vec![vec![serde_json::json!("a")]]);
        let (_, stale_after) = totals(&database.pool_usage());
        assert!(
            stale_after > stale,
            "round {round}: the commit went unnoticed"
        );
    }
    // Writes through the same database end reuse too, and the reads after them answer.
    database
        .write("INSERT INTO other VALUES (99)")
        .await
        .unwrap();
    let output = database.read("SELECT count(*) FROM other").await.unwrap();
    assert_eq!(output.rows.len(), 1);
}
