//! A loopback TCP relay in front of the test server that a test can take down and bring
//! back: [`Relay`]. Stopped, its port refuses connections and every relayed connection
//! is cut, as a PostgreSQL server that was stopped behaves to its clients. Frozen, it
//! accepts and holds connections but passes no byte either way, as a server stopped
//! with SIGSTOP (or a network that drops every packet) behaves.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Where a relay forwards to.
#[derive(Debug, Clone)]
pub(crate) enum Upstream {
    Tcp(String, u16),
    Unix(PathBuf),
}

/// A relay to the test server on a loopback port of its own, started running. Dropping
/// it stops it for good.
#[derive(Debug)]
pub struct Relay {
    port: u16,
    up: watch::Sender<Phase>,
    frozen: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Stopped,
    Gone,
}

impl Relay {
    pub(crate) fn start(upstream: Upstream) -> std::io::Result<Relay> {
        // The port is chosen now, so that it stays the same across stop and resume.
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = probe.local_addr()?.port();
        drop(probe);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (up, phases) = watch::channel(Phase::Running);
        let (frozen, frozen_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            runtime.block_on(supervise(port, upstream, phases, frozen_rx, ready_tx));
        });
        // The first bind's outcome: a relay that cannot listen is an error now.
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Relay {
                port,
                up,
                frozen,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::other("the relay's thread ended")),
        }
    }

    /// The loopback port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Takes the database down: the port refuses connections and open ones are cut.
    /// Returns once that holds.
    pub fn stop(&self) {
        self.switch(Phase::Stopped);
    }

    /// Brings it back on the same port. Returns once the port accepts again.
    pub fn resume(&self) {
        self.switch(Phase::Running);
    }

    /// Stalls the database: connections are accepted and kept, and nothing passes
    /// either way until [`thaw`](Self::thaw) (what was sent meanwhile then arrives).
    pub fn freeze(&self) {
        let _ = self.frozen.send(true);
    }

    /// Lets bytes pass again after [`freeze`](Self::freeze).
    pub fn thaw(&self) {
        let _ = self.frozen.send(false);
    }

    fn switch(&self, phase: Phase) {
        let _ = self.up.send(phase);
        // The supervisor acknowledges by making the port refuse or accept.
        for _ in 0..200 {
            let accepts = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            if accepts == (phase == Phase::Running) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.up.send(Phase::Gone);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn supervise(
    port: u16,
    upstream: Upstream,
    mut phases: watch::Receiver<Phase>,
    frozen: watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<std::io::Result<()>>,
) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut first = Some(ready);
    loop {
        let phase = *phases.borrow_and_update();
        match phase {
            Phase::Gone => return,
            Phase::Stopped => {
                if phases.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Phase::Running => {}
        }
        let listener = match TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(e) => {
                if let Some(ready) = first.take() {
                    let _ = ready.send(Err(e));
                    return;
                }
                // Rebinding the same port right after closing can fail briefly.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        if let Some(ready) = first.take() {
            let _ = ready.send(Ok(()));
        }
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                changed = phases.changed() => {
                    if changed.is_err() || *phases.borrow() != Phase::Running {
                        break;
                    }
                }
                accepted = listener.accept() => {
                    if let Ok((client, _)) = accepted {
                        connections.spawn(relay(client, upstream.clone(), frozen.clone()));
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        // Down: no listener, and every connection cut.
        drop(listener);
        connections.shutdown().await;
    }
}

async fn relay(client: TcpStream, upstream: Upstream, frozen: watch::Receiver<bool>) {
    let _ = client.set_nodelay(true);
    match upstream {
        Upstream::Tcp(host, port) => {
            if let Ok(server) = TcpStream::connect((host.as_str(), port)).await {
                let _ = server.set_nodelay(true);
                both_ways(client, server, frozen).await;
            }
        }
        Upstream::Unix(path) => {
            if let Ok(server) = UnixStream::connect(path).await {
                both_ways(client, server, frozen).await;
            }
        }
    }
}

async fn both_ways<S>(client: TcpStream, server: S, frozen: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (client_read, client_write) = tokio::io::split(client);
    let (server_read, server_write) = tokio::io::split(server);
    tokio::join!(
        pump(client_read, server_write, frozen.clone()),
        pump(server_read, client_write, frozen),
    );
}

/// Copies one way, holding each chunk while the relay is frozen.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while *frozen.borrow_and_update() {
            if frozen.changed().await.is_err() {
                return;
            }
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
