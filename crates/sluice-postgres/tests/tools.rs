//! The database tools end to end against a real PostgreSQL (the testkit), driven
//! through an MCP session as a client would drive them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};
use sluice_auth::{Identity, PermissionPolicy};
use sluice_mcp::{Extensions, Server, Session};
use sluice_postgres::{Database, DatabaseConfig};
use sluice_testkit::TestDatabase;

const SCHEMA: &str = "
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE items (
    id serial PRIMARY KEY,
    name text NOT NULL,
    price numeric(20, 2),
    ratio double precision,
    small smallint, big bigint, flag boolean,
    data bytea, uid uuid, born date, at timestamptz, span interval,
    doc jsonb, tags text[], mood mood, addr inet
);
INSERT INTO items (name, price, ratio, small, big, flag, data, uid, born, at, span, doc, tags, mood, addr)
VALUES ('widget', 12345678901234.56, 'NaN', 7, 9007199254740993, true, '\\x48690a',
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', '2024-02-29 12:00:00+00',
        '1 day 02:03:04', '{\"k\": [1, null]}', '{a,NULL,\"b c\"}', 'happy', '10.1.2.3/32');
INSERT INTO items (name) SELECT 'filler ' || g FROM generate_series(1, 30) g;
";

struct Fixture {
    db: TestDatabase,
    server: Server,
}

async fn fixture(max_rows: usize, timeout: Duration) -> Fixture {
    let db = sluice_testkit::database().await.unwrap();
    db.connect()
        .await
        .unwrap()
        .batch_execute(SCHEMA)
        .await
        .unwrap();
    let mut config = DatabaseConfig::new(db.config());
    config.max_rows = max_rows;
    config.statement_timeout = timeout;
    let database = Database::connect(config).await.unwrap();
    let policy = PermissionPolicy::from_lists("writer", Some("reader"));
    let server =
        sluice_postgres::tools::register(Server::builder("test", "1"), database, policy).build();
    Fixture { db, server }
}

async fn session(server: &Server, login: Option<&str>) -> Session {
    let extensions = login.map_or_else(Extensions::new, |l| Identity::new(l).into_extensions());
    let (session, _notifications) = Session::new(server, extensions);
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    session.handle(&init.to_string()).await.unwrap();
    session
}

async fn call(session: &Session, tool: &str, arguments: Value) -> Value {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                         "params": {"name": tool, "arguments": arguments}});
    let answer: Value =
        serde_json::from_str(&session.handle(&request.to_string()).await.unwrap()).unwrap();
    answer
}

