//! MCP 2026-07-28 requests beside 2025-11-25 sessions, on one stdio pipe: a request
//! naming its protocol version in `_meta` is served without `initialize`, with the
//! client it describes; malformed `_meta` gets the specified errors and the pipe keeps
//! serving; legacy requests behave as before.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};
use sluice_mcp::transport::stdio::serve_on;
use sluice_mcp::{CallToolResult, Extensions, LogLevel, Server, Tool, ToolError};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn server() -> Server {
    Server::builder("stateless-test", "1.2.3")
        .tool(
            Tool::new("echo", "Echoes.", json!({"type": "object"})),
            |args: Value, ctx: sluice_mcp::RequestContext| async move {
                ctx.log(LogLevel::Info, json!("echoing"));
                Ok(CallToolResult::text(format!(
                    "{} {}",
                    ctx.protocol_version(),
                    args
                )))
            },
        )
        .tool(
            Tool::new(
                "trace",
                "Names the caller's trace.",
                json!({"type": "object"}),
            ),
            |_args: Value, ctx: sluice_mcp::RequestContext| async move {
                let trace = ctx.trace_context().map_or("none".to_owned(), |t| {
                    format!("{} {:?}", t.trace_id(), t.tracestate())
                });
                Ok(CallToolResult::text(trace))
            },
        )
        .tool(
            Tool::new("ask", "Elicits.", json!({"type": "object"})),
            |_args: Value, ctx: sluice_mcp::RequestContext| async move {
                match ctx.elicit("name?", json!({"type": "object"})).await {
                    Ok(v) => Ok(CallToolResult::text(v.to_string())),
                    Err(e) => Err(ToolError::new(e.to_string())),
                }
            },
        )
        .build()
}

fn modern(extra: Value) -> Value {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut meta, extra) {
        m.extend(e);
    }
    meta
}

struct Pipe {
    writer: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    lines: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
}

impl Pipe {
    fn start() -> Pipe {
        let (client, server_side) = tokio::io::duplex(1 << 20);
        let (read, write) = tokio::io::split(server_side);
        tokio::spawn(async move { serve_on(&server(), Extensions::new(), read, write).await });
        let (read, writer) = tokio::io::split(client);
        Pipe {
            writer,
            lines: BufReader::new(read).lines(),
        }
    }

    /// Sends a request; returns every message up to and including its answer.
    async fn call(&mut self, id: i64, method: &str, params: Value) -> (Vec<Value>, Value) {
        let line =
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        self.writer.write_all(line.as_bytes()).await.unwrap();
        self.writer.write_all(b"\n").await.unwrap();
        let mut before = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let message: Value = serde_json::from_str(&line).unwrap();
            if message.get("id") == Some(&json!(id)) {
                return (before, message);
            }
            before.push(message);
        }
    }
}

