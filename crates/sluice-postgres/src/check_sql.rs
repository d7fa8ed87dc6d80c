//! The SQL of the catalog check ([`crate::objects`]), and the settings every transaction
//! pins ([`crate::session`]), which travel in the same statement.
//!
//! Every function, operator and type in it is qualified with `pg_catalog`, operators as
//! `OPERATOR(pg_catalog.=)`, so a hostile `search_path` cannot redirect it.
//!
//! Parameters, the same for both forms: `$1` relations (quoted, qualified as written),
//! `$2` routine names, `$3` operator symbols, `$4` type names, `$5` allowed built-in
//! names, `$6` allowed `schema.name` entries, `$7` definitions already judged
//! (`kind:oid:md5`), `$8` the statement timeout in milliseconds. Both answer the pins,
//! the token of [`crate::reuse`], and the verdict; [`reuse`] stands in for a check that
//! passed.

/// What the failure of the check says, ahead of the list of what it found.
pub(crate) const MARKER: &str = "sluice-refused: ";

/// What the failure of the check says, ahead of the definitions not judged yet.
pub(crate) const VERIFY_MARKER: &str = "sluice-verify: ";

/// The text of a definition, by kind (`v` view, `c` domain constraint, `p` policy),
/// for the object id `$1` — the same expressions in the check and in the fetch.
pub(crate) const VIEW_TEXT: &str = "pg_catalog.pg_get_viewdef(v.oid)";
pub(crate) const CONSTRAINT_TEXT: &str = "pg_catalog.pg_get_constraintdef(con.oid)";
pub(crate) const POLICY_TEXT: &str = "pg_catalog.concat_ws(' AND ', \
    pg_catalog.pg_get_expr(pol.polqual, pol.polrelid), \
    pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid))";

/// What the quick check's failure says: the statement reaches something only the full
/// check can judge.
pub(crate) const DEEP_MARKER: &str = "sluice-deep: ";

/// The parameter types, `$1` … `$8`.
pub(crate) const PARAMETER_TYPES: [tokio_postgres::types::Type; 8] = {
    use tokio_postgres::types::Type;
    [
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT,
    ]
};

/// The pins, as `set_config` calls local to the transaction (one statement is cheaper
/// than four `SET LOCAL`s; see docs/performance.md), the timeout in parameter `timeout`.
fn pins(timeout: &str) -> String {
    format!(
        "pg_catalog.set_config('statement_timeout', {timeout}, true), \
    pg_catalog.set_config('standard_conforming_strings', 'on', true), \
    pg_catalog.set_config('backslash_quote', 'safe_encoding', true), \
    pg_catalog.set_config('client_encoding', 'UTF8', true), \
    pg_catalog.set_config('plan_cache_mode', 'auto', true)"
    )
}

/// The column of the checks' answer that holds [`TOKEN`] (after the five pins).
pub(crate) const TOKEN_COLUMN: usize = 5;

/// What a check's verdict depends on besides its parameters, as text
/// ([`crate::reuse`]): the transaction snapshot (which transactions had committed: any
/// change to the catalog commits one), the schemas names resolve in (the
/// `search_path` as it applies, with the session's temporary schema if it has one) and
/// the role.
const TOKEN: &str = "pg_catalog.concat(pg_catalog.txid_current_snapshot(), ' ', \
    pg_catalog.current_schemas(true), ' ', CURRENT_USER)";

/// What the reuse statement's failure says, ahead of the token it found.
pub(crate) const STALE_MARKER: &str = "sluice-stale: ";

/// The parameter types of [`reuse`]: `$1` the statement timeout in milliseconds, `$2`
/// the token of the check that passed.
pub(crate) const REUSE_PARAMETER_TYPES: [tokio_postgres::types::Type; 2] = [
    tokio_postgres::types::Type::TEXT,
    tokio_postgres::types::Type::TEXT,
];

/// In place of a check that passed before: the pins, and a failure with
/// [`STALE_MARKER`] unless [`TOKEN`] is still what it was then. Touches no catalog.
pub(crate) fn reuse() -> String {
    let pins = pins("$1");
    format!(
        "SELECT {pins}, CASE WHEN {TOKEN} OPERATOR(pg_catalog.<>) $2 \
         THEN pg_catalog.concat('{STALE_MARKER}', {TOKEN})::pg_catalog.int4 END"
    )
}

