//! Bind parameters: values never become SQL, every kind of value reaches PostgreSQL as
//! the type it infers, and a write runs once whatever its result holds.

#![allow(clippy::unwrap_used)]
use serde_json::{Value, json};
use sluice_postgres::{Database, DatabaseConfig, Param, QueryError};

async fn setup() -> (sluice_testkit::TestDatabase, Database) {
    let db = sluice_testkit::database().await.unwrap();
    db.connect()
        .await
        .unwrap()
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric, tags text[], \
                                 doc jsonb, photo bytea, active bool, weight float8);
             INSERT INTO items VALUES (1, 'Widget', 2.50, '{red,small}', '{\"k\": 1}', '\\x00ff', true, 1.5),
                                      (2, 'Gadget', 10, '{}', '[1, 2]', NULL, false, NULL);
             CREATE TABLE ledger (id serial PRIMARY KEY, amount money, note text);",
        )
        .await
        .unwrap();
    let database = Database::connect(DatabaseConfig::from_url(db.url()).unwrap())
        .await
        .unwrap();
    (db, database)
}

fn ids(output: &sluice_postgres::QueryOutput) -> Vec<Value> {
    output
        .rows
        .iter()
        .map(|row| row.to_values()[0].clone())
        .collect()
}

#[tokio::test]
async fn values_of_every_kind_bind_as_the_inferred_type() {
    let (_db, database) = setup().await;
    let cases: Vec<(&str, Vec<Param>, Vec<Value>)> = vec![
        (
            "SELECT id FROM items WHERE id = $1",
            vec![2.into()],
            vec![json!(2)],
        ),
        (
            "SELECT id FROM items WHERE name = $1",
            vec!["Widget".into()],
            vec![json!(1)],
        ),
        (
            "SELECT id FROM items WHERE price < $1 ORDER BY id",
            vec![Param::from_json(&json!("5.5"))],
            vec![json!(1)],
        ),
        (
            "SELECT id FROM items WHERE price = $1",
            vec![Param::from_json(&json!(10))],
            vec![json!(2)],
        ),
        (
            "SELECT id FROM items WHERE active = $1",
            vec![false.into()],
            vec![json!(2)],
        ),
        (
            "SELECT id FROM items WHERE weight = $1",
            vec![1.5f64.into()],
            vec![json!(1)],
        ),
        (
            "SELECT id FROM items WHERE photo = $1",
            vec![vec![0u8, 255].into()],
            vec![json!(1)],
        ),
        (
            "SELECT id FROM items WHERE weight IS NOT DISTINCT FROM $1",
            vec![None::<f64>.into()],
            vec![json!(2)],
        ),
        // A JSON array where PostgreSQL wants an array, and where it wants jsonb.
        (
            "SELECT id FROM items WHERE id = ANY($1) ORDER BY id",
            vec![Param::from_json(&json!([1, 2]))],
            vec![json!(1), json!(2)],
        ),
        (
            "SELECT id FROM items WHERE tags = $1",
            vec![Param::from_json(&json!(["red", "small"]))],
            vec![json!(1)],
        ),
        (
            "SELECT id FROM items WHERE doc = $1",
            vec![Param::from_json(&json!([1, 2]))],
            vec![json!(2)],
        ),
        (
            "SELECT id FROM items WHERE doc = $1",
            vec![Param::from_json(&json!({"k": 1}))],
            vec![json!(1)],
        ),
        (
            "SELECT id FROM items WHERE doc @> $1::jsonb",
            vec![Param::from_json(&json!({"k": 1}))],
            vec![json!(1)],
        ),
    ];
    for binary in [true, false] {
        let mut config = database.config().clone();
        config.binary_results = binary;
        let database = Database::connect(config).await.unwrap();
        for (sql, params, expected) in &cases {
            let output = database
                .read_with(sql, params)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(&ids(&output), expected, "{sql} (binary results: {binary})");
        }
    }
    // A value that is itself JSON comes back as JSON.
    let echoed = database
        .read_with(
            "SELECT $1::jsonb AS doc, $2::int[] AS list",
            &Param::from_json_array(&json!([{"a": [1, null]}, [3, null]])).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        echoed.rows.to_values()[0],
        [json!({"a": [1, null]}), json!([3, null])]
    );
}

