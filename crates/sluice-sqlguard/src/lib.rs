//! # sluice-sqlguard: decide on the parsed statement, never on the text
//!
//! A pure, synchronous guard for SQL sent by a language model to PostgreSQL: SQL text in,
//! a typed [`Verdict`] out, with no database connection. It parses with sqlparser's
//! PostgreSQL dialect and walks the whole syntax tree, so
//!
//! - `SELECT 'DELETE FROM x'` is a harmless read (the words are inside a string), while
//! - `WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d` is a write, and
//! - `SELECT pg_terminate_backend(pid) FROM pg_stat_activity` calls a function with side
//!   effects,
//!
//! whatever words the text happens to contain. Regular expressions over the text get
//! every one of those wrong.
//!
//! ## Tour
//!
//! - [`Policy`]: what is allowed. [`Policy::read_only`] for `queryDatabase`,
//!   [`Policy::write`] for `executeDatabase`; builder methods extend the function
//!   allow-list, enable DDL, require `WHERE`, and set size and depth limits.
//! - [`Guard`]: built once from a policy, shared freely (`Send + Sync`), and asked with
//!   [`Guard::check`].
//! - The answer, a [`Verdict`], is [`Allowed`] (the [`StatementKind`] and the relations
//!   read and written) or [`Refusal`] (a [`RefusalReason`] and a message a model can act on). Anything that
//!   does not parse is refused: the guard fails closed.
//! - [`manual`]: each rule, the attack it stops, and why the guard is only one of
//!   several layers.
//!
//! ## Example
//!
//! ```
//! use sluice_sqlguard::{Guard, RefusalReason, StatementKind, Verdict};
//!
//! let guard = Guard::read_only();
//!
//! let verdict = guard.check("SELECT name FROM users WHERE note = 'DROP TABLE users'");
//! let Verdict::Allowed(allowed) = verdict else { panic!("an honest query") };
//! assert_eq!(allowed.kind, StatementKind::Query);
//! assert_eq!(allowed.reads, ["users"]);
//!
//! let verdict = guard.check("COMMIT; DROP SCHEMA public CASCADE");
//! let refusal = verdict.refusal().expect("two statements");
//! assert_eq!(refusal.reason, RefusalReason::MultipleStatements);
//! assert_eq!(refusal.message, "only one statement per call; found 2. Send each statement in its own call.");
//! ```
//!
//! ## Feature flags
//!
//! | feature | what it adds |
//! | --- | --- |
//! | `serde` | `Serialize` for [`Verdict`] and its parts |
//!
//! The sqlparser types stay private: sqlparser changes its syntax tree between releases,
//! and that churn never reaches this crate's users.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

mod agreement;
mod check;
mod describe;
mod expansion;
mod functions;
mod lexer;
mod literals;
pub mod manual;
mod names;
mod policy;
mod relations;
mod row_limit;
mod verdict;

pub use literals::{Literal, LiteralKind, MAX_LITERALS, Parameterised};
pub use policy::{
    DEFAULT_MAX_CONSTANT_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_OPERATORS, DEFAULT_MAX_SQL_BYTES,
    Policy,
};
pub use verdict::{Allowed, Names, Refusal, RefusalReason, StatementKind, Verdict};

/// Decides whether SQL may run under a [`Policy`].
///
/// Build it once and share it by reference or in an `Arc`: it is immutable and
/// `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Guard {
    policy: Policy,
}

impl Guard {
    /// A guard for the given policy.
    pub fn new(policy: Policy) -> Self {
        Guard { policy }
    }

    /// A guard with the default read-only policy ([`Policy::read_only`]).
    pub fn read_only() -> Self {
        Guard::new(Policy::read_only())
    }

    /// A guard with the default write policy ([`Policy::write`]).
    pub fn write() -> Self {
        Guard::new(Policy::write())
    }

    /// The policy this guard enforces.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Parses `sql` and decides. Never panics, and takes bounded time and memory: input
    /// longer than the policy's byte limit or nested deeper than its depth limit is
    /// refused before it is walked.
    ///
    /// Whatever stack the calling thread has: when less than [`STACK_RED_ZONE`] of it is
    /// left, the check runs on a stack of its own (allocated for the call, and freed
    /// after it), so a statement at the limits cannot overflow a small thread stack.
    pub fn check(&self, sql: &str) -> Verdict {
        stacker::maybe_grow(STACK_RED_ZONE, CHECK_STACK, || {
            check::check(&self.policy, sql)
        })
    }
}

/// The stack a check needs at its start; a thread with less left lends none of its own.
///
/// The parser and the walk grow their stack as they recurse (sqlparser's
/// `recursive-protection`), but only in steps of what one of their frames needs in an
/// optimised build: an unoptimised build's frame for a whole statement alone can pass
/// 128 KiB, and a thread of 256 KiB was seen to overflow on a statement at the operator
/// limit. One mebibyte covers it with room to spare.
pub const STACK_RED_ZONE: usize = 1024 * 1024;

/// The stack given to a check that runs on its own (reserved, touched only as used).
const CHECK_STACK: usize = 8 * 1024 * 1024;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
