//! No call hands the next caller a connection carrying its session state, and every
//! transaction runs with the lexing settings the guard assumes, whatever the session
//! says. The pool has one connection, so every call below reuses the same session.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sluice_postgres::{Database, DatabaseConfig, QueryError};
use sluice_sqlguard::{Guard, Policy};
use sluice_testkit::TestDatabase;

/// Objects of a database owner that act behind a name: a view that takes a session
/// advisory lock, and a trigger that leaves every kind of session state behind. The
/// guard cannot see either (it sees a view name and a plain INSERT).
const SCHEMA: &str = "
CREATE TABLE notes (id int PRIMARY KEY, body text);
CREATE FUNCTION take_lock() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM (SELECT pg_advisory_lock(4242)) AS locked
$$;
CREATE VIEW locking_view AS SELECT take_lock() AS one;
CREATE FUNCTION leave_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_lock(4243);
    PERFORM set_config('search_path', 'leaked, public', false);
    PERFORM set_config('standard_conforming_strings', 'off', false);
    PERFORM set_config('sluice.leaked', 'yes', false);
    CREATE TEMP TABLE IF NOT EXISTS notes (id int, body text);
    INSERT INTO pg_temp.notes VALUES (1, 'a fake row that shadows the real table');
    LISTEN leaked_channel;
    RETURN NEW;
END
$$;
CREATE TRIGGER leave_state BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION leave_state();
CREATE VIEW session_probe AS SELECT
    current_setting('search_path') AS search_path,
    current_setting('standard_conforming_strings') AS scs,
    coalesce(current_setting('sluice.leaked', true), '') AS custom,
    (SELECT count(*) FROM pg_listening_channels()) AS listens,
    (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks,
    (SELECT count(*) FROM pg_class WHERE relname = 'notes' AND relpersistence = 't') AS temps,
    (SELECT count(*) FROM notes) AS notes_seen;
";

async fn database() -> (TestDatabase, Database) {
    let db = sluice_testkit::database_with(SCHEMA).await.unwrap();
    let mut config = DatabaseConfig::new(db.config());
    config.pool_size = 1;
    // The probe's own functions, and the owner's locking function, allowed as an
    // operator would allow them; what they leave behind is what is tested.
    config.read_guard = Guard::new(
        Policy::read_only()
            .allow_function("current_setting")
            .allow_function("pg_listening_channels")
            .allow_function("pg_backend_pid")
            .allow_function("public.take_lock"),
    );
    let database = Database::connect(config).await.unwrap();
    (db, database)
}

async fn probe(database: &Database) -> Value {
    let output = database.read("SELECT * FROM session_probe").await.unwrap();
    let names = output.columns.iter().map(|c| c.name.clone());
    Value::Object(
        names
            .zip(output.rows.to_values()[0].iter().cloned())
            .collect(),
    )
}

fn clean(notes: i64) -> Value {
    json!({
        "search_path": "\"$user\", public",
        "scs": "on",
        "custom": "",
        "listens": 0,
        "locks": 0,
        "temps": 0,
        "notes_seen": notes,
    })
}

#[tokio::test]
async fn a_write_leaves_no_session_state_for_the_next_caller() {
    let (_db, database) = database().await;
    assert_eq!(probe(&database).await, clean(0));
    database
        .write("INSERT INTO notes VALUES (1, 'real')")
        .await
        .unwrap();
    // Same connection: the trigger's lock, settings, temporary table and listen are gone.
    assert_eq!(probe(&database).await, clean(1));
}

#[tokio::test]
async fn a_read_leaves_no_advisory_lock() {
    let (_db, database) = database().await;
    let output = database.read("SELECT * FROM locking_view").await.unwrap();
    assert_eq!(output.rows, [[json!(1)]]);
    assert_eq!(probe(&database).await, clean(0));
}

#[tokio::test]
async fn a_failed_call_leaves_no_session_state_either() {
    let (_db, database) = database().await;
    // The trigger runs, then the statement fails on the primary key of the second row.
    let err = database
        .write("INSERT INTO notes VALUES (7, 'a'), (7, 'b')")
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::Database(_)), "{err:?}");
    assert_eq!(probe(&database).await, clean(0));
}

#[tokio::test]
async fn the_lexing_settings_are_pinned_whatever_the_session_says() {
    let db = sluice_testkit::database().await.unwrap();
    // A database whose own default turns standard strings off, as an old application
    // might have it: every new session starts with it off.
    let admin = db.connect().await.unwrap();
    let name: String = admin
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" SET standard_conforming_strings = off; \
             ALTER DATABASE \"{name}\" SET backslash_quote = on"
        ))
        .await
        .unwrap();
    let database = Database::connect(DatabaseConfig::new(db.config()))
        .await
        .unwrap();
    // The guard reads one string holding a backslash; so must PostgreSQL.
    let output = database
        .read(r"SELECT '\' || $$ ', 1 -- $$ AS v")
        .await
        .unwrap();
    assert_eq!(output.rows, [[json!(r"\ ', 1 -- ")]]);
    let shown = database
        .read("SHOW standard_conforming_strings")
        .await
        .unwrap();
    assert_eq!(shown.rows, [[json!("on")]]);
    let written = database.write(r"SELECT '\' AS v").await.unwrap();
    assert_eq!(written.rows, [[json!(r"\")]]);
}
