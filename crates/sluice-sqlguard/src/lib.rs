//! # sluice-sqlguard: decide on the parsed statement, never on the text
//!
//! A pure, synchronous guard: SQL text in, a typed verdict out, with no database
//! connection. It parses with sqlparser's PostgreSQL dialect and walks the syntax tree,
//! so `SELECT 'DELETE FROM x'` is a harmless read while
//! `WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d` is a write, whatever words
//! the text happens to contain.
//!
//! - **Policies**: read-only (for `queryDatabase`) and write (for `executeDatabase`).
//! - **Verdicts**: allowed (with the statement's kind and the relations it touches) or
//!   refused (with a reason a language model can act on). Anything that does not parse
//!   is refused: the guard fails closed.
//!
//! The guard is one layer of several: the read-only transaction, statement timeouts
//! and result caps in `sluice-postgres` are the others.
#![doc(test(attr(deny(warnings))))]
