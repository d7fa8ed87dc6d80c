//! 100 tool calls at once on the built `everything_server` over stdio, each asking the
//! client's model through sampling: 64 run, 36 wait, and every one of the server's
//! `sampling/createMessage` requests is read and answered by the client while all slots
//! are busy — the fault run saw this deadlock the session, because the loop stopped
//! reading at 64 requests in flight. Every call must finish with the model's answer.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

#[test]
fn a_hundred_sampling_calls_at_once_all_finish() {
    let mut child = Command::new(common::example_named("everything_server"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let _running = common::Running(child);
    let (lines_tx, lines) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(value) = serde_json::from_str(&line) {
                let _ = lines_tx.send(value);
            }
        }
    });
    let mut send = |message: Value| writeln!(stdin, "{message}").unwrap();
    send(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}},
        "clientInfo": {"name": "flood", "version": "1"}}}),
    );
    let first = lines.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(first["id"], 0, "{first}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let calls = 100;
    for id in 1..=calls {
        send(
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "test_sampling", "arguments": {"prompt": format!("question {id}")}}}),
        );
    }
    let mut answered = 0;
    let mut sampled = 0;
    while answered < calls {
        let message = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("stuck: {answered} calls answered, {sampled} samplings"));
        if message["method"] == "sampling/createMessage" {
            sampled += 1;
            send(json!({"jsonrpc": "2.0", "id": message["id"], "result": {
                "role": "assistant", "content": {"type": "text", "text": "an answer"},
                "model": "flood-model"}}));
        } else if message.get("id").is_some() && message.get("method").is_none() {
            assert_eq!(
                message["result"]["content"][0]["text"], "LLM response: an answer",
                "{message}"
            );
            answered += 1;
        }
    }
    assert_eq!(sampled, calls);
}
