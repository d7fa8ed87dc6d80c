//! No input from a client makes the server panic, and the session keeps answering:
//! arbitrary text, arbitrary JSON, and JSON-RPC-shaped messages with wrong types in
//! every field, fed to a session and through the HTTP endpoint.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_mcp::{CallToolResult, Extensions, Server, Session, Tool};

fn server() -> Server {
    Server::builder("fuzz", "1")
        .tool(
            Tool::new("echo", "Echoes.", json!({"type": "object"})),
            |args: Value, _ctx| async move { Ok(CallToolResult::text(args.to_string())) },
        )
        .typed_tool("typed", "Typed.", |_args: Typed, _ctx| async move {
            Ok(CallToolResult::text("ok"))
        })
        .build()
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Typed {
    #[allow(dead_code)]
    n: u8,
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,20}".prop_map(Value::String),
        prop_oneof![
            Just("initialize"),
            Just("tools/call"),
            Just("tools/list"),
            Just("ping"),
            Just("resources/read"),
            Just("prompts/get"),
            Just("completion/complete"),
            Just("logging/setLevel"),
            Just("notifications/cancelled"),
            Just("2.0"),
            Just("echo"),
            Just("typed"),
            Just("_meta"),
            Just("progressToken"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("jsonrpc"),
                        Just("id"),
                        Just("method"),
                        Just("params"),
                        Just("result"),
                        Just("error"),
                        Just("name"),
                        Just("arguments"),
                        Just("cursor"),
                        Just("uri"),
                        Just("ref"),
                        Just("argument"),
                        Just("level"),
                        Just("requestId"),
                        Just("_meta"),
                        Just("n"),
                    ]
                    .prop_map(str::to_owned),
                    inner
                ),
                0..6
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// JSON-RPC-shaped messages with arbitrary parts.
fn message() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just(json!("2.0")), json_value()],
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
    )
        .prop_map(|(jsonrpc, id, method, params)| {
            let mut object = serde_json::Map::new();
            object.insert("jsonrpc".into(), jsonrpc);
            if let Some(id) = id {
                object.insert("id".into(), id);
            }
            if let Some(method) = method {
                object.insert("method".into(), method);
            }
            if let Some(params) = params {
                object.insert("params".into(), params);
            }
            Value::Object(object)
        })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn still_serving(session: &Session) {
    let answer = session
        .handle(r#"{"jsonrpc":"2.0","id":"alive","method":"ping"}"#)
        .await
        .unwrap();
    assert!(answer.contains(r#""result":{}"#), "{answer}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        runtime().block_on(async {
            let (session, _rx) = Session::new(&server(), Extensions::new());
            let _ = session.handle(&text).await;
            still_serving(&session).await;
        });
    }

    #[test]
    fn arbitrary_messages_never_panic(messages in prop::collection::vec(message(), 1..8)) {
        runtime().block_on(async {
            let (session, _rx) = Session::new(&server(), Extensions::new());
            let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                              "params": {"protocolVersion": "2025-11-25", "capabilities": {}}});
            session.handle(&init.to_string()).await.unwrap();
            for message in &messages {
                // Bounded: a request must not hang the session either.
                let handled = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    session.handle(&message.to_string()),
                )
                .await;
                prop_assert!(handled.is_ok(), "{message} did not get an answer in time");
                if let Ok(Some(answer)) = handled {
                    let parsed: Value = serde_json::from_str(&answer).unwrap();
                    prop_assert_eq!(&parsed["jsonrpc"], "2.0");
                }
            }
            still_serving(&session).await;
            Ok(())
        })?;
    }
}

#[cfg(feature = "http")]
mod http {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use sluice_mcp::transport::http::{Endpoint, HttpConfig};
    use tower::ServiceExt;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        #[test]
        fn arbitrary_http_bodies_never_panic(body in prop_oneof![
            ".{0,200}".prop_map(|s| s.into_bytes()),
            message().prop_map(|m| m.to_string().into_bytes()),
            prop::collection::vec(any::<u8>(), 0..200),
        ], with_session in any::<bool>()) {
            runtime().block_on(async {
                let router = Endpoint::new(server(), HttpConfig::default()).router();
                let mut request = Request::post("/mcp")
                    .header("host", "localhost")
                    .header("accept", "application/json, text/event-stream")
                    .header("content-type", "application/json");
                if with_session {
                    request = request.header("mcp-session-id", "0123");
                }
                let response = router
                    .oneshot(request.body(Body::from(body)).unwrap())
                    .await
                    .unwrap();
                prop_assert!(response.status().as_u16() < 500 || response.status().as_u16() == 503);
                Ok(())
            })?;
        }
    }
}
