//! A real HAProxy in front of several HTTP servers, started from the installed binary.
//!
//! Round-robin, with the 2025-11-25 era's sessions kept on the replica that created
//! them (the `Mcp-Session-Id` a response carries is stored and matched), health checks
//! on `/readyz` (so a replica is taken out while it drains or its database is down), and a retry on another replica when a connection cannot be made (a
//! replica that was killed) — the configuration docs/deploy.md shows.

use std::path::PathBuf;
use std::process::{Child, Command};

use crate::{Error, cluster, process};

/// A running HAProxy; stopped (and its files removed) when dropped.
#[derive(Debug)]
pub struct HaProxy {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl HaProxy {
    /// The configuration for a front end on `port` and a back end of `replicas` (ports on
    /// 127.0.0.1), as the tests use it.
    pub fn config(port: u16, replicas: &[u16]) -> String {
        let servers: String = replicas
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!("    server r{i} 127.0.0.1:{p} check inter 300ms fall 1 rise 1\n")
            })
            .collect();
        format!(
            "global\n    maxconn 2000\n\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n    \
             timeout server 60s\n    option redispatch\n    retries 3\n    \
             retry-on conn-failure\n\n\
             frontend mcp\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\n\
             backend replicas\n    balance roundrobin\n    option httpchk GET /readyz\n    \
             stick-table type string len 128 size 100k expire 30m\n    \
             stick match req.hdr(mcp-session-id)\n    \
             stick store-response res.hdr(mcp-session-id)\n{servers}"
        )
    }

    /// Starts HAProxy on `port` in front of `replicas`.
    ///
    /// # Errors
    ///
    /// [`Error::NoServer`] when HAProxy is not installed (`apt-get install haproxy`) or
    /// does not start; the message carries what it printed.
    pub fn start(port: u16, replicas: &[u16]) -> Result<HaProxy, Error> {
        let binary = cluster::find_program("haproxy").ok_or_else(|| {
            Error::NoServer("haproxy is not installed (apt-get install haproxy)".to_owned())
        })?;
        let dir =
            std::env::temp_dir().join(format!("sluice-haproxy-{}-{port}", std::process::id()));
        let io = |e: std::io::Error| Error::NoServer(format!("haproxy's directory: {e}"));
        std::fs::create_dir_all(&dir).map_err(io)?;
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, Self::config(port, replicas)).map_err(io)?;
        let mut command = Command::new(binary);
        command.arg("-db").arg("-f").arg(&path);
        let child = match process::spawn_listening(command, "haproxy", port, String::new) {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        Ok(HaProxy { child, dir, port })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