const EQ: &str = "OPERATOR(pg_catalog.=)";

fn reg(name: &str) -> String {
    format!("'pg_catalog.{name}'::pg_catalog.regclass")
}

/// True for an object that an extension installed (`$oid` of catalog `$class`).
fn extension_member(class: &str, oid: &str) -> String {
    format!(
        "EXISTS (SELECT FROM pg_catalog.pg_depend e WHERE e.classid {EQ} {} \
         AND e.objid {EQ} {oid} AND e.refclassid {EQ} {} AND e.deptype {EQ} 'e')",
        reg(class),
        reg("pg_extension")
    )
}

/// The quick check: the pins, and index look-ups that find whether the statement can
/// reach anything the full check must judge (a user view, a foreign table, a relation
/// with row-level security, a parent table while foreign tables exist (a partition or
/// child may be one), a user function or operator of a name it uses, a domain it
/// casts to, an implicit user cast). Fails with [`DEEP_MARKER`] when it can.
pub(crate) fn quick() -> String {
    let user = FIRST_USER_OID;
    let proc_member = extension_member("pg_proc", "p.oid");
    let operator_member = extension_member("pg_operator", "o.oid");
    let named = NAMED_RELATIONS;
    let user_proc = user_object("p.oid");
    let pins = pins("$8");
    format!(
        "SELECT {pins}, {TOKEN}, CASE WHEN
    EXISTS (SELECT FROM pg_catalog.pg_class c
        WHERE c.oid {EQ} ANY ({named})
          AND c.oid OPERATOR(pg_catalog.>=) {user}::pg_catalog.oid
          AND (c.relkind {EQ} 'v' OR c.relkind {EQ} 'f' OR c.relrowsecurity
               OR (c.relhassubclass AND EXISTS (SELECT FROM pg_catalog.pg_foreign_table))))
 OR EXISTS (SELECT FROM pg_catalog.unnest($2::pg_catalog.text[]) AS n(name)
        JOIN pg_catalog.pg_proc p ON p.proname {EQ} n.name
        WHERE {user_proc}
          AND (p.provolatile {EQ} 'v' OR NOT {proc_member}))
 OR EXISTS (SELECT FROM pg_catalog.pg_operator o
        JOIN pg_catalog.pg_proc f ON f.oid {EQ} o.oprcode::pg_catalog.oid
        WHERE o.oprname {EQ} ANY ($3::pg_catalog.text[])
          AND o.oid OPERATOR(pg_catalog.>=) {user}::pg_catalog.oid
          AND (f.provolatile {EQ} 'v' OR NOT {operator_member}))
 OR (pg_catalog.cardinality($4::pg_catalog.text[]) OPERATOR(pg_catalog.>) 0
     AND EXISTS (SELECT FROM pg_catalog.pg_type t
        WHERE t.typname {EQ} ANY ($4::pg_catalog.text[]) AND t.typtype {EQ} 'd'))
 OR EXISTS (SELECT FROM pg_catalog.pg_cast k
        JOIN pg_catalog.pg_type t ON t.oid {EQ} k.casttarget
        WHERE k.oid OPERATOR(pg_catalog.>=) {user}::pg_catalog.oid
          AND (k.castcontext OPERATOR(pg_catalog.<>) 'e'
               OR t.typname {EQ} ANY ($4::pg_catalog.text[])))
THEN pg_catalog.concat('{DEEP_MARKER}', 'full check')::pg_catalog.int4 END"
    )
}

/// The first object id of a user-defined object (`FirstNormalObjectId`).
const FIRST_USER_OID: &str = "16384";

/// The object ids of the relations `$1` names, as an array: compared with
/// `= ANY (…)`, the look-up in `pg_class` is one index probe per name. (Joined to
/// `pg_class` on `to_regclass(name)`, the generic plan scanned every user relation
/// and called `to_regclass` for each: a check that grew with the schema, about
/// 0.25 µs per table on the CI machine kind.)
const NAMED_RELATIONS: &str = "ARRAY(SELECT pg_catalog.to_regclass(r)::pg_catalog.oid \
    FROM pg_catalog.unnest($1::pg_catalog.text[]) AS r)";