async fn tool_names(session: &Session) -> Vec<String> {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let answer: Value =
        serde_json::from_str(&session.handle(&request.to_string()).await.unwrap()).unwrap();
    answer["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn count_items(db: &TestDatabase) -> i64 {
    db.connect()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn each_caller_sees_and_may_call_only_its_tools() {
    let f = fixture(1000, Duration::from_secs(30)).await;
    let reader = session(&f.server, Some("reader")).await;
    assert_eq!(
        tool_names(&reader).await,
        [
            "listTables",
            "describeTable",
            "queryDatabase",
            "explainQuery"
        ]
    );
    let writer = session(&f.server, Some("Writer")).await;
    assert_eq!(
        tool_names(&writer).await,
        [
            "listTables",
            "describeTable",
            "queryDatabase",
            "explainQuery",
            "executeDatabase"
        ]
    );
    let stranger = session(&f.server, Some("mallory")).await;
    assert!(tool_names(&stranger).await.is_empty());
    let anonymous = session(&f.server, None).await;
    assert!(tool_names(&anonymous).await.is_empty());

    // Calling a hidden tool anyway is refused, and changes nothing.
    let before = count_items(&f.db).await;
    let answer = call(
        &reader,
        "executeDatabase",
        json!({"sql": "DELETE FROM items"}),
    )
    .await;
    assert_eq!(answer["error"]["code"], -32602);
    let answer = call(&stranger, "queryDatabase", json!({"sql": "SELECT 1"})).await;
    assert_eq!(answer["error"]["code"], -32602);
    assert_eq!(count_items(&f.db).await, before);

    // A writer writes, and the write commits.
    let answer = call(
        &writer,
        "executeDatabase",
        json!({"sql": "DELETE FROM items WHERE name LIKE 'filler%'"}),
    )
    .await;
    assert_eq!(
        answer["result"]["structuredContent"]["rowsAffected"], 30,
        "{answer}"
    );
    assert_eq!(count_items(&f.db).await, before - 30);
}

#[tokio::test]
async fn rows_become_faithful_json() {
    let f = fixture(1000, Duration::from_secs(30)).await;
    let reader = session(&f.server, Some("reader")).await;
    let answer = call(&reader, "queryDatabase", json!({"sql":
        "SELECT price, ratio, small, big, flag, data, uid, born, at, span, doc, tags, mood, addr, NULL::text AS nothing \
         FROM items WHERE name = 'widget'"})).await;
    let result = &answer["result"]["structuredContent"];
    assert_eq!(result["rowCount"], 1, "{answer}");
    let row = &result["rows"][0];
    let expected = json!([
        "12345678901234.56", "NaN", 7, 9_007_199_254_740_993_i64, true, "SGkK",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2024-02-29", "2024-02-29 12:00:00+00",
        "1 day 02:03:04", {"k": [1, null]}, ["a", null, "b c"], "happy", "10.1.2.3", null
    ]);
    assert_eq!(row, &expected);
    assert_eq!(
        result["columns"][0],
        json!({"name": "price", "type": "numeric"})
    );
    assert_eq!(result["truncated"], false);
}

#[tokio::test]
async fn results_are_capped_and_say_so() {
    let f = fixture(5, Duration::from_secs(30)).await;
    let reader = session(&f.server, Some("reader")).await;
    let answer = call(
        &reader,
        "queryDatabase",
        json!({"sql": "SELECT id FROM items ORDER BY id"}),
    )
    .await;
    let result = &answer["result"];
    assert_eq!(result["structuredContent"]["rowCount"], 5);
    assert_eq!(result["structuredContent"]["truncated"], true);
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("truncated")
    );
}

#[tokio::test]
async fn the_byte_cap_counts_what_is_sent() {
    // Control characters are six bytes each in JSON, and a result goes out twice (text
    // and structured content): the cap must hold for the response, not the raw values.
    let f = fixture(1000, Duration::from_secs(30)).await;
    let reader = session(&f.server, Some("reader")).await;
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "queryDatabase", "arguments": {"sql":
        "SELECT repeat(chr(1), 20000) AS x FROM generate_series(1, 50)"}}});
    let response = reader.handle(&request.to_string()).await.unwrap();
    let cap = 1024 * 1024;
    assert!(
        response.len() < cap + 64 * 1024,
        "{} bytes sent for a {cap}-byte cap",
        response.len()
    );
    let answer: Value = serde_json::from_str(&response).unwrap();
    let result = &answer["result"]["structuredContent"];
    assert_eq!(result["truncated"], true);
    let rows = result["rowCount"].as_u64().unwrap();
    assert!((1..50).contains(&rows), "{rows} rows");
}

#[tokio::test]
async fn the_statement_timeout_stops_slow_queries() {
    let f = fixture(1000, Duration::from_secs(1)).await;
    // pg_sleep is refused by the guard, so the slow query is a honest (big) one.
    let reader = session(&f.server, Some("reader")).await;
    let answer = call(
        &reader,
        "queryDatabase",
        json!({"sql":
        "SELECT count(*) FROM generate_series(1, 100000000) a"}),
    )
    .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("57014"), "{text}");
    // The connection went back clean: the next query works.
    let answer = call(&reader, "queryDatabase", json!({"sql": "SELECT 1 AS one"})).await;
    assert_eq!(answer["result"]["structuredContent"]["rows"], json!([[1]]));
}

