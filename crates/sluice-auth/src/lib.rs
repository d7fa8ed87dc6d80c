//! # sluice-auth: who is calling, and what may they do
//!
//! - **Identities**: the caller's login, name and e-mail, carried in the request
//!   context of `sluice-mcp` so every tool can see who asked.
//! - **Permission policies**: who may read and who may write, fail closed — a caller
//!   on no list gets nothing — and a tool filter built from the policy so each caller
//!   sees only the tools it may call.
//! - **Bearer-token verifiers** for the HTTP transport (static tokens, GitHub, and the
//!   tokens of the OAuth 2.1 authorization server this crate mounts).
#![doc(test(attr(deny(warnings))))]