/// True for a user object (`column`, an oid, at or past [`FIRST_USER_OID`]), written so
/// no index on the oid can serve it: the look-up then goes by the name's index, which
/// finds the few objects of the names a statement uses, instead of a range scan over
/// every user function (the quick check's operators keep the range: user operators are
/// few, while a name like `=` has dozens of built-in ones).
fn user_object(column: &str) -> String {
    format!("{column}::pg_catalog.int8 OPERATOR(pg_catalog.>=) {FIRST_USER_OID}::pg_catalog.int8")
}

/// The full check: the pins, then views followed through their rules, names matched
/// against visible user functions and operators, domain checks, policies and casts
/// followed to their functions, foreign tables. Fails with [`MARKER`] and what it
/// found, or with [`VERIFY_MARKER`] and the definitions not judged yet.
pub(crate) fn full() -> String {
    let extension = reg("pg_extension");
    let (rewrite, class, proc_, operator, type_, policy, constraint) = (
        reg("pg_rewrite"),
        reg("pg_class"),
        reg("pg_proc"),
        reg("pg_operator"),
        reg("pg_type"),
        reg("pg_policy"),
        reg("pg_constraint"),
    );
    let user = FIRST_USER_OID;
    let named = NAMED_RELATIONS;
    let (user_proc, user_operator) = (user_object("p.oid"), user_object("o.oid"));
    let pins = pins("$8");
    format!(
        "WITH RECURSIVE
named AS (
    SELECT c.oid, c.relkind FROM pg_catalog.pg_class c WHERE c.oid {EQ} ANY ({named})
),
views AS (
    SELECT oid FROM named
    WHERE relkind {EQ} 'v' AND oid OPERATOR(pg_catalog.>=) {user}::pg_catalog.oid
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e WHERE e.classid {EQ} {class}
          AND e.objid {EQ} named.oid AND e.refclassid {EQ} {extension} AND e.deptype {EQ} 'e')
    UNION
    SELECT c.oid FROM views v
    JOIN pg_catalog.pg_rewrite w ON w.ev_class {EQ} v.oid
    JOIN pg_catalog.pg_depend d ON d.classid {EQ} {rewrite} AND d.objid {EQ} w.oid
        AND d.refclassid {EQ} {class}
    JOIN pg_catalog.pg_class c ON c.oid {EQ} d.refobjid AND c.relkind {EQ} 'v'
        AND c.oid OPERATOR(pg_catalog.>=) {user}::pg_catalog.oid
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend e WHERE e.classid {EQ} {class}
          AND e.objid {EQ} c.oid AND e.refclassid {EQ} {extension} AND e.deptype {EQ} 'e')
),
body AS (
    SELECT d.refclassid, d.refobjid FROM views v
    JOIN pg_catalog.pg_rewrite w ON w.ev_class {EQ} v.oid
    JOIN pg_catalog.pg_depend d ON d.classid {EQ} {rewrite} AND d.objid {EQ} w.oid
),
reached AS (
    SELECT oid FROM named
    UNION
    SELECT refobjid FROM body WHERE refclassid {EQ} {class}
),
scanned AS (
    SELECT oid FROM reached
    UNION
    SELECT i.inhrelid FROM scanned s
    JOIN pg_catalog.pg_inherits i ON i.inhparent {EQ} s.oid
),
domains AS (
    SELECT t.oid FROM pg_catalog.pg_type t
    WHERE t.typtype {EQ} 'd' AND t.typname {EQ} ANY ($4::pg_catalog.text[])
    UNION
    SELECT t.oid FROM body b JOIN pg_catalog.pg_type t ON t.oid {EQ} b.refobjid
    WHERE b.refclassid {EQ} {type_} AND t.typtype {EQ} 'd'
    UNION
    -- A domain over a domain checks both.
    SELECT base.oid FROM domains d
    JOIN pg_catalog.pg_type t ON t.oid {EQ} d.oid
    JOIN pg_catalog.pg_type base ON base.oid {EQ} t.typbasetype
    WHERE base.typtype {EQ} 'd'
),
candidates AS (
    SELECT p.oid FROM pg_catalog.pg_proc p
    WHERE p.proname {EQ} ANY ($2::pg_catalog.text[]) AND {user_proc}
      AND pg_catalog.pg_function_is_visible(p.oid)
    UNION
    SELECT refobjid FROM body WHERE refclassid {EQ} {proc_}
    UNION
    SELECT o.oprcode::pg_catalog.oid FROM pg_catalog.pg_operator o
    WHERE o.oprname {EQ} ANY ($3::pg_catalog.text[]) AND {user_operator}
      AND pg_catalog.pg_operator_is_visible(o.oid)
    UNION
    SELECT o.oprcode::pg_catalog.oid FROM body b
    JOIN pg_catalog.pg_operator o ON o.oid {EQ} b.refobjid
    WHERE b.refclassid {EQ} {operator} AND o.oid OPERATOR(pg_catalog.>=) {user}::pg_catalog.oid
    UNION
    SELECT d.refobjid FROM reached r
    JOIN pg_catalog.pg_policy pol ON pol.polrelid {EQ} r.oid
    JOIN pg_catalog.pg_depend d ON d.classid {EQ} {policy} AND d.objid {EQ} pol.oid
        AND d.refclassid {EQ} {proc_}
    UNION
    SELECT d.refobjid FROM domains t
    JOIN pg_catalog.pg_constraint con ON con.contypid {EQ} t.oid
    JOIN pg_catalog.pg_depend d ON d.classid {EQ} {constraint} AND d.objid {EQ} con.oid
        AND d.refclassid {EQ} {proc_}
    UNION
    SELECT c.castfunc FROM pg_catalog.pg_cast c
    JOIN pg_catalog.pg_type t ON t.oid {EQ} c.casttarget
    WHERE c.oid OPERATOR(pg_catalog.>=) {user}::pg_catalog.oid AND c.castfunc OPERATOR(pg_catalog.<>) 0::pg_catalog.oid
      AND (c.castcontext OPERATOR(pg_catalog.<>) 'e' OR t.typname {EQ} ANY ($4::pg_catalog.text[]))
),
refused AS (
    SELECT pg_catalog.concat('function ', n.nspname, '.', p.proname) AS what
    FROM candidates k
    JOIN pg_catalog.pg_proc p ON p.oid {EQ} k.oid
    JOIN pg_catalog.pg_namespace n ON n.oid {EQ} p.pronamespace
    WHERE CASE WHEN p.oid OPERATOR(pg_catalog.<) {user}::pg_catalog.oid
            OR EXISTS (SELECT FROM pg_catalog.pg_depend e WHERE e.classid {EQ} {proc_}
                AND e.objid {EQ} p.oid AND e.refclassid {EQ} {extension} AND e.deptype {EQ} 'e')
        -- Built in, or installed by an extension: volatile ones need the allow-list.
        THEN p.provolatile {EQ} 'v'
            AND NOT (p.proname::pg_catalog.text {EQ} ANY ($5::pg_catalog.text[]))
            AND NOT (pg_catalog.concat(n.nspname, '.', p.proname) {EQ} ANY ($6::pg_catalog.text[]))
        -- Anybody's own function: only when allowed by its qualified name.
        ELSE NOT (pg_catalog.concat(n.nspname, '.', p.proname) {EQ} ANY ($6::pg_catalog.text[]))
    END
    UNION
    SELECT pg_catalog.concat('foreign table ', n.nspname, '.', c.relname)
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid {EQ} c.relnamespace
    WHERE c.oid {EQ} ANY (ARRAY(SELECT oid FROM scanned)) AND c.relkind {EQ} 'f'
),
definitions AS (
    SELECT pg_catalog.concat('v:', v.oid, ':', pg_catalog.md5({VIEW_TEXT})) AS key FROM views v
    UNION
    SELECT pg_catalog.concat('c:', con.oid, ':', pg_catalog.md5({CONSTRAINT_TEXT}))
    FROM domains t JOIN pg_catalog.pg_constraint con ON con.contypid {EQ} t.oid
    WHERE con.contype {EQ} 'c'
    UNION
    SELECT pg_catalog.concat('p:', pol.oid, ':', pg_catalog.md5({POLICY_TEXT}))
    FROM reached r JOIN pg_catalog.pg_policy pol ON pol.polrelid {EQ} r.oid
),
unjudged AS (
    SELECT key FROM definitions WHERE NOT (key {EQ} ANY ($7::pg_catalog.text[]))
)
SELECT {pins}, {TOKEN}, CASE
    WHEN EXISTS (SELECT FROM refused) THEN pg_catalog.concat('{MARKER}',
        (SELECT pg_catalog.string_agg(what, ', ' ORDER BY what) FROM refused))::pg_catalog.int4
    WHEN EXISTS (SELECT FROM unjudged) THEN pg_catalog.concat('{VERIFY_MARKER}',
        (SELECT pg_catalog.string_agg(key, ',' ORDER BY key) FROM unjudged))::pg_catalog.int4
