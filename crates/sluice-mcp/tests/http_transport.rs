//! The Streamable HTTP transport driven as an HTTP client would drive it: status codes,
//! sessions, event streams, resumption, calls back to the client, authorization.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sluice_mcp::transport::http::{
    Endpoint, HttpConfig, TokenVerifier, Unauthorized, Verified, VerifyFuture,
};
use sluice_mcp::{CallToolResult, Extensions, RequestContext, Server, Tool, ToolError};
use tower::ServiceExt;

fn object() -> Value {
    json!({"type": "object"})
}

#[derive(Debug, Clone, PartialEq)]
struct Caller(String);

fn server() -> Server {
    Server::builder("http-test", "1.0.0")
        .tool(
            Tool::new("hello", "Says hello.", object()),
            |_a: Value, ctx: RequestContext| async move {
                let who = ctx
                    .extensions()
                    .get::<Caller>()
                    .map_or("nobody".to_owned(), |c| c.0.clone());
                Ok(CallToolResult::text(format!("hello {who}")))
            },
        )
        .tool(
            Tool::new("count", "Reports progress twice.", object()),
            |_a: Value, ctx: RequestContext| async move {
                ctx.progress(1.0, Some(2.0), None);
                ctx.progress(2.0, Some(2.0), None);
                Ok(CallToolResult::text("counted"))
            },
        )
        .tool(
            Tool::new("ask", "Asks the client's model.", object()),
            |_a: Value, ctx: RequestContext| async move {
                let answer = ctx
                    .create_message(json!({"messages": [], "maxTokens": 5}))
                    .await
                    .map_err(|e| ToolError::new(e.to_string()))?;
                Ok(CallToolResult::text(format!(
                    "model said {}",
                    answer["content"]["text"]
                )))
            },
        )
        .tool(
            Tool::new("slow", "Answers after half a second.", object()),
            |_a: Value, _ctx: RequestContext| async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok(CallToolResult::text("slowly"))
            },
        )
        .tool(
            Tool::new("reconnect", "Drops its connection mid-call.", object()),
            |_a: Value, ctx: RequestContext| async move {
                ctx.progress(1.0, None, None);
                ctx.close_connection();
                tokio::time::sleep(Duration::from_millis(50)).await;
                ctx.progress(2.0, None, None);
                Ok(CallToolResult::text("after the reconnection"))
            },
        )
        .build()
}

struct Client {
    router: Router,
    session: Option<String>,
    token: Option<String>,
}

impl Client {
    fn new(router: Router) -> Self {
        Client {
            router,
            session: None,
            token: None,
        }
    }

    fn request(&self, method: &str) -> axum::http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri("/mcp")
            .header("host", "127.0.0.1:3000")
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(session) = &self.session {
            builder = builder.header("mcp-session-id", session);
        }
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        builder
    }

    async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
    }

    async fn post(&self, message: &Value) -> Response<Body> {
        let request = self
            .request("POST")
            .body(Body::from(message.to_string()))
            .unwrap();
        self.send(request).await
    }

    async fn initialize(&mut self) {
        let response = self
            .post(
                &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"sampling": {}},
                "clientInfo": {"name": "test", "version": "1"}}}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let id = response.headers()["mcp-session-id"].to_str().unwrap();
        self.session = Some(id.to_owned());
        let body = json_body(response).await;
        assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
        let ack = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert_eq!(ack.status(), StatusCode::ACCEPTED);
    }

    async fn call(&self, id: i64, tool: &str) -> Response<Body> {
        self.post(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": tool, "arguments": {}, "_meta": {"progressToken": "p"}}}))
            .await
    }
}

async fn json_body(response: Response<Body>) -> Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "a JSON answer"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// Reads server-sent events from a response body.
struct Events {
    body: Body,
    buffer: String,
}

#[derive(Debug)]
struct Event {
    id: Option<String>,
    retry: Option<String>,
    data: String,
}

impl Events {
    fn of(response: Response<Body>) -> Self {
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Events {
            body: response.into_body(),
            buffer: String::new(),
        }
    }

