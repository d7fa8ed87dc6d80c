//! Database errors reach the client sanitised, and still useful.
#![allow(clippy::unwrap_used)]

use sluice_postgres::{Database, DatabaseConfig, QueryError};

#[tokio::test]
async fn errors_keep_what_a_model_needs() {
    let db = sluice_testkit::database().await.unwrap();
    let database = Database::connect(DatabaseConfig::new(db.config()))
        .await
        .unwrap();
    // The operator stays, and PostgreSQL's hint comes along.
    let Err(QueryError::Database(error)) = database.read("SELECT 'a'::text / 2").await else {
        panic!("an operator that does not exist");
    };
    assert!(
        error
            .message
            .contains("operator does not exist: text / integer"),
        "{error}"
    );
    assert!(error.message.contains("Hint: "), "{error}");
    assert!(error.message.contains("explicit type casts"), "{error}");
    // A NUL byte is refused with its name, not as a connection failure.
    let Err(QueryError::Refused(refusal)) = database.read("SELECT 'a\0b'").await else {
        panic!("a NUL byte");
    };
    assert!(refusal.message.contains("NUL"), "{refusal}");
}
