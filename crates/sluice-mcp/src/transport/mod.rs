//! Transports carry a [`Server`](crate::Server)'s sessions over a byte stream.
//!
//! - [`stdio`]: newline-delimited JSON on standard input and output, one session.

pub mod stdio;