    /// The next event, or `None` when the stream ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if block.starts_with(':') {
                    continue; // a comment (keep-alive)
                }
                let mut event = Event {
                    id: None,
                    retry: None,
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        event.id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("retry: ") {
                        event.retry = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data.push_str(v);
                    }
                }
                return Some(event);
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("an event in time");
            match frame {
                None => return None,
                Some(frame) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        self.buffer.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
            }
        }
    }

    async fn next_message(&mut self) -> Option<(String, Value)> {
        loop {
            let event = self.next().await?;
            if !event.data.trim().is_empty() {
                return Some((
                    event.id.unwrap(),
                    serde_json::from_str(&event.data).unwrap(),
                ));
            }
        }
    }
}

fn router(config: HttpConfig) -> Router {
    Endpoint::new(server(), config).router()
}

#[tokio::test]
async fn a_session_is_opened_used_and_deleted() {
    let mut client = Client::new(router(HttpConfig::default()));
    client.initialize().await;
    let list = client
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(list.status(), StatusCode::OK);
    let body = json_body(list).await;
    assert_eq!(body["result"]["tools"].as_array().unwrap().len(), 5);

    let delete = client
        .send(client.request("DELETE").body(Body::empty()).unwrap())
        .await;
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    let after = client
        .post(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .await;
    assert_eq!(after.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_requests_get_the_right_status() {
    let mut client = Client::new(router(HttpConfig::default().with_max_body_bytes(1024)));
    // No session yet.
    let no_session = client
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(no_session.status(), StatusCode::BAD_REQUEST);
    client.initialize().await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();

    let mut unknown = client
        .request("POST")
        .body(Body::from(ping.clone()))
        .unwrap();
    unknown
        .headers_mut()
        .insert("mcp-session-id", "not-a-session".parse().unwrap());
    let unknown = client.send(unknown).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let mut wrong_accept = client
        .request("POST")
        .body(Body::from(ping.clone()))
        .unwrap();
    wrong_accept
        .headers_mut()
        .insert("accept", "text/html".parse().unwrap());
    assert_eq!(
        client.send(wrong_accept).await.status(),
        StatusCode::NOT_ACCEPTABLE
    );

    let mut wrong_type = client
        .request("POST")
        .body(Body::from(ping.clone()))
        .unwrap();
    wrong_type
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    assert_eq!(
        client.send(wrong_type).await.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let huge =
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "y".repeat(2000)}});
    assert_eq!(
        client.post(&huge).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );

    let put = client
        .send(client.request("PUT").body(Body::empty()).unwrap())
        .await;
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.headers()["allow"], "GET, POST, DELETE");

    let mut old_version = client
        .request("POST")
        .body(Body::from(ping.clone()))
        .unwrap();
    old_version
        .headers_mut()
        .insert("mcp-protocol-version", "2025-03-26".parse().unwrap());
    assert_eq!(client.send(old_version).await.status(), StatusCode::OK);
    let mut bad_version = client
        .request("POST")
        .body(Body::from(ping.clone()))
        .unwrap();
    bad_version
        .headers_mut()
        .insert("mcp-protocol-version", "1999-01-01".parse().unwrap());
    assert_eq!(
        client.send(bad_version).await.status(),
        StatusCode::BAD_REQUEST
    );

    let garbage = client
        .send(
            client
                .request("POST")
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(garbage).await["error"]["code"], -32700);

    let batch = client
        .send(
            client
                .request("POST")
                .body(Body::from(format!("[{ping}]")))
                .unwrap(),
        )
        .await;
    assert_eq!(batch.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(batch).await["error"]["code"], -32600);

    // After all that, the session still serves.
    let fine = client.post(&serde_json::from_str(&ping).unwrap()).await;
    assert_eq!(json_body(fine).await["result"], json!({}));
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let client = Client::new(router(HttpConfig::default()));
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}})
    .to_string();
    let mut evil_host = client
        .request("POST")
        .body(Body::from(init.clone()))
        .unwrap();
    evil_host
        .headers_mut()
        .insert("host", "evil.example.com".parse().unwrap());
    assert_eq!(client.send(evil_host).await.status(), StatusCode::FORBIDDEN);

    let mut evil_origin = client
        .request("POST")
        .body(Body::from(init.clone()))
        .unwrap();
    evil_origin
        .headers_mut()
        .insert("origin", "http://evil.example.com".parse().unwrap());
    assert_eq!(
        client.send(evil_origin).await.status(),
        StatusCode::FORBIDDEN
    );

    let mut local_origin = client
        .request("POST")
        .body(Body::from(init.clone()))
        .unwrap();
    local_origin
        .headers_mut()
        .insert("origin", "http://localhost:5173".parse().unwrap());
    assert_eq!(client.send(local_origin).await.status(), StatusCode::OK);

    let listed = Client::new(router(
        HttpConfig::default().allow_origin("https://app.example.com"),
    ));
    let mut app_origin = listed.request("POST").body(Body::from(init)).unwrap();
    app_origin
        .headers_mut()
        .insert("origin", "https://app.example.com".parse().unwrap());
    assert_eq!(listed.send(app_origin).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_handler_that_streams_answers_with_events_ending_in_its_result() {
    let mut client = Client::new(router(HttpConfig::default()));
    client.initialize().await;
    let mut events = Events::of(client.call(7, "count").await);
    let priming = events.next().await.unwrap();
    assert!(priming.id.is_some() && priming.retry.is_some() && priming.data.is_empty());
    let (_, first) = events.next_message().await.unwrap();
    assert_eq!(first["method"], "notifications/progress");
    assert_eq!(first["params"]["progressToken"], "p");
    let (_, second) = events.next_message().await.unwrap();
    assert_eq!(second["params"]["progress"], 2.0);
    let (_, result) = events.next_message().await.unwrap();
    assert_eq!(result["id"], 7);
    assert_eq!(result["result"]["content"][0]["text"], "counted");
    assert!(
        events.next().await.is_none(),
        "the stream ends after the result"
    );
}

#[tokio::test]
async fn a_handler_calls_the_client_and_gets_its_answer() {
    let mut client = Client::new(router(HttpConfig::default()));
    client.initialize().await;
    let mut events = Events::of(client.call(8, "ask").await);
    let (_, request) = events.next_message().await.unwrap();
    assert_eq!(request["method"], "sampling/createMessage");
    let answer = json!({"jsonrpc": "2.0", "id": request["id"], "result": {
        "role": "assistant", "content": {"type": "text", "text": "hi"}, "model": "m"}});
    assert_eq!(client.post(&answer).await.status(), StatusCode::ACCEPTED);
    let (_, result) = events.next_message().await.unwrap();
    assert_eq!(result["result"]["content"][0]["text"], "model said \"hi\"");
}

#[tokio::test]
async fn a_dropped_stream_is_resumed_with_last_event_id() {
    let mut client = Client::new(router(HttpConfig::default()));
    client.initialize().await;
    let mut events = Events::of(client.call(9, "reconnect").await);
    let _priming = events.next().await.unwrap();
    let (last_id, progress) = events.next_message().await.unwrap();
    assert_eq!(progress["params"]["progress"], 1.0);
    assert!(
        events.next().await.is_none(),
        "the server closed the connection"
    );

    let resume = client
        .request("GET")
        .header("last-event-id", &last_id)
        .body(Body::empty())
        .unwrap();
    let mut resumed = Events::of(client.send(resume).await);
    let (_, progress) = resumed.next_message().await.unwrap();
    assert_eq!(
        progress["params"]["progress"], 2.0,
        "nothing lost, nothing repeated"
    );
    let (_, result) = resumed.next_message().await.unwrap();
    assert_eq!(result["id"], 9);
    assert_eq!(
        result["result"]["content"][0]["text"],
        "after the reconnection"
    );

    let unknown = client
        .request("GET")
        .header("last-event-id", "999-1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(client.send(unknown).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_get_stream_carries_the_sessions_own_messages() {
    let server = server();
    let endpoint = Endpoint::new(server.clone(), HttpConfig::default());
    let mut client = Client::new(endpoint.router());
    client.initialize().await;
    let get = client.request("GET").body(Body::empty()).unwrap();
    let mut events = Events::of(client.send(get).await);
    let _priming = events.next().await.unwrap();
    let second = client.request("GET").body(Body::empty()).unwrap();
    assert_eq!(client.send(second).await.status(), StatusCode::CONFLICT);

    server.add_tool(
        Tool::new("late", "Added later.", object()),
        |_a: Value, _c: RequestContext| async move { Ok(CallToolResult::text("late")) },
    );
    let (_, change) = events.next_message().await.unwrap();
    assert_eq!(change["method"], "notifications/tools/list_changed");
    assert_eq!(endpoint.session_count(), 1);
    endpoint.close();
    assert!(events.next().await.is_none(), "closing ends the stream");
}

#[tokio::test]
async fn a_flood_of_posts_is_refused_beyond_the_cap() {
    let mut config = HttpConfig::default();
    config.max_pending_posts = 1;
    let mut client = Client::new(router(config));
    client.initialize().await;
    // A slow call answered with plain JSON holds the only slot until it is answered.
    let slow = {
        let request = client
            .request("POST")
            .body(Body::from(
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "slow", "arguments": {}}})
                .to_string(),
            ))
            .unwrap();
        let router = client.router.clone();
        tokio::spawn(async move { router.oneshot(request).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = client
        .post(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(slow.await.unwrap().status(), StatusCode::OK);
    // The slot is free again.
    let ping = client
        .post(&json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}))
        .await;
    assert_eq!(ping.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_full_session_table_says_when_to_try_again() {
    let mut config = HttpConfig::default();
    config.max_sessions = 1;
    let app = router(config);
    let mut first = Client::new(app.clone());
    first.initialize().await;
    let second = Client::new(app);
    let refused = second
        .post(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}}}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "5");
    // The session that is open goes on being served.
    let ping = first
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(ping.status(), StatusCode::OK);
}

