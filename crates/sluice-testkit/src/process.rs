//! Starting a server program of the distribution (PgBouncer, HAProxy) and waiting until
//! it listens.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// Longest a program may take to listen.
const LISTEN_WITHIN: Duration = Duration::from_secs(10);

/// Spawns `command` (standard error kept for the message) and waits until `port` on
/// 127.0.0.1 accepts connections. When the program exits first, the error carries what
/// it printed and `log()`; when it does not listen in time, it is killed. Once it
/// listens, its standard error is read (and dropped) by a thread of its own until it
/// exits.
pub(crate) fn spawn_listening(
    mut command: Command,
    what: &str,
    port: u16,
    log: impl Fn() -> String,
) -> Result<Child, Error> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::NoServer(format!("cannot start {what}: {e}")))?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            return Err(Error::NoServer(format!(
                "{what} exited ({status}): {stderr}{}",
                log()
            )));
        }
        if started.elapsed() > LISTEN_WITHIN {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::NoServer(format!(
                "{what} did not listen within {} s",
                LISTEN_WITHIN.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // From now on nobody waits for what it prints, but a pipe nobody reads fills up
    // (64 KiB) and the next write blocks the program for good: PgBouncer logs every
    // login and disconnect to standard error as well as to its file, so under churn it
    // froze mid-test. The program's own log file keeps what matters.
    if let Some(mut pipe) = child.stderr.take() {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        });
    }
    Ok(child)
}
