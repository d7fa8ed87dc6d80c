//! Results cut by a cap say which and where the next page starts; paging through them
//! with `offset` gives every row once, in order, for each cap.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sluice_auth::{Identity, PermissionPolicy};
use sluice_mcp::{Server, Session};
use sluice_postgres::tools::DatabaseTools;
use sluice_postgres::{Cap, Database, DatabaseConfig};

async fn server(
    max_rows: usize,
    max_bytes: usize,
) -> (sluice_testkit::TestDatabase, Database, Server) {
    let db = sluice_testkit::database_with(
        "CREATE TABLE big (id int PRIMARY KEY, body text NOT NULL);
         INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 2500) g;",
    )
    .await
    .unwrap();
    let mut config = DatabaseConfig::from_url(db.url()).unwrap();
    config.max_rows = max_rows;
    config.max_bytes = max_bytes;
    let database = Database::connect(config).await.unwrap();
    let server = DatabaseTools::new(database.clone(), PermissionPolicy::from_lists("", None))
        .register(Server::builder("t", "1"))
        .build();
    (db, database, server)
}

async fn query(session: &Session, arguments: Value) -> Value {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                         "params": {"name": "queryDatabase", "arguments": arguments}});
    let answer: Value =
        serde_json::from_str(&session.handle(&request.to_string()).await.unwrap()).unwrap();
    answer["result"].clone()
}

async fn page_through(server: &Server, sql: &str, params: Value, cap: &str) -> (Vec<i64>, usize) {
    let (session, _n) = Session::new(server, Identity::new("reader").into_extensions());
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    session.handle(&init.to_string()).await.unwrap();
    let (mut ids, mut pages, mut offset) = (Vec::new(), 0, 0u64);
    loop {
        let result = query(
            &session,
            json!({"sql": sql, "params": params, "offset": offset}),
        )
        .await;
        let page = &result["structuredContent"];
        assert_eq!(result["isError"], Value::Null, "{result}");
        ids.extend(
            page["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row[0].as_i64().unwrap()),
        );
        pages += 1;
        if page["truncated"] == true {
            assert_eq!(page["cutBy"], cap, "{page}");
            let text = result["content"][0]["text"].as_str().unwrap();
            let next = page["nextOffset"].as_u64().unwrap();
            assert!(text.contains(&format!("offset {next}")), "{text}");
            offset = next;
        } else {
            assert_eq!(page["nextOffset"], Value::Null);
            break;
        }
    }
    (ids, pages)
}

#[tokio::test]
async fn a_result_cut_by_the_row_cap_pages_to_its_end() {
    let (_db, database, server) = server(1000, usize::MAX / 4).await;
    let sql = "SELECT id FROM big WHERE id > $1 ORDER BY id; -- every row but the first";
    let (ids, pages) = page_through(&server, sql, json!([1]), "rows").await;
    assert_eq!(
        ids,
        (2..=2500).collect::<Vec<i64>>(),
        "every row once, in order"
    );
    assert_eq!(pages, 3);
    let first = database.read("SELECT id FROM big").await.unwrap();
    assert_eq!(first.cut_by, Some(Cap::Rows));
}

#[tokio::test]
async fn a_result_cut_by_the_byte_cap_pages_to_its_end() {
    let (_db, _database, server) = server(100_000, 200_000).await;
    let (ids, pages) = page_through(
        &server,
        "SELECT id, body FROM big ORDER BY id",
        json!([]),
        "bytes",
    )
    .await;
    assert_eq!(ids, (1..=2500).collect::<Vec<i64>>());
    assert!(pages > 2, "{pages} pages");
}

#[tokio::test]
async fn later_pages_of_any_read_and_never_of_a_write() {
    let (_db, database, _server) = server(10, usize::MAX / 4).await;
    assert!(database.read_from("DELETE FROM big", &[], 5).await.is_err());
    let later = database
        .read_from("VALUES (1), (2), (3)", &[], 2)
        .await
        .unwrap();
    assert_eq!(later.rows, [[json!(3)]]);
    let past_the_end = database
        .read_from("SELECT id FROM big", &[], 9999)
        .await
        .unwrap();
    assert_eq!((past_the_end.row_count, past_the_end.columns.len()), (0, 1));
}
