//! The stdio transport at its bounds: with every slot busy it keeps reading — a ping is
//! answered, cancellations reach their requests — further requests wait in a bounded
//! queue, and past the queue they are refused with a clear error, by id.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Client;
use serde_json::{Value, json};
use sluice_mcp::transport::stdio::{BUSY, MAX_IN_FLIGHT, MAX_QUEUED};
use sluice_mcp::{CallToolResult, Extensions, Server, Tool, ToolError};

/// Counts the handlers that were dropped (cancelled) before they finished.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn holding_server(dropped: Arc<AtomicUsize>) -> Server {
    Server::builder("bounds", "1")
        .tool(
            Tool::new("hold", "Never finishes.", json!({"type": "object"})),
            move |_args: Value, _ctx: sluice_mcp::RequestContext| {
                let guard = Dropped(Arc::clone(&dropped));
                async move {
                    std::future::pending::<()>().await;
                    drop(guard);
                    Ok::<_, ToolError>(CallToolResult::text("never"))
                }
            },
        )
        .build()
}

fn hold(id: usize) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "hold", "arguments": {}}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_keeps_reading_queues_then_refuses() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut client = Client::start(holding_server(Arc::clone(&dropped)), Extensions::new());
    client.initialize().await;

    // Every slot taken, and the queue filled to the brim, then five more.
    let filled = MAX_IN_FLIGHT + MAX_QUEUED;
    for id in 1..=filled + 5 {
        client.send(&hold(id)).await;
    }
    // Those five are refused, each by its id, saying why.
    let mut refused = Vec::new();
    while refused.len() < 5 {
        let message = client.next().await;
        assert_eq!(message["error"]["code"], json!(BUSY), "{message}");
        assert!(
            message["error"]["message"]
                .as_str()
                .unwrap()
                .contains("server busy"),
            "{message}"
        );
        refused.push(message["id"].as_u64().unwrap());
    }
    refused.sort_unstable();
    let expected: Vec<u64> = (filled + 1..=filled + 5).map(|id| id as u64).collect();
    assert_eq!(refused, expected);

    // Still reading: a ping is answered at once.
    let pong = client.request(900_000, "ping", json!({})).await;
    assert!(pong["result"].is_object(), "{pong}");

    // Cancellations reach requests in flight; each freed slot goes to the next waiting
    // request, so nothing finishes and nothing is answered (cancelled requests get none).
    for id in 1..=3 {
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                            "params": {"requestId": id}});
        client.send(&cancel.to_string()).await;
    }
    for _ in 0..200 {
        if dropped.load(Ordering::SeqCst) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        3,
        "the three cancels arrived"
    );
    // A waiting request can be cancelled too, and the server still answers a ping.
    let pong = client.request(900_001, "ping", json!({})).await;
    assert!(pong["result"].is_object(), "{pong}");
    client.server.abort();
}
