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
//!
//! A check that passed stands while nothing it depends on has changed: the next
//! statement with the same names under the same policy sends, in its place, a
//! comparison of the token the check answered (snapshot, effective schemas, role),
//! which fails the same way when anything moved ([`crate::reuse`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sluice_sqlguard::{Guard, Names, Policy, Refusal, RefusalReason, Verdict};
use tokio_postgres::types::ToSql;

use crate::check_sql::{
    CONSTRAINT_TEXT, DEEP_MARKER, MARKER, POLICY_TEXT, STALE_MARKER, VERIFY_MARKER, VIEW_TEXT,
};
use crate::setup::quote_identifier;

/// A policy's allow-list as the full check takes it, built once per guard.
#[derive(Debug)]
pub(crate) struct AllowLists {
    /// Names of built-in functions (`$5`).
    builtin: Vec<String>,
    /// `schema.name` entries (`$6`).
    qualified: Vec<String>,
}

impl AllowLists {
    pub(crate) fn of(policy: &Policy) -> Arc<Self> {
        let (qualified, builtin) = policy
            .allowed_functions()
            .map(str::to_owned)
            .partition(|name: &String| name.contains('.'));
        Arc::new(AllowLists { builtin, qualified })
    }
}

/// The check's parameters for one statement under one policy.
#[derive(Debug)]
pub(crate) struct CheckParams {
    relations: Vec<String>,
    routines: Vec<String>,
    operators: Vec<String>,
    types: Vec<String>,
    allowed: Arc<AllowLists>,
    /// Definitions judged before for statements naming the same relations and types.
    pub(crate) judged: Vec<String>,
    /// The relations and types named, the key of [`Judged`].
    pub(crate) fingerprint: String,
    /// Whether to run the full check straight away (the statement's shape needed it
    /// before).
    pub(crate) full: bool,
    /// The statement timeout, in milliseconds.
    timeout_ms: String,
    /// What a passed check is remembered by ([`crate::reuse`]): the policy's
    /// allow-lists and the names.
    pub(crate) reuse_key: String,
    /// Whether a check that passed before may stand in ([`crate::reuse`]); off for the
    /// rest of a call once it met a stale token.
    pub(crate) may_reuse: bool,
}

impl CheckParams {
    pub(crate) fn new(
        names: &Names,
        allowed: &Arc<AllowLists>,
        judged: &Judged,
        statement_timeout_ms: u128,
    ) -> Self {
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
        let (full, known) = judged.known(&fingerprint);
        let reuse_key = format!(
            "{:p}{:?}",
            Arc::as_ptr(allowed),
            (&relations, &names.routines, &names.operators, &names.types)
        );
        CheckParams {
            reuse_key,
            may_reuse: true,
            judged: known,
            full,
            timeout_ms: statement_timeout_ms.to_string(),
            fingerprint,
            relations,
            routines: names.routines.clone(),
            operators: names.operators.clone(),
            types: names.types.clone(),
            allowed: Arc::clone(allowed),
        }
    }

    /// The statement timeout in milliseconds, as the pins take it.
    pub(crate) fn timeout_ms(&self) -> &String {
        &self.timeout_ms
    }

    /// In the order of `$1` … `$8`. The quick check reads none of `$5` … `$7`, so it
    /// gets them empty (the allow-list alone is hundreds of names to parse).
    pub(crate) fn as_params(&self) -> [&(dyn ToSql + Sync); 8] {
        static EMPTY: Vec<String> = Vec::new();
        fn full(full: bool, list: &Vec<String>) -> &Vec<String> {
            if full { list } else { &EMPTY }
        }
        [
            &self.relations,
            &self.routines,
            &self.operators,
            &self.types,
            full(self.full, &self.allowed.builtin),
            full(self.full, &self.allowed.qualified),
            full(self.full, &self.judged),
            &self.timeout_ms,
        ]
    }
}

/// What the check's own failure says.
#[derive(Debug)]
pub(crate) enum Found {
    /// Code that may not run.
    Refused(Refusal),
    /// Definitions to judge before the call can run (`kind:oid:md5` keys).
    Unjudged(Vec<String>),
    /// The quick check found something only the full check can judge.
    Deep,
    /// A check reused ([`crate::reuse`]) found this token instead of its own.
    Stale(String),
}

/// What `error` says when it is the check's own failure, `None` for any other error.
pub(crate) fn found(error: &tokio_postgres::Error) -> Option<Found> {
    let message = error.as_db_error()?.message();
    let after = |marker: &str| {
        let at = message.find(marker)?;
        Some(message[at + marker.len()..].trim_end_matches(['"', '»', '”', ' ']))
    };
    if after(DEEP_MARKER).is_some() {
        return Some(Found::Deep);
    }
    if let Some(token) = after(STALE_MARKER) {
        return Some(Found::Stale(token.to_owned()));
    }
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

/// What earlier calls learnt about statements naming the same relations and types:
/// whether they needed the full check, and the definitions judged for them. Only ever
/// makes a call skip a round trip, never a check. Bounded: past [`Judged::CAPACITY`]
/// shapes it starts afresh.
#[derive(Debug, Default)]
pub(crate) struct Judged {
    by_names: Mutex<HashMap<String, Shape>>,
}

#[derive(Debug, Default, Clone)]
struct Shape {
    full: bool,
    judged: Vec<String>,
}

impl Judged {
    const CAPACITY: usize = 10_000;

    fn known(&self, fingerprint: &str) -> (bool, Vec<String>) {
        self.by_names
            .lock()
            .ok()
            .and_then(|map| map.get(fingerprint).cloned())
            .map(|shape| (shape.full, shape.judged))
            .unwrap_or_default()
    }

    /// Records that statements of this shape need the full check, and what it judged.
    pub(crate) fn add(&self, fingerprint: &str, keys: &[String]) {
        if let Ok(mut map) = self.by_names.lock() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            let shape = map.entry(fingerprint.to_owned()).or_default();
            shape.full = true;
            for key in keys {
                if !shape.judged.contains(key) {
                    shape.judged.push(key.clone());
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
        // Unnamed (one round trip, and nothing left prepared behind a transaction pooler).
        let Some(row) = client
            .query_typed_opt(&sql, &[(&oid, tokio_postgres::types::Type::OID)])
            .await?
        else {
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
