//! `postgres_server` over stdio as a test drives it: [`StdioServer`].

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

/// `postgres_server` over stdio, spoken to one request at a time.
pub(crate) struct StdioServer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    next_id: i64,
}

impl StdioServer {
    /// Starts it with `args` (no `DATABASE_URL` from the environment) and initialises.
    pub(crate) fn start(args: &[String]) -> StdioServer {
        let mut child = Command::new(super::example_binary())
            .args(args)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut server = StdioServer {
            child,
            stdin,
            lines,
            next_id: 0,
        };
        server.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}),
        );
        writeln!(
            server.stdin,
            "{}",
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
        )
        .unwrap();
        server
    }

    /// Sends a request and waits for its answer (at most 30 s).
    pub(crate) fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        self.answer_to(id)
    }

    /// Sends a request without waiting for its answer; returns its id.
    pub(crate) fn send(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let line =
            json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params});
        writeln!(self.stdin, "{line}").unwrap();
        self.next_id
    }

    /// Sends a notification.
    pub(crate) fn notify(&mut self, method: &str, params: Value) {
        let line = json!({"jsonrpc": "2.0", "method": method, "params": params});
        writeln!(self.stdin, "{line}").unwrap();
    }

    /// The answer to request `id` (at most 30 s), passing over other messages.
    pub(crate) fn answer_to(&mut self, id: i64) -> Value {
        loop {
            let message = self.next_message();
            if message["id"] == id {
                return message;
            }
        }
    }

    /// The next message from the server, whatever it is (at most 30 s).
    pub(crate) fn next_message(&mut self) -> Value {
        let got = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the server answers within 30 s");
        serde_json::from_str(&got).unwrap()
    }

    /// The process's id.
    #[allow(dead_code)] // not every test binary looks at the process
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the process a signal (`TERM`, `INT`, …) with kill(1).
    pub(crate) fn signal(&self, name: &str) {
        super::signal(self.child.id(), name);
    }

    /// Waits for the process to exit (it is not told to): its exit code and standard
    /// error.
    pub(crate) fn wait(self) -> (Option<i32>, String) {
        let output = self.child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// The result of `queryDatabase`, on `database` when given.
    pub(crate) fn query(&mut self, sql: &str, database: Option<&str>) -> Value {
        let mut arguments = json!({"sql": sql});
        if let Some(database) = database {
            arguments["database"] = database.into();
        }
        self.request(
            "tools/call",
            json!({"name": "queryDatabase", "arguments": arguments}),
        )["result"]
            .clone()
    }

    /// Closes standard input and waits: its exit code and standard error.
    pub(crate) fn finish_status(self) -> (Option<i32>, String) {
        drop(self.stdin);
        let output = self.child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Closes standard input and waits: whether it exited 0, and its standard error.
    pub(crate) fn finish(self) -> (bool, String) {
        drop(self.stdin);
        let output = self.child.wait_with_output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}
