//! A loopback TCP relay in front of the test server that a test can take down and bring
//! back: [`Relay`]. Stopped, its port refuses connections and every relayed connection
//! is cut, as a PostgreSQL server that was stopped behaves to its clients.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;

use tokio::io::copy_bidirectional;
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
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            runtime.block_on(supervise(port, upstream, phases, ready_tx));
        });
        // The first bind's outcome: a relay that cannot listen is an error now.
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Relay {
                port,
                up,
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
                        connections.spawn(relay(client, upstream.clone()));
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

async fn relay(mut client: TcpStream, upstream: Upstream) {
    let _ = client.set_nodelay(true);
    match upstream {
        Upstream::Tcp(host, port) => {
            if let Ok(mut server) = TcpStream::connect((host.as_str(), port)).await {
                let _ = server.set_nodelay(true);
                let _ = copy_bidirectional(&mut client, &mut server).await;
            }
        }
        Upstream::Unix(path) => {
            if let Ok(mut server) = UnixStream::connect(path).await {
                let _ = copy_bidirectional(&mut client, &mut server).await;
            }
        }
    }
}
