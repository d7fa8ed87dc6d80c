//! MCP over standard input and output: one JSON message per line.
//!
//! Nothing but protocol is ever written to standard output (logs go to standard error
//! through `tracing`). Requests are handled concurrently, at most [`MAX_IN_FLIGHT`] at a
//! time; more wait in a queue of at most [`MAX_QUEUED`] requests and [`MAX_BUFFERED_BYTES`]
//! in all, and past that a request is answered at once with an error saying the server
//! is busy, so a flood cannot exhaust memory. Reading never stops for the bound:
//! notifications (a cancel) and the client's answers to the server's own requests
//! (sampling, elicitation) are always read and routed, and answers always written. At
//! end of input the transport stops reading, lets the requests in flight finish, writes
//! their answers and returns.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};

use crate::context::Extensions;
use crate::jsonrpc::{self, ErrorObject, PARSE_ERROR};
use crate::server::Server;
use crate::session::Session;

/// The most requests handled at once on one connection.
pub const MAX_IN_FLIGHT: usize = 64;

/// The most requests waiting for one of the [`MAX_IN_FLIGHT`] slots.
pub const MAX_QUEUED: usize = 1024;

/// The most bytes of requests held at once, handled and waiting (64 MiB).
pub const MAX_BUFFERED_BYTES: usize = 64 * 1024 * 1024;

/// The error code of a request refused because the server is at its bounds.
pub const BUSY: i64 = -32000;

/// How long requests in flight have to finish once input ends ([`serve`], [`serve_on`]).
pub const DEFAULT_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The longest line accepted (16 MiB); a longer one is answered with a parse error.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Serves `server` on this process's standard input and output until end of input.
///
/// # Errors
///
/// Fails only when standard output cannot be written.
pub async fn serve(server: &Server, extensions: Extensions) -> std::io::Result<()> {
    serve_until(server, extensions, std::future::pending(), DEFAULT_DRAIN).await
}

/// [`serve`] until end of input or until `stop` completes (a signal, say). Either way
/// reading stops, requests already accepted have `drain` to finish, and then those
/// still running are stopped and answered with [`SHUTTING_DOWN`](crate::SHUTTING_DOWN)
/// (their statements cancelled, where their handlers hold any). When standard output
/// breaks, or once input has ended its reader is seen to close (the client went away:
/// killed, it closes both at once), everything in flight is stopped at once.
///
/// # Errors
///
/// Fails only when standard output cannot be written.
pub async fn serve_until(
    server: &Server,
    extensions: Extensions,
    stop: impl Future<Output = ()>,
    drain: std::time::Duration,
) -> std::io::Result<()> {
    let input: Box<dyn AsyncRead + Unpin + Send> = match nonblocking::stdin() {
        Some(pipe) => Box::new(pipe),
        None => Box::new(tokio::io::stdin()),
    };
    let output: Box<dyn AsyncWrite + Unpin + Send> = match nonblocking::stdout() {
        Some(pipe) => Box::new(pipe),
        None => Box::new(tokio::io::stdout()),
    };
    serve_watched(
        server,
        extensions,
        input,
        output,
        stop,
        drain,
        nonblocking::output_gone,
    )
    .await
}

/// Standard input and output as non-blocking pipes, when they are pipes (as when an MCP
/// client launches the server). Tokio's `stdin()`/`stdout()` hand every read and write to
/// a blocking thread, which costs a thread hand-off per message; a pipe registered with
/// the reactor does not. Terminals and files keep the portable path.
#[cfg(unix)]
mod nonblocking {
    use std::os::fd::AsFd;

    use tokio::net::unix::pipe;

    pub(super) fn stdin() -> Option<pipe::Receiver> {
        let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
        pipe::Receiver::from_owned_fd(fd).ok()
    }

    pub(super) fn stdout() -> Option<pipe::Sender> {
        let fd = std::io::stdout().as_fd().try_clone_to_owned().ok()?;
        pipe::Sender::from_owned_fd(fd).ok()
    }

    /// True when standard output is a pipe or socket whose reading end has closed: the
    /// client is gone, and nothing written would reach anyone.
    pub(super) fn output_gone() -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let stdout = std::io::stdout();
        let mut fds = [PollFd::new(&stdout, PollFlags::OUT)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        poll(&mut fds, Some(&now)).is_ok()
            && fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP)
    }
}

#[cfg(not(unix))]
mod nonblocking {
    pub(super) fn stdin() -> Option<tokio::io::Stdin> {
        None
    }

    pub(super) fn stdout() -> Option<tokio::io::Stdout> {
        None
    }

    pub(super) fn output_gone() -> bool {
        false
    }
}

