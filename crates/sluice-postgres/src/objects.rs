//! Objects that act behind a name: what the catalog says a statement will really run.
//!
//! The guard judges the text. The text does not show what a database owner's own
//! objects do: a view's body, a `public.lower(integer)` that out-ranks the built-in
//! `lower(text)`, `t.f` calling a function `f(t)`, a user-defined operator, cast or
//! aggregate, a domain's `CHECK`, a row-level security policy, a foreign table. Each can
//! run functions with side effects that outlive the read-only transaction (a session
//! advisory lock, a `dblink_exec` that commits elsewhere).
//!
//! So before the statement runs, in the same transaction and the same round trip, one
//! catalog query resolves the names the guard collected ([`sluice_sqlguard::Names`]):
//! views are followed through their rules to every function, operator, relation and
//! type they use; routine names and operator symbols are matched against user-defined
//! functions and operators visible on the `search_path`; domain constraints,
//! row-level security policies and implicit user casts are followed to their functions.
//! A function is refused when it is anybody's own and not allowed by its qualified name
//! (`Policy::allow_function("schema.name")`), or when it is built in or installed by an
//! extension, volatile, and not on the guard's allow-list (so `citext`'s operators and
//! PostGIS's functions, immutable, pass, and `dblink_exec` does not); a foreign table is
//! refused. The query then fails with a marker, which aborts the transaction
//! before the statement is parsed, and the caller gets a refusal naming what was found.
//!
//! PostgreSQL records no dependency on a built-in function (built-in objects are
//! pinned), so a view calling `pg_advisory_lock` directly leaves no trace in
//! `pg_depend`. The definitions themselves are therefore judged too: every view the
//! statement reaches, every `CHECK` of a domain it casts to and every row-level
//! security policy of a relation it reaches is deparsed by PostgreSQL and checked by
//! the read guard (PostgreSQL's own views, which no one but a superuser can change, are
//! trusted), once per definition (keyed by its object id and the MD5 of its
//! text, so a `CREATE OR REPLACE VIEW` is judged again). The check fails with a second
//! marker while any such definition is unjudged; the caller judges them and runs the
//! call again.
//!
//! The query is written with every function, operator and type qualified with
//! `pg_catalog`, so a hostile `search_path` cannot redirect it.

use std::collections::HashMap;
use std::sync::Mutex;

use sluice_sqlguard::{Guard, Names, Policy, Refusal, RefusalReason, Verdict};
use tokio_postgres::types::ToSql;

/// What the failure of the check says, ahead of the list of what it found.
const MARKER: &str = "sluice-refused: ";

/// What the failure of the check says, ahead of the definitions not judged yet.
const VERIFY_MARKER: &str = "sluice-verify: ";

/// The text of a definition, by kind (`v` view, `c` domain constraint, `p` policy),
/// for the object id `$1` — the same expressions in the check and in the fetch.
const VIEW_TEXT: &str = "pg_catalog.pg_get_viewdef(v.oid)";
const CONSTRAINT_TEXT: &str = "pg_catalog.pg_get_constraintdef(con.oid)";
const POLICY_TEXT: &str = "pg_catalog.concat_ws(' AND ', \
    pg_catalog.pg_get_expr(pol.polqual, pol.polrelid), \
    pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid))";

/// The first object id of a user-defined object (`FirstNormalObjectId`).
const FIRST_USER_OID: &str = "16384";

