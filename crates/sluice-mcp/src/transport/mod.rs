//! Transports carry a [`Server`](crate::Server)'s sessions over a byte stream.
//!
//! - [`stdio`]: newline-delimited JSON on standard input and output, one session; its
//!   [`serve_on`](stdio::serve_on) runs on any pair of byte streams.
//! - [`memory`]: the same over an in-memory pipe, for tests and embedding.
//! - `http` (feature `http`): Streamable HTTP, many sessions, resumable event streams.

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod memory;
pub mod stdio;
