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
            .allow_relation("pg_catalog.pg_stat_ssl")
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
    output.rows.to_values()[0][0] == serde_json::json!(true)
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
    // A Unix-domain socket: plain, whatever sslmode says, as with libpq (the server
    // offers no TLS there, and a socket does not leave the machine).
    for mode in ["sslmode=prefer", "sslmode=require", "sslmode=verify-full"] {
        let database = connect(&server.socket_url(mode)).await.unwrap();
        assert!(!encrypted(&database).await, "{mode} over the socket");
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
    assert!(reason.contains("certificate"), "{reason}");
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
    let Err(ConnectError::Tls(message)) = missing else {
        panic!("a missing root file was not reported");
    };
    assert!(message.contains("/nonexistent/ca.pem"), "{message}");
}

/// A stand-in for a PostgreSQL server built without TLS: a proxy to the test database
/// that answers every `SSLRequest` with `N` (no TLS here), as such a server does, and
/// forwards everything else. The local server may well offer TLS; through the proxy it
/// never does, so the test below always runs.
async fn without_tls(config: &tokio_postgres::Config) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_postgres::config::Host;

    const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let upstream = config.get_hosts()[0].clone();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut first = [0u8; 8];
                client.read_exact(&mut first).await?;
                let mut replay = Vec::new();
                if first == SSL_REQUEST {
                    client.write_all(b"N").await?;
                } else {
                    replay.extend_from_slice(&first);
                }
                match upstream {
                    Host::Tcp(host) => {
                        let mut server = tokio::net::TcpStream::connect((host, port)).await?;
                        server.write_all(&replay).await?;
                        tokio::io::copy_bidirectional(&mut client, &mut server).await?;
                    }
                    Host::Unix(dir) => {
                        let path = dir.join(format!(".s.PGSQL.{port}"));
                        let mut server = tokio::net::UnixStream::connect(path).await?;
                        server.write_all(&replay).await?;
                        tokio::io::copy_bidirectional(&mut client, &mut server).await?;
                    }
                }
                Ok::<_, std::io::Error>(())
            });
        }
    });
    local
}

#[tokio::test]
async fn require_fails_clearly_on_a_server_without_tls() {
    let db = sluice_testkit::database().await.unwrap();
    let port = without_tls(&db.config()).await;
    let with_mode = |mode| {
        let upstream = db.config();
        let mut proxied = tokio_postgres::Config::new();
        proxied.host("127.0.0.1").port(port);
        if let Some(user) = upstream.get_user() {
            proxied.user(user);
        }
        if let Some(password) = upstream.get_password() {
            proxied.password(password);
        }
        if let Some(name) = upstream.get_dbname() {
            proxied.dbname(name);
        }
        let mut config = inspecting(DatabaseConfig::new(proxied));
        config.tls.mode = mode;
        Database::connect(config)
    };
    let plain = with_mode(TlsMode::Disable).await.unwrap();
    assert!(!encrypted(&plain).await);
    let prefer = with_mode(TlsMode::Prefer).await.unwrap();
    assert!(!encrypted(&prefer).await, "prefer falls back to plain");
    for mode in [TlsMode::Require, TlsMode::VerifyCa, TlsMode::VerifyFull] {
        let required = tokio::time::timeout(std::time::Duration::from_secs(30), with_mode(mode))
            .await
            .expect("no hang");
        let Err(ConnectError::Unreachable { reason, .. }) = required else {
            panic!("{mode:?} connected without TLS");
        };
        assert!(reason.contains("server does not support TLS"), "{reason}");
    }
}
