//! The server core driven over an in-memory byte stream, as a client would drive it.
#![allow(clippy::unwrap_used)]

mod common;

use common::Client;
use tokio::io::AsyncWriteExt;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use sluice_mcp::{CallToolResult, Extensions, Server, Tool, ToolError, ToolFilter};

#[derive(Deserialize, schemars::JsonSchema)]
struct Echo {
    /// What to say back.
    text: String,
}

fn server() -> Server {
    Server::builder("test-server", "0.1.0")
        .instructions("For tests.")
        .typed_tool(
            "echo",
            "Says the text back.",
            |args: Echo, _ctx| async move { Ok(CallToolResult::text(args.text)) },
        )
        .tool(
            Tool::new("fail", "Always fails.", json!({"type": "object"})),
            |_args: Value, _ctx| async move { Err(ToolError::new("it failed, as it always does")) },
        )
        .tool(
            Tool::new("progress", "Reports progress.", json!({"type": "object"})),
            |_args: Value, ctx: sluice_mcp::RequestContext| async move {
                for step in [0.0, 50.0, 100.0] {
                    ctx.progress(step, Some(100.0), None);
                }
                ctx.log(sluice_mcp::LogLevel::Info, json!("done"));
                Ok(CallToolResult::text("ok"))
            },
        )
        .tool(
            Tool::new("buggy", "Panics.", json!({"type": "object"})),
            |_args: Value, _ctx| async move {
                let empty: Vec<u8> = Vec::new();
                #[allow(clippy::indexing_slicing)]
                let _ = empty[3];
                Ok(CallToolResult::text("unreachable"))
            },
        )
        .tool(
            Tool::new("slow", "Takes forever.", json!({"type": "object"})),
            |_args: Value, _ctx| async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(CallToolResult::text("never"))
            },
        )
        .build()
}