#[tokio::test]
async fn modern_requests_need_no_initialize_and_say_they_are_complete() {
    let mut pipe = Pipe::start();
    let (_, discovered) = pipe
        .call(1, "server/discover", json!({"_meta": modern(json!({}))}))
        .await;
    let result = &discovered["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["supportedVersions"][0], "2026-07-28");
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2025-11-25"))
    );
    assert!(result["capabilities"]["tools"].is_object());
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "stateless-test"
    );
    assert!(result["ttlMs"].is_u64() && result["cacheScope"] == "public");

    let (_, listed) = pipe
        .call(2, "tools/list", json!({"_meta": modern(json!({}))}))
        .await;
    assert_eq!(listed["result"]["resultType"], "complete");
    // Cache hints: the defaults of a server without a tool filter.
    assert_eq!(listed["result"]["ttlMs"], 0);
    assert_eq!(listed["result"]["cacheScope"], "public");
    assert_eq!(listed["result"]["tools"].as_array().unwrap().len(), 3);

    let (before, called) = pipe
        .call(
            3,
            "tools/call",
            json!({"name": "echo", "arguments": {"x": 1}, "_meta": modern(json!({}))}),
        )
        .await;
    assert_eq!(called["result"]["resultType"], "complete");
    assert!(
        called["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("2026-07-28")
    );
    assert!(
        before.is_empty(),
        "no log notifications without a log level: {before:?}"
    );

    let (before, _) = pipe
        .call(4, "tools/call", json!({"name": "echo", "arguments": {}, "_meta": modern(json!({"io.modelcontextprotocol/logLevel": "debug"}))}))
        .await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["method"], "notifications/message");

    // No requests to the client under 2026-07-28: the question comes as an
    // input_required result, and the answer with the retry.
    let elicit_caps = json!({"io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}});
    let (before, asked) = pipe
        .call(
            5,
            "tools/call",
            json!({"name": "ask", "arguments": {}, "_meta": modern(elicit_caps.clone())}),
        )
        .await;
    assert!(
        before.is_empty(),
        "the server sent a request to the client: {before:?}"
    );
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    assert_eq!(
        result["inputRequests"]["elicitation-1"]["method"],
        "elicitation/create"
    );
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "stateless-test"
    );
    let state = result["requestState"].as_str().unwrap().to_owned();
    let answer = json!({"elicitation-1": {"action": "accept", "content": {"name": "Ada"}}});
    let (_, done) = pipe
        .call(6, "tools/call", json!({"name": "ask", "arguments": {}, "inputResponses": answer, "requestState": state, "_meta": modern(elicit_caps.clone())}))
        .await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert!(
        done["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Ada")
    );
    // Altered state, or state of other arguments, is refused.
    let (_, tampered) = pipe
        .call(7, "tools/call", json!({"name": "ask", "arguments": {}, "inputResponses": answer, "requestState": format!("{state}x"), "_meta": modern(elicit_caps.clone())}))
        .await;
    assert_eq!(tampered["error"]["code"], -32602, "{tampered}");
    let (_, moved) = pipe
        .call(8, "tools/call", json!({"name": "ask", "arguments": {"other": 1}, "inputResponses": answer, "requestState": state, "_meta": modern(elicit_caps)}))
        .await;
    assert_eq!(moved["error"]["code"], -32602, "{moved}");
    // Asking without the capability declared is -32021, naming it.
    let (_, missing) = pipe
        .call(
            9,
            "tools/call",
            json!({"name": "ask", "arguments": {}, "_meta": modern(json!({}))}),
        )
        .await;
    assert_eq!(missing["error"]["code"], -32021, "{missing}");
    assert_eq!(
        missing["error"]["data"]["requiredCapabilities"],
        json!({"elicitation": {}})
    );
    // Methods 2026-07-28 removed are unknown there.
    for (id, method) in [(10, "ping"), (11, "initialize"), (12, "logging/setLevel")] {
        let (_, gone) = pipe
            .call(id, method, json!({"_meta": modern(json!({}))}))
            .await;
        assert_eq!(gone["error"]["code"], -32601, "{method}: {gone}");
    }
}