/// The check. Parameters: `$1` relations (quoted, qualified as written), `$2` routine
/// names, `$3` operator symbols, `$4` type names, `$5` allowed built-in names, `$6`
/// allowed `schema.name` entries, `$7` definitions already judged (`kind:oid:md5`).
pub(crate) fn check_sql() -> String {
    const EQ: &str = "OPERATOR(pg_catalog.=)";
    let reg = |name: &str| format!("'pg_catalog.{name}'::pg_catalog.regclass");
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
    format!(
        "WITH RECURSIVE
named AS (
    SELECT c.oid, c.relkind
    FROM pg_catalog.unnest($1::pg_catalog.text[]) AS r(name)
    JOIN pg_catalog.pg_class c ON c.oid {EQ} pg_catalog.to_regclass(r.name)::pg_catalog.oid
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
domains AS (
    SELECT t.oid FROM pg_catalog.pg_type t
    WHERE t.typtype {EQ} 'd' AND t.typname {EQ} ANY ($4::pg_catalog.text[])
    UNION
    SELECT t.oid FROM body b JOIN pg_catalog.pg_type t ON t.oid {EQ} b.refobjid
    WHERE b.refclassid {EQ} {type_} AND t.typtype {EQ} 'd'
),
candidates AS (
    SELECT p.oid FROM pg_catalog.pg_proc p
    WHERE p.proname {EQ} ANY ($2::pg_catalog.text[]) AND p.oid OPERATOR(pg_catalog.>=) {user}::pg_catalog.oid
      AND pg_catalog.pg_function_is_visible(p.oid)
    UNION
    SELECT refobjid FROM body WHERE refclassid {EQ} {proc_}
    UNION
    SELECT o.oprcode::pg_catalog.oid FROM pg_catalog.pg_operator o
    WHERE o.oid OPERATOR(pg_catalog.>=) {user}::pg_catalog.oid
      AND ((o.oprname {EQ} ANY ($3::pg_catalog.text[]) AND pg_catalog.pg_operator_is_visible(o.oid))
           OR o.oid {EQ} ANY (SELECT refobjid FROM body WHERE refclassid {EQ} {operator}))
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
    FROM reached r
    JOIN pg_catalog.pg_class c ON c.oid {EQ} r.oid
    JOIN pg_catalog.pg_namespace n ON n.oid {EQ} c.relnamespace
    WHERE c.relkind {EQ} 'f'
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
SELECT CASE
    WHEN EXISTS (SELECT FROM refused) THEN pg_catalog.concat('{MARKER}',
        (SELECT pg_catalog.string_agg(what, ', ' ORDER BY what) FROM refused))::pg_catalog.int4
    WHEN EXISTS (SELECT FROM unjudged) THEN pg_catalog.concat('{VERIFY_MARKER}',
        (SELECT pg_catalog.string_agg(key, ',' ORDER BY key) FROM unjudged))::pg_catalog.int4
END"
    )
}

/// The check's parameters for one statement under one policy.
#[derive(Debug)]
pub(crate) struct CheckParams {
    relations: Vec<String>,
    routines: Vec<String>,
    operators: Vec<String>,
    types: Vec<String>,
    builtin_allowed: Vec<String>,
    qualified_allowed: Vec<String>,
    /// Definitions judged before for statements naming the same relations and types.
    pub(crate) judged: Vec<String>,
    /// The relations and types named, the key of [`Judged`].
    pub(crate) fingerprint: String,
}

impl CheckParams {
    pub(crate) fn new(names: &Names, policy: &Policy, judged: &Judged) -> Self {
        let (qualified_allowed, builtin_allowed) = policy
            .allowed_functions()
            .map(str::to_owned)
            .partition(|name| name.contains('.'));
        let relations: Vec<String> = names
            .relations
            .iter()
            .map(|parts| {
                parts
                    .iter()
                    .map(|part| quote_identifier(part))
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect();
        let fingerprint = format!("{}|{}", relations.join(","), names.types.join(","));
        CheckParams {
            judged: judged.known(&fingerprint),
            fingerprint,
            relations,
            routines: names.routines.clone(),
            operators: names.operators.clone(),
            types: names.types.clone(),
            builtin_allowed,
            qualified_allowed,
        }
    }

    /// In the order of `$1` … `$7`.
    pub(crate) fn as_params(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.relations,
            &self.routines,
            &self.operators,
            &self.types,
            &self.builtin_allowed,
            &self.qualified_allowed,
            &self.judged,
        ]
    }
}

/// `"name"`, with inner quotes doubled, as `to_regclass` reads it.
fn quote_identifier(part: &str) -> String {
    format!("\"{}\"", part.replace('"', "\"\""))
}

/// What the check's own failure says.
#[derive(Debug)]
pub(crate) enum Found {
    /// Code that may not run.
    Refused(Refusal),
    /// Definitions to judge before the call can run (`kind:oid:md5` keys).
    Unjudged(Vec<String>),
}

/// What `error` says when it is the check's own failure, `None` for any other error.
pub(crate) fn found(error: &tokio_postgres::Error) -> Option<Found> {
    let message = error.as_db_error()?.message();
    let after = |marker: &str| {
        let at = message.find(marker)?;
        Some(message[at + marker.len()..].trim_end_matches(['"', '»', '”', ' ']))
    };
    if let Some(keys) = after(VERIFY_MARKER) {
        return Some(Found::Unjudged(
            keys.split(',').map(str::to_owned).collect(),
        ));
    }
    let found = after(MARKER)?;
    Some(Found::Refused(Refusal::new(
        RefusalReason::HiddenCode,
        format!(
            "the statement would run code the guard cannot see: {found} (through a view, an \
             overload, attribute notation, an operator, a cast, a domain check, a \
             row-level security policy or a foreign table). Only built-in functions known to \
             be safe run here; query the tables directly, or ask the operator to allow the \
             function by its qualified name."
        ),
    )))
}

/// Definitions judged so far, by the relations and types of the statements that
/// reached them. Bounded: past [`Judged::CAPACITY`] statement shapes it starts afresh
/// (which costs a round trip per shape, never safety).
#[derive(Debug, Default)]
pub(crate) struct Judged {
    by_names: Mutex<HashMap<String, Vec<String>>>,
}

impl Judged {
    const CAPACITY: usize = 10_000;

    fn known(&self, fingerprint: &str) -> Vec<String> {
        self.by_names
            .lock()
            .map(|map| map.get(fingerprint).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    pub(crate) fn add(&self, fingerprint: &str, keys: &[String]) {
        if let Ok(mut map) = self.by_names.lock() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            let entry = map.entry(fingerprint.to_owned()).or_default();
            for key in keys {
                if !entry.contains(key) {
                    entry.push(key.clone());
                }
            }
        }
    }
}

/// Judges the definitions behind `keys` with `guard`: `Ok(Ok(()))` when all may run,
/// `Ok(Err(refusal))` naming the first that may not.
///
/// PostgreSQL deparses them with `search_path` set to `pg_catalog` alone, so every
/// name outside it comes out qualified (`public.take_lock()`), as the guard's
/// allow-list names user-defined functions.
pub(crate) async fn judge_definitions(
    client: &tokio_postgres::Client,
    keys: &[String],
    guard: &Guard,
) -> Result<Result<(), Refusal>, tokio_postgres::Error> {
    client
        .batch_execute("BEGIN READ ONLY; SET LOCAL search_path = pg_catalog")
        .await?;
    let judged = judge_each(client, keys, guard).await;
    let ended = client.batch_execute("ROLLBACK").await;
    let judged = judged?;
    ended?;
    Ok(judged)
}

async fn judge_each(
    client: &tokio_postgres::Client,
    keys: &[String],
    guard: &Guard,
) -> Result<Result<(), Refusal>, tokio_postgres::Error> {
    for key in keys {
        let mut parts = key.splitn(3, ':');
        let (Some(kind), Some(oid), Some(_md5)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(oid) = oid.parse::<u32>() else {
            continue;
        };
        let (what, sql) = match kind {
            "v" => (
                "view",
                format!(
                    "SELECT v.oid::pg_catalog.regclass::pg_catalog.text, {VIEW_TEXT} \
                     FROM pg_catalog.pg_class v WHERE v.oid OPERATOR(pg_catalog.=) $1"
                ),
            ),
            "c" => (
                "domain constraint",
                format!(
                    "SELECT pg_catalog.concat(con.contypid::pg_catalog.regtype, ' ', con.conname), \
                     {CONSTRAINT_TEXT} FROM pg_catalog.pg_constraint con \
                     WHERE con.oid OPERATOR(pg_catalog.=) $1"
                ),
            ),
            _ => (
                "row-level security policy",
                format!(
                    "SELECT pg_catalog.concat(pol.polname, ' on ', pol.polrelid::pg_catalog.regclass), \
                     {POLICY_TEXT} FROM pg_catalog.pg_policy pol \
                     WHERE pol.oid OPERATOR(pg_catalog.=) $1"
                ),
            ),
        };
        let oid = tokio_postgres::types::Oid::from(oid);
        let Some(row) = client.query_opt(&sql, &[&oid]).await? else {
            continue; // dropped meanwhile: the retry will not reach it
        };
        let name: String = row.try_get(0)?;
        let text: Option<String> = row.try_get(1)?;
        let text = text.unwrap_or_default();
        let statement = match kind {
            "v" => text,
            "c" => format!(
                "SELECT {}",
                text.trim().strip_prefix("CHECK").unwrap_or(&text)
            ),
            _ => format!("SELECT {text}"),
        };
        if let Verdict::Refused(refusal) = guard.check(&statement) {
            return Ok(Err(Refusal::new(
                RefusalReason::HiddenCode,
                format!(
                    "the statement reaches {what} {name}, whose definition may not run \
                     here: {}",
                    refusal.message
                ),
            )));
        }
    }
    Ok(Ok(()))
}
