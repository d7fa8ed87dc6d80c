//! TLS to PostgreSQL, mode by mode, against a real server that speaks TLS (an ephemeral
//! cluster with a certificate for `localhost` signed by a test authority) and one that
//! does not.
#![allow(clippy::unwrap_used)]

use sluice_postgres::tls::TlsMode;
use sluice_postgres::{ConnectError, Database, DatabaseConfig};
use sluice_sqlguard::{Guard, Policy};

/// A guard that also lets the tests ask the server about the connection itself.
fn inspecting(mut config: DatabaseConfig) -> DatabaseConfig {
    config.read_guard = Guard::new(
        Policy::read_only()
            .allow_function("pg_backend_pid")
            .allow_setting("ssl"),
    );
    config
}

async fn connect(url: &str) -> Result<Database, ConnectError> {
    Database::connect(inspecting(DatabaseConfig::from_url(url)?)).await
}

/// Whether the pool's connection is encrypted, as the server sees it.
async fn encrypted(database: &Database) -> bool {
    let output = database
        .read("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .await
        .unwrap();
    output.rows[0][0] == serde_json::json!(true)
}

#[tokio::test]
async fn every_sslmode_does_what_libpq_says() {
    let server = sluice_testkit::tls_server().await.unwrap();
    let root = server.root_cert();
    let root = root.display();

    // disable: plain, even though the server offers TLS.
    let plain = connect(&server.url("localhost", "sslmode=disable"))
        .await
        .unwrap();
    assert!(!encrypted(&plain).await);
    // prefer (the default) and require: encrypted, certificate unchecked.
    for mode in ["", "sslmode=prefer", "sslmode=require"] {
        let database = connect(&server.url("localhost", mode)).await.unwrap();
        assert!(encrypted(&database).await, "{mode}");
    }
    // verify-full: the chain and the name are checked.
    let full = connect(&server.url(
        "localhost",
        &format!("sslmode=verify-full sslrootcert={root}"),
    ))
    .await
    .unwrap();
    assert!(encrypted(&full).await);
    // The certificate names localhost, not 127.0.0.1: verify-full refuses, verify-ca
    // (the chain only) accepts.
    let wrong_name = connect(&server.url(
        "127.0.0.1",
        &format!("sslmode=verify-full sslrootcert={root}"),
    ))
    .await;
    let Err(ConnectError::Unreachable { reason, .. }) = wrong_name else {
        panic!("verify-full accepted a certificate for another name");
    };
    assert!(!reason.is_empty());
    let chain_only = connect(&server.url(
        "127.0.0.1",
        &format!("sslmode=verify-ca sslrootcert={root}"),
    ))
    .await
    .unwrap();
    assert!(encrypted(&chain_only).await);
    // Without the test authority, the system's roots do not vouch for this server.
    let unknown_authority = connect(&server.url("localhost", "sslmode=verify-full")).await;
    assert!(unknown_authority.is_err());
    // A root file that does not exist is a clear configuration error.
    let missing = connect(&server.url(
        "localhost",
        "sslmode=verify-full sslrootcert=/nonexistent/ca.pem",
    ))
    .await;
    let Err(ConnectError::Config(message)) = missing else {
        panic!("a missing root file was not reported");
    };
    assert!(message.contains("/nonexistent/ca.pem"), "{message}");
}

#[tokio::test]
async fn require_fails_clearly_on_a_server_without_tls() {
    let db = sluice_testkit::database().await.unwrap();
    let plain = connect(db.url()).await.unwrap();
    let has_tls = plain.read("SHOW ssl").await.unwrap().rows[0][0] == serde_json::json!("on");
    if has_tls {
        // This server speaks TLS; the case above covers it.
        return;
    }
    let with_mode = |mode| {
        let mut config = inspecting(DatabaseConfig::new(db.config()));
        config.tls.mode = mode;
        Database::connect(config)
    };
    let prefer = with_mode(TlsMode::Prefer).await.unwrap();
    assert!(!encrypted(&prefer).await, "prefer falls back to plain");
    let required = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        with_mode(TlsMode::Require),
    )
    .await
    .expect("no hang");
    let Err(ConnectError::Unreachable { reason, .. }) = required else {
        panic!("sslmode=require connected without TLS");
    };
    assert!(!reason.is_empty());
}
