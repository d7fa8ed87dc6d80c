//! MCP over an in-memory pipe: a server inside your process, for tests and embedding.
//!
//! [`connect`] starts serving and hands back the client's end: write newline-delimited
//! JSON-RPC messages to it and read the answers, exactly as over stdio.
//!
//! ```
//! use sluice_mcp::{Extensions, Server};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let server = Server::builder("embedded", "1.0.0").build();
//! let (client, serving) = sluice_mcp::transport::memory::connect(&server, Extensions::new());
//! let (read, mut write) = tokio::io::split(client);
//! write.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n").await?;
//! let mut lines = BufReader::new(read).lines();
//! assert_eq!(lines.next_line().await?.as_deref(), Some(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
//! write.shutdown().await?; // end of input: the server answers what is left and stops
//! serving.await.expect("the server task")?;
//! # Ok(())
//! # }
//! ```

use tokio::io::DuplexStream;
use tokio::task::JoinHandle;

use crate::context::Extensions;
use crate::server::Server;

/// Bytes buffered in each direction before a writer waits for its reader.
const BUFFER: usize = 1 << 20;

/// Serves `server` on a new in-memory pipe, on the current tokio runtime. Returns the
/// client's end of the pipe and the serving task, which ends (after answering what is in
/// flight) when the client's end is closed for writing or dropped.
///
/// # Panics
///
/// Outside a tokio runtime, as `tokio::spawn` does.
pub fn connect(
    server: &Server,
    extensions: Extensions,
) -> (DuplexStream, JoinHandle<std::io::Result<()>>) {
    let (client, server_end) = tokio::io::duplex(BUFFER);
    let server = server.clone();
    let serving = tokio::spawn(async move {
        let (input, output) = tokio::io::split(server_end);
        super::stdio::serve_on(&server, extensions, input, output).await
    });
    (client, serving)
}
