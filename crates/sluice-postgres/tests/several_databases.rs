//! Several databases in one server: a `database` argument on every tool, listTables
//! naming them, resources per database, permissions per database, and a database that
//! is down (a relay in front of it, stopped) not stopping the others.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{ask, call, session};
use serde_json::{Value, json};
use sluice_auth::PermissionPolicy;
use sluice_mcp::{Server, Session};
use sluice_postgres::tools::DatabaseTools;
use sluice_postgres::{DatabaseConfig, Databases, Unavailable};

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn config(url: &str) -> DatabaseConfig {
    let mut config = DatabaseConfig::from_url(url).unwrap();
    config.acquire_timeout = Duration::from_secs(2);
    config
}

/// Calls `queryDatabase` on billing until it answers rows (at most 15 s).
async fn until_billing_serves(session: &Session) -> Value {
    for _ in 0..150 {
        let result = call(
            session,
            "queryDatabase",
            json!({"sql": "SELECT total FROM invoices", "database": "billing"}),
        )
        .await;
        if result["isError"] != json!(true) {
            return result;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = call(
        session,
        "queryDatabase",
        json!({"sql": "SELECT total FROM invoices", "database": "billing"}),
    )
    .await;
    panic!("billing never served again: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_database_does_not_stop_the_others_and_serves_once_back() {
    let shop = sluice_testkit::database_with(
        "CREATE TABLE orders (id int PRIMARY KEY, item text); INSERT INTO orders VALUES (1, 'lamp');",
    )
    .await
    .unwrap();
    let billing = sluice_testkit::database_with(
        "CREATE TABLE invoices (id int PRIMARY KEY, total numeric); INSERT INTO invoices VALUES (7, 12.50);",
    )
    .await
    .unwrap();
    let (relay, billing_url) = billing.relayed().unwrap();
    relay.stop();

    let databases = Databases::connect([
        ("shop".to_owned(), config(shop.url())),
        ("billing".to_owned(), config(&billing_url)),
    ])
    .await
    .unwrap();
    let status = databases.status();
    assert!(status[0].reachable && status[0].default, "{status:?}");
    assert!(!status[1].reachable, "{status:?}");
    assert!(
        matches!(
            databases.get(Some("billing")).await,
            Err(Unavailable::Down { .. })
        ),
        "down at start"
    );

    let policy = PermissionPolicy::from_lists("", None);
    let server = DatabaseTools::new(databases.clone(), policy)
        .register(Server::builder("t", "1"))
        .build();
    let reader = session(&server, "reader").await;

    // The schema names the databases, the default first.
    let tools = ask(&reader, "tools/list", json!({})).await;
    let query = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "queryDatabase")
        .unwrap()
        .clone();
    assert_eq!(
        query["inputSchema"]["properties"]["database"]["enum"],
        json!(["shop", "billing"]),
        "{query}"
    );

    // The default serves; billing says it is down, in words; shop is unaffected.
    let orders = call(
        &reader,
        "queryDatabase",
        json!({"sql": "SELECT item FROM orders"}),
    )
    .await;
    assert_eq!(
        orders["structuredContent"]["rows"],
        json!([["lamp"]]),
        "{orders}"
    );
    let down = call(
        &reader,
        "queryDatabase",
        json!({"sql": "SELECT 1", "database": "billing"}),
    )
    .await;
    assert_eq!(down["isError"], true, "{down}");
    assert!(
        text(&down).contains("billing is not reachable now"),
        "{down}"
    );
    assert!(!text(&down).contains("password"), "{down}");

    // listTables says which databases exist and which is down.
    let listed = call(&reader, "listTables", json!({})).await;
    assert_eq!(listed["structuredContent"]["database"], "shop", "{listed}");
    assert_eq!(
        listed["structuredContent"]["databases"][1]["reachable"], false,
        "{listed}"
    );
    assert!(
        text(&listed).contains("billing (not reachable now)"),
        "{listed}"
    );

    // An unknown database is named as such, with the ones there are.
    let unknown = call(
        &reader,
        "queryDatabase",
        json!({"sql": "SELECT 1", "database": "nope"}),
    )
    .await;
    assert_eq!(unknown["isError"], true, "{unknown}");
    assert!(text(&unknown).contains("shop, billing"), "{unknown}");

    // Back up: the next calls reach it, without a restart.
    relay.resume();
    let invoices = until_billing_serves(&reader).await;
    assert_eq!(
        invoices["structuredContent"]["rows"],
        json!([["12.50"]]),
        "{invoices}"
    );
    let listed = call(&reader, "listTables", json!({"database": "billing"})).await;
    assert!(text(&listed).contains("invoices"), "{listed}");
    assert!(!text(&listed).contains("orders"), "{listed}");

    // Down again while connected: calls fail (sanitised), shop goes on, and it recovers.
    relay.stop();
    let failed = call(
        &reader,
        "queryDatabase",
        json!({"sql": "SELECT 1", "database": "billing"}),
    )
    .await;
    assert_eq!(failed["isError"], true, "{failed}");
    let orders = call(
        &reader,
        "queryDatabase",
        json!({"sql": "SELECT id FROM orders"}),
    )
    .await;
    assert_eq!(
        orders["structuredContent"]["rows"],
        json!([[1]]),
        "{orders}"
    );
    relay.resume();
    until_billing_serves(&reader).await;
    databases.close();
}

#[tokio::test]
async fn permissions_and_resources_are_per_database() {
    let shop = sluice_testkit::database_with("CREATE TABLE orders (id int PRIMARY KEY);")
        .await
        .unwrap();
    let billing = sluice_testkit::database_with("CREATE TABLE invoices (id int PRIMARY KEY);")
        .await
        .unwrap();
    let databases = Databases::connect([
        ("shop".to_owned(), config(shop.url())),
        ("billing".to_owned(), config(billing.url())),
    ])
    .await
    .unwrap();
    // Everyone reads shop; on billing alice writes and only she reads.
    let policy = PermissionPolicy::from_lists("", None)
        .with_database("billing", PermissionPolicy::from_lists("alice", Some("")));
    let server = DatabaseTools::new(databases.clone(), policy)
        .register(Server::builder("t", "1"))
        .build();
    let (alice, bob, nobody) = (
        session(&server, "alice").await,
        session(&server, "bob").await,
        session(&server, "").await,
    );

    let names = |tools: Value| -> Vec<String> {
        tools["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        names(ask(&alice, "tools/list", json!({})).await).contains(&"executeDatabase".to_owned())
    );
    assert!(
        !names(ask(&bob, "tools/list", json!({})).await).contains(&"executeDatabase".to_owned())
    );

    // Alice writes on billing, not on shop.
    let wrote = call(
        &alice,
        "executeDatabase",
        json!({"sql": "INSERT INTO invoices VALUES ($1)", "params": [1], "database": "billing"}),
    )
    .await;
    assert_eq!(wrote["structuredContent"]["rowsAffected"], 1, "{wrote}");
    let refused = call(
        &alice,
        "executeDatabase",
        json!({"sql": "INSERT INTO orders VALUES (1)", "database": "shop"}),
    )
    .await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(
        text(&refused).starts_with("on database shop: alice may not write"),
        "{refused}"
    );

    // Bob reads shop, not billing; listTables shows him only what he may read.
    let billing_read = call(
        &bob,
        "queryDatabase",
        json!({"sql": "SELECT 1", "database": "billing"}),
    )
    .await;
    assert!(
        text(&billing_read).starts_with("on database billing: bob may not read"),
        "{billing_read}"
    );
    let listed = call(&bob, "listTables", json!({})).await;
    assert!(
        text(&listed).contains("No other database is open to you"),
        "{listed}"
    );
    let shown: Vec<Value> = listed["structuredContent"]["databases"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(shown.len(), 1, "{listed}");

    // A caller allowed nowhere learns no names from an unknown database.
    let stranger = ask(
        &nobody,
        "tools/call",
        json!({"name": "queryDatabase", "arguments": {"sql": "SELECT 1", "database": "nope"}}),
    )
    .await;
    assert!(
        stranger["error"].is_object() || stranger["result"]["isError"] == true,
        "{stranger}"
    );
    assert!(!stranger.to_string().contains("shop"), "{stranger}");

    // Resources carry the database's name, and follow its permissions.
    let uris = |resources: Value| -> Vec<String> {
        resources["result"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["uri"].as_str().unwrap().to_owned())
            .collect()
    };
    let templates = |listed: Value| -> Vec<String> {
        listed["result"]["resourceTemplates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["uriTemplate"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        uris(ask(&alice, "resources/list", json!({})).await),
        [
            "postgres://db/shop/posture",
            "postgres://db/billing/posture"
        ]
    );
    assert_eq!(
        uris(ask(&bob, "resources/list", json!({})).await),
        ["postgres://db/shop/posture"]
    );
    assert_eq!(
        templates(ask(&bob, "resources/templates/list", json!({})).await),
        ["postgres://db/shop/table/{schema}/{table}"]
    );
    let table = ask(
        &alice,
        "resources/read",
        json!({"uri": "postgres://db/billing/table/public/invoices"}),
    )
    .await;
    let contents = table["result"]["contents"][0]["text"].as_str().unwrap();
    assert!(contents.contains("invoices"), "{table}");
    let hidden = ask(
        &bob,
        "resources/read",
        json!({"uri": "postgres://db/billing/table/public/invoices"}),
    )
    .await;
    assert!(hidden["error"].is_object(), "{hidden}");
    databases.close();
}
