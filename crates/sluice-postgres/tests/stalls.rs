//! A database that stalls (a relay in front of it, frozen: connections held, no byte
//! passing, as a server stopped with SIGSTOP) cannot hold a call past its deadline: the
//! call answers, saying so, while the database is still frozen; a write says its outcome
//! is unknown; connecting gives up; and once the database answers again, calls work.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_postgres::{ConnectError, Database, DatabaseConfig, QueryError};

/// Far longer than any deadline here: reaching it means the call hung.
const HUNG: Duration = Duration::from_secs(90);

fn config(url: &str) -> DatabaseConfig {
    let mut config = DatabaseConfig::from_url(url).unwrap();
    config.statement_timeout = Duration::from_secs(1);
    config.acquire_timeout = Duration::from_secs(2);
    config
}

fn message(outcome: Result<sluice_postgres::QueryOutput, QueryError>) -> String {
    match outcome {
        Err(QueryError::Database(e)) => e.message,
        other => panic!("expected a database error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_answer_at_their_deadline_while_the_database_is_frozen() {
    let db = sluice_testkit::database_with("CREATE TABLE notes (id int PRIMARY KEY);")
        .await
        .unwrap();
    let (relay, url) = db.relayed().unwrap();
    let database = Database::connect(config(&url)).await.unwrap();
    // Two reads at once leave two connections in the pool, one for each call below.
    let slow = "SELECT count(*) FROM generate_series(1, 2000000)";
    let (a, b) = tokio::join!(database.read(slow), database.read(slow));
    assert_eq!(a.unwrap().row_count + b.unwrap().row_count, 2);
    assert!(database.deadline() >= Duration::from_secs(3));

    relay.freeze();
    let read = tokio::time::timeout(HUNG, database.read("SELECT 1"))
        .await
        .expect("the read answered while the database was frozen");
    let read = message(read);
    assert!(read.contains("did not answer within"), "{read}");
    let write = tokio::time::timeout(HUNG, database.write("INSERT INTO notes VALUES (1)"))
        .await
        .expect("the write answered while the database was frozen");
    let write = message(write);
    assert!(
        write.contains("whether the write committed is unknown"),
        "{write}"
    );
    // Both connections were discarded; a new one cannot be opened, and the call says
    // that (not that the pool is busy).
    let reconnect = tokio::time::timeout(HUNG, database.read("SELECT 1"))
        .await
        .expect("the read answered while the database was frozen");
    let reconnect = message(reconnect);
    assert!(
        reconnect.contains("cannot connect to the database now"),
        "{reconnect}"
    );
    // A new database object cannot connect either, and says so rather than hanging.
    let connect = tokio::time::timeout(HUNG, Database::connect(config(&url)))
        .await
        .expect("connecting gave up while the database was frozen");
    assert!(
        matches!(connect, Err(ConnectError::Unreachable { .. })),
        "{connect:?}"
    );

    // Thawed: the abandoned connections were discarded; new ones serve.
    relay.thaw();
    let mut served = None;
    for _ in 0..50 {
        if let Ok(output) = database.read("SELECT count(*) FROM notes").await {
            served = Some(output);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        served.is_some(),
        "the database serves again once it answers"
    );
    database.close();
}
