//! The official MCP Python SDK drives the built `everything_server` over stdio and over
//! Streamable HTTP: tools of every content type, progress and log notifications, log
//! levels, sampling and elicitation answered by the client, resources, subscriptions,
//! prompts, completion.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

fn server_binary() -> PathBuf {
    common::example_named("everything_server")
}

fn python_client(transport: &str, target: &str) {
    let Some(log) = python("everything.py", &[transport, target]) else {
        return;
    };
    assert!(
        log.contains(&format!(
            "python interop ({transport}): 10 passed, 0 failed"
        )),
        "{log}"
    );
}

/// The SDK's high-level client in its default (2026-07-28) and legacy modes.
fn python_modern_client(transport: &str, target: &str) {
    for (mode, checks) in [("auto", 8), ("legacy", 7)] {
        let Some(log) = python("modern.py", &[transport, target, mode]) else {
            return;
        };
        assert!(
            log.contains(&format!(
                "python modern interop ({transport}, {mode}): {checks} passed, 0 failed"
            )),
            "{log}"
        );
    }
}

/// The interop script's output; `None` when the Python SDK cannot be had here (outside CI).
fn python(script: &str, args: &[&str]) -> Option<String> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    common::run_python(&format!("tests/interop/{script}"), &args)
}

#[test]
fn python_sdk_over_stdio() {
    python_client("stdio", server_binary().to_str().unwrap());
}

#[test]
fn python_sdk_modern_and_legacy_modes_over_stdio() {
    python_modern_client("stdio", server_binary().to_str().unwrap());
}

#[test]
fn python_sdk_over_streamable_http() {
    let mut command = Command::new(server_binary());
    command.args(["--transport", "http", "--bind", "127.0.0.1:0"]);
    let (_running, url) = common::start_http(command);
    python_client("http", &url);
    python_modern_client("http", &url);
}