#[tokio::test]
async fn values_are_never_sql() {
    let (_db, database) = setup().await;
    for attack in [
        "x' OR '1'='1",
        "Widget'; DELETE FROM items; --",
        "Widget\\' OR 1=1 --",
        "$$ OR true --",
        "' UNION SELECT id FROM items --",
    ] {
        let found = database
            .read_with("SELECT id FROM items WHERE name = $1", &[attack.into()])
            .await
            .unwrap();
        assert_eq!(found.row_count, 0, "{attack}");
    }
    // The ON CONFLICT smuggling the issue describes is only data here.
    let injected = "z') ON CONFLICT (id) DO UPDATE SET name = 'owned' --";
    let inserted = database
        .write_with(
            "INSERT INTO items (id, name) VALUES ($1, $2) RETURNING name",
            &[3.into(), injected.into()],
        )
        .await
        .unwrap();
    assert_eq!(inserted.rows, [[json!(injected)]]);
    let names = database
        .read("SELECT name FROM items WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(names.rows, [[json!("Widget")]]);
    let count = database.read("SELECT count(*) FROM items").await.unwrap();
    assert_eq!(count.rows, [[json!(3)]]);
}

#[tokio::test]
async fn the_guard_judges_the_sql_with_its_placeholders() {
    let (_db, database) = setup().await;
    let refused = database
        .read_with("DELETE FROM items WHERE id = $1", &[1.into()])
        .await;
    assert!(
        matches!(refused, Err(QueryError::Refused(_))),
        "{refused:?}"
    );
    let refused = database
        .read_with("SELECT pg_read_file($1)", &["/etc/passwd".into()])
        .await;
    assert!(
        matches!(refused, Err(QueryError::Refused(_))),
        "{refused:?}"
    );
    // Too few or too many values, and a value that is not of its type: the database's
    // error, sanitised, and the connection keeps serving.
    for (sql, params) in [
        (
            "SELECT id FROM items WHERE id = $1 AND name = $2",
            vec![Param::from(1)],
        ),
        (
            "SELECT id FROM items WHERE id = $1",
            vec![Param::from(1), Param::from(2)],
        ),
        (
            "SELECT id FROM items WHERE id = $1",
            vec![Param::from("one")],
        ),
    ] {
        let failed = database.read_with(sql, &params).await;
        assert!(
            matches!(failed, Err(QueryError::Database(_))),
            "{sql}: {failed:?}"
        );
    }
    assert_eq!(database.read("SELECT 1").await.unwrap().rows, [[json!(1)]]);
}

/// A write's result with types the binary decoders do not read (money, an anonymous
/// record) is printed by the server; the write runs exactly once.
#[tokio::test]
async fn a_write_runs_once_whatever_it_returns() {
    let (_db, database) = setup().await;
    for (sql, params) in [
        (
            "INSERT INTO ledger (amount, note) VALUES ($1, $2) RETURNING amount, row(id, note)",
            vec![Param::from("12.34"), Param::from("a, \"quoted\" note")],
        ),
        (
            "INSERT INTO ledger (amount, note) VALUES ('1.00', 'plain') RETURNING amount, row(id, note, NULL, '')",
            vec![],
        ),
    ] {
        let output = database.write_with(sql, &params).await.unwrap();
        assert_eq!(output.row_count, 1, "{sql}");
        assert!(
            output.rows.to_values()[0][0]
                .as_str()
                .is_some_and(|m| m.contains('.')),
            "{output:?}"
        );
    }
    let ledger = database
        .read("SELECT count(*), string_agg(note, '|' ORDER BY id) FROM ledger")
        .await
        .unwrap();
    assert_eq!(ledger.rows, [[json!(2), json!("a, \"quoted\" note|plain")]]);
    let records = database
        .read_with(
            "SELECT row(id, note, NULL, ''), amount FROM ledger WHERE id = $1",
            &[1.into()],
        )
        .await
        .unwrap();
    let text = database
        .read("SELECT row(id, note, NULL, ''), amount FROM ledger WHERE id = 1")
        .await
        .unwrap();
    let mut plain = database.config().clone();
    plain.binary_results = false;
    let plain = Database::connect(plain).await.unwrap();
    let expected = plain
        .read("SELECT row(id, note, NULL, ''), amount FROM ledger WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(records.rows, expected.rows);
    assert_eq!(text.rows, expected.rows);
    assert_eq!(
        expected.rows.to_values()[0][0],
        json!("(1,\"a, \"\"quoted\"\" note\",,\"\")")
    );
}

/// Many values only the server can print: with parameters each is printed by the
/// server; without, the read runs again in text. Both give what the text protocol gives.
#[tokio::test]
async fn many_printed_values_match_the_text_protocol() {
    let (_db, database) = setup().await;
    let mut plain = database.config().clone();
    plain.binary_results = false;
    let plain = Database::connect(plain).await.unwrap();
    let expected = plain
        .read("SELECT g::money AS m, (g || ',' || g)::point AS p FROM generate_series(1, 150) g WHERE g > 3")
        .await
        .unwrap();
    let printed = database
        .read_with(
            "SELECT g::money AS m, (g || ',' || g)::point AS p FROM generate_series(1, 150) g WHERE g > $1",
            &[3.into()],
        )
        .await
        .unwrap();
    let rerun = database
        .read("SELECT g::money AS m, (g || ',' || g)::point AS p FROM generate_series(1, 150) g WHERE g > 3")
        .await
        .unwrap();
    assert_eq!(printed, expected);
    assert_eq!(rerun, expected);
    assert_eq!(expected.row_count, 147);
}
