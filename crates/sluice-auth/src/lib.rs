//! # sluice-auth: who is calling, and what may they do
//!
//! - [`Identity`]: the caller's login, name and e-mail, carried in the
//!   [`Extensions`](sluice_mcp::Extensions) of each request so every tool can see who
//!   asked.
//! - [`PermissionPolicy`]: who may read and who may write, from flags, environment
//!   variables or a file. Fail closed: a caller without an identity, or on no list when
//!   a readers list is set, gets [`Permission::None`].
//! - [`PolicyFilter`]: a [`Filter`](sluice_mcp::Filter) from the policy, so each caller
//!   sees only the tools, resources and prompts it may use; and
//!   [`PermissionPolicy::require`] for the check inside every tool call, because hiding
//!   a tool is never the only protection.
//!
//! - [`oauth`] (feature `oauth`): for the HTTP transport, the OAuth 2.1 authorization
//!   server with GitHub as the upstream identity provider (discovery, registration,
//!   consent, PKCE, rotating refresh tokens, revocation), the [`oauth::BearerVerifier`]
//!   that turns its tokens and static service tokens into an [`Identity`], and the
//!   [`oauth::TokenStore`] seam (in memory here; PostgreSQL in `sluice-postgres`).
//!
//! Policies name people by login or, better, by the provider's stable id
//! (`github:12345`): logins can be renamed and re-registered by someone else. A token's
//! scopes cap what the policy grants ([`Identity::ceiling`]).
//!
//! ## Example
//!
//! ```
//! use serde_json::json;
//! use sluice_auth::{Identity, Permission, PermissionPolicy, PolicyFilter};
//! use sluice_mcp::{CallToolResult, Server, Tool, ToolError};
//!
//! // ALLOWED_USERNAMES from the pattern guide, as SLUICE_WRITERS would give it.
//! let policy = PermissionPolicy::from_lists("alice", None);
//! let check = policy.clone();
//! let server = Server::builder("db", "1.0.0")
//!     .tool(
//!         Tool::new("executeDatabase", "Runs a write.", json!({"type": "object"})),
//!         move |_args: serde_json::Value, ctx: sluice_mcp::RequestContext| {
//!             // Checked again inside the call, whatever the list showed.
//!             let allowed = check.require(ctx.extensions(), Permission::Write).map(|who| who.login.clone());
//!             async move {
//!                 let login = allowed.map_err(|e| ToolError::new(e.to_string()))?;
//!                 Ok(CallToolResult::text(format!("{login} wrote")))
//!             }
//!         },
//!     )
//!     .filter(PolicyFilter::new(policy).tool("executeDatabase", Permission::Write))
//!     .build();
//! # let _ = (server, Identity::new("alice"));
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

mod identity;
mod policy;
mod policy_filter;
mod policy_sections;

pub use identity::Identity;
pub use policy::{AuthError, Permission, PermissionPolicy, PolicyFileError};
pub use policy_filter::PolicyFilter;

#[cfg(feature = "oauth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub mod oauth;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
