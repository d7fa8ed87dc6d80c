//! What every transaction pins, and how a pooled connection is cleaned before the next
//! caller gets it.
//!
//! ## Pins
//!
//! The guard judges the SQL as sqlparser and its own PostgreSQL-faithful lexer read it,
//! which is how PostgreSQL reads it only while the settings that change lexing have the
//! values the guard assumes. A writer who turned `standard_conforming_strings` off for a
//! pooled session (`UPDATE pg_settings …`, now refused by the guard as well) made
//! `'\' || $$ ', pg_read_file(…) -- $$` one string to the guard and a file read to
//! PostgreSQL. So every transaction sets them again with `SET LOCAL`, before its
//! statement is parsed:
//!
//! | setting | pinned to | why |
//! | --- | --- | --- |
//! | `standard_conforming_strings` | `on` | a backslash in `'…'` is an ordinary character |
//! | `backslash_quote` | `safe_encoding` | `\'` inside `E'…'` as the guard reads it |
//! | `client_encoding` | `UTF8` | the bytes the guard read are the characters PostgreSQL lexes (in SJIS or GBK a byte `\` can be the tail of a character) |
//! | `statement_timeout` | the configured timeout | a slow statement cannot hold the connection |
//!
//! `SET LOCAL` ends with the transaction, so the pins cost nothing afterwards and cannot
//! leak into another caller's call.
//!
//! ## Reset
//!
//! Some session state survives a transaction whether it commits or rolls back: session
//! advisory locks, temporary tables (after a commit), settings changed with
//! `set_config(…, false)` by a trigger, channels listened to, cursors `WITH HOLD`. After
//! each write, and after any call that failed, the connection gets the effect of
//! `DISCARD ALL` except for one part: `DEALLOCATE ALL` would also drop the statements
//! tokio-postgres keeps prepared for its own type look-ups, so it is left out.
//! After a read (always rolled back, so settings, temporary tables and listens are
//! already gone) only session advisory locks can remain, and only they are released,
//! in the same message as the `ROLLBACK`. docs/performance.md records the cost.

/// `BEGIN …` followed by the pins, as one simple-query string.
pub(crate) fn begin_with_pins(begin: &str, statement_timeout_ms: u128) -> String {
    format!(
        "{begin}; SET LOCAL statement_timeout = {statement_timeout_ms}; \
         SET LOCAL standard_conforming_strings = on; \
         SET LOCAL backslash_quote = safe_encoding; \
         SET LOCAL client_encoding = 'UTF8'"
    )
}

/// Ends a read: the rollback, then the release of any session advisory lock the read
/// took (through a function the guard could not see into).
pub(crate) const END_READ: &str = "ROLLBACK; SELECT pg_advisory_unlock_all()";

/// The reset's statements, shared by [`RESET`] and [`END_WRITE`].
macro_rules! reset_statements {
    () => {
        "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
         SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES"
    };
}

/// What `DISCARD ALL` does, less `DEALLOCATE ALL`: cursors, the session's role,
/// settings, listened channels, advisory locks, cached plans, temporary tables and
/// sequence state. Runs outside any transaction.
pub(crate) const RESET: &str = reset_statements!();

/// Ends a write: the commit, then the reset, in one message. If the commit fails the
/// rest is skipped, and the failed call's recovery resets instead.
pub(crate) const END_WRITE: &str = concat!("COMMIT; ", reset_statements!());
