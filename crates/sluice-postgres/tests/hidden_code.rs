//! Objects that act behind a name, planted as a database owner could plant them, and
//! reads that reach them. Each attack is refused before it runs, and each is shown to do
//! harm without Sluice: run directly on a connection of its own, inside `BEGIN READ
//! ONLY`, it takes a session advisory lock that outlives the rollback, reads a server
//! file, commits a write elsewhere, or reads password hashes.
#![allow(clippy::unwrap_used)]

mod common;

use common::advisory_locks;
use sluice_postgres::{Database, DatabaseConfig, QueryError};
use sluice_sqlguard::RefusalReason;
use sluice_testkit::TestDatabase;
use tokio_postgres::Client;

/// Every side effect takes a session advisory lock on its own key: a lock survives the
/// read-only transaction's rollback and blocks other sessions.
const SCHEMA: &str = r"
CREATE EXTENSION dblink;
CREATE EXTENSION file_fdw;
CREATE TABLE t (id int PRIMARY KEY, n int, s text);
INSERT INTO t VALUES (1, 1, 'a');
CREATE TABLE audit (what text);
CREATE FUNCTION side_effect(k int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_lock(k); RETURN 1; END $$;

CREATE FUNCTION public.lower(x integer) RETURNS text LANGUAGE sql AS $$ SELECT side_effect(101)::text $$;
CREATE FUNCTION public.shout(r t) RETURNS text LANGUAGE sql AS $$ SELECT side_effect(102)::text $$;
CREATE VIEW v_user AS SELECT side_effect(103) AS x;
CREATE VIEW v_builtin AS SELECT pg_try_advisory_lock(104) AS x;
CREATE VIEW v_nested AS SELECT * FROM v_builtin;
CREATE FUNCTION check_it(int) RETURNS boolean LANGUAGE sql AS $$ SELECT side_effect(105) = 1 $$;
CREATE DOMAIN checked AS int CHECK (check_it(VALUE));
CREATE DOMAIN locked AS int CHECK (pg_try_advisory_lock(VALUE::bigint));
CREATE DOMAIN rechecked AS checked CHECK (VALUE > 0);
CREATE FUNCTION op_text(text, int) RETURNS text LANGUAGE sql AS $$ SELECT side_effect(108)::text $$;
CREATE OPERATOR + (LEFTARG = text, RIGHTARG = int, FUNCTION = op_text);
CREATE FUNCTION agg_step(int, text) RETURNS int LANGUAGE sql AS $$ SELECT side_effect(109) $$;
CREATE AGGREGATE sum(text) (SFUNC = agg_step, STYPE = int, INITCOND = '0');
CREATE TYPE tag AS (v text);
CREATE FUNCTION to_tag(int) RETURNS tag LANGUAGE sql AS $$ SELECT ROW(side_effect(110)::text)::tag $$;
CREATE CAST (int AS tag) WITH FUNCTION to_tag(int);
CREATE TABLE guarded_rows (id int);
INSERT INTO guarded_rows VALUES (1);
ALTER TABLE guarded_rows ENABLE ROW LEVEL SECURITY;
ALTER TABLE guarded_rows FORCE ROW LEVEL SECURITY;
CREATE POLICY p ON guarded_rows USING (side_effect(111) = 1);
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE host_file (line text) SERVER files OPTIONS (filename '/etc/hostname');
CREATE TABLE parted (line text) PARTITION BY LIST (line);
CREATE FOREIGN TABLE parted_file PARTITION OF parted DEFAULT SERVER files OPTIONS (filename '/etc/hostname');
CREATE VIEW v_dblink AS SELECT dblink_exec('dbname=' || current_database(), 'INSERT INTO audit VALUES (''x'')') AS r;
CREATE VIEW v_secrets AS SELECT rolname, rolpassword FROM pg_authid;
CREATE VIEW v_honest AS SELECT id, upper(s) AS s FROM t WHERE n > 0;
";

/// (attack, how it is shown harmful without Sluice)
const ATTACKS: &[(&str, Proof)] = &[
    ("SELECT lower(1)", Proof::Lock),
    ("SELECT c.shout FROM t c", Proof::Lock),
    ("SELECT * FROM v_user", Proof::Lock),
    ("SELECT * FROM v_builtin", Proof::Lock),
    ("SELECT * FROM v_nested", Proof::Lock),
    ("SELECT 1::checked", Proof::Lock),
    ("SELECT 1::locked", Proof::Lock),
    ("SELECT 1::rechecked", Proof::Lock),
    ("SELECT 'a'::text + 1", Proof::Lock),
    ("SELECT sum(s) FROM t", Proof::Lock),
    ("SELECT 1::tag", Proof::Lock),
    ("SELECT * FROM guarded_rows", Proof::LockAsReader),
    ("SELECT * FROM host_file", Proof::Rows),
    ("SELECT * FROM parted", Proof::Rows),
    ("SELECT * FROM v_dblink", Proof::Audit),
    ("SELECT * FROM v_secrets", Proof::Rows),
];

#[derive(Debug, Clone, Copy)]
enum Proof {
    /// Leaves a session advisory lock after `ROLLBACK`.
    Lock,
    /// The same, for a role that is not a superuser (superusers bypass row-level
    /// security, the least-privilege reader does not).
    LockAsReader,
    /// Returns rows it should not (a server file, password hashes).
    Rows,
    /// A row appears in `audit`, committed by another connection.
    Audit,
}

async fn planted() -> (TestDatabase, Database) {
    let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
    let database = Database::connect(DatabaseConfig::new(db.config()))
        .await
        .unwrap();
    (db, database)
}

#[tokio::test]
async fn code_behind_a_name_is_refused_before_it_runs() {
    let (db, database) = planted().await;
    let mut wrong = Vec::new();
    for (sql, _) in ATTACKS {
        match database.read(sql).await {
            Err(QueryError::Refused(refusal)) if refusal.reason == RefusalReason::HiddenCode => {}
            other => wrong.push(format!("{sql}: {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused as hidden code:\n{}",
        wrong.join("\n")
    );
    // Nothing ran: no lock anywhere, no write through dblink.
    let admin = db.connect().await.unwrap();
    assert_eq!(advisory_locks(&admin, None).await, 0);
    let audit: i64 = admin
        .query_one("SELECT count(*) FROM audit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(audit, 0);
}

#[tokio::test]
async fn every_attack_does_harm_without_sluice() {
    let (db, _database) = planted().await;
    let admin = db.connect().await.unwrap();
    // A reader role of this test's own, dropped before the test ends (roles belong to
    // the cluster, not to the test database).
    let reader = format!("sluice_reader_{}", std::process::id());
    admin
        .batch_execute(&format!(
            "CREATE ROLE {reader}; GRANT SELECT ON guarded_rows TO {reader}"
        ))
        .await
        .unwrap();
    let mut wrong = Vec::new();
    for (sql, proof) in ATTACKS {
        let own = db.connect().await.unwrap();
        let pid: i32 = own
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        let audit_before = audit_rows(&admin).await;
        own.batch_execute("BEGIN READ ONLY").await.unwrap();
        if matches!(proof, Proof::LockAsReader) {
            own.batch_execute(&format!("SET LOCAL ROLE {reader}"))
                .await
                .unwrap();
        }
        let ran = own.simple_query(sql).await;
        own.batch_execute("ROLLBACK").await.unwrap();
        let shown = match proof {
            Proof::Lock | Proof::LockAsReader => advisory_locks(&admin, Some(pid)).await > 0,
            Proof::Rows => ran.as_ref().is_ok_and(|messages| {
                messages
                    .iter()
                    .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
            }),
            Proof::Audit => audit_rows(&admin).await > audit_before,
        };
        if !shown {
            wrong.push(format!("{sql}: {proof:?} not shown ({ran:?})"));
        }
    }
    admin
        .batch_execute(&format!("DROP OWNED BY {reader}; DROP ROLE {reader}"))
        .await
        .unwrap();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn honest_reads_of_the_same_database_run() {
    let (_db, database) = planted().await;
    for sql in [
        "SELECT * FROM t",
        "SELECT * FROM v_honest",
        "SELECT upper(s), n * 2 FROM t WHERE id = 1 ORDER BY n",
        "SELECT count(*) FROM t",
        "SELECT 1::int4",
    ] {
        let output = database.read(sql).await;
        assert!(output.is_ok(), "{sql}: {output:?}");
    }
}

#[tokio::test]
async fn an_operator_may_allow_a_function_by_its_qualified_name() {
    let (db, _database) = planted().await;
    let mut config = DatabaseConfig::new(db.config());
    config.read_guard = sluice_sqlguard::Guard::new(
        sluice_sqlguard::Policy::read_only().allow_function("public.shout"),
    );
    let database = Database::connect(config).await.unwrap();
    // Allowed, it runs (and the lock it takes does not outlive the call).
    let output = database.read("SELECT c.shout FROM t c").await.unwrap();
    assert_eq!(output.rows.len(), 1);
    let admin = db.connect().await.unwrap();
    assert_eq!(advisory_locks(&admin, None).await, 0);
}

async fn audit_rows(admin: &Client) -> i64 {
    admin
        .query_one("SELECT count(*) FROM audit", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn an_implicit_user_cast_is_refused_wherever_it_could_apply() {
    // PostgreSQL applies an implicit cast without a word in the text, so while one with
    // a function of the owner's exists, no read can be shown free of it.
    let db = sluice_testkit::database().await.unwrap();
    db.connect()
        .await
        .unwrap()
        .batch_execute(
            "CREATE TABLE t (id int); \
             CREATE TYPE tag AS (v text); \
             CREATE FUNCTION to_tag(int) RETURNS tag LANGUAGE sql AS $$ SELECT ROW('x')::tag $$; \
             CREATE CAST (int AS tag) WITH FUNCTION to_tag(int) AS IMPLICIT;",
        )
        .await
        .unwrap();
    let database = Database::connect(DatabaseConfig::new(db.config()))
        .await
        .unwrap();
    match database.read("SELECT * FROM t").await {
        Err(QueryError::Refused(refusal)) => {
            assert_eq!(refusal.reason, RefusalReason::HiddenCode);
            assert!(refusal.message.contains("public.to_tag"), "{refusal}");
        }
        other => panic!("{other:?}"),
    }
}
