//! The JSON-RPC decoder and a session's dispatch must never panic, whatever lines a
//! client sends: each input is split into lines, every line is decoded
//! (`Incoming::parse`) and handed to a session — first before `initialize`, then after
//! it — in both eras, and whatever the session answers must be one JSON value.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sluice_mcp::jsonrpc::Incoming;
use sluice_mcp::{CallToolResult, Extensions, RequestContext, Server, Tool};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("no runtime: {e}"))
});

static SERVER: LazyLock<Server> = LazyLock::new(|| {
    Server::builder("fuzz", "1.0.0")
        .tool(
            Tool::new("echo", "Echoes its arguments.", json!({"type": "object"})),
            |args: Value, _ctx: RequestContext| async move {
                Ok(CallToolResult::text(args.to_string()))
            },
        )
        .tool(
            Tool::new("progress", "Reports progress.", json!({"type": "object"})),
            |_args: Value, ctx: RequestContext| async move {
                ctx.progress(1.0, Some(2.0), Some("half".into()));
                Ok(CallToolResult::text("done"))
            },
        )
        .build()
});

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}"#;

fn answered_json(answer: Option<String>) {
    if let Some(text) = answer {
        assert!(
            serde_json::from_str::<Value>(&text).is_ok(),
            "not JSON: {text}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    RUNTIME.block_on(async {
        for initialized in [false, true] {
            let (session, _messages) = sluice_mcp::Session::new(&SERVER, Extensions::new());
            if initialized {
                answered_json(session.handle(INITIALIZE).await);
            }
            for line in text.split('\n') {
                let _ = Incoming::parse(line);
                answered_json(session.handle(line).await);
            }
            session.close();
        }
    });
});
