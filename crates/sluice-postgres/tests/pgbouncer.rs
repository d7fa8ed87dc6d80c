//! Through a real PgBouncer: in transaction mode (each transaction, and each message
//! outside one, may land on another server connection, and PgBouncer 1.18 keeps no
//! prepared statement for a client) every kind of call works while more of Sluice's
//! connections than PgBouncer has server connections take turns; in session mode too
//! (where PgBouncer must have a server connection for each of Sluice's).
//!
//! Results of a type tokio-postgres has to look up (an enum, a composite, a domain)
//! too: its look-up statements are prepared inside the call's transaction, deallocated
//! there, and the connection that holds them is closed after the call; no server
//! connection is left with a prepared statement.

#![allow(clippy::unwrap_used)]
use serde_json::json;
use sluice_postgres::{Database, DatabaseConfig, Param};
use sluice_testkit::{PgBouncer, PoolMode, TestDatabase};

const SETUP: &str = "CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);
     INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 100) g;
     CREATE VIEW t_view AS SELECT id, upper(v) AS v FROM t;
     CREATE TYPE mood AS ENUM ('calm', 'busy');
     CREATE TABLE moods (id int, m mood);
     INSERT INTO moods VALUES (1, 'calm'), (2, 'busy');
     CREATE TABLE log (task int, i int, PRIMARY KEY (task, i));";

const TASKS: i32 = 12;
const ROUNDS: i32 = 20;

async fn through(mode: PoolMode) -> (TestDatabase, PgBouncer, Database) {
    let db = sluice_testkit::database_with(SETUP).await.unwrap();
    let transaction_pooling = mode == PoolMode::Transaction;
    // Fewer server connections than Sluice's six in transaction mode, so they are
    // shared; as many in session mode, where each client holds one.
    let servers = if transaction_pooling { 2 } else { 6 };
    let bouncer = db.pgbouncer(mode, servers).unwrap();
    let mut config = DatabaseConfig::from_url(bouncer.url()).unwrap();
    config.transaction_pooling = transaction_pooling;
    config.pool_size = 6;
    let database = Database::connect(config).await.unwrap();
    (db, bouncer, database)
}

/// One task's calls: every path of a read and a write, each checked for its result.
async fn calls(database: &Database, task: i32, looked_up_types: bool) -> Result<(), String> {
    for i in 0..ROUNDS {
        let id = (task * ROUNDS + i) % 100 + 1;
        let point = database
            .read(&format!("SELECT v FROM t WHERE id = {id}"))
            .await
            .map_err(|e| format!("point read: {e}"))?;
        if point.rows.len() != 1 {
            return Err(format!("point read gave {:?}", point.rows));
        }
        let array = Param::from_json_array(&json!([[1, 2, id]])).unwrap();
        let counted = database
            .read_with("SELECT count(*) AS n FROM t WHERE id = ANY($1)", &array)
            .await
            .map_err(|e| format!("array parameter: {e}"))?;
        let expected = if id <= 2 { 2 } else { 3 };
        if counted.rows != vec![vec![json!(expected)]] {
            return Err(format!("array parameter gave {:?}", counted.rows));
        }
        let empty = database
            .read("SELECT id, v FROM t WHERE id < 0")
            .await
            .map_err(|e| format!("empty read: {e}"))?;
        let names: Vec<&str> = empty.columns.iter().map(|c| c.name.as_str()).collect();
        if !empty.rows.is_empty() || names != ["id", "v"] {
            return Err(format!("empty read gave {names:?} {:?}", empty.rows));
        }
        let viewed = database
            .read(&format!("SELECT v FROM t_view WHERE id = {id}"))
            .await
            .map_err(|e| format!("view: {e}"))?;
        if viewed.rows.len() != 1 {
            return Err(format!("view gave {:?}", viewed.rows));
        }
        if !looked_up_types {
            continue_to_write(database, task, i).await?;
            continue;
        }
        let moods = database
            .read("SELECT m FROM moods ORDER BY id")
            .await
            .map_err(|e| format!("enum: {e}"))?;
        if moods.rows != vec![vec![json!("calm")], vec![json!("busy")]] {
            return Err(format!("enum gave {:?}", moods.rows));
        }
        continue_to_write(database, task, i).await?;
    }
    Ok(())
}

