//! The HTTP request path must never panic and must always answer, whatever a client
//! sends: each input becomes one request — raw bytes straight into the HTTP/1.1 parser
//! when it starts with `0xff`, else a request built from it (method, header lines, then
//! a body after the first NUL byte) — served by the endpoint's router on an in-memory
//! connection, with and without the standard headers, across sessions that persist
//! between inputs.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sluice_mcp::transport::http::{Endpoint, HttpConfig};
use sluice_mcp::{CallToolResult, RequestContext, Server, Tool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt as _;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("no runtime: {e}"))
});

static ROUTER: LazyLock<axum::Router> = LazyLock::new(|| {
    let server = Server::builder("fuzz", "1.0.0")
        .tool(
            Tool::new("echo", "Echoes its arguments.", json!({"type": "object"})),
            |args: Value, ctx: RequestContext| async move {
                ctx.progress(1.0, None, None);
                Ok(CallToolResult::text(args.to_string()))
            },
        )
        .build();
    let mut config = HttpConfig::default();
    config.max_sessions = 64;
    config.max_body_bytes = 64 * 1024;
    Endpoint::new(server, config).router()
});

fn request(data: &[u8]) -> Vec<u8> {
    if data.first() == Some(&0xff) {
        return data[1..].to_vec();
    }
    let (head, body) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let method = match head.first().map(|b| b % 5) {
        Some(1) => "GET",
        Some(2) => "DELETE",
        Some(3) => "PUT",
        Some(4) => "OPTIONS",
        _ => "POST",
    };
    let standard = head.first().is_none_or(|b| b & 0x80 == 0);
    let mut text = format!("{method} /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n").into_bytes();
    if standard {
        text.extend_from_slice(
            b"accept: application/json, text/event-stream\r\ncontent-type: application/json\r\n",
        );
    }
    // Header lines from the input; line breaks other than CRLF are the input's own.
    for line in head.get(1..).unwrap_or_default().split(|b| *b == b'\n') {
        if !line.is_empty() {
            text.extend_from_slice(line);
            text.extend_from_slice(b"\r\n");
        }
    }
    text.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    text.extend_from_slice(body);
    text
}

fuzz_target!(|data: &[u8]| {
    let bytes = request(data);
    RUNTIME.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let router = ROUTER.clone();
        let service =
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                router.clone().oneshot(request.map(axum::body::Body::new))
            });
        let connection = tokio::spawn(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(server), service),
        );
        let _ = client.write_all(&bytes).await;
        let _ = client.shutdown().await;
        let mut answer = Vec::new();
        // An event stream may stay open: read what comes for a moment, then hang up.
        let _ =
            tokio::time::timeout(Duration::from_millis(200), client.read_to_end(&mut answer)).await;
        drop(client);
        let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
        if !answer.is_empty() {
            let start = String::from_utf8_lossy(&answer[..answer.len().min(200)]).into_owned();
            assert!(
                answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "),
                "not an HTTP answer: {start:?}"
            );
        }
    });
});