/// Serves `server` on any pair of byte streams (a pipe, a socket, an in-memory duplex):
/// the in-memory transport for tests and embedding.
///
/// # Errors
///
/// Fails only when `output` cannot be written.
pub async fn serve_on<R, W>(
    server: &Server,
    extensions: Extensions,
    input: R,
    output: W,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    serve_on_until(
        server,
        extensions,
        input,
        output,
        std::future::pending(),
        DEFAULT_DRAIN,
    )
    .await
}

/// [`serve_on`] with a `stop` future and a `drain` time, as [`serve_until`].
///
/// # Errors
///
/// Fails only when `output` cannot be written.
pub async fn serve_on_until<R, W>(
    server: &Server,
    extensions: Extensions,
    input: R,
    output: W,
    stop: impl Future<Output = ()>,
    drain: std::time::Duration,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    serve_watched(server, extensions, input, output, stop, drain, || false).await
}

/// How often, once reading has stopped, the loop asks whether the output's reader is
/// gone.
const GONE_CHECK: std::time::Duration = std::time::Duration::from_millis(50);

/// The loop; `output_gone` tells, once reading has stopped, whether the output's reader
/// has gone (a client killed closes both ends at once: its requests then stop at once,
/// instead of running out the drain time for nobody).
async fn serve_watched<R, W>(
    server: &Server,
    extensions: Extensions,
    input: R,
    mut output: W,
    stop: impl Future<Output = ()>,
    drain: std::time::Duration,
    output_gone: fn() -> bool,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut stop = std::pin::pin!(stop);
    let mut stopping = false;
    // Set once reading stopped: when what is still running gets stopped.
    let mut deadline: Option<tokio::time::Instant> = None;
    // Responses and notifications share one queue, so a handler's progress reaches the
    // client before its answer.
    let (session, mut to_write) = Session::new(server, extensions);
    let responses = session.outgoing();
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut lines = CappedLines::new(BufReader::new(input), MAX_LINE_BYTES);
    let mut reading = true;
    let mut in_flight = 0usize;
    let mut admission = Admission::default();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<usize>();
    let spawn = |text: String, permit: Option<tokio::sync::OwnedSemaphorePermit>| {
        let session = session.clone();
        let responses = responses.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let held = if permit.is_some() { text.len() } else { 0 };
            if let Some(answer) = session.handle(&text).await {
                let _ = responses.send(answer);
            }
            drop(permit);
            let _ = done.send(held);
        });
    };
    loop {
        tokio::select! {
            // Write whatever is ready first, so answers never wait behind input.
            biased;
            Some(text) = to_write.recv() => {
                // Write everything that is ready in one go: one system call for many
                // messages under load, and never a message split from its newline.
                let mut batch = text;
                batch.push('\n');
                while batch.len() < 64 * 1024 {
                    match to_write.try_recv() {
                        Ok(more) => {
                            batch.push_str(&more);
                            batch.push('\n');
                        }
                        Err(_) => break,
                    }
                }
                let written = match output.write_all(batch.as_bytes()).await {
                    Ok(()) => output.flush().await,
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    // The client is gone: stop everything now, and let the stopped
                    // handlers clean up (cancel their statements) before returning.
                    tracing::warn!(error = %e, "standard output broke: stopping every request");
                    stop_all(&session, &mut done_rx, in_flight).await;
                    return Err(e);
                }
            }
            () = tokio::time::sleep(GONE_CHECK), if !reading && in_flight > 0 => {
                if output_gone() {
                    tracing::warn!(in_flight, "the client is gone (its end of standard output closed): stopping every request");
                    stop_all(&session, &mut done_rx, in_flight).await;
                    return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
                }
            }
            () = &mut stop, if !stopping => {
                stopping = true;
                tracing::info!(in_flight, "stopping: no new requests; those in flight have {} s", drain.as_secs());
                reading = false;
                deadline.get_or_insert_with(|| tokio::time::Instant::now() + drain);
                session.end_subscriptions();
            }
            () = sleep_until(deadline), if deadline.is_some() && in_flight + admission.queue.len() > 0 => {
                // Out of time: what runs is stopped (and answers so), what waits is
                // answered without running.
                tracing::warn!(in_flight, waiting = admission.queue.len(), "drain time over: stopping what is left");
                deadline = None;
                session.close();
                for (id, text) in admission.queue.drain(..) {
                    admission.bytes -= text.len();
                    let error = ErrorObject::new(crate::SHUTTING_DOWN,
                        "the server is shutting down: this request was not started; send it again once the server is back");
                    let _ = responses.send(jsonrpc::error_response(Some(&id), &error));
                }
            }
            Some(held) = done_rx.recv() => {
                in_flight -= 1;
                admission.bytes -= held;
                // A slot is free: the longest-waiting request takes it.
                while !admission.queue.is_empty() {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else { break };
                    let Some((_, text)) = admission.queue.pop_front() else { break };
                    in_flight += 1;
                    spawn(text, Some(permit));
                }
            }
            read = lines.next(), if reading => {
                match read {
                    Ok(Line::End) => {
                        reading = false;
                        deadline.get_or_insert_with(|| tokio::time::Instant::now() + drain);
                        // Listen streams would never end: close them with their results.
                        session.end_subscriptions();
                    }
                    Ok(Line::TooLong) => {
                        let error = ErrorObject::new(PARSE_ERROR, "message too large");
                        write_line(&mut output, &jsonrpc::error_response(None, &error)).await?;
                    }
                    Ok(Line::Complete(bytes)) => {
                        let Ok(text) = String::from_utf8(bytes) else {
                            let error = ErrorObject::new(PARSE_ERROR, "parse error: the message is not UTF-8");
                            write_line(&mut output, &jsonrpc::error_response(None, &error)).await?;
                            continue;
                        };
                        if text.trim().is_empty() { continue; }
                        // The common case: a free slot and room in the byte budget.
                        if admission.queue.is_empty() && admission.fits(text.len())
                            && let Ok(permit) = Arc::clone(&permits).try_acquire_owned()
                        {
                            admission.bytes += text.len();
                            in_flight += 1;
                            spawn(text, Some(permit));
                            continue;
                        }
                        match peek(&text) {
                            // A notification, a response, or not JSON-RPC at all: never
                            // held back (the session answers what needs an answer).
                            // Handled here and now: they are quick (no database), and
                            // holding none of them keeps a flood of them bounded.
                            Peeked::Other => {
                                if let Some(answer) = session.handle(&text).await {
                                    let _ = responses.send(answer);
                                }
                            }
                            Peeked::Request(id) => {
                                if admission.queue.len() < MAX_QUEUED && admission.fits(text.len()) {
                                    admission.bytes += text.len();
                                    admission.queue.push_back((id, text));
                                } else {
                                    let error = ErrorObject::new(BUSY, format!(
                                        "server busy: {MAX_IN_FLIGHT} requests are in flight and \
                                         {} waiting; send this one again when an answer arrives",
                                        admission.queue.len()
                                    ));
                                    let _ = responses.send(jsonrpc::error_response(Some(&id), &error));
                                }
                            }
                        }
                    }
                    Err(e) => {
                        // The pipe broke: answer what is in flight and stop reading.
                        tracing::warn!(error = %e, "stopped reading standard input");
                        reading = false;
                        deadline.get_or_insert_with(|| tokio::time::Instant::now() + drain);
                        session.end_subscriptions();
                    }
                }
            }
        }
        if !reading && in_flight == 0 && admission.queue.is_empty() {
            break;
        }
    }
    // Everything answered: flush what is queued and end the session.
    while let Ok(text) = to_write.try_recv() {
        write_line(&mut output, &text).await?;
    }
    session.close();
    output.flush().await
}

