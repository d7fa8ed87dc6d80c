//! The inventory server of docs/guide.md (`examples/custom_server.rs`), built on the
//! crates as another team would build it, driven by the official MCP Python SDK over stdio
//! and over Streamable HTTP with bearer tokens; then checked from a second connection.
#![allow(clippy::unwrap_used)]

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_server_serves_readers_and_writers() {
    let db = sluice_testkit::database_with(
        "CREATE TABLE items (sku text PRIMARY KEY, name text NOT NULL,
                             quantity int NOT NULL DEFAULT 0, price numeric(10, 2));
         INSERT INTO items VALUES ('W-1', 'Small widget', 9, 2.50), ('W-2', 'Large widget', 6, 7.00),
                                  ('G-2', 'Gadget', 2, 4.00);",
    )
    .await
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let args = vec![
        common::example_named("custom_server").display().to_string(),
        db.url().to_owned(),
        port.to_string(),
    ];
    let log = tokio::task::spawn_blocking(move || {
        common::run_python("tests/e2e/custom_server_e2e.py", &args)
    })
    .await
    .unwrap();
    let Some(log) = log else { return };
    assert!(
        log.contains("python custom server e2e: 4 passed, 0 failed"),
        "{log}"
    );
    let client = db.connect().await.unwrap();
    let rows = client
        .query("SELECT sku, quantity FROM items ORDER BY sku", &[])
        .await
        .unwrap();
    let stock: Vec<(String, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        stock,
        [
            ("G-2".to_owned(), 22),
            ("W-1".to_owned(), 9),
            ("W-2".to_owned(), 6)
        ],
        "two restocks of 10, nothing else"
    );
}
