//! # sluice-mcp: the Model Context Protocol server core
//!
//! This crate speaks MCP (revision 2025-11-25, and the older revisions a client may ask
//! for) so that the crates above it only have to say *what* a server offers, never *how*
//! it is carried. It knows nothing of databases or of GitHub.
//!
//! What it holds, one module per concern:
//!
//! - **JSON-RPC 2.0 and MCP types** as serde types: requests, results, notifications,
//!   errors and content blocks, tolerant of unknown fields where the specification is.
//! - **A server and its router**: lifecycle (`initialize`, version negotiation,
//!   capabilities), tools (typed and dynamic), resources, prompts, completion, logging,
//!   progress and cancellation.
//! - **Seams for other crates**: a tool trait, a per-request context carrying typed
//!   extensions (the caller's identity rides there), a per-session tool filter, and a
//!   token-verifier trait for the HTTP transport.
//! - **Transports**: stdio, in-memory, and Streamable HTTP behind the `http` feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
