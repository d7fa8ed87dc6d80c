//! Streamable HTTP under MCP 2026-07-28, over real sockets: sessionless requests, the
//! statuses the revision asks for, per-request event streams, `subscriptions/listen`,
//! multi-round-trip requests, and cancellation by closing the connection — beside a
//! 2025-11-25 session on the same endpoint.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sluice_mcp::transport::http::{Endpoint, HttpConfig};
use sluice_mcp::{CallToolResult, RequestContext, Server, Tool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const V: &str = "2026-07-28";

fn meta(capabilities: Value) -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": V,
           "io.modelcontextprotocol/clientCapabilities": capabilities})
}

/// Set when the `hang` tool's future is dropped before it finished.
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn server(dropped: Arc<AtomicBool>) -> Server {
    let dropped = Arc::new(dropped);
    Server::builder("modern-http", "1.0.0")
        .tool(
            Tool::new("hello", "Says hello.", json!({"type": "object"})),
            |_a: Value, _c| async { Ok(CallToolResult::text("hello")) },
        )
        .tool(
            Tool::new("count", "Reports progress.", json!({"type": "object"})),
            |_a: Value, ctx: RequestContext| async move {
                ctx.progress(1.0, Some(2.0), None);
                Ok(CallToolResult::text("counted"))
            },
        )
        .tool(
            Tool::new("hang", "Never answers.", json!({"type": "object"})),
            move |_a: Value, _c: RequestContext| {
                let flag = Dropped(Arc::clone(&dropped));
                async move {
                    let _flag = flag;
                    std::future::pending::<()>().await;
                    Ok(CallToolResult::text("never"))
                }
            },
        )
        .tool(
            Tool::new("ask", "Elicits a name.", json!({"type": "object"})),
            |_a: Value, ctx: RequestContext| async move {
                let answer = ctx
                    .elicit("name?", json!({"type": "object"}))
                    .await
                    .map_err(|e| sluice_mcp::ToolError::new(e.to_string()))?;
                Ok(CallToolResult::text(answer["content"]["name"].to_string()))
            },
        )
        .build()
}

struct Running {
    address: std::net::SocketAddr,
    server: Server,
}

async fn start(dropped: Arc<AtomicBool>) -> Running {
    let server = server(dropped);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let endpoint = Endpoint::new(server.clone(), HttpConfig::default());
    let app = endpoint.router();
    tokio::spawn(async move {
        endpoint
            .serve_app(listener, app, std::future::pending())
            .await
    });
    Running { address, server }
}

/// One raw HTTP/1.1 exchange; returns the status, the headers and the body text.
async fn post(
    address: std::net::SocketAddr,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let body = body.to_string();
    let mut request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), rest.to_owned())
}

fn standard(method: &'static str, name: Option<&'static str>) -> Vec<(&'static str, &'static str)> {
    let mut h = vec![("MCP-Protocol-Version", V), ("Mcp-Method", method)];
    if let Some(name) = name {
        h.push(("Mcp-Name", name));
    }
    h
}

/// The JSON-RPC messages in a body (plain JSON, or the data lines of an event stream;
/// chunked framing is skipped by only reading lines that parse).
fn messages(body: &str) -> Vec<Value> {
    if let Ok(value) = serde_json::from_str::<Value>(body.trim()) {
        return vec![value];
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str(data).ok())
        .collect()
}

