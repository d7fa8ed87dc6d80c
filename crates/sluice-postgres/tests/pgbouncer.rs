//! Through a real PgBouncer: in transaction mode (each transaction, and each message
//! outside one, may land on another server connection, and PgBouncer 1.18 keeps no
//! prepared statement for a client) every kind of call works while more of Sluice's
//! connections than PgBouncer has server connections take turns; in session mode too
//! (where PgBouncer must have a server connection for each of Sluice's).
//!
//! Not in transaction mode: a result of a type tokio-postgres has to look up (an enum,
//! a composite, an extension's type). Its look-up statement is prepared once per
//! connection and reused, so behind a transaction pooler it is missing from the next
//! server connection ("prepared statement … does not exist"); docs/deploy.md says so.

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
    many_tasks_through(&database, &bouncer, false).await;
    database.close();
}

#[tokio::test]
async fn every_call_works_through_pgbouncer_in_session_mode() {
    let (_db, bouncer, database) = through(PoolMode::Session).await;
    many_tasks_through(&database, &bouncer, true).await;
    database.close();
}

/// In transaction mode a result of an enum either comes right or fails saying what to
/// do (cast it to text), never with PostgreSQL's "prepared statement … does not exist";
/// cast, it always comes.
#[tokio::test]
async fn looked_up_types_in_transaction_mode_fail_with_advice_and_work_cast() {
    let (_db, bouncer, database) = through(PoolMode::Transaction).await;
    let all = (0..TASKS).map(|_| async {
        let mut outcomes = Vec::new();
        for _ in 0..5 {
            outcomes.push(database.read("SELECT m FROM moods ORDER BY id").await);
            let cast = database
                .read("SELECT m::text AS m FROM moods ORDER BY id")
                .await;
            match cast {
                Ok(output) => outcomes.push(Ok(output)),
                Err(e) => panic!("cast to text: {e}"),
            }
        }
        outcomes
    });
    for outcome in futures_util::future::join_all(all)
        .await
        .into_iter()
        .flatten()
    {
        match outcome {
            Ok(output) => assert_eq!(
                output.rows,
                vec![vec![json!("calm")], vec![json!("busy")]],
                "{}",
                bouncer.log()
            ),
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.contains("cast such columns to text")
                        && !message.contains("prepared statement"),
                    "{message}"
                );
            }
        }
    }
    database.close();
}
