//! In-process cost of one `tools/call` through a session, as a 2025-11-25 session
//! request and as a stateless 2026-07-28 request (`_meta` with version, capabilities
//! and client info), with a trivial tool: what the protocol layer adds per era.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use sluice_mcp::{CallToolResult, Extensions, Server, Session, Tool};

const LEGACY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"sql":"SELECT v FROM sluice_bench WHERE id = 7"}}}"#;
const MODERN: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"sql":"SELECT v FROM sluice_bench WHERE id = 7"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}}}"#;

fn eras(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let server = Server::builder("bench", "1")
        .tool(
            Tool::new("t", "A trivial tool.", json!({"type": "object"})),
            |_a: Value, _c| async { Ok(CallToolResult::text("x")) },
        )
        .build();
    // The receiver of the session's own messages stays alive with the bench.
    let (session, _receiver) = runtime.block_on(async {
        let (session, receiver) = Session::new(&server, Extensions::new());
        session
            .handle(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}"#)
            .await;
        (session, receiver)
    });
    let mut group = c.benchmark_group("tools_call");
    for (name, text) in [("2025-11-25", LEGACY), ("2026-07-28", MODERN)] {
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(session.handle(std::hint::black_box(text))));
        });
    }
    group.finish();
}

criterion_group!(benches, eras);
criterion_main!(benches);