#[tokio::test]
async fn initialize_negotiates_the_version() {
    let mut client = Client::start(server(), Extensions::new());
    let answer = client.initialize().await;
    let result = &answer["result"];
    assert_eq!(result["protocolVersion"], "2025-11-25");
    assert_eq!(result["serverInfo"]["name"], "test-server");
    assert_eq!(result["instructions"], "For tests.");
    assert!(result["capabilities"]["tools"].is_object());

    for (asked, answered) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-06-18", "2025-06-18"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let mut client = Client::start(server(), Extensions::new());
        let answer = client
            .request(1, "initialize", json!({"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))
            .await;
        assert_eq!(
            answer["result"]["protocolVersion"], answered,
            "asked {asked}"
        );
    }
}

#[tokio::test]
async fn a_second_initialize_is_refused_and_the_session_keeps_its_version() {
    let mut client = Client::start(server(), Extensions::new());
    let first = client
        .request(1, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))
        .await;
    assert_eq!(first["result"]["protocolVersion"], "2025-06-18");
    for id in 2..5 {
        let again = client
            .request(id, "initialize", json!({"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "u", "version": "2"}}))
            .await;
        assert_eq!(again["id"], id);
        assert_eq!(again["error"]["code"], -32600, "{again}");
        assert!(
            again["error"]["message"]
                .as_str()
                .unwrap()
                .contains("already initialized"),
            "{again}"
        );
    }
    // The session serves on, as first negotiated.
    let tools = client.request(9, "tools/list", json!({})).await;
    assert!(tools["result"]["tools"].is_array(), "{tools}");
}

#[tokio::test]
async fn requests_before_initialize_are_refused_but_ping_is_answered() {
    let mut client = Client::start(server(), Extensions::new());
    let answer = client.request(1, "tools/list", json!({})).await;
    assert_eq!(answer["error"]["code"], -32600);
    let answer = client.request(2, "ping", json!({})).await;
    assert_eq!(answer["result"], json!({}));
}

#[tokio::test]
async fn malformed_input_gets_errors_and_the_session_keeps_serving() {
    let mut client = Client::start(server(), Extensions::new());
    client.initialize().await;
    let cases = [
        ("{not json", -32700),
        ("[1, 2]", -32600),
        (r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, -32600),
        (
            r#"{"jsonrpc":"2.0","id":99999999999999999999999,"method":"ping"}"#,
            -32600,
        ),
        (r#""a string""#, -32600),
    ];
    for (text, code) in cases {
        client.send(text).await;
        let answer = client.next().await;
        assert_eq!(answer["error"]["code"], code, "{text}");
        assert_eq!(answer["id"], Value::Null, "{text}");
    }
    // Bytes that are not UTF-8 get a parse error too, and reading goes on.
    client.writer.write_all(b"\xff\xfe{}\n").await.unwrap();
    let answer = client.next().await;
    assert_eq!(answer["error"]["code"], -32700);
    let answer = client.request(5, "no/such/method", json!({})).await;
    assert_eq!(answer["error"]["code"], -32601);
    // A notification that carries an id is a request to an unknown method.
    let answer = client
        .request(6, "notifications/initialized", json!({}))
        .await;
    assert_eq!(answer["error"]["code"], -32601);
    // A response to a request we never sent is dropped quietly.
    client
        .send(r#"{"jsonrpc":"2.0","id":12345,"result":{}}"#)
        .await;
    let answer = client.request(7, "ping", json!({})).await;
    assert_eq!(answer["result"], json!({}));
}

#[tokio::test]
async fn tools_are_listed_with_schemas_and_called() {
    let mut client = Client::start(server(), Extensions::new());
    client.initialize().await;
    let list = client.request(1, "tools/list", json!({})).await;
    let tools = list["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["echo", "fail", "progress", "buggy", "slow"]);
    let echo = &tools[0];
    assert_eq!(echo["inputSchema"]["type"], "object");
    assert_eq!(echo["inputSchema"]["properties"]["text"]["type"], "string");
    assert_eq!(echo["inputSchema"]["required"], json!(["text"]));

    let answer = client
        .request(
            2,
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
        )
        .await;
    assert_eq!(
        answer["result"]["content"],
        json!([{"type": "text", "text": "hi"}])
    );
    assert!(answer["result"].get("isError").is_none());
}

#[tokio::test]
async fn tool_failures_are_results_the_model_can_read() {
    let mut client = Client::start(server(), Extensions::new());
    client.initialize().await;
    let answer = client
        .request(
            1,
            "tools/call",
            json!({"name": "echo", "arguments": {"txt": 1}}),
        )
        .await;
    assert_eq!(answer["result"]["isError"], true);
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("invalid arguments") && text.contains("text"),
        "{text}"
    );

    let answer = client
        .request(2, "tools/call", json!({"name": "fail"}))
        .await;
    assert_eq!(answer["result"]["isError"], true);
    assert_eq!(
        answer["result"]["content"][0]["text"],
        "it failed, as it always does"
    );

    let answer = client
        .request(3, "tools/call", json!({"name": "nope"}))
        .await;
    assert_eq!(answer["error"]["code"], -32602);
    let answer = client
        .request(4, "tools/call", json!({"arguments": {}}))
        .await;
    assert_eq!(answer["error"]["code"], -32602);
}

#[tokio::test]
async fn progress_and_log_notifications_reach_the_client() {
    let mut client = Client::start(server(), Extensions::new());
    client.initialize().await;
    client
        .send(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "progress", "_meta": {"progressToken": "tok"}}})
            .to_string(),
        )
        .await;
    let mut progress = Vec::new();
    let mut logged = false;
    loop {
        let message = client.next().await;
        match message["method"].as_str() {
            Some("notifications/progress") => {
                assert_eq!(message["params"]["progressToken"], "tok");
                progress.push(message["params"]["progress"].as_f64().unwrap());
            }
            Some("notifications/message") => logged = true,
            _ => {
                assert_eq!(message["id"], 1);
                break;
            }
        }
    }
    assert_eq!(progress, [0.0, 50.0, 100.0]);
    assert!(logged);
}

#[tokio::test]
async fn cancellation_stops_the_handler_and_sends_no_response() {
    let mut client = Client::start(server(), Extensions::new());
    client.initialize().await;
    client
        .send(r#"{"jsonrpc":"2.0","id":"long","method":"tools/call","params":{"name":"slow"}}"#)
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    client
        .send(
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"long"}}"#,
        )
        .await;
    // The next answer is the ping's: the cancelled request gets none.
    let answer = client.request(2, "ping", json!({})).await;
    assert_eq!(answer["result"], json!({}));
    // And end of input now finishes promptly: nothing is left in flight.
    client.writer.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), client.server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn end_of_input_waits_for_requests_in_flight() {
    let server = Server::builder("t", "1")
        .tool(
            Tool::new("nap", "Naps briefly.", json!({"type": "object"})),
            |_args: Value, _ctx| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(CallToolResult::text("rested"))
            },
        )
        .build();
    let mut client = Client::start(server, Extensions::new());
    client.initialize().await;
    client
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nap"}}"#)
        .await;
    client.writer.shutdown().await.unwrap();
    let answer = client.next().await;
    assert_eq!(answer["result"]["content"][0]["text"], "rested");
    client.server.await.unwrap();
}

#[tokio::test]
async fn lists_are_paginated() {
    let mut builder = Server::builder("t", "1").page_size(2);
    for i in 0..5 {
        builder = builder.tool(
            Tool::new(format!("t{i}"), "A tool.", json!({"type": "object"})),
            |_args: Value, _ctx| async move { Ok(CallToolResult::text("")) },
        );
    }
    let mut client = Client::start(builder.build(), Extensions::new());
    client.initialize().await;
    let mut names = Vec::new();
    let mut cursor = Value::Null;
    for id in 1.. {
        let params = if cursor.is_null() {
            json!({})
        } else {
            json!({"cursor": cursor})
        };
        let page = client.request(id, "tools/list", params).await;
        for tool in page["result"]["tools"].as_array().unwrap() {
            names.push(tool["name"].as_str().unwrap().to_owned());
        }
        cursor = page["result"]
            .get("nextCursor")
            .cloned()
            .unwrap_or(Value::Null);
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(names, ["t0", "t1", "t2", "t3", "t4"]);
    let bad = client
        .request(99, "tools/list", json!({"cursor": "zzz"}))
        .await;
    assert_eq!(bad["error"]["code"], -32602);
}

/// The caller's role, as another crate would attach it.
struct Role(&'static str);

struct AdminsSeeEverything;

impl ToolFilter for AdminsSeeEverything {
    fn allows(&self, tool: &Tool, extensions: &Extensions) -> bool {
        tool.name != "admin" || extensions.get::<Role>().is_some_and(|r| r.0 == "admin")
    }
}

#[tokio::test]
async fn the_tool_filter_hides_and_refuses_per_caller() {
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let server = Server::builder("t", "1")
        .tool(
            Tool::new("public", "For all.", json!({"type": "object"})),
            |_a: Value, _c| async move { Ok(CallToolResult::text("hello")) },
        )
        .tool(
            Tool::new("admin", "For admins.", json!({"type": "object"})),
            move |_a: Value, _c| {
                let flag = Arc::clone(&flag);
                async move {
                    flag.store(true, Ordering::SeqCst);
                    Ok(CallToolResult::text("done"))
                }
            },
        )
        .tool_filter(AdminsSeeEverything)
        .build();

    let mut guest = Extensions::new();
    guest.insert(Role("guest"));
    let mut client = Client::start(server.clone(), guest);
    client.initialize().await;
    let list = client.request(1, "tools/list", json!({})).await;
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 1);
    let answer = client
        .request(2, "tools/call", json!({"name": "admin"}))
        .await;
    assert_eq!(answer["error"]["code"], -32602);
    assert!(!called.load(Ordering::SeqCst), "a hidden tool must not run");

    let mut admin = Extensions::new();
    admin.insert(Role("admin"));
    let mut client = Client::start(server, admin);
    client.initialize().await;
    let list = client.request(1, "tools/list", json!({})).await;
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 2);
    let answer = client
        .request(2, "tools/call", json!({"name": "admin"}))
        .await;
    assert_eq!(answer["result"]["content"][0]["text"], "done");
    assert!(called.load(Ordering::SeqCst));
}

#[tokio::test]
async fn tools_added_at_run_time_are_announced() {
    let server = server();
    let mut client = Client::start(server.clone(), Extensions::new());
    client.initialize().await;
    server.add_tool(
        Tool::new("late", "Arrived late.", json!({"type": "object"})),
        |_a: Value, _c| async move { Ok(CallToolResult::text("here")) },
    );
    let message = client.next().await;
    assert_eq!(message["method"], "notifications/tools/list_changed");
    let answer = client
        .request(1, "tools/call", json!({"name": "late"}))
        .await;
    assert_eq!(answer["result"]["content"][0]["text"], "here");
    assert!(server.remove_tool("late"));
    let message = client.next().await;
    assert_eq!(message["method"], "notifications/tools/list_changed");
    let answer = client
        .request(2, "tools/call", json!({"name": "late"}))
        .await;
    assert_eq!(answer["error"]["code"], -32602);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_handled_concurrently() {
    let mut client = Client::start(server(), Extensions::new());
    client.initialize().await;
    // A slow call does not hold up the ones after it.
    client
        .send(r#"{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"slow"}}"#)
        .await;
    for id in 1..=20 {
        let answer = client
            .request(
                id,
                "tools/call",
                json!({"name": "echo", "arguments": {"text": id.to_string()}}),
            )
            .await;
        assert_eq!(answer["result"]["content"][0]["text"], id.to_string());
    }
}

#[tokio::test]
async fn resources_and_templates_are_listed_and_read() {
    use sluice_mcp::{Resource, ResourceContents, ResourceError, ResourceTemplate};
    use std::collections::HashMap;
    let server = Server::builder("t", "1")
        .resource(
            Resource::new("test://static-text", "static")
                .with_description("Fixed text.")
                .with_mime_type("text/plain"),
            |uri: String, _vars: HashMap<String, String>, _ctx| async move {
                Ok(vec![ResourceContents::text(uri, "text/plain", "hello")])
            },
        )
        .resource_template(
            ResourceTemplate::new("test://item/{id}", "item").with_mime_type("text/plain"),
            |uri: String, vars: HashMap<String, String>, _ctx| async move {
                if vars["id"] == "missing" {
                    return Err(ResourceError::not_found(uri));
                }
                Ok(vec![ResourceContents::text(
                    uri,
                    "text/plain",
                    format!("item {}", vars["id"]),
                )])
            },
        )
        .build();
    let mut client = Client::start(server, Extensions::new());
    let init = client.initialize().await;
    assert!(init["result"]["capabilities"]["resources"].is_object());
    let list = client.request(1, "resources/list", json!({})).await;
    assert_eq!(list["result"]["resources"][0]["uri"], "test://static-text");
    let templates = client
        .request(2, "resources/templates/list", json!({}))
        .await;
    assert_eq!(
        templates["result"]["resourceTemplates"][0]["uriTemplate"],
        "test://item/{id}"
    );
    let read = client
        .request(3, "resources/read", json!({"uri": "test://static-text"}))
        .await;
    assert_eq!(read["result"]["contents"][0]["text"], "hello");
    let read = client
        .request(4, "resources/read", json!({"uri": "test://item/42"}))
        .await;
    assert_eq!(read["result"]["contents"][0]["text"], "item 42");
    for (id, uri) in [(5, "test://item/missing"), (6, "test://nothing")] {
        let read = client
            .request(id, "resources/read", json!({"uri": uri}))
            .await;
        assert_eq!(read["error"]["code"], -32002, "{uri}");
    }
    let read = client.request(7, "resources/read", json!({})).await;
    assert_eq!(read["error"]["code"], -32602);
}

#[tokio::test]
async fn prompts_are_listed_and_filled_in() {
    use sluice_mcp::{GetPromptResult, Prompt, PromptMessage};
    use std::collections::HashMap;
    let server = Server::builder("t", "1")
        .prompt(
            Prompt::new("greet", "Greets someone.").with_argument("who", "Who to greet", true),
            |args: HashMap<String, String>, _ctx| async move {
                Ok(GetPromptResult::new(vec![PromptMessage::user(format!(
                    "Hello, {}!",
                    args["who"]
                ))]))
            },
        )
        .build();
    let mut client = Client::start(server, Extensions::new());
    client.initialize().await;
    let list = client.request(1, "prompts/list", json!({})).await;
    assert_eq!(list["result"]["prompts"][0]["name"], "greet");
    assert_eq!(
        list["result"]["prompts"][0]["arguments"][0]["required"],
        true
    );
    let got = client
        .request(
            2,
            "prompts/get",
            json!({"name": "greet", "arguments": {"who": "Ada"}}),
        )
        .await;
    assert_eq!(got["result"]["messages"][0]["role"], "user");
    assert_eq!(
        got["result"]["messages"][0]["content"]["text"],
        "Hello, Ada!"
    );
    for (id, params) in [
        (3, json!({"name": "greet"})),
        (4, json!({"name": "nope"})),
        (5, json!({"name": "greet", "arguments": {"who": 7}})),
    ] {
        let answer = client.request(id, "prompts/get", params.clone()).await;
        assert_eq!(answer["error"]["code"], -32602, "{params}");
    }
    let completion = client
        .request(6, "completion/complete", json!({"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "who", "value": "A"}}))
        .await;
    assert_eq!(completion["result"]["completion"]["values"], json!([]));
}

fn interactive_server(timeout: Duration) -> Server {
    Server::builder("interactive", "0.1.0")
        .client_request_timeout(timeout)
        .tool(
            Tool::new("ask", "Asks the client's model.", json!({"type": "object"})),
            |_args: Value, ctx: sluice_mcp::RequestContext| async move {
                match ctx
                    .create_message(json!({"messages": [], "maxTokens": 1}))
                    .await
                {
                    Ok(answer) => Ok(CallToolResult::text(answer["content"]["text"].to_string())),
                    Err(e) => Err(ToolError::new(e.to_string())),
                }
            },
        )
        .tool(
            Tool::new("chatty", "Logs at every level.", json!({"type": "object"})),
            |_args: Value, ctx: sluice_mcp::RequestContext| async move {
                use sluice_mcp::LogLevel::{Debug, Error, Info, Warning};
                for level in [Debug, Info, Warning, Error] {
                    ctx.log(level, json!(format!("{level:?}")));
                }
                Ok(CallToolResult::text("logged"))
            },
        )
        .resource(
            sluice_mcp::Resource::new("test://watched", "watched").with_mime_type("text/plain"),
            |uri: String, _v: std::collections::HashMap<String, String>, _c| async move {
                Ok(vec![sluice_mcp::ResourceContents::text(
                    uri,
                    "text/plain",
                    "now",
                )])
            },
        )
        .prompt(
            sluice_mcp::Prompt::new("greet", "Greets."),
            |_a: std::collections::HashMap<String, String>, _c| async move {
                Ok(sluice_mcp::GetPromptResult::new(vec![
                    sluice_mcp::PromptMessage::user("hi"),
                ]))
            },
        )
        .completion(|request: sluice_mcp::CompletionRequest, _c| async move {
            (0..150)
                .map(|i| format!("{}{i}", request.value))
                .collect::<Vec<_>>()
        })
        .build()
}

#[tokio::test]
async fn a_handler_asks_the_client_and_awaits_its_answer() {
    let mut client = Client::start(
        interactive_server(Duration::from_secs(10)),
        Extensions::new(),
    );
    client.initialize_with(json!({"sampling": {}})).await;
    client
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ask"}}"#)
        .await;
    let request = client.next().await;
    assert_eq!(request["method"], "sampling/createMessage");
    let answer = json!({"jsonrpc": "2.0", "id": request["id"],
                        "result": {"role": "assistant", "model": "m",
                                   "content": {"type": "text", "text": "forty-two"}}});
    client.send(&answer.to_string()).await;
    let result = client.next().await;
    assert_eq!(result["id"], 1);
    assert_eq!(result["result"]["content"][0]["text"], "\"forty-two\"");

    // An error from the client reaches the handler as an error.
    client
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask"}}"#)
        .await;
    let request = client.next().await;
    let refusal = json!({"jsonrpc": "2.0", "id": request["id"],
                         "error": {"code": -1, "message": "user said no"}});
    client.send(&refusal.to_string()).await;
    let result = client.next().await;
    assert_eq!(result["result"]["isError"], true);
    assert!(
        result["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("user said no")
    );
}

#[tokio::test]
async fn a_client_that_never_answers_times_out_and_is_told() {
    let mut client = Client::start(
        interactive_server(Duration::from_millis(200)),
        Extensions::new(),
    );
    client.initialize_with(json!({"sampling": {}})).await;
    client
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ask"}}"#)
        .await;
    let request = client.next().await;
    assert_eq!(request["method"], "sampling/createMessage");
    let cancelled = client.next().await;
    assert_eq!(cancelled["method"], "notifications/cancelled");
    assert_eq!(cancelled["params"]["requestId"], request["id"]);
    let result = client.next().await;
    assert_eq!(result["result"]["isError"], true);
    // A late answer is dropped quietly; the session goes on.
    let late = json!({"jsonrpc": "2.0", "id": request["id"], "result": {}});
    client.send(&late.to_string()).await;
    let answer = client.request(3, "ping", json!({})).await;
    assert_eq!(answer["result"], json!({}));
}

#[tokio::test]
async fn a_client_without_the_capability_is_not_asked() {
    let mut client = Client::start(
        interactive_server(Duration::from_secs(10)),
        Extensions::new(),
    );
    client.initialize().await;
    let result = client
        .request(1, "tools/call", json!({"name": "ask"}))
        .await;
    assert_eq!(result["result"]["isError"], true);
    assert!(
        result["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("sampling")
    );
}

#[tokio::test]
async fn log_entries_below_the_level_set_are_not_sent() {
    let mut client = Client::start(
        interactive_server(Duration::from_secs(10)),
        Extensions::new(),
    );
    client.initialize().await;
    let bad = client
        .request(1, "logging/setLevel", json!({"level": "loud"}))
        .await;
    assert_eq!(bad["error"]["code"], -32602);
    let set = client
        .request(2, "logging/setLevel", json!({"level": "warning"}))
        .await;
    assert_eq!(set["result"], json!({}));
    client
        .send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"chatty"}}"#)
        .await;
    let mut levels = Vec::new();
    loop {
        let message = client.next().await;
        if message.get("id") == Some(&json!(3)) {
            break;
        }
        levels.push(message["params"]["level"].as_str().unwrap().to_owned());
    }
    assert_eq!(levels, ["warning", "error"]);
}

#[tokio::test]
async fn subscribers_hear_of_resource_updates() {
    let server = interactive_server(Duration::from_secs(10));
    let mut client = Client::start(server.clone(), Extensions::new());
    client.initialize().await;
    let unknown = client
        .request(1, "resources/subscribe", json!({"uri": "test://nothing"}))
        .await;
    assert_eq!(unknown["error"]["code"], -32002);
    let ok = client
        .request(2, "resources/subscribe", json!({"uri": "test://watched"}))
        .await;
    assert_eq!(ok["result"], json!({}));
    server.notify_resource_updated("test://elsewhere");
    server.notify_resource_updated("test://watched");
    let update = client.next().await;
    assert_eq!(update["method"], "notifications/resources/updated");
    assert_eq!(update["params"]["uri"], "test://watched");
    client
        .request(3, "resources/unsubscribe", json!({"uri": "test://watched"}))
        .await;
    server.notify_resource_updated("test://watched");
    let answer = client.request(4, "ping", json!({})).await;
    assert_eq!(answer["result"], json!({}), "no update after unsubscribing");
}

#[tokio::test]
async fn completion_is_capped_and_checked() {
    let mut client = Client::start(
        interactive_server(Duration::from_secs(10)),
        Extensions::new(),
    );
    client.initialize().await;
    let answer = client
        .request(
            1,
            "completion/complete",
            json!({
            "ref": {"type": "ref/prompt", "name": "greet"},
            "argument": {"name": "who", "value": "a"}}),
        )
        .await;
    let completion = &answer["result"]["completion"];
    assert_eq!(completion["values"].as_array().unwrap().len(), 100);
    assert_eq!(completion["values"][0], "a0");
    assert_eq!(completion["total"], 150);
    assert_eq!(completion["hasMore"], true);
    let unknown = client
        .request(
            2,
            "completion/complete",
            json!({
            "ref": {"type": "ref/prompt", "name": "nope"},
            "argument": {"name": "who", "value": "a"}}),
        )
        .await;
    assert_eq!(unknown["error"]["code"], -32602);
    let malformed = client
        .request(
            3,
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "greet"}}),
        )
        .await;
    assert_eq!(malformed["error"]["code"], -32602);
}

#[tokio::test]
async fn a_panicking_handler_gets_an_internal_error_and_the_session_goes_on() {
    let mut client = Client::start(server(), Extensions::new());
    client.initialize().await;
    let answer = client
        .request(1, "tools/call", json!({"name": "buggy"}))
        .await;
    assert_eq!(answer["error"]["code"], -32603, "{answer}");
    let answer = client.request(2, "ping", json!({})).await;
    assert_eq!(answer["result"], json!({}));
    // End of input still ends the server: nothing is left waiting for the panicked call.
    client.writer.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), client.server)
        .await
        .expect("the server stopped at end of input")
        .unwrap();
}