#[tokio::test]
async fn reads_are_guarded_and_run_read_only() {
    let f = fixture(1000, Duration::from_secs(30)).await;
    let writer = session(&f.server, Some("writer")).await;
    let before = count_items(&f.db).await;
    for sql in [
        "DELETE FROM items",
        "WITH d AS (DELETE FROM items RETURNING *) SELECT * FROM d",
        "SELECT 1; DELETE FROM items",
        "SELECT pg_sleep(10)",
    ] {
        let answer = call(&writer, "queryDatabase", json!({"sql": sql})).await;
        assert_eq!(answer["result"]["isError"], true, "{sql}");
        assert!(
            answer["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("refused:"),
            "{sql}"
        );
    }
    // Nothing was deleted, as a second connection confirms.
    let answer = call(
        &writer,
        "queryDatabase",
        json!({"sql": "SELECT count(*) FROM items"}),
    )
    .await;
    assert_eq!(answer["result"]["structuredContent"]["rows"][0][0], before);
    assert_eq!(count_items(&f.db).await, before);
}

#[tokio::test]
async fn database_errors_are_sanitised() {
    let f = fixture(1000, Duration::from_secs(30)).await;
    let reader = session(&f.server, Some("reader")).await;
    let answer = call(
        &reader,
        "queryDatabase",
        json!({"sql": "SELECT * FROM no_such_table"}),
    )
    .await;
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        text,
        "relation \"no_such_table\" does not exist (SQLSTATE 42P01)"
    );
    let answer = call(&reader, "queryDatabase", json!({"sql": "SELECT 1/0"})).await;
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("22012"), "{text}");
    assert!(!text.contains(f.db.name()), "{text}");
}

#[tokio::test]
async fn list_tables_describes_the_schema() {
    let f = fixture(1000, Duration::from_secs(30)).await;
    let reader = session(&f.server, Some("reader")).await;
    let answer = call(&reader, "listTables", json!({})).await;
    let tables = &answer["result"]["structuredContent"]["tables"];
    let items = tables
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "items")
        .unwrap();
    assert_eq!(items["schema"], "public");
    assert_eq!(items["kind"], "table");
    assert_eq!(
        items["columns"][0],
        json!({"name": "id", "type": "integer", "nullable": false, "primaryKey": true})
    );
    assert_eq!(items["columns"][2]["type"], "numeric(20,2)");
    assert_eq!(items["primaryKey"], json!(["id"]));
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("public.items (table"), "{text}");
    assert!(
        text.contains("  id integer not null, name text not null,"),
        "{text}"
    );
    assert!(text.contains("  primary key (id)"), "{text}");
}

#[tokio::test]
async fn cancelling_a_call_cancels_the_statement_on_the_server() {
    let f = fixture(1000, Duration::from_secs(60)).await;
    let reader = session(&f.server, Some("reader")).await;
    let slow = json!({"jsonrpc": "2.0", "id": "slow", "method": "tools/call", "params": {
        "name": "queryDatabase", "arguments": {"sql": "SELECT count(*) FROM generate_series(1, 1000000000) a"}}});
    let running = {
        let reader = reader.clone();
        tokio::spawn(async move { reader.handle(&slow.to_string()).await })
    };
    let observer = f.db.connect().await.unwrap();
    let active = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 1000000000)%' \
                  AND state = 'active' AND datname = current_database() AND pid <> pg_backend_pid()";
    let mut seen = false;
    for _ in 0..100 {
        if observer
            .query_one(active, &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
            > 0
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the slow query never started");
    reader
        .handle(
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"slow"}}"#,
        )
        .await;
    assert_eq!(
        running.await.unwrap(),
        None,
        "a cancelled request gets no response"
    );
    let mut gone = false;
    for _ in 0..100 {
        if observer
            .query_one(active, &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
            == 0
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gone,
        "the statement kept running on the server after the client cancelled"
    );
}

