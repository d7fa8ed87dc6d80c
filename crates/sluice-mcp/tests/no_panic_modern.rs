//! MCP 2026-07-28 requests with malformed `_meta` of every kind — wrong types, huge
//! values, unknown versions, arbitrary capabilities, log levels, trace context — and
//! arbitrary multi-round-trip fields (`inputResponses`, `requestState`): the server
//! never panics, answers each request with its id (a result or an error), and keeps
//! serving; over HTTP, arbitrary mirrored headers get a status below 500.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_mcp::{CallToolResult, Extensions, Server, Session, Tool, ToolError};

fn server() -> Server {
    Server::builder("fuzz-modern", "1")
        .tool(
            Tool::new("echo", "Echoes.", json!({"type": "object"})),
            |args: Value, _ctx| async move { Ok(CallToolResult::text(args.to_string())) },
        )
        .tool(
            Tool::new("ask", "Asks twice.", json!({"type": "object"})),
            |_args: Value, ctx: sluice_mcp::RequestContext| async move {
                let a = ctx
                    .elicit("first?", json!({"type": "object"}))
                    .await
                    .map_err(|e| ToolError::new(e.to_string()))?;
                let b = ctx
                    .list_roots()
                    .await
                    .map_err(|e| ToolError::new(e.to_string()))?;
                Ok(CallToolResult::text(format!("{a} {b}")))
            },
        )
        .build()
}

/// Any JSON value, a few levels deep, with the strings this protocol cares about.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
        Just(json!("2026-07-28")),
        Just(json!("2025-11-25")),
        Just(json!("debug")),
        Just(json!("elicitation-1")),
        Just(json!("accept")),
        Just(json!(
            "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
        )),
        "[a-zA-Z0-9_.-]{0,5000}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("elicitation"),
                        Just("sampling"),
                        Just("roots"),
                        Just("action"),
                        Just("content"),
                        Just("elicitation-1"),
                        Just("roots-2"),
                        Just("x"),
                    ]
                    .prop_map(str::to_owned),
                    inner
                ),
                0..4
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// A `_meta` object: each known key absent, well formed or arbitrary.
fn meta() -> impl Strategy<Value = Value> {
    let key = |good: Value| prop_oneof![Just(None), Just(Some(good)), json_value().prop_map(Some),];
    (
        key(json!("2026-07-28")),
        key(json!({"elicitation": {}, "roots": {}})),
        key(json!({"name": "fuzzer", "version": "1"})),
        key(json!("info")),
        key(json!(
            "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
        )),
        key(json!("t")),
    )
        .prop_map(|(version, caps, info, level, trace, progress)| {
            let mut m = serde_json::Map::new();
            for (k, v) in [
                ("io.modelcontextprotocol/protocolVersion", version),
                ("io.modelcontextprotocol/clientCapabilities", caps),
                ("io.modelcontextprotocol/clientInfo", info),
                ("io.modelcontextprotocol/logLevel", level),
                ("traceparent", trace),
                ("progressToken", progress),
            ] {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            Value::Object(m)
        })
}

fn request() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("tools/call"),
            Just("tools/list"),
            Just("server/discover"),
            Just("prompts/get"),
            Just("resources/read"),
            Just("subscriptions/listen"),
            Just("initialize"),
            Just("ping"),
        ],
        prop_oneof![Just("echo".to_owned()), Just("ask".to_owned()), ".{0,8}"],
        meta(),
        prop::option::of(json_value()),
        prop::option::of(prop_oneof![
            json_value(),
            ".{0,300}".prop_map(Value::String)
        ]),
    )
        .prop_map(|(method, name, meta, responses, state)| {
            let mut params = json!({"name": name, "arguments": {}, "_meta": meta});
            if let Some(responses) = responses {
                params["inputResponses"] = responses;
            }
            if let Some(state) = state {
                params["requestState"] = state;
            }
            json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
        })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn still_serving(session: &Session) {
    let probe = json!({"jsonrpc": "2.0", "id": "alive", "method": "tools/list",
        "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                             "io.modelcontextprotocol/clientCapabilities": {}}}});
    let answer = session.handle(&probe.to_string()).await.unwrap();
    assert!(answer.contains(r#""resultType":"complete""#), "{answer}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn malformed_modern_requests_get_answers_and_never_panic(requests in prop::collection::vec(request(), 1..6)) {
        runtime().block_on(async {
            let (session, _rx) = Session::new(&server(), Extensions::new());
            for request in &requests {
                let listen = request["method"] == "subscriptions/listen";
                let handled = tokio::time::timeout(
                    std::time::Duration::from_millis(if listen { 100 } else { 5000 }),
                    session.handle(&request.to_string()),
                )
                .await;
                match handled {
                    // A well-formed listen stays open until cancelled: that is its answer.
                    Err(_) => prop_assert!(listen, "{request} did not get an answer in time"),
                    Ok(None) => prop_assert!(false, "{request} got no answer"),
                    Ok(Some(answer)) => {
                        let parsed: Value = serde_json::from_str(&answer).unwrap();
                        prop_assert_eq!(&parsed["id"], &json!(7), "{}", answer);
                        prop_assert!(parsed.get("result").is_some() != parsed.get("error").is_some());
                        if let Some(error) = parsed.get("error") {
                            // Only the codes the revision defines (and JSON-RPC's own).
                            let code = error["code"].as_i64().unwrap();
                            prop_assert!(
                                [-32600, -32601, -32602, -32603, -32021, -32022].contains(&code),
                                "{}", answer
                            );
                            prop_assert!(error["message"].as_str().unwrap().len() < 1000, "{}", answer);
                        }
                    }
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

    fn header_value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("2026-07-28".to_owned()),
            Just("tools/call".to_owned()),
            Just("echo".to_owned()),
            Just("=?base64?ZWNobw==?=".to_owned()),
            "=\\?base64\\?[A-Za-z0-9+/=!]{0,12}\\?=",
            "[ -~]{0,40}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        #[test]
        fn arbitrary_mirrored_headers_never_panic(
            body in request(),
            version in prop::option::of(header_value()),
            method in prop::option::of(header_value()),
            name in prop::option::of(header_value()),
        ) {
            runtime().block_on(async {
                let router = Endpoint::new(server(), HttpConfig::default()).router();
                let mut request = Request::post("/mcp")
                    .header("host", "localhost")
                    .header("accept", "application/json, text/event-stream")
                    .header("content-type", "application/json");
                for (header, value) in [("mcp-protocol-version", version), ("mcp-method", method), ("mcp-name", name)] {
                    if let Some(value) = value {
                        request = request.header(header, value);
                    }
                }
                let listen = body["method"] == "subscriptions/listen";
                let response = router
                    .oneshot(request.body(Body::from(body.to_string())).unwrap())
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                prop_assert!(status < 500, "{status} for {body}");
                if !listen {
                    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
                    let text = String::from_utf8_lossy(&bytes);
                    prop_assert!(text.contains("\"id\":7"), "{} {}", status, text);
                }
                Ok(())
            })?;
        }
    }
}
