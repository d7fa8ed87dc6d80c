//! Helpers shared by the example servers in this folder.
//!
//! The servers themselves are the `[[example]]` targets (`cargo run --example NAME`);
//! this library holds only what every one of them needs the same way.

/// Sends `tracing` output to standard error, filtered by `RUST_LOG` (default `info`).
///
/// Standard output belongs to the protocol when a server speaks MCP over stdio, so
/// nothing else may ever be written there. Calling this twice is harmless: the second
/// call leaves the first subscriber in place.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // An error here means a subscriber is already installed, which is what we want.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