/// Stops every request now and waits (at most 5 s) for their handlers to clean up
/// (cancel their statements).
async fn stop_all(
    session: &Session,
    done_rx: &mut mpsc::UnboundedReceiver<usize>,
    mut in_flight: usize,
) {
    session.close();
    let settle = tokio::time::sleep(std::time::Duration::from_secs(5));
    tokio::pin!(settle);
    while in_flight > 0 {
        tokio::select! {
            Some(_) = done_rx.recv() => in_flight -= 1,
            () = &mut settle => break,
        }
    }
}

/// The requests waiting for a slot, and the bytes held.
#[derive(Default)]
struct Admission {
    /// Each with its id, to answer it if it never runs.
    queue: VecDeque<(jsonrpc::RequestId, String)>,
    /// Bytes of requests handled (with a slot) and waiting.
    bytes: usize,
}

impl Admission {
    fn fits(&self, len: usize) -> bool {
        self.bytes + len <= MAX_BUFFERED_BYTES
    }
}

/// What a line is, read only when the bounds are reached.
enum Peeked {
    /// A request, with its id.
    Request(jsonrpc::RequestId),
    /// Anything else: a notification, a response, a batch, not JSON.
    Other,
}

fn peek(text: &str) -> Peeked {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        id: Option<jsonrpc::RequestId>,
        #[serde(default)]
        method: Option<String>,
    }
    match serde_json::from_str::<Head>(text) {
        // A ping is answered at once, whatever is in flight: it asks whether the server
        // is alive, and a busy server is.
        Ok(Head {
            id: Some(id),
            method: Some(method),
        }) if method != "ping" => Peeked::Request(id),
        _ => Peeked::Other,
    }
}

