//! What the stdio tests share: a minimal client over an in-memory byte stream.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};
use sluice_mcp::transport::stdio::serve_on;
use sluice_mcp::{Extensions, Server};
use tokio::io::{
    AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf,
};

/// A minimal client: writes lines, reads lines.
pub(crate) struct Client {
    pub(crate) writer: WriteHalf<DuplexStream>,
    pub(crate) reader: Lines<BufReader<ReadHalf<DuplexStream>>>,
    pub(crate) server: tokio::task::JoinHandle<()>,
}

impl Client {
    pub(crate) fn start(server: Server, extensions: Extensions) -> Client {
        let (client_side, server_side) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(server_side);
        let server = tokio::spawn(async move {
            serve_on(&server, extensions, server_read, server_write)
                .await
                .unwrap();
        });
        let (read, writer) = tokio::io::split(client_side);
        Client {
            writer,
            reader: BufReader::new(read).lines(),
            server,
        }
    }

    pub(crate) async fn send(&mut self, message: &str) {
        self.writer.write_all(message.as_bytes()).await.unwrap();
        self.writer.write_all(b"\n").await.unwrap();
    }

    pub(crate) async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.reader.next_line())
            .await
            .expect("the server answered in time")
            .unwrap()
            .expect("the server is still there");
        serde_json::from_str(&line).unwrap()
    }

    pub(crate) async fn request(&mut self, id: i64, method: &str, params: Value) -> Value {
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&message.to_string()).await;
        loop {
            let message = self.next().await;
            if message.get("id") == Some(&json!(id)) {
                return message;
            }
        }
    }

    pub(crate) async fn initialize(&mut self) -> Value {
        self.initialize_with(json!({})).await
    }

    pub(crate) async fn initialize_with(&mut self, capabilities: Value) -> Value {
        let params = json!({"protocolVersion": "2025-11-25", "capabilities": capabilities,
                            "clientInfo": {"name": "test", "version": "1"}});
        let answer = self.request(0, "initialize", params).await;
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        answer
    }
}