#[tokio::test]
async fn idle_sessions_expire() {
    let mut client = Client::new(router(
        HttpConfig::default().with_session_idle_timeout(Duration::from_millis(100)),
    ));
    client.initialize().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ping = client
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(ping.status(), StatusCode::NOT_FOUND);
}

struct Tokens;

impl TokenVerifier for Tokens {
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(async move {
            let Some(login) = token.strip_prefix("token-of-") else {
                return Err(Unauthorized::invalid_token("unknown token"));
            };
            let mut extensions = Extensions::new();
            extensions.insert(Caller(login.to_owned()));
            Ok(Verified {
                subject: login.to_owned(),
                extensions,
            })
        })
    }
}

#[tokio::test]
async fn bearer_tokens_become_the_callers_identity() {
    let router = router(
        HttpConfig::default()
            .with_verifier(Tokens)
            .with_resource_metadata("http://127.0.0.1:3000/.well-known/oauth-protected-resource"),
    );
    let mut client = Client::new(router.clone());
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    let anonymous = client.post(&init).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer resource_metadata=\"http://127.0.0.1:3000/"));

    client.token = Some("forged".into());
    let forged = client.post(&init).await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let challenge = forged.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""));

    client.token = Some("token-of-alice".into());
    client.initialize().await;
    let hello = json_body(client.call(1, "hello").await).await;
    assert_eq!(hello["result"]["content"][0]["text"], "hello alice");

    // Bob's valid token does not open Alice's session.
    let bob = Client {
        router,
        session: client.session.clone(),
        token: Some("token-of-bob".into()),
    };
    assert_eq!(bob.call(2, "hello").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn serve_answers_over_real_tcp() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(sluice_mcp::transport::http::serve(
        listener,
        server(),
        HttpConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}})
    .to_string();
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {address}\r\nAccept: application/json, text/event-stream\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("mcp-session-id: "));
    assert!(answer.contains("\"protocolVersion\":\"2025-06-18\""));
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("serve stops on shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn many_sessions_are_independent() {
    let router = router(HttpConfig::default());
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut client = Client::new(router.clone());
        client.initialize().await;
        clients.push(client);
    }
    let ids: std::collections::HashSet<_> =
        clients.iter().map(|c| c.session.clone().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    for client in &clients {
        assert_eq!(client.call(1, "hello").await.status(), StatusCode::OK);
    }
}