/// The write of round `i` of `task`, once.
async fn continue_to_write(database: &Database, task: i32, i: i32) -> Result<(), String> {
    database
        .write_with(
            "INSERT INTO log (task, i) VALUES ($1, $2)",
            &[task.into(), i.into()],
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("write: {e}"))
}

async fn many_tasks_through(database: &Database, bouncer: &PgBouncer, looked_up_types: bool) {
    let all = (0..TASKS).map(|task| calls(database, task, looked_up_types));
    let outcomes = futures_util::future::join_all(all).await;
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {TASKS} tasks failed: {failures:?}\npgbouncer's log:\n{}",
        failures.len(),
        bouncer.log()
    );
    let logged = database.read("SELECT count(*) FROM log").await.unwrap();
    assert_eq!(
        logged.rows,
        vec![vec![json!(TASKS * ROUNDS)]],
        "every write once"
    );
}

#[tokio::test]
async fn every_call_works_through_pgbouncer_in_transaction_mode() {
    let (_db, bouncer, database) = through(PoolMode::Transaction).await;
    many_tasks_through(&database, &bouncer, true).await;
    database.close();
    no_prepared_statement_left(&bouncer).await;
}

#[tokio::test]
async fn every_call_works_through_pgbouncer_in_session_mode() {
    let (_db, bouncer, database) = through(PoolMode::Session).await;
    many_tasks_through(&database, &bouncer, true).await;
    database.close();
}

/// Named statements on PgBouncer's server connections, asked through PgBouncer in the
/// simple protocol (which names nothing) often enough to reach each of them.
async fn no_prepared_statement_left(bouncer: &PgBouncer) {
    let (client, connection) = tokio_postgres::connect(bouncer.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    for _ in 0..20 {
        let messages = client
            .simple_query("SELECT string_agg(name, ',') FROM pg_prepared_statements")
            .await
            .unwrap();
        for message in messages {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                assert_eq!(row.get(0), None, "left on a server connection");
            }
        }
    }
    drop(client);
    let _ = driver.await;
}

/// In transaction mode, results of looked-up types (an enum, a composite, a domain, an
/// array of an enum, in reads and in a write's `RETURNING`) come right on connections
/// that take turns on two server connections, and leave nothing prepared behind.
#[tokio::test]
async fn looked_up_types_work_in_transaction_mode() {
    let (db, bouncer, database) = through(PoolMode::Transaction).await;
    let setup = db.connect().await.unwrap();
    setup
        .batch_execute(
            "CREATE TYPE pair AS (m mood, n int);
             CREATE DOMAIN short_mood AS mood;
             CREATE TABLE more (id int PRIMARY KEY, p pair, d short_mood, a mood[]);
             INSERT INTO more SELECT g, ROW('calm'::mood, g)::pair, 'busy', ARRAY['busy']::mood[]
                              FROM generate_series(1, 3) g;",
        )
        .await
        .unwrap();
    let database = &database;
    let all = (0..TASKS).map(|task| async move {
        for i in 0..5 {
            let moods = database
                .read("SELECT m FROM moods WHERE id < 3 ORDER BY id")
                .await
                .map_err(|e| format!("enum: {e}"))?;
            assert_eq!(moods.rows, vec![vec![json!("calm")], vec![json!("busy")]]);
            let more = database
                .read("SELECT d, a, p FROM more ORDER BY id")
                .await
                .map_err(|e| format!("domain, array, composite: {e}"))?;
            assert_eq!(more.rows.len(), 3);
            assert_eq!(more.rows.to_values()[0][0], json!("busy"));
            assert_eq!(more.rows.to_values()[0][1], json!(["busy"]));
            let written = database
                .write_with(
                    "INSERT INTO moods VALUES ($1, 'busy') RETURNING m",
                    &[(1000 + task * 10 + i).into()],
                )
                .await
                .map_err(|e| format!("write: {e}"))?;
            assert_eq!(written.rows, vec![vec![json!("busy")]]);
        }
        Ok::<(), String>(())
    });
    let failures: Vec<String> = futures_util::future::join_all(all)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert!(failures.is_empty(), "{failures:?}\n{}", bouncer.log());
    let counted = database
        .read("SELECT count(*) FROM moods WHERE id >= 1000")
        .await
        .unwrap();
    assert_eq!(counted.rows, vec![vec![json!(TASKS * 5)]]);
    database.close();
    no_prepared_statement_left(&bouncer).await;
}
