//! The built `everything_server` over HTTP, attacked over raw sockets the way the outside
//! fault run did — bodies that never finish, headers sent a byte at a time, idle sockets
//! past the descriptor limit, a flood of sessions, a storm of large bodies — while the
//! official Python SDK, a well-behaved client in both eras, keeps calling a tool and
//! opening new sessions. Every one of its calls must succeed in every phase; its latency
//! per phase is printed (docs/reliability.md quotes it), and the server's memory
//! high-water mark stays bounded.
//!
//! The attackers use other loopback addresses than the client (127.0.0.2 and up): the
//! per-address limits are what keep them apart, as they would for remote peers.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

/// The server's descriptor limit for the run: idle sockets alone would exhaust it.
const DESCRIPTORS: u32 = 1024;

/// The server, started under a descriptor limit; its URL.
fn start_server() -> (common::Running, String) {
    let binary = common::example_named("everything_server");
    let mut command = Command::new("sh");
    command.args([
        "-c",
        &format!("ulimit -n {DESCRIPTORS} && exec \"$0\" --transport http --bind 127.0.0.1:0"),
        binary.to_str().unwrap(),
    ]);
    common::start_http(command)
}

/// The Python client: its stdin names phases, its stdout reports them.
struct Steady {
    child: Child,
    phases: ChildStdin,
}

impl Steady {
    fn start(python: &std::path::Path, url: &str) -> Self {
        let script =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/steady.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let phases = child.stdin.take().unwrap();
        Steady { child, phases }
    }

    fn phase(&mut self, name: &str) {
        writeln!(self.phases, "{name}").unwrap();
        self.phases.flush().unwrap();
    }

    /// Ends the run; every phase's report.
    fn finish(self) -> Vec<Value> {
        let Steady { child, phases } = self;
        drop(phases);
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "the Python client failed");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

/// A connection from the loopback address `from`, or `None` when none can be opened.
async fn connect(from: [u8; 4], to: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((from, 0))).ok()?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
        .await
        .ok()?
        .ok()
}

/// True while the server has neither closed nor answered `stream`.
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 512];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

fn post_head(length: usize) -> String {
    format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: application/json, text/event-stream\r\n\
         content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    )
}