#[tokio::test]
async fn table_schemas_are_resources() {
    let f = fixture(1000, Duration::from_secs(30)).await;
    let reader = session(&f.server, Some("reader")).await;
    let read = |uri: &str| {
        json!({"jsonrpc": "2.0", "id": 9, "method": "resources/read", "params": {"uri": uri}})
            .to_string()
    };
    let answer: Value = serde_json::from_str(
        &reader
            .handle(&read("postgres://table/public/items"))
            .await
            .unwrap(),
    )
    .unwrap();
    let contents = &answer["result"]["contents"][0];
    assert_eq!(contents["mimeType"], "application/json", "{answer}");
    let table: Value = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
    assert_eq!(table["name"], "items");
    assert_eq!(table["primaryKey"]["columns"], json!(["id"]), "{table}");
    assert_eq!(
        table["columns"][0]["default"],
        "nextval('items_id_seq'::regclass)"
    );
    let answer: Value = serde_json::from_str(
        &reader
            .handle(&read("postgres://table/public/nope"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(answer["error"]["code"], -32002);
    // A caller with no permission neither sees the template nor reads through it: to
    // them it does not exist.
    let stranger = session(&f.server, Some("mallory")).await;
    let answer: Value = serde_json::from_str(
        &stranger
            .handle(&read("postgres://table/public/items"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(answer["error"]["code"], -32002, "{answer}");
    let listed: Value = serde_json::from_str(
        &stranger
            .handle(r#"{"jsonrpc":"2.0","id":10,"method":"resources/templates/list"}"#)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        listed["result"]["resourceTemplates"],
        serde_json::json!([]),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waits_for_a_connection_only_so_long() {
    let db = sluice_testkit::database().await.unwrap();
    let mut config = DatabaseConfig::new(db.config());
    config.pool_size = 1;
    config.acquire_timeout = Duration::from_millis(500);
    config.statement_timeout = Duration::from_secs(20);
    let database = Database::connect(config).await.unwrap();
    let busy = database.clone();
    let slow = tokio::spawn(async move {
        busy.read("SELECT count(*) FROM generate_series(1, 300000000)")
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = database.read("SELECT 1").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("every database connection (1) is busy"),
        "{err}"
    );
    slow.abort();
}

#[tokio::test]
async fn reads_can_run_as_a_role_that_may_only_read() {
    let db = sluice_testkit::database().await.unwrap();
    let owner = db.connect().await.unwrap();
    let role = format!("{}_reader", db.name());
    owner
        .batch_execute(&format!(
            "CREATE TABLE open_data (id int); INSERT INTO open_data VALUES (1);
             CREATE TABLE secret (id int);
             CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA public TO {role};
             GRANT SELECT ON open_data TO {role};"
        ))
        .await
        .unwrap();
    let mut reader = db.config();
    reader.user(&role);
    let mut config = DatabaseConfig::new(db.config());
    config.reads = Some(sluice_postgres::ReadConnection::new(
        reader,
        sluice_postgres::tls::TlsConfig::default(),
    ));
    let database = Database::connect(config).await.unwrap();
    assert!(database.read_target().unwrap().starts_with(&role));

    let granted = database.read("SELECT id FROM open_data").await.unwrap();
    assert_eq!(granted.rows, vec![vec![json!(1)]]);
    // The guard allows this read; the database itself refuses it to the read role.
    let refused = database.read("SELECT id FROM secret").await.unwrap_err();
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );
    // Writes still run as the owner.
    let written = database
        .write("INSERT INTO secret VALUES (7) RETURNING id")
        .await
        .unwrap();
    assert_eq!(written.rows, vec![vec![json!(7)]]);

    database.close();
    drop(database);
    owner
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .await
        .unwrap();
}