fn request(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

#[tokio::test]
async fn sessionless_requests_get_the_statuses_of_2026() {
    let running = start(Arc::default()).await;
    let a = running.address;
    let (status, head, body) = post(
        a,
        &standard("tools/call", Some("hello")),
        &request(
            1,
            "tools/call",
            json!({"name": "hello", "_meta": meta(json!({}))}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !head.contains("mcp-session-id"),
        "no session is minted: {head}"
    );
    let answer = &messages(&body)[0];
    assert_eq!(answer["result"]["resultType"], "complete");

    // _meta missing: 400 with -32602; unknown method: 404 with -32601; header
    // mismatch: 400 with -32020; unsupported version: 400 with -32022.
    let cases = [
        (
            standard("tools/list", None),
            request(2, "tools/list", json!({})),
            400,
            -32602,
        ),
        (
            standard("nope/nothing", None),
            request(3, "nope/nothing", json!({"_meta": meta(json!({}))})),
            404,
            -32601,
        ),
        (
            standard("ping", None),
            request(4, "ping", json!({"_meta": meta(json!({}))})),
            404,
            -32601,
        ),
        (
            standard("tools/list", None),
            request(
                5,
                "tools/call",
                json!({"name": "hello", "_meta": meta(json!({}))}),
            ),
            400,
            -32020,
        ),
        (
            standard("tools/call", Some("other")),
            request(
                6,
                "tools/call",
                json!({"name": "hello", "_meta": meta(json!({}))}),
            ),
            400,
            -32020,
        ),
        (
            vec![
                ("MCP-Protocol-Version", "2099-01-01"),
                ("Mcp-Method", "tools/list"),
            ],
            request(
                7,
                "tools/list",
                json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {}}}),
            ),
            400,
            -32022,
        ),
        (
            standard("tools/call", Some("ask")),
            request(
                8,
                "tools/call",
                json!({"name": "ask", "_meta": meta(json!({}))}),
            ),
            400,
            -32021,
        ),
    ];
    for (headers, body, want_status, want_code) in cases {
        let (status, _, text) = post(a, &headers, &body).await;
        let answer = &messages(&text)[0];
        assert_eq!(
            (status, answer["error"]["code"].as_i64().unwrap()),
            (want_status, want_code),
            "{text}"
        );
        assert_eq!(answer["id"], body["id"], "errors carry the request id");
    }

    // GET and DELETE without a session: 405.
    let mut stream = TcpStream::connect(a).await.unwrap();
    stream
        .write_all(b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 405"), "{raw}");

    // A 2025-11-25 session on the same endpoint still works.
    let (status, head, _) = post(
        a,
        &[],
        &request(9, "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(head.contains("mcp-session-id"), "{head}");
}

#[tokio::test]
async fn notifications_ride_the_request_stream_and_input_comes_back_with_the_retry() {
    let running = start(Arc::default()).await;
    let a = running.address;
    let (status, head, body) = post(
        a,
        &standard("tools/call", Some("count")),
        &request(1, "tools/call", json!({"name": "count", "_meta": {"progressToken": "p", "io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientCapabilities": {}}})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        head.contains("text/event-stream") && head.contains("x-accel-buffering: no"),
        "{head}"
    );
    let frames = messages(&body);
    assert_eq!(frames[0]["method"], "notifications/progress", "{body}");
    assert_eq!(frames[1]["result"]["content"][0]["text"], "counted");

    let caps = json!({"elicitation": {}});
    let (_, _, body) = post(
        a,
        &standard("tools/call", Some("ask")),
        &request(
            2,
            "tools/call",
            json!({"name": "ask", "_meta": meta(caps.clone())}),
        ),
    )
    .await;
    let first = &messages(&body)[0]["result"];
    assert_eq!(first["resultType"], "input_required", "{body}");
    let state = first["requestState"].as_str().unwrap();
    let (_, _, body) = post(
        a,
        &standard("tools/call", Some("ask")),
        &request(
            3,
            "tools/call",
            json!({"name": "ask", "_meta": meta(caps),
            "inputResponses": {"elicitation-1": {"action": "accept", "content": {"name": "Ada"}}},
            "requestState": state}),
        ),
    )
    .await;
    let done = &messages(&body)[0]["result"];
    assert_eq!(done["content"][0]["text"], "\"Ada\"", "{body}");
}

#[tokio::test]
async fn closing_the_connection_cancels_the_request() {
    let dropped = Arc::new(AtomicBool::new(false));
    let running = start(Arc::clone(&dropped)).await;
    let body = request(
        1,
        "tools/call",
        json!({"name": "hang", "_meta": meta(json!({}))}),
    )
    .to_string();
    let mut stream = TcpStream::connect(running.address).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: {V}\r\n\
         Mcp-Method: tools/call\r\nMcp-Name: hang\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !dropped.load(Ordering::SeqCst),
        "the handler runs while the client waits"
    );
    drop(stream);
    for _ in 0..100 {
        if dropped.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the handler still runs 5 s after its client closed the connection");
}

#[tokio::test]
async fn listen_streams_acknowledge_then_carry_only_what_was_asked() {
    let running = start(Arc::default()).await;
    let body = request(77, "subscriptions/listen", json!({"_meta": meta(json!({})), "notifications": {"toolsListChanged": true, "resourcesListChanged": true}})).to_string();
    let mut stream = TcpStream::connect(running.address).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: {V}\r\n\
         Mcp-Method: subscriptions/listen\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut buffer = [0u8; 4096];
    let mut read_until = async |stream: &mut TcpStream, seen: &mut String, needle: &str| {
        while !seen.contains(needle) {
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "the stream ended: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    };
    read_until(&mut stream, &mut seen, "acknowledged").await;
    // A prompt change is not what this stream asked for; a tool change is.
    running.server.add_prompt(
        sluice_mcp::Prompt::new("p", "A prompt."),
        |_a: std::collections::HashMap<String, String>, _c| async {
            Ok(sluice_mcp::GetPromptResult::new(vec![]))
        },
    );
    running.server.remove_tool("hello");
    read_until(&mut stream, &mut seen, "tools/list_changed").await;
    let frames: Vec<Value> = messages(&seen);
    assert_eq!(
        frames[0]["method"],
        "notifications/subscriptions/acknowledged"
    );
    assert_eq!(
        frames[0]["params"]["notifications"],
        json!({"toolsListChanged": true}),
        "resource lists never change here"
    );
    for frame in &frames {
        assert_eq!(
            frame["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 77,
            "{frame}"
        );
        assert_ne!(frame["method"], "notifications/prompts/list_changed");
    }
}
