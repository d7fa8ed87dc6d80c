//! The one-round-trip read path decodes PostgreSQL's binary format; the text path reads
//! what PostgreSQL prints. Both must give the same JSON for every value, edge cases
//! included — here checked against a real server, value by value.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use sluice_postgres::{Database, DatabaseConfig};

/// Expressions whose values both paths must agree on, one column each.
const VALUES: &[&str] = &[
    // integers and floats
    "0::int2",
    "(-32768)::int2",
    "2147483647::int4",
    "(-9223372036854775808)::int8",
    "4294967295::oid",
    "0.1::float8",
    "1e300::float8",
    "(-0.0)::float8",
    "'NaN'::float8",
    "'-Infinity'::float8",
    "0.1::float4",
    "3.4028235e38::float4",
    "'Infinity'::float4",
    "1.17549435e-38::float4",
    // numeric, exact
    "0::numeric",
    "0.000::numeric",
    "(-0.001)::numeric",
    "123.4500::numeric",
    "1e30::numeric",
    "12345678901234567890.000000001::numeric",
    "(-99999999.99999999)::numeric",
    "'NaN'::numeric",
    "0.00000000000000000001::numeric",
    "10000::numeric",
    "numeric '1e-5'",
    // text-like
    "'héllo wörld ✓'::text",
    "'a'::char(5)",
    "'abc'::varchar(10)",
    "'pg_class'::name",
    "''::text",
    "E'line\\nbreak \"quoted\"'::text",
    // json
    "'{\"a\": [1, 2.5, null, \"x\"], \"b\": {\"c\": true}}'::json",
    "'{\"a\": [1, 2.5, null, \"x\"], \"b\": {\"c\": true}}'::jsonb",
    "'\"just a string\"'::jsonb",
    "'[]'::jsonb",
    // bytea, uuid, bool
    "'\\x00ff10'::bytea",
    "''::bytea",
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
    "true",
    "false",
    // dates and times
    "'2024-02-29'::date",
    "'0044-03-15 BC'::date",
    "'0001-01-01'::date",
    "'9999-12-31'::date",
    "'5874897-12-31'::date",
    "'4713-01-01 BC'::date",
    "'infinity'::date",
    "'-infinity'::date",
    "'1999-12-31'::date",
    "'00:00:00'::time",
    "'23:59:59.999999'::time",
    "'12:34:56.5'::time",
    "'24:00:00'::time",
    "'2024-02-29 12:00:00'::timestamp",
    "'2000-01-01 00:00:00.000001'::timestamp",
    "'1999-12-31 23:59:59.5'::timestamp",
    "'0044-03-15 12:00:00 BC'::timestamp",
    "'infinity'::timestamp",
    "'294276-12-31 23:59:59.999999'::timestamp",
    "'4713-01-01 00:00:00.000001 BC'::timestamptz",
    "'2024-02-29 12:00:00+00'::timestamptz",
    "'1970-01-01 00:00:00.123+05'::timestamptz",
    "'-infinity'::timestamptz",
    // intervals
    "'1 day 02:03:04'::interval",
    "'0'::interval",
    "'1 year 2 months 3 days'::interval",
    "'-1 year -2 months +3 days -04:05:06.789'::interval",
    "'-00:00:01.5'::interval",
    "'1 mon -1 day'::interval",
    "'100 years'::interval",
    "'-1 days +01:00:00'::interval",
    "'12:00:00'::interval",
    // network
    "'10.1.2.3/32'::inet",
    "'10.1.2.3/24'::inet",
    "'10.1.2.0/24'::cidr",
    "'2001:db8::1'::inet",
    "'2001:db8::/32'::cidr",
    "'::1'::inet",
    "'::ffff:1.2.3.4'::inet",
    "'fe80::1:0:0:1'::inet",
    // enums and domains
    "'sad'::mood",
    "42::answer",
    // arrays
    "ARRAY[1, NULL, 3]::int4[]",
    "ARRAY[[1, 2], [3, 4]]::int8[]",
    "'{}'::text[]",
    "ARRAY['a b', NULL, 'c\"d', 'NULL']::text[]",
    "'[0:1]={7,8}'::int4[]",
    "ARRAY[1.10, 2]::numeric[]",
    "ARRAY['2024-01-01'::date, 'infinity']",
    "ARRAY['{\"k\": 1}'::jsonb]",
    "ARRAY['happy', 'sad']::mood[]",
    "ARRAY[true, false]",
    "ARRAY['\\x01'::bytea]",
    // types without a binary decoder: the text path answers for both
    "'12.34'::money",
    "'12:00:00+02'::timetz",
    "'(1,2)'::point",
    "'[1,5)'::int4range",
    "'a & b'::tsquery",
    "B'101'::bit(3)",
    "NULL::int4",
    "NULL::text",
];

async fn database(binary: bool, url: &str) -> Database {
    let mut config = DatabaseConfig::from_url(url).unwrap();
    config.binary_results = binary;
    Database::connect(config).await.unwrap()
}

#[tokio::test]
async fn binary_and_text_results_are_the_same_json() {
    let db = sluice_testkit::database().await.unwrap();
    db.connect()
        .await
        .unwrap()
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('happy', 'sad');
             CREATE DOMAIN answer AS int4 CHECK (VALUE > 0);",
        )
        .await
        .unwrap();
    let binary = database(true, db.url()).await;
    let text = database(false, db.url()).await;
    let mut mismatches = Vec::new();
    for expression in VALUES {
        let sql = format!("SELECT {expression} AS v");
        let a = binary.read(&sql).await.unwrap();
        let b = text.read(&sql).await.unwrap();
        assert_eq!(a.columns, b.columns, "{expression}");
        let (a, b) = (a.rows.to_values(), b.rows.to_values());
        let (a, b): (&Value, &Value) = (&a[0][0], &b[0][0]);
        if a != b {
            mismatches.push(format!("{expression}: binary {a} / text {b}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));

    // A whole table at once, and an empty result that still names its columns.
    let sql = format!(
        "SELECT * FROM (VALUES ({})) AS t",
        VALUES
            .iter()
            .take(20)
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (a, b) = (
        binary.read(&sql).await.unwrap(),
        text.read(&sql).await.unwrap(),
    );
    assert_eq!(a, b);
    let empty = "SELECT 1 AS one, 'x'::text AS two WHERE false";
    let (a, b) = (
        binary.read(empty).await.unwrap(),
        text.read(empty).await.unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(a.columns.len(), 2);
}