/// 1,100 POSTs whose bodies never finish, from one address: at most the per-client
/// connection limit (256) stay open; the rest are refused at once.
async fn slow_bodies(to: SocketAddr) -> String {
    let mut held = Vec::new();
    for _ in 0..1_100 {
        if let Some(mut stream) = connect([127, 0, 0, 2], to).await {
            let _ = stream.write_all(post_head(100_000).as_bytes()).await;
            let _ = stream.write_all(b"{\"jsonrpc\":").await;
            held.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let open = held.iter().filter(|s| still_open(s)).count();
    assert!(open <= 256, "{open} unfinished bodies held open");
    format!("{} opened, {open} held by the server", held.len())
}

/// 400 connections sending a header line a second: all closed by the header deadline.
async fn slowloris(to: SocketAddr) -> String {
    let mut sockets = Vec::new();
    for _ in 0..400 {
        if let Some(mut stream) = connect([127, 0, 0, 3], to).await {
            let _ = stream
                .write_all(b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n")
                .await;
            sockets.push(stream);
        }
    }
    let start = Instant::now();
    let mut line = 0;
    while sockets.iter().any(still_open) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "slowloris sockets kept open for a minute"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        line += 1;
        for stream in &mut sockets {
            let _ = stream
                .write_all(format!("x-drip-{line}: 1\r\n").as_bytes())
                .await;
        }
    }
    format!(
        "{} opened, all closed {:.1} s after the first header line",
        sockets.len(),
        start.elapsed().as_secs_f64()
    )
}

/// 1,500 sockets that send nothing, from six addresses, past the server's 1,024
/// descriptors: the server closes the idle ones to make room and keeps accepting.
async fn idle_sockets(to: SocketAddr) -> String {
    let mut sockets = Vec::new();
    for last in 4..10u8 {
        for _ in 0..250 {
            if let Some(stream) = connect([127, 0, 0, last], to).await {
                sockets.push(stream);
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let open = sockets.iter().filter(|s| still_open(s)).count();
    assert!(
        open < DESCRIPTORS as usize,
        "{open} idle sockets held, at the descriptor limit"
    );
    format!("{} opened, {open} still held", sockets.len())
}

/// 2,000 `initialize`s from one address over 8 keep-alive connections: 256 sessions, then
/// 429 with Retry-After.
async fn session_flood(to: SocketAddr) -> String {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"flood","version":"1"}}}"#;
    let request = format!("{}{body}", post_head(body.len()));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = connect([127, 0, 0, 10], to).await.unwrap();
            let mut statuses = Vec::new();
            for _ in 0..250 {
                stream.write_all(request.as_bytes()).await.unwrap();
                statuses.push(read_status(&mut stream).await);
            }
            statuses
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for task in tasks {
        for (status, retry_after) in task.await.unwrap() {
            match status {
                200 => ok += 1,
                429 => {
                    assert!(retry_after, "a 429 without Retry-After");
                    refused += 1;
                }
                other => panic!("initialize answered {other}"),
            }
        }
    }
    assert_eq!(ok, 256, "sessions one address opened");
    format!("{ok} sessions opened, {refused} refused with 429")
}

/// A response's status and whether it carried `Retry-After` (reading it whole).
async fn read_status(stream: &mut TcpStream) -> (u16, bool) {
    use tokio::io::AsyncReadExt;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buffer.len() >= end + 4 + length {
                let status = head[9..12].parse().unwrap();
                return (status, head.contains("\r\nretry-after:"));
            }
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed mid-response");
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// 48 bodies of 4 MiB at once: past the 64 MiB budget some are refused with 503.
async fn large_bodies(to: SocketAddr) -> String {
    let json = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let size = 4 * 1024 * 1024 - 1024;
    let body = format!("{json}{}", " ".repeat(size - json.len()));
    let request = std::sync::Arc::new(format!("{}{body}", post_head(body.len())));
    let mut tasks = Vec::new();
    for _ in 0..48 {
        let request = std::sync::Arc::clone(&request);
        tasks.push(tokio::spawn(async move {
            let mut stream = connect([127, 0, 0, 11], to).await?;
            // A refused body closes the connection before all of it is written.
            if stream.write_all(request.as_bytes()).await.is_err() {
                return Some(503);
            }
            Some(read_status(&mut stream).await.0)
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for task in tasks {
        if let Ok(Some(status)) = task.await {
            *statuses.entry(status).or_insert(0) += 1;
        }
    }
    format!("statuses {statuses:?}")
}

#[test]
fn a_well_behaved_client_is_served_through_every_attack() {
    let Some(python) = common::python() else {
        return;
    };
    let (server, url) = start_server();
    let to: SocketAddr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut client = Steady::start(&python, &url);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut outcomes = Vec::new();
    client.phase("baseline");
    std::thread::sleep(Duration::from_secs(3));
    for (name, attack) in [
        ("slow bodies", 0),
        ("slowloris", 1),
        ("idle sockets", 2),
        ("session flood", 3),
        ("large bodies", 4),
    ] {
        client.phase(name);
        let outcome = runtime.block_on(async {
            match attack {
                0 => slow_bodies(to).await,
                1 => slowloris(to).await,
                2 => idle_sockets(to).await,
                3 => session_flood(to).await,
                _ => large_bodies(to).await,
            }
        });
        // The client goes on a moment longer under what the attack left behind.
        std::thread::sleep(Duration::from_secs(1));
        outcomes.push((name, outcome));
    }
    let peak = common::high_water_mib(server.0.id()).unwrap();
    let reports = client.finish();
    drop(server);
    for (name, outcome) in &outcomes {
        eprintln!("attack {name}: {outcome}");
    }
    eprintln!("server peak memory (VmHWM): {peak:.1} MiB");
    let mut phases = 0;
    for report in &reports {
        eprintln!("well-behaved client: {report}");
        if report["phase"] == "start" {
            continue;
        }
        phases += 1;
        assert_eq!(report["failures"], Value::Array(Vec::new()), "{report}");
        assert!(report["calls"].as_u64().unwrap() > 0, "{report}");
    }
    assert_eq!(phases, outcomes.len() + 1, "{reports:?}");
    assert!(peak < 200.0, "the server's memory peaked at {peak:.1} MiB");
}
