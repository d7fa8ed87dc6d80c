//! # The guard's manual: each rule, the attack it stops, and what else protects you
//!
//! This module holds no code. It explains why the guard decides as it does, so that
//! anyone relying on it knows what it promises and what it does not.
//!
//! ## Why not regular expressions
//!
//! The pattern guide Sluice started from refused SQL matching `DROP\s+TABLE`,
//! `DELETE\s+FROM` and friends, and judged "is this a write?" by looking for keywords
//! anywhere in the text. That fails both ways:
//!
//! - honest queries are refused: `SELECT 'DROP TABLE' AS note`, a column named
//!   `delete_flag`, a comment mentioning `UPDATE`;
//! - attacks pass: `COMMIT; DROP SCHEMA public CASCADE` (no `DROP TABLE` in sight),
//!   `WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d` (starts with `WITH`),
//!   `SELECT pg_terminate_backend(pid) FROM pg_stat_activity` (a plain `SELECT`),
//!   `/**/DELETE/**/FROM t` (comments where the pattern expects spaces).
//!
//! Text is the wrong level. The guard parses the SQL with sqlparser's PostgreSQL dialect
//! and decides on the syntax tree: strings are strings, comments are gone, and a
//! statement nested in a `WITH` is a statement.
//!
//! ## The rules, in the order they apply
//!
//! | rule | refusal | the attack it stops |
//! | --- | --- | --- |
//! | length limit (100 KiB) | [`TooLong`] | memory and CPU exhaustion by huge input |
//! | operator limit (2000) | [`TooComplex`] | `1 + 1 + … + 1` builds a tree as deep as it is long; walking or dropping it overflows the stack, which the parser's recursion limit does not see |
//! | depth limit (32) | [`TooDeeplyNested`] | `((((…))))` and nested sub-queries that would overflow the stack |
//! | must parse | [`Unparsable`] | anything the guard cannot understand is refused (fail closed); syntax sqlparser lacks (`DO`, `FOR NO KEY UPDATE`, `ALTER SYSTEM`) lands here too |
//! | exactly one statement | [`MultipleStatements`] | `SELECT 1; DELETE FROM t`, `COMMIT; DROP …` — stacked queries, including those hidden behind quoting tricks such as `'\'; DELETE …` |
//! | allowed kinds only | [`StatementNotAllowed`] | writes under the read-only policy; `COPY` (server files and programs), `DO` and `CALL` (arbitrary code), `SET`/`RESET` (undo the read-only session and timeouts), transaction control (`COMMIT` ends the read-only transaction), `PREPARE`/`EXECUTE`, `LISTEN`/`NOTIFY`, `LOCK`, `VACUUM`/`ANALYZE`, `GRANT`/`REVOKE`, role changes, `CREATE EXTENSION`/`FUNCTION`/`LANGUAGE`, `DROP DATABASE`/`SCHEMA` |
//! | no nested writes | [`DataModifyingCte`] | `WITH d AS (DELETE … RETURNING *) SELECT …` at any depth — PostgreSQL runs the `DELETE` even if nothing reads `d` |
//! | no `SELECT … INTO` | [`SelectInto`] | creates a table while looking like a query |
//! | no locking clauses | [`LockingClause`] | `FOR UPDATE`/`FOR SHARE` take row locks other sessions wait on |
//! | functions from the allow-list only | [`FunctionNotAllowed`] | `pg_sleep` (denial of service), `pg_terminate_backend`/`pg_cancel_backend` (kill sessions), `set_config` (undo read-only), `pg_advisory_lock` (locks that outlive the query), `nextval`/`setval` (writes even in read-only transactions), `lo_import`/`lo_export`/`pg_read_file`/`pg_ls_dir` (server files), `dblink` (network), `query_to_xml` (runs SQL from a string), `pg_reload_conf` and friends |
//! | no `EXPLAIN ANALYZE` | [`ExplainAnalyze`] | `EXPLAIN ANALYZE DELETE …` runs the `DELETE` |
//! | `SHOW` of listed settings only | [`SettingNotAllowed`] | reading settings that reveal the server's layout |
//! | `WHERE` required (optional) | [`MissingWhere`] | the classic `DELETE FROM t` accident, for writers |
//!
//! ### Functions
//!
//! A function call is allowed only if its name is on the allow-list: aggregates,
//! window functions, mathematics, strings, date and time, JSON and JSONB, arrays and
//! ranges, `generate_series`, network and UUID helpers, text search, and catalog
//! look-ups that only read. The list is data: extend it with
//! [`Policy::allow_function`](crate::Policy::allow_function), trim it with
//! [`Policy::deny_function`](crate::Policy::deny_function).
//!
//! Names are matched the way PostgreSQL resolves them: unquoted names fold to lower
//! case (`PG_CATALOG.PG_SLEEP` is `pg_catalog.pg_sleep`), quoted names keep their case
//! (`"PG_SLEEP"` is a different, unknown function and is refused). An unqualified
//! allow-list entry matches calls written unqualified or qualified with `pg_catalog`;
//! a call qualified with any other schema needs an entry naming that schema, because
//! `public.lower(...)` may be anybody's function. Every user-defined function is refused
//! until it is listed: the guard cannot see what its body does.
//!
//! Table functions in `FROM` (`generate_series`, `jsonb_each`, `pg_ls_dir`) are checked
//! the same way, and so are calls inside sub-queries, `LATERAL` joins, `FILTER`,
//! `ORDER BY`, `VALUES` and function arguments: the walk is derived from sqlparser's
//! syntax tree, so no node is skipped.
//!
//! ### The write policy
//!
//! [`Policy::write`](crate::Policy::write) allows one `INSERT`, `UPDATE`, `DELETE` or
//! `MERGE` (and queries), with the same function allow-list plus the sequence functions.
//! `CREATE`/`ALTER`/`DROP` of tables, views and indexes need
//! [`Policy::allow_ddl`](crate::Policy::allow_ddl); databases, schemas, roles,
//! extensions, functions and languages are never allowed, nor are `COPY`, privilege
//! changes, `SET ROLE`/`SESSION AUTHORIZATION` or transaction control.
//!
//! ## One layer of several
//!
//! A parser is not the database. sqlparser may accept text PostgreSQL rejects (harmless)
//! or, in principle, read some text differently from PostgreSQL (a parser differential).
//! The guard is therefore never the only protection; `sluice-postgres` adds:
//!
//! 1. **a read-only transaction**: every read runs inside `BEGIN READ ONLY` and is rolled
//!    back, so a write the guard missed fails with SQLSTATE 25006;
//! 2. **the extended query protocol**: a prepared statement is exactly one command, so
//!    PostgreSQL itself refuses stacked queries;
//! 3. **a statement timeout** set for the transaction, so a slow query cannot hold a
//!    connection forever;
//! 4. **row and byte caps** on results, reported to the caller;
//! 5. **sanitised errors**, so the database's internals do not leak to the client;
//! 6. optionally **a read-only role**, so PostgreSQL's own privileges have the last word.
//!
//! The read-only transaction alone does not suffice either, which is why the guard
//! exists: it does not stop `pg_sleep`, `pg_terminate_backend`, `set_config`, advisory
//! locks, `NOTIFY`, `ANALYZE`, or `COPY … TO PROGRAM`. The corpus test runs each attack
//! against a real server to show which layer stops it.
//!
//! ## Limits of the guard
//!
//! - Valid PostgreSQL that sqlparser cannot parse is refused (`DO`, `FOR NO KEY UPDATE`,
//!   `ALTER SYSTEM`, some operators and typed literals such as `inet '10.0.0.0/8'`; the
//!   cast `'10.0.0.0/8'::inet` works).
//! - `TABLE name` is judged as `SELECT * FROM name`.
//! - Relation names in verdicts are as written, not resolved through `search_path`.
//!
//! [`TooLong`]: crate::RefusalReason::TooLong
//! [`TooComplex`]: crate::RefusalReason::TooComplex
//! [`TooDeeplyNested`]: crate::RefusalReason::TooDeeplyNested
//! [`Unparsable`]: crate::RefusalReason::Unparsable
//! [`MultipleStatements`]: crate::RefusalReason::MultipleStatements
//! [`StatementNotAllowed`]: crate::RefusalReason::StatementNotAllowed
//! [`DataModifyingCte`]: crate::RefusalReason::DataModifyingCte
//! [`SelectInto`]: crate::RefusalReason::SelectInto
//! [`LockingClause`]: crate::RefusalReason::LockingClause
//! [`FunctionNotAllowed`]: crate::RefusalReason::FunctionNotAllowed
//! [`ExplainAnalyze`]: crate::RefusalReason::ExplainAnalyze
//! [`SettingNotAllowed`]: crate::RefusalReason::SettingNotAllowed
//! [`MissingWhere`]: crate::RefusalReason::MissingWhere
