//! The corpus against a real PostgreSQL: every honest query runs, and every attack the
//! guard refuses is shown to be harmful, or at least not read-only, without the guard.
//! This is what keeps the corpus honest: it tests PostgreSQL's behaviour, not strings.
#![allow(clippy::unwrap_used)]

mod corpus;

use std::collections::BTreeSet;

use sluice_testkit::TestDatabase;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

async fn sample_database() -> (TestDatabase, Client) {
    let db = sluice_testkit::database().await.unwrap();
    let client = db.connect().await.unwrap();
    client.batch_execute(corpus::SCHEMA).await.unwrap();
    (db, client)
}

#[tokio::test]
async fn every_benign_query_runs_on_postgres() {
    let (_db, client) = sample_database().await;
    let mut failed = Vec::new();
    for (line, sql) in corpus::benign() {
        // Inside a read-only transaction, as sluice-postgres runs them.
        client.batch_execute("BEGIN READ ONLY").await.unwrap();
        if let Err(e) = client.simple_query(sql).await {
            failed.push(format!("benign.sql:{line}: {sql}\n    {e}"));
        }
        client.batch_execute("ROLLBACK").await.unwrap();
    }
    assert!(
        failed.is_empty(),
        "{} honest queries failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[tokio::test]
async fn every_attack_is_harmful_without_the_guard() {
    let (_db, catalog) = sample_database().await;
    let mut wrong = Vec::new();
    for attack in corpus::attacks() {
        // Attacks that run get a fresh copy of the sample each: they do real damage.
        let runs = !attack.proof.contains(':');
        let fresh = if runs {
            Some(sample_database().await)
        } else {
            None
        };
        let (db, client) = match &fresh {
            Some((db, client)) => (Some(db), client),
            None => (None, &catalog),
        };
        let shown = prove(db, client, &attack.proof, &attack.sql).await;
        if let Err(why) = shown {
            wrong.push(format!(
                "attacks.tsv:{}: {} [{}]\n    {why}",
                attack.line, attack.sql, attack.proof
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} attacks not shown harmful:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Shows what the attack does without the guard, as its proof kind claims.
async fn prove(
    db: Option<&TestDatabase>,
    client: &Client,
    proof: &str,
    sql: &str,
) -> Result<(), String> {
    // Volatile: side effects. Immutable: PostgreSQL folds a call with constant arguments
    // while planning.
    for (prefix, letter, word) in [
        ("volatile:", "v", "volatile"),
        ("immutable:", "i", "immutable"),
    ] {
        if let Some(name) = proof.strip_prefix(prefix) {
            return every_function_is(client, name, letter, word).await;
        }
    }
    if let Some(name) = proof.strip_prefix("absent:") {
        let row = client
            .query_one("SELECT count(*) FROM pg_proc WHERE proname = $1", &[&name])
            .await
            .map_err(|e| e.to_string())?;
        return if row.get::<_, i64>(0) == 0 {
            Ok(())
        } else {
            Err(format!("{name} exists on this server"))
        };
    }
    // The remaining proofs run the attack, each on a connection of its own (some of them
    // end transactions or change session state), inside the per-test database.
    let db = db.ok_or("a proof that runs needs a database of its own")?;
    let own = db.connect().await.map_err(|e| e.to_string())?;
    match proof {
        "ro-error" => {
            own.batch_execute("BEGIN READ ONLY")
                .await
                .map_err(|e| e.to_string())?;
            match own.simple_query(sql).await {
                Ok(_) => Err("ran inside a read-only transaction without error".to_owned()),
                Err(e) => match e.code() {
                    Some(code) if code.code().starts_with("25") => Ok(()),
                    _ => Err(format!("failed, but not for being a write: {}", detail(&e))),
                },
            }
        }
        "escapes" => {
            own.batch_execute("BEGIN READ ONLY")
                .await
                .map_err(|e| e.to_string())?;
            // What follows the escape may fail (or may not); the point is the state after.
            let _ = own.simple_query(sql).await;
            let row = own
                .query_one("SELECT current_setting('transaction_read_only')", &[])
                .await
                .map_err(|e| e.to_string())?;
            if row.get::<_, String>(0) == "off" {
                Ok(())
            } else {
                Err("the session is still in a read-only transaction".to_owned())
            }
        }
        "session" => {
            // The settings sluice-postgres gives its sessions, which the attacks undo.
            own.batch_execute(
                "SET statement_timeout = '30s'; SET default_transaction_read_only = on",
            )
            .await
            .map_err(|e| detail(&e))?;
            let before = session_state(&own).await?;
            own.simple_query(sql).await.map_err(|e| detail(&e))?;
            let after = session_state(&own).await?;
            if before == after {
                Err("ran, but changed no session state".to_owned())
            } else {
                Ok(())
            }
        }
        "succeeds-ro" => {
            own.batch_execute("BEGIN READ ONLY")
                .await
                .map_err(|e| e.to_string())?;
            own.simple_query(sql).await.map(drop).map_err(|e| {
                format!(
                    "the read-only transaction stopped it after all: {}",
                    detail(&e)
                )
            })
        }
        other => Err(format!("unknown proof kind {other}")),
    }
}

/// Every function named `name` on the server has volatility `letter` (`pg_proc.provolatile`).
async fn every_function_is(
    client: &Client,
    name: &str,
    letter: &str,
    word: &str,
) -> Result<(), String> {
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE provolatile::text = $2) FROM pg_proc \
             WHERE proname = $1",
            &[&name, &letter],
        )
        .await
        .map_err(|e| e.to_string())?;
    let (all, matching): (i64, i64) = (row.get(0), row.get(1));
    if all > 0 && matching == all {
        Ok(())
    } else {
        Err(format!("{name}: {all} functions, {matching} {word}"))
    }
}

/// The server's words for an error, with its SQLSTATE.
fn detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Settings, listened channels and prepared statements of a session.
async fn session_state(client: &Client) -> Result<BTreeSet<String>, String> {
    let rows = client
        .simple_query(
            "SELECT 'setting ' || name || '=' || setting FROM pg_settings \
             UNION ALL SELECT 'listen ' || c FROM pg_listening_channels() c \
             UNION ALL SELECT 'prepared ' || name FROM pg_prepared_statements",
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows
        .into_iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .collect())
}

#[tokio::test]
async fn the_extended_protocol_refuses_several_statements_too() {
    // A second layer the guard does not rely on: a prepared statement is one command.
    let (_db, client) = sample_database().await;
    let err = client
        .prepare("SELECT 1; DELETE FROM customers")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::SYNTAX_ERROR));
}

/// Why constant expansions are refused by size: PostgreSQL builds them while it plans,
/// before a timeout or a row cap could apply, in the backend's memory. EXPLAIN (which
/// only plans) shows the whole computation folded to a number, and the backend's peak
/// memory grows by the size of the value.
#[tokio::test]
async fn constant_expansion_is_built_while_planning() {
    let (_db, client) = sample_database().await;
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let peak = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
    };
    let before = peak();
    let rows = client
        .simple_query("EXPLAIN (VERBOSE) SELECT length(repeat(repeat('x', 1000), 50000))")
        .await
        .unwrap();
    let plan: String = rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .collect();
    assert!(
        plan.contains("50000000"),
        "not folded while planning: {plan}"
    );
    // The backend's peak memory, where this test can read it (a server on this machine).
    if let (Some(before), Some(after)) = (before, peak()) {
        assert!(
            after >= before + 40_000,
            "peak memory {before} kB -> {after} kB for a 50 MB constant"
        );
    }
    assert_eq!(
        sluice_sqlguard::Guard::read_only()
            .check("SELECT length(repeat(repeat('x', 1000), 50000))")
            .refusal()
            .map(|r| r.reason),
        Some(sluice_sqlguard::RefusalReason::TooLarge)
    );
}
