//! # sluice-mcp: the Model Context Protocol server core
//!
//! This crate speaks MCP — revision 2026-07-28 (stateless requests) and, on the same
//! endpoint or pipe, 2025-11-25 sessions (and 2025-06-18, 2025-03-26 and 2024-11-05 for
//! clients that ask for them) — so that the crates above it only say *what* a server
//! offers, never *how* it is carried. It knows nothing of databases.
//!
//! A request whose `_meta` names `io.modelcontextprotocol/protocolVersion` is served on
//! its own under 2026-07-28 ([`era`]); an `initialize` opens a legacy session. Handlers
//! are the same for both: the context answers for the request's era.
//!
//! ## Tour
//!
//! - [`jsonrpc`]: JSON-RPC 2.0 messages, ids and errors. Malformed input gets the right
//!   error (`-32700`, `-32600`, `-32601`, `-32602`, `-32603`) and the session goes on.
//! - [`protocol`]: the MCP types — versions, implementation info, tools and their
//!   annotations, content blocks (text, image, audio, resource links, embedded
//!   resources) with annotations, `_meta` and icons, resources, prompts.
//! - [`json`]: JSON written by hand for large results ([`json::JsonWriter`], valid by
//!   construction), copied into the response as it is
//!   ([`CallToolResult::with_structured_text`]).
//! - [`Server`] and [`ServerBuilder`]: what a server offers, shared by all its sessions.
//!   Tools are registered typed (an argument type deriving `Deserialize` and
//!   `JsonSchema`; bad arguments come back as a tool error the model can read) or
//!   dynamic (a JSON schema and a handler on `serde_json::Value`, added and removed at
//!   run time with `notifications/tools/list_changed`).
//! - [`Session`]: one client's lifecycle (`initialize`, version negotiation, `ping`),
//!   routing, cancellation of any request, pagination, log levels, resource
//!   subscriptions; independent of the transport.
//! - [`RequestContext`]: what a handler knows and can do — its request id, progress
//!   ([`RequestContext::progress`]) and log entries ([`RequestContext::log`]),
//!   cancellation, the client's capabilities, the trace context, and questions to the
//!   client awaited like any async call ([`RequestContext::ask`],
//!   [`RequestContext::create_message`] for sampling, [`RequestContext::elicit`],
//!   [`RequestContext::list_roots`]): a request to the client under 2025-11-25, an
//!   `input_required` round under 2026-07-28 ([`mrtr`]).
//! - [`era`]: the 2026-07-28 `_meta` keys, error codes and cache scopes;
//!   `server/discover`, `resultType`, cache hints ([`ServerBuilder::cache_hints`]) and
//!   `subscriptions/listen` are served by the session.
//! - [`Extensions`], [`Filter`] and [`ToolFilter`]: typed values other crates attach to a
//!   session (the caller's identity), and per-caller visibility of tools, resources and
//!   prompts; filters compose (all must allow).
//! - [`HandlerError`] (also named [`ToolError`], [`ResourceError`], [`PromptError`]): the
//!   one error of handlers; `?` converts any error into it.
//! - [`resources`], [`prompts`], [`completion`]: static resources and URI templates,
//!   prompts with arguments, argument completion.
//! - [`transport`]: stdio (and any byte stream; [`transport::memory`] for tests and
//!   embedding), and Streamable HTTP (feature `http`, on axum): sessionless 2026-07-28
//!   POSTs with header checks and per-request streams (closing one cancels its request),
//!   2025-11-25 sessions with resumable event streams, DNS-rebinding protection and a
//!   bearer-token hook.
//!
//! Every request is handled concurrently, with a bound on the work in flight per
//! connection; each message is serialised once; the tool registry is an immutable
//! snapshot swapped on change, so calls take no lock on it.
//!
//! ## A complete server
//!
//! ```no_run
//! use serde::Deserialize;
//! use sluice_mcp::{CallToolResult, Extensions, Server, ToolError};
//!
//! #[derive(Deserialize, schemars::JsonSchema)]
//! struct Add {
//!     /// The first addend.
//!     a: i64,
//!     /// The second addend.
//!     b: i64,
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = Server::builder("adder", "1.0.0")
//!         .instructions("Adds two integers.")
//!         .typed_tool("add", "Adds a and b.", |args: Add, _ctx| async move {
//!             let sum = args.a.checked_add(args.b).ok_or(ToolError::new("overflow"))?;
//!             Ok(CallToolResult::text(sum.to_string()))
//!         })
//!         .build();
//!     sluice_mcp::transport::stdio::serve(&server, Extensions::new()).await
//! }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

pub mod completion;
mod context;
pub mod era;
mod error;
mod filter;
pub mod json;
pub mod jsonrpc;
pub mod mrtr;
pub mod prompts;
pub mod protocol;
pub mod resources;
mod server;
mod session;
mod subscriptions;
mod trace;
pub mod transport;

pub use completion::{CompletionHandler, CompletionReference, CompletionRequest};
pub use context::{ClientRequestError, Extensions, LogLevel, RequestContext};
pub use error::{HandlerError, HandlerErrorKind, PromptError, ResourceError, ToolError};
pub use filter::{Filter, Item, ToolFilter};
pub use mrtr::InputRequest;
pub use prompts::PromptHandler;
pub use protocol::{
    Annotations, CallToolResult, Content, EmbeddedResource, GetPromptResult, Icon, MediaContent,
    Prompt, PromptArgument, PromptMessage, Resource, ResourceContents, ResourceTemplate, Role,
    TextContent, Tool, ToolAnnotations,
};
pub use resources::ResourceHandler;
pub use server::{Server, ServerBuilder, ToolFuture, ToolHandler, input_schema, typed_handler};
pub use session::{SHUTTING_DOWN, Session};
pub use tokio_util::sync::CancellationToken;
pub use trace::TraceContext;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