/// What one call to [`CappedLines::next`] found.
enum Line {
    /// A line, without its newline.
    Complete(Vec<u8>),
    /// A line longer than the cap was skipped, up to and including its newline.
    TooLong,
    /// End of input.
    End,
}

/// The lines of a buffered input, each capped at `max` bytes without ever holding more
/// than that of it: a longer line is skipped as it streams in, so a client cannot exhaust
/// memory with one.
///
/// [`next`](CappedLines::next) is cancel-safe, which the session loop needs, since it
/// drops the read whenever an answer is ready to write: the part of a line read so far
/// lives here, not in the future, so a line that arrives in pieces is never cut.
struct CappedLines<R> {
    input: R,
    line: Vec<u8>,
    too_long: bool,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> CappedLines<R> {
    fn new(input: R, max: usize) -> Self {
        CappedLines {
            input,
            line: Vec::new(),
            too_long: false,
            max,
        }
    }

    async fn next(&mut self) -> std::io::Result<Line> {
        loop {
            // The only await: `fill_buf` consumes nothing, and everything below runs
            // to the next return or loop without yielding.
            let available = self.input.fill_buf().await?;
            if available.is_empty() {
                // End of input; a last line without a newline still counts.
                return Ok(if std::mem::take(&mut self.too_long) {
                    Line::TooLong
                } else if self.line.is_empty() {
                    Line::End
                } else {
                    Line::Complete(std::mem::take(&mut self.line))
                });
            }
            let (chunk, found) = match available.iter().position(|b| *b == b'\n') {
                Some(at) => (&available[..at], Some(at)),
                None => (available, None),
            };
            if !self.too_long {
                if self.line.len() + chunk.len() > self.max {
                    self.too_long = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            let used = found.map_or(available.len(), |at| at + 1);
            self.input.consume(used);
            if found.is_some() {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(if std::mem::take(&mut self.too_long) {
                    Line::TooLong
                } else {
                    Line::Complete(line)
                });
            }
        }
    }
}

/// Completes at `deadline`; never without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn write_line<W: AsyncWrite + Unpin>(output: &mut W, text: &str) -> std::io::Result<()> {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    output.write_all(line.as_bytes()).await?;
    output.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8], max: usize) -> Vec<Result<String, &'static str>> {
        let mut lines = CappedLines::new(BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        loop {
            match lines.next().await.unwrap() {
                Line::End => return out,
                Line::TooLong => out.push(Err("too long")),
                Line::Complete(line) => out.push(Ok(String::from_utf8(line).unwrap())),
            }
        }
    }

    #[tokio::test]
    async fn a_line_read_in_pieces_survives_a_cancelled_read() {
        // The session loop drops a pending read whenever an answer is ready to write.
        let (mut writer, reader) = tokio::io::duplex(64);
        let mut lines = CappedLines::new(BufReader::new(reader), 1024);
        for (piece, partial) in [("{\"a\":", true), ("1}", true), ("\n", false)] {
            writer.write_all(piece.as_bytes()).await.unwrap();
            let read = tokio::time::timeout(std::time::Duration::from_millis(20), lines.next());
            if partial {
                // No newline yet: the read waits and is dropped by the timeout.
                assert!(read.await.is_err());
            } else {
                let Ok(Ok(Line::Complete(line))) = read.await else {
                    panic!("the line was lost");
                };
                assert_eq!(line, b"{\"a\":1}");
            }
        }
        // The same for a line over the cap: it is skipped whole, not from the middle.
        let (mut writer, reader) = tokio::io::duplex(64);
        let mut lines = CappedLines::new(BufReader::new(reader), 4);
        writer.write_all(b"012345").await.unwrap();
        let read = tokio::time::timeout(std::time::Duration::from_millis(20), lines.next());
        assert!(read.await.is_err());
        writer.write_all(b"6789\nok\n").await.unwrap();
        assert!(matches!(lines.next().await.unwrap(), Line::TooLong));
        assert!(matches!(lines.next().await.unwrap(), Line::Complete(l) if l == b"ok"));
    }

    #[tokio::test]
    async fn long_lines_are_skipped_without_being_kept() {
        let input = b"short\r\nthis line is far too long\nok\nlast";
        assert_eq!(
            lines_of(input, 8).await,
            [
                Ok("short".to_owned()),
                Err("too long"),
                Ok("ok".to_owned()),
                Ok("last".to_owned())
            ]
        );
        assert_eq!(lines_of(b"", 8).await, []);
        assert_eq!(lines_of(b"123456789", 8).await, [Err("too long")]);
    }
}