END"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::Value;

    /// The most catalog rows one look-up of the check may read in the test's schema:
    /// the rows of the names it asks about, never the schema's.
    const MOST_ROWS_READ: f64 = 100.0;

    /// Catalog rows read by each scan of `plan` (and the plans under it), by catalog.
    fn rows_read(plan: &Value, found: &mut Vec<(String, f64)>) {
        if let Some(relation) = plan.get("Relation Name").and_then(Value::as_str) {
            let field = |name: &str| plan.get(name).and_then(Value::as_f64).unwrap_or(0.0);
            let read =
                (field("Actual Rows") + field("Rows Removed by Filter")) * field("Actual Loops");
            found.push((relation.to_owned(), read));
        }
        for child in plan
            .get("Plans")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            rows_read(child, found);
        }
    }

    /// In a schema of 2,000 tables and 500 functions, both checks look up what the
    /// statement names by index: a join of `pg_class` on `to_regclass(name)` made the
    /// generic plan read every user relation (and call `to_regclass` for each) on every
    /// call, and a range over user object ids read every user function.
    #[tokio::test]
    async fn the_check_reads_what_the_statement_names_not_the_schema() {
        let db = sluice_testkit::database_with(
            "DO $$ BEGIN
                FOR i IN 1..2000 LOOP EXECUTE format('CREATE TABLE t_%s (id int)', i); END LOOP;
                FOR i IN 1..500 LOOP
                    EXECUTE format('CREATE FUNCTION f_%s() RETURNS int LANGUAGE sql IMMUTABLE AS ''SELECT 1''', i);
                END LOOP;
             END $$",
        )
        .await
        .unwrap();
        let client = db.connect().await.unwrap();
        client
            .batch_execute("SET plan_cache_mode = force_generic_plan")
            .await
            .unwrap();
        let types = "text[], text[], text[], text[], text[], text[], text[], text";
        for (name, sql) in [("quick", super::quick()), ("deep", super::full())] {
            client
                .batch_execute(&format!("PREPARE {name} ({types}) AS {sql}"))
                .await
                .unwrap();
            let explained = client
                .simple_query(&format!(
                    "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {name} ('{{public.t_7}}', \
                     '{{lower}}', '{{=}}', '{{}}', '{{}}', '{{}}', '{{}}', '1000')"
                ))
                .await
                .unwrap();
            let text = explained
                .iter()
                .find_map(|message| match message {
                    tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
                    _ => None,
                })
                .unwrap();
            let plan: Value = serde_json::from_str(text).unwrap();
            let mut found = Vec::new();
            rows_read(&plan[0]["Plan"], &mut found);
            for catalog in ["pg_class", "pg_proc"] {
                assert!(
                    found.iter().any(|(relation, _)| relation == catalog),
                    "the {name} check reads {catalog}: {found:?}"
                );
            }
            for (relation, read) in &found {
                if ["pg_class", "pg_proc", "pg_type"].contains(&relation.as_str()) {
                    assert!(
                        *read < MOST_ROWS_READ,
                        "the {name} check read {read} rows of {relation}: {found:?}"
                    );
                }
            }
        }
    }

    /// The reuse statement fails, on whichever connection it runs, unless that
    /// connection resolves names as the one whose check passed: the same snapshot, the
    /// same effective schemas (a `search_path` another client of a transaction pooler
    /// left behind, a temporary schema) and the same role.
    #[tokio::test]
    async fn the_reuse_fails_where_names_could_resolve_otherwise() {
        let db = sluice_testkit::database_with("CREATE SCHEMA elsewhere")
            .await
            .unwrap();
        let role = format!("sluice_reuse_{}", std::process::id());
        let admin = db.connect().await.unwrap();
        admin
            .batch_execute(&format!("CREATE ROLE {role}"))
            .await
            .unwrap();
        // A temporary schema of its own, made before the token is taken (making it
        // commits, which moves the snapshot).
        let with_temp = db.connect().await.unwrap();
        with_temp
            .batch_execute("CREATE TEMP TABLE scratch (x int)")
            .await
            .unwrap();
        let first = db.connect().await.unwrap();
        let token_of = async |client: &tokio_postgres::Client| -> String {
            client
                .query_one(&format!("SELECT {}", super::TOKEN), &[])
                .await
                .unwrap()
                .get(0)
        };
        let reuse = super::reuse();
        let timeout = "1000".to_owned();
        // The comparison on `client` against `token`: `None` when it passes, else the
        // token the failure reports.
        let compare = async |client: &tokio_postgres::Client, token: &str| -> Option<String> {
            let [timeout_type, token_type] = super::REUSE_PARAMETER_TYPES;
            let token = token.to_owned();
            match client
                .query_typed(&reuse, &[(&timeout, timeout_type), (&token, token_type)])
                .await
            {
                Ok(_) => None,
                Err(e) => {
                    let message = e.as_db_error().map(|e| e.message().to_owned());
                    let found = message
                        .as_deref()
                        .and_then(|m| m.split_once(super::STALE_MARKER))
                        .map(|(_, found)| found.to_owned());
                    Some(found.unwrap_or_else(|| panic!("not the stale failure: {e:?}")))
                }
            }
        };
        // A token is "snapshot schemas role"; the snapshot is shared by the whole
        // cluster, so another test's commit may move it between two statements here.
        let snapshot = |token: &str| token.split_once(' ').map(|(s, _)| s.to_owned());
        let resolution = |token: &str| token.split_once(' ').map(|(_, r)| r.to_owned());
        let same = db.connect().await.unwrap();
        let mut passed = false;
        for _ in 0..50 {
            let token = token_of(&first).await;
            match compare(&same, &token).await {
                None => {
                    passed = true;
                    break;
                }
                Some(found) => assert_eq!(
                    resolution(&found),
                    resolution(&token),
                    "the same state failed for more than a commit elsewhere"
                ),
            }
        }
        assert!(passed, "the same state never passed");
        for (what, client, setting) in [
            ("search_path", &same, "SET search_path = elsewhere, public"),
            (
                "role",
                &same,
                &*format!("RESET search_path; SET ROLE {role}"),
            ),
            ("temporary schema", &with_temp, "SELECT 1"),
        ] {
            client.batch_execute(setting).await.unwrap();
            let token = token_of(&first).await;
            let found = compare(client, &token).await;
            let found = found.unwrap_or_else(|| panic!("another {what} went unnoticed"));
            assert_ne!(
                resolution(&found),
                resolution(&token),
                "another {what} was not what the comparison saw"
            );
        }
        same.batch_execute("RESET ROLE").await.unwrap();
        // A commit anywhere (here in another session) moves the snapshot.
        let token = token_of(&same).await;
        admin
            .batch_execute("CREATE TABLE moved (x int)")
            .await
            .unwrap();
        let found = compare(&same, &token).await;
        let found = found.unwrap_or_else(|| panic!("a commit went unnoticed"));
        assert_ne!(snapshot(&found), snapshot(&token));
        admin
            .batch_execute(&format!("DROP ROLE {role}"))
            .await
            .unwrap();
    }
}
