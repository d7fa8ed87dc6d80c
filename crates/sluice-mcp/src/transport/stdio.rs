//! MCP over standard input and output: one JSON message per line.
//!
//! Nothing but protocol is ever written to standard output (logs go to standard error
//! through `tracing`). Requests are handled concurrently, at most
//! [`MAX_IN_FLIGHT`] at a time, so a flood cannot exhaust memory. At end of input the
//! transport stops reading, lets the requests in flight finish, writes their answers and
//! returns.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};

use crate::context::Extensions;
use crate::server::Server;
use crate::session::Session;

/// The most requests handled at once on one connection.
pub const MAX_IN_FLIGHT: usize = 64;

/// The longest line accepted (16 MiB); a longer one is answered with a parse error.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Serves `server` on this process's standard input and output until end of input.
///
/// # Errors
///
/// Fails only when standard output cannot be written.
pub async fn serve(server: &Server, extensions: Extensions) -> std::io::Result<()> {
    serve_on(server, extensions, tokio::io::stdin(), tokio::io::stdout()).await
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
    mut output: W,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // Responses and notifications share one queue, so a handler's progress reaches the
    // client before its answer.
    let (session, mut to_write) = Session::new(server, extensions);
    let responses = session.outgoing();
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut lines = BufReader::new(input);
    let mut line = String::new();
    let mut reading = true;
    let mut in_flight = 0usize;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
    loop {
        tokio::select! {
            // Write whatever is ready first, so answers never wait behind input.
            biased;
            Some(text) = to_write.recv() => write_line(&mut output, &text).await?,
            Some(()) = done_rx.recv() => in_flight -= 1,
            read = lines.read_line(&mut line), if reading => {
                match read {
                    Ok(0) => reading = false,
                    Ok(_) => {
                        let text = std::mem::take(&mut line);
                        if text.trim().is_empty() { continue; }
                        if text.len() > MAX_LINE_BYTES {
                            let error = crate::jsonrpc::ErrorObject::new(crate::jsonrpc::PARSE_ERROR, "message too large");
                            write_line(&mut output, &crate::jsonrpc::error_response(None, &error)).await?;
                            continue;
                        }
                        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else { break };
                        in_flight += 1;
                        let session = session.clone();
                        let responses = responses.clone();
                        let done = done_tx.clone();
                        tokio::spawn(async move {
                            if let Some(answer) = session.handle(&text).await {
                                let _ = responses.send(answer);
                            }
                            drop(permit);
                            let _ = done.send(());
                        });
                    }
                    Err(e) => {
                        // Not UTF-8, or the pipe broke: answer what we can and stop reading.
                        tracing::warn!(error = %e, "stopped reading standard input");
                        reading = false;
                    }
                }
            }
        }
        if !reading && in_flight == 0 {
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

async fn write_line<W: AsyncWrite + Unpin>(output: &mut W, text: &str) -> std::io::Result<()> {
    output.write_all(text.as_bytes()).await?;
    output.write_all(b"\n").await?;
    output.flush().await
}
