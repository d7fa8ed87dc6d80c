//! The least-privilege check against real roles: a superuser is found out; a writer role
//! with a read role that may only read passes; a read role granted a write is found out.
#![allow(clippy::unwrap_used)]

use sluice_postgres::posture::{Purpose, inspect};
use sluice_postgres::{Database, DatabaseConfig, ReadConnection};

#[tokio::test]
async fn a_superuser_is_reported() {
    let db = sluice_testkit::database_with("CREATE TABLE items (id int PRIMARY KEY)")
        .await
        .unwrap();
    let database = Database::connect(DatabaseConfig::from_url(db.url()).unwrap())
        .await
        .unwrap();
    let posture = inspect(&database).await.unwrap();
    let us = &posture.connections[0];
    if !us.superuser {
        return; // DATABASE_URL names a role that is not a superuser: nothing to find here
    }
    assert_eq!(us.purpose, Purpose::ReadsAndWrites);
    assert!(!posture.is_least_privilege());
    assert!(
        posture
            .findings
            .iter()
            .any(|f| f.message.contains("a superuser")),
        "{posture:?}"
    );
}

#[tokio::test]
async fn narrow_roles_pass_and_a_granted_write_is_found() {
    let db = sluice_testkit::database_with("CREATE TABLE items (id int PRIMARY KEY, name text)")
        .await
        .unwrap();
    let admin = db.connect().await.unwrap();
    // Roles belong to the cluster: names of this test's own, dropped before it ends.
    let (writer, reader) = (
        format!("sluice_pw_{}", std::process::id()),
        format!("sluice_pr_{}", std::process::id()),
    );
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{writer}\" LOGIN NOSUPERUSER; ALTER TABLE items OWNER TO \"{writer}\"; \
             GRANT USAGE ON SCHEMA public TO \"{writer}\";"
        ))
        .await
        .unwrap();
    admin
        .batch_execute(&sluice_postgres::setup::read_role_sql(
            &reader,
            db.name(),
            &["public"],
        ))
        .await
        .unwrap();
    let (config, names) = (db.config(), (writer.clone(), reader.clone()));
    let outcome = tokio::spawn(async move {
        let (writer, reader) = names;
        let mut writes = config.clone();
        writes.user(&writer);
        let mut reads = config.clone();
        reads.user(&reader);
        let mut settings = DatabaseConfig::new(writes);
        settings.reads = Some(ReadConnection::new(reads, Default::default()));
        let database = Database::connect(settings).await.unwrap();
        let posture = inspect(&database).await.unwrap();
        assert!(posture.is_least_privilege(), "{posture:?}");
        assert_eq!(posture.connections.len(), 2);
        assert_eq!(
            posture.connections[0].owned_tables, 1,
            "the writer owns its table: fine"
        );
        assert_eq!(posture.connections[1].writable_tables, 0);
        admin_grant(&config, &reader).await;
        let posture = inspect(&database).await.unwrap();
        assert_eq!(posture.findings.len(), 1, "{posture:?}");
        assert_eq!(posture.findings[0].purpose, Purpose::Reads);
        assert!(
            posture.findings[0]
                .message
                .contains("may change 1 table(s) (e.g. public.items)"),
            "{posture:?}"
        );
        database.close();
    })
    .await;
    admin
        .batch_execute(&format!(
            "DROP OWNED BY \"{reader}\"; DROP ROLE \"{reader}\"; DROP OWNED BY \"{writer}\"; DROP ROLE \"{writer}\""
        ))
        .await
        .unwrap();
    outcome.unwrap();
}

async fn admin_grant(config: &tokio_postgres::Config, reader: &str) {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("GRANT INSERT ON items TO \"{reader}\""))
        .await
        .unwrap();
}