#[tokio::test]
async fn one_handler_asks_in_both_eras() {
    let mut pipe = Pipe::start();
    let (_, _) = pipe
        .call(1, "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}}, "clientInfo": {"name": "old", "version": "1"}}))
        .await;
    // Under 2025-11-25 the same handler sends elicitation/create to the client.
    let line = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ask", "arguments": {}}}).to_string();
    pipe.writer.write_all(line.as_bytes()).await.unwrap();
    pipe.writer.write_all(b"\n").await.unwrap();
    let asked: Value =
        serde_json::from_str(&pipe.lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(asked["method"], "elicitation/create", "{asked}");
    let reply = json!({"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "accept", "content": {"name": "Grace"}}});
    pipe.writer
        .write_all(reply.to_string().as_bytes())
        .await
        .unwrap();
    pipe.writer.write_all(b"\n").await.unwrap();
    let done: Value =
        serde_json::from_str(&pipe.lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(done["id"], 2);
    assert!(
        done["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Grace"),
        "{done}"
    );
}

#[tokio::test]
async fn malformed_meta_gets_the_specified_errors_and_the_pipe_keeps_serving() {
    let mut pipe = Pipe::start();
    let cases = [
        (
            json!({"io.modelcontextprotocol/protocolVersion": "2031-01-01", "io.modelcontextprotocol/clientCapabilities": {}}),
            -32022,
        ),
        (
            json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"}),
            -32602,
        ),
        (
            json!({"io.modelcontextprotocol/protocolVersion": 7, "io.modelcontextprotocol/clientCapabilities": {}}),
            -32602,
        ),
        (
            json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": "all"}),
            -32602,
        ),
        (
            json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}, "io.modelcontextprotocol/logLevel": 3}),
            -32602,
        ),
    ];
    for (i, (meta, code)) in cases.into_iter().enumerate() {
        let id = i64::try_from(i).unwrap() + 10;
        let (_, answer) = pipe.call(id, "tools/list", json!({"_meta": meta})).await;
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert_eq!(answer["id"], id);
    }
    let (_, unsupported) = pipe
        .call(20, "tools/list", json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2031-01-01", "io.modelcontextprotocol/clientCapabilities": {}}}))
        .await;
    assert_eq!(unsupported["error"]["data"]["requested"], "2031-01-01");
    assert_eq!(unsupported["error"]["data"]["supported"][0], "2026-07-28");
    // Still serving, both eras.
    let (_, ok) = pipe
        .call(21, "tools/list", json!({"_meta": modern(json!({}))}))
        .await;
    assert_eq!(ok["result"]["resultType"], "complete");
    let (_, legacy) = pipe.call(22, "tools/list", json!({})).await;
    assert_eq!(
        legacy["error"]["code"], -32600,
        "legacy requests still need initialize: {legacy}"
    );
}

#[tokio::test]
async fn legacy_sessions_are_unchanged_beside_modern_requests() {
    let mut pipe = Pipe::start();
    let (_, init) = pipe
        .call(1, "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}))
        .await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    let (_, legacy) = pipe
        .call(2, "tools/call", json!({"name": "echo", "arguments": {}}))
        .await;
    assert!(legacy["result"].get("resultType").is_none(), "{legacy}");
    let (_, legacy_list) = pipe.call(7, "tools/list", json!({})).await;
    assert!(
        legacy_list["result"].get("ttlMs").is_none(),
        "{legacy_list}"
    );
    assert!(
        legacy["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("2025-11-25")
    );
    let (_, modern_call) = pipe
        .call(
            3,
            "tools/call",
            json!({"name": "echo", "arguments": {}, "_meta": modern(json!({}))}),
        )
        .await;
    assert!(
        modern_call["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("2026-07-28")
    );
    // An unknown resource: -32002 in the legacy session, -32602 under 2026-07-28.
    let (_, legacy_missing) = pipe
        .call(5, "resources/read", json!({"uri": "test://nothing"}))
        .await;
    assert_eq!(legacy_missing["error"]["code"], -32002);
    let (_, modern_missing) = pipe
        .call(
            6,
            "resources/read",
            json!({"uri": "test://nothing", "_meta": modern(json!({}))}),
        )
        .await;
    assert_eq!(modern_missing["error"]["code"], -32602);
    // server/discover answers in the legacy era too (no resultType there).
    let (_, discovered) = pipe.call(4, "server/discover", json!({})).await;
    assert_eq!(discovered["result"]["supportedVersions"][0], "2026-07-28");
}

#[tokio::test]
async fn caller_dependent_lists_are_private_and_hints_are_a_builder_choice() {
    struct Nobody;
    impl sluice_mcp::ToolFilter for Nobody {
        fn allows(&self, _tool: &Tool, _extensions: &Extensions) -> bool {
            false
        }
    }
    let filtered = Server::builder("f", "1").tool_filter(Nobody).build();
    let (session, _rx) = sluice_mcp::Session::new(&filtered, Extensions::new());
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": modern(json!({}))}});
    let answer: Value =
        serde_json::from_str(&session.handle(&request.to_string()).await.unwrap()).unwrap();
    assert_eq!(answer["result"]["cacheScope"], "private", "{answer}");
    let chosen = Server::builder("c", "1")
        .cache_hints(Duration::from_secs(30), sluice_mcp::era::CacheScope::Public)
        .build();
    let (session, _rx) = sluice_mcp::Session::new(&chosen, Extensions::new());
    let answer: Value =
        serde_json::from_str(&session.handle(&request.to_string()).await.unwrap()).unwrap();
    assert_eq!(answer["result"]["ttlMs"], 30_000);
    assert_eq!(answer["result"]["cacheScope"], "public");
}

#[tokio::test]
async fn handlers_see_the_trace_context_of_their_request() {
    let mut pipe = Pipe::start();
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (_, traced) = pipe
        .call(1, "tools/call", json!({"name": "trace", "arguments": {}, "_meta": modern(json!({"traceparent": parent, "tracestate": "vendor=1"}))}))
        .await;
    assert_eq!(
        traced["result"]["content"][0]["text"],
        "4bf92f3577b34da6a3ce929d0e0e4736 Some(\"vendor=1\")"
    );
    let (_, untraced) = pipe
        .call(2, "tools/call", json!({"name": "trace", "arguments": {}, "_meta": modern(json!({"traceparent": "garbage"}))}))
        .await;
    assert_eq!(untraced["result"]["content"][0]["text"], "none");
}
