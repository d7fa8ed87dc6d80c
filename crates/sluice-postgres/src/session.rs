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

/// What every connection is opened with, beyond the caller's own options:
/// `plan_cache_mode = force_generic_plan`, so the catalog check (a prepared statement
/// whose custom plans cost more to make than to run) is planned once per connection. The
/// check sets `plan_cache_mode` back to `auto` for the rest of the transaction, so the
/// caller's statement is planned as PostgreSQL would plan it by default. A startup
/// option is what `RESET ALL` returns to, so the session reset keeps it.
pub(crate) fn startup_options(config: &mut tokio_postgres::Config) {
    let mut options = config.get_options().unwrap_or("").to_owned();
    if !options.is_empty() {
        options.push(' ');
    }
    options.push_str("-c plan_cache_mode=force_generic_plan");
    config.options(&options);
}

/// The rollback that ends a read, with the default allow-list: no function a read can
/// reach takes a session advisory lock (the catalog check refuses every other
/// function), so the rollback is all.
const END_READ: &str = "ROLLBACK";

/// The end of a read under a policy that allows more functions than the defaults (an
/// operator's own, which might take a session advisory lock): the rollback, then the
/// release of the locks, in one message.
const END_READ_UNLOCK: &str = "ROLLBACK; SELECT pg_catalog.pg_advisory_unlock_all()";

/// The kind of transaction a statement runs in: how it begins and how it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transaction {
    /// `BEGIN READ ONLY` … `ROLLBACK`.
    Read,
    /// `BEGIN READ ONLY` … `ROLLBACK`, then the release of session advisory locks.
    ReadReleasingLocks,
    /// `BEGIN` … `COMMIT`, then the session reset.
    Write,
}

impl Transaction {
    /// How it begins.
    pub(crate) fn begin(self) -> &'static str {
        match self {
            Transaction::Read | Transaction::ReadReleasingLocks => "BEGIN READ ONLY",
            Transaction::Write => "BEGIN",
        }
    }

    /// How it ends, sent with the statement (PostgreSQL answers `COMMIT` of a failed
    /// transaction by rolling it back, so sending it before the outcome is known is safe).
    pub(crate) fn end(self) -> &'static str {
        match self {
            Transaction::Read => END_READ,
            Transaction::ReadReleasingLocks => END_READ_UNLOCK,
            Transaction::Write => END_WRITE,
        }
    }
}

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
const END_WRITE: &str = concat!("COMMIT; ", reset_statements!());
