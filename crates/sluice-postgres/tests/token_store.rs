//! The PostgreSQL token store keeps the contract every token store must keep
//! (`sluice_auth::oauth::contract`), on a real database: single-use codes and refresh
//! tokens also when processes race, revocation, expiry, purging, kept secrets. And its
//! tables hold hashes only.
#![cfg(feature = "oauth")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use sluice_postgres::PgTokenStore;
use sluice_postgres::tls::TlsConfig;

async fn store(db: &sluice_testkit::TestDatabase, pool: usize) -> PgTokenStore {
    let config: tokio_postgres::Config = db.url().parse().unwrap();
    PgTokenStore::connect(&config, &TlsConfig::default(), "sluice_oauth", pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_keeps_the_contract() {
    let db = sluice_testkit::database().await.unwrap();
    let store = store(&db, 8).await;
    sluice_auth::oauth::contract::verify_store(Arc::new(store.clone()))
        .await
        .unwrap();
    // Twice on one schema (a restart), and a second store racing on the same tables.
    let second = self::store(&db, 4).await;
    sluice_auth::oauth::contract::verify_store(Arc::new(second))
        .await
        .unwrap();
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_together_create_the_schema_once() {
    let db = sluice_testkit::database().await.unwrap();
    let config: tokio_postgres::Config = db.url().parse().unwrap();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let config = config.clone();
            tokio::spawn(async move {
                PgTokenStore::connect(&config, &TlsConfig::default(), "sluice_oauth", 1).await
            })
        })
        .collect();
    for start in starts {
        start.await.unwrap().unwrap();
    }
    let client = db.connect().await.unwrap();
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'sluice_oauth'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 7);
}

/// Through PgBouncer in transaction mode (each statement outside a transaction may meet
/// another server connection, and none keeps a client's prepared statements), with more
/// store connections than PgBouncer has server connections: the whole contract holds.
/// The store sends its statements unnamed, with their parameter types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_keeps_the_contract_through_pgbouncer_in_transaction_mode() {
    let db = sluice_testkit::database().await.unwrap();
    let bouncer = db
        .pgbouncer(sluice_testkit::PoolMode::Transaction, 2)
        .unwrap();
    let config: tokio_postgres::Config = bouncer.url().parse().unwrap();
    let store = PgTokenStore::connect(&config, &TlsConfig::default(), "sluice_oauth", 6)
        .await
        .unwrap();
    let verified = sluice_auth::oauth::contract::verify_store(Arc::new(store.clone())).await;
    assert!(
        verified.is_ok(),
        "{verified:?}\npgbouncer's log:\n{}",
        bouncer.log()
    );
    store.close();
}
