//! The least-privilege read role of `setup::read_role_sql`, created on a real server:
//! reads through it work, and PostgreSQL itself refuses what a reader must not do, even
//! when the guard is told to let it through.
#![allow(clippy::unwrap_used)]

use sluice_postgres::{Database, DatabaseConfig, QueryError, ReadConnection};
use sluice_sqlguard::{Guard, Policy};

#[tokio::test]
async fn the_read_role_reads_and_postgres_refuses_the_rest() {
    let db = sluice_testkit::database().await.unwrap();
    let admin = db.connect().await.unwrap();
    admin
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text); \
             INSERT INTO items VALUES (1, 'widget');",
        )
        .await
        .unwrap();
    // Roles belong to the cluster: a name of this test's own, dropped before it ends.
    let role = format!("sluice_reader_{}", std::process::id());
    admin
        .batch_execute(&sluice_postgres::setup::read_role_sql(
            &role,
            db.name(),
            &["public"],
        ))
        .await
        .unwrap();
    admin
        .batch_execute("CREATE TABLE later (id int); INSERT INTO later VALUES (7);")
        .await
        .unwrap();

    let admin_pid: i32 = admin
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    // The checks run in a task of their own, so that a failure still drops the role.
    let (config, reader) = (db.config(), role.clone());
    let outcome = tokio::spawn(async move {
        let role = reader;
        let mut reads = config.clone();
        reads.user(&role);
        let mut config = DatabaseConfig::new(config);
        config.reads = Some(ReadConnection::new(reads, Default::default()));
        // A guard told to let everything through that the role must still stop.
        config.read_guard = Guard::new(
            Policy::read_only()
                .allow_relation("pg_catalog.pg_authid")
                .allow_function("pg_read_file")
                .allow_function("pg_terminate_backend"),
        );
        let database = Database::connect(config).await.unwrap();
        assert_eq!(
            database.read_target().unwrap().split('@').next(),
            Some(role.as_str())
        );
        let items = database.read("SELECT name FROM items").await.unwrap();
        assert_eq!(items.rows, [[serde_json::json!("widget")]]);
        // Tables created later by the owner are readable too (default privileges).
        let later = database.read("SELECT id FROM later").await.unwrap();
        assert_eq!(later.rows, [[serde_json::json!(7)]]);
        for sql in [
            "SELECT rolpassword FROM pg_authid".to_owned(),
            "SELECT pg_read_file('/etc/hostname')".to_owned(),
            format!("SELECT pg_terminate_backend({admin_pid})"),
        ] {
            match database.read(&sql).await {
                Err(QueryError::Database(e)) => assert!(
                    e.sqlstate.as_deref() == Some("42501"),
                    "{sql}: not a permission error: {e}"
                ),
                other => panic!("{sql}: {other:?}"),
            }
        }
        database.close();
    })
    .await;
    admin
        .batch_execute(&format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\""))
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
