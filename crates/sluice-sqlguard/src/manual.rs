//! # The guard's manual: each rule, the attack it stops, and what else protects you
//!
//! This module holds no code. It explains why the guard decides as it does, so that
//! anyone relying on it knows what it promises and what it does not. The layers that
//! need a database connection (the catalog check, the pinned settings, the session
//! reset) live in `sluice-postgres`; they are described here too, because together with
//! the guard they make one promise.
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
//! ## What Sluice promises
//!
//! A read through `sluice-postgres` runs only PostgreSQL's own code and the functions an
//! operator allowed by name: no function with side effects, no write, no file or network
//! access, no change of settings, no lock or other session state that outlives the call,
//! and nothing a reader should not see from the system catalogs. A write runs one
//! `INSERT`, `UPDATE`, `DELETE` or `MERGE` (or, when enabled, DDL on tables, views and
//! indexes) with the same limits on what it calls, and never touches the catalogs. What
//! the database itself runs because of a write — the table owner's triggers, rules,
//! defaults and constraints — is the owner's business logic, and runs.
//!
//! ## The rules, in the order they apply
//!
//! | rule | refusal | the attack it stops |
//! | --- | --- | --- |
//! | length limit (100 KiB) | [`TooLong`] | memory and CPU exhaustion by huge input |
//! | PostgreSQL's reading | [`Ambiguous`], [`Unparsable`] | text sqlparser and PostgreSQL tokenise differently: `SELECT X'\' , pg_sleep(4) --'` was one hex literal to sqlparser and a call to PostgreSQL; see below |
//! | `EXPLAIN ANALYSE` | [`ExplainAnalyze`] | the British spelling, which sqlparser does not parse, gets the `EXPLAIN ANALYZE` answer |
//! | operator limit (2000) | [`TooComplex`] | `1 + 1 + … + 1`, `x NOTNULL NOTNULL …`, `a IN (…) IN (…)`, `COLLATE`, `AT TIME ZONE`, `SIMILAR TO`, `UNION` chains: trees as deep as they are long, built by loops the parser's recursion limit does not see; walking or dropping them overflowed a 256 KiB stack |
//! | depth limit (32) | [`TooDeeplyNested`] | `((((…))))` and nested sub-queries that would overflow the stack |
//! | must parse | [`Unparsable`] | anything the guard cannot understand is refused (fail closed) |
//! | exactly one statement | [`MultipleStatements`] | `SELECT 1; DELETE FROM t`, `COMMIT; DROP …` — stacked queries |
//! | allowed kinds only | [`StatementNotAllowed`] | writes under the read-only policy; `COPY`, `DO`, `CALL`, `SET`/`RESET`, transaction control, `PREPARE`/`EXECUTE`, `LISTEN`/`NOTIFY`, `LOCK`, `VACUUM`/`ANALYZE`, `GRANT`/`REVOKE`, role changes, `CREATE EXTENSION`/`FUNCTION`/`LANGUAGE`, `DROP DATABASE`/`SCHEMA` |
//! | no writes to the catalogs | [`SystemCatalogWrite`] | `UPDATE pg_settings SET setting = 'off' …` (a `SET` in disguise that outlives the transaction), `UPDATE pg_catalog.pg_database SET datallowconn = false` (cluster-wide), `INSERT INTO pg_catalog.pg_description`, catalog `DELETE`s, writes into `pg_temp` |
//! | no nested writes | [`DataModifyingCte`] | `WITH d AS (DELETE … RETURNING *) SELECT …` at any depth |
//! | no `SELECT … INTO` | [`SelectInto`] | creates a table while looking like a query, in any branch of a set operation: `SELECT * INTO TEMP t FROM a UNION SELECT * FROM a` made a temporary table that shadowed a real one |
//! | no locking clauses | [`LockingClause`] | `FOR UPDATE`/`FOR SHARE` take row locks other sessions wait on |
//! | no sensitive relations | [`SensitiveRelation`] | password hashes, server files and other sessions' SQL through the catalogs; see below |
//! | functions from the allow-list only | [`FunctionNotAllowed`] | `pg_sleep`, `pg_terminate_backend`, `set_config`, `pg_advisory_lock`, `nextval`/`setval`, `lo_import`/`lo_export`/`pg_read_file`, `dblink`, `query_to_xml`, `pg_reload_conf` and friends |
//! | bounded expansion | [`TooLarge`] | `repeat(repeat(repeat('x', 1000), 1000), 1000)`, `lpad('x', 500000000)`: PostgreSQL folds such constants while planning, in memory, before a timeout or cap applies |
//! | no `EXPLAIN ANALYZE` | [`ExplainAnalyze`] | `EXPLAIN ANALYZE DELETE …` runs the `DELETE`; so does `EXPLAIN (ANALYZE 1)` or `(ANALYSE on)` |
//! | `SHOW` of listed settings only | [`SettingNotAllowed`] | reading settings that reveal the server's layout |
//! | `WHERE` required (optional) | [`MissingWhere`] | the classic `DELETE FROM t` accident, for writers |
//! | code behind names (`sluice-postgres`) | [`HiddenCode`] | views, overloads, attribute notation, operators, casts, aggregates, domain checks, policies and foreign tables that run functions the text does not show; see below |
//!
//! ## PostgreSQL's reading
//!
//! A parser is not the database. Where sqlparser and PostgreSQL disagree on where a
//! string, a quoted name or a comment begins and ends, text the guard took for data is
//! code to PostgreSQL. Two mechanisms close that class:
//!
//! 1. **The guard lexes the text a second time, as PostgreSQL's scanner (`scan.l`)
//!    does**, written independently of sqlparser, and refuses ([`Ambiguous`]) any text on
//!    which the two token streams differ in the class or the byte span of a string,
//!    quoted name, comment, number, parameter or name. That covers every string form
//!    (`'…'`, `E'…'` with its escapes, `N'…'`, `U&'…'`, `B'…'` and `X'…'` where a
//!    backslash is an ordinary character, `$tag$…$tag$`), PostgreSQL's continuation of a
//!    string across a newline (`'a'` newline `'b'` is one string `ab`), `U&"…"` names,
//!    nested comments, operators cut where `--` or `/*` starts inside them, numbers with
//!    trailing junk (`0x1F`, `1_000`, `123abc`, read differently by PostgreSQL versions),
//!    key words read from non-ASCII letters (`ſELECT`), whitespace PostgreSQL does not
//!    know (U+00A0, U+2028, the vertical tab before PostgreSQL 16), and NUL bytes. A
//!    differential test generates thousands of statements from those pieces and asks
//!    PostgreSQL how it read every one the guard allowed.
//! 2. **The settings that change lexing are pinned in every transaction**
//!    (`sluice-postgres`): `standard_conforming_strings = on`, `backslash_quote =
//!    safe_encoding` and `client_encoding = UTF8`, set local to the transaction before
//!    the statement is parsed. With `standard_conforming_strings` off, `SELECT '\' ||
//!    $$ ', pg_read_file('/etc/hostname') -- $$` was one literal to the guard and a file
//!    read to PostgreSQL; a database or role default, or a writer's `UPDATE
//!    pg_settings`, could switch it off for a pooled session.
//!
//! Names are folded the way PostgreSQL folds them: ASCII letters only (the Kelvin sign
//! `K` is not `k` to PostgreSQL, though Unicode lower-cases it so), and cut to their
//! first 63 bytes, which is the name PostgreSQL resolves.
//!
//! ### Functions
//!
//! A function call is allowed only if its name is on the allow-list: aggregates,
//! window functions, mathematics, strings, date and time, JSON and JSONB, arrays and
//! ranges, `generate_series`, network and UUID helpers, text search, SQL's niladic
//! functions (`current_user`, `session_user`, …), and catalog look-ups that only read.
//! The list is data: extend it with
//! [`Policy::allow_function`](crate::Policy::allow_function), trim it with
//! [`Policy::deny_function`](crate::Policy::deny_function).
//!
//! Names are matched the way PostgreSQL resolves them: unquoted names fold to lower
//! case (`PG_CATALOG.PG_SLEEP` is `pg_catalog.pg_sleep`), quoted names keep their case
//! (`"PG_SLEEP"` is a different, unknown function and is refused). An unqualified
//! allow-list entry matches calls written unqualified or qualified with `pg_catalog`;
//! a call qualified with any other schema needs an entry naming that schema. A
//! user-defined function is allowed only by its qualified name (`public.score`): an
//! unqualified entry names a built-in, and the catalog check refuses a user function
//! of the same name that would out-rank it.
//!
//! ### Sensitive relations
//!
//! Refused by default, under both policies, qualified or not:
//! `pg_authid`, `pg_shadow` (password hashes), `pg_user_mapping`, `pg_user_mappings`,
//! `information_schema.user_mappings` and `user_mapping_options`,
//! `foreign_server_options`, `pg_foreign_server` (passwords and hosts of foreign
//! servers), `pg_subscription`, `pg_stat_subscription`, `pg_stat_wal_receiver`,
//! `pg_stat_replication`, `pg_replication_slots` (connection strings), `pg_hba_file_rules`,
//! `pg_ident_file_mappings`, `pg_file_settings`, `pg_settings`, `pg_db_role_setting`,
//! `pg_config` (authentication rules, configuration and its file paths: `pg_settings`
//! defeated the `SHOW` allow-list), `pg_stat_activity`, `pg_stat_statements` (other
//! sessions' SQL), `pg_stat_ssl`, `pg_stat_gssapi` (client identities),
//! `pg_largeobject`, `pg_largeobject_metadata`, `pg_statistic`, `pg_statistic_ext_data`
//! (sample values of every column). The list is data:
//! [`Policy::allow_relation`](crate::Policy::allow_relation) and
//! [`Policy::deny_relation`](crate::Policy::deny_relation). A view over one of them is
//! refused too: the catalog check judges the view's definition with the same policy.
//!
//! The guard is one line; the other is the role. A read connection as a role that may
//! only read (`--read-database-url`, with `postgres_server --print-setup-sql` creating
//! it) cannot read `pg_authid` or a server file whatever the guard says.
//!
//! ### The write policy
//!
//! [`Policy::write`](crate::Policy::write) allows one `INSERT`, `UPDATE`, `DELETE` or
//! `MERGE` (and queries), with the same function allow-list plus the sequence functions.
//! `CREATE`/`ALTER`/`DROP` of tables, views and indexes need
//! [`Policy::allow_ddl`](crate::Policy::allow_ddl); databases, schemas, roles,
//! extensions, functions and languages are never allowed, nor are `COPY`, privilege
//! changes, `SET ROLE`/`SESSION AUTHORIZATION` or transaction control. Nothing in
//! `pg_catalog`, `information_schema`, `pg_toast` or a temporary schema may be written,
//! nor any unqualified name starting with `pg_`, which resolves to `pg_catalog` first
//! (a table of one's own with such a name is written with its schema:
//! `public.pg_notes`).
//!
//! ### Expansion
//!
//! PostgreSQL folds a call of an immutable function whose arguments are constants
//! while it plans the statement. `repeat(repeat(repeat('x', 1000), 1000), 1000)` is a
//! gigabyte before the statement starts, in the backend's memory, and neither the
//! statement timeout nor the row and byte caps apply to planning. The guard bounds the
//! size of every constant expression from the text (`repeat`, `lpad`, `rpad`,
//! `replace`, `overlay`, `format` widths, `concat`, `||`, `array_fill`, `encode`), and
//! refuses one above [`Policy::max_constant_bytes`](crate::Policy::max_constant_bytes)
//! (1 MiB); a constant count above it is refused even on a column (`repeat(name,
//! 50000000)` builds that much for every row).
//!
//! ## Objects that act behind a name
//!
//! The text of a query does not show what a database owner's objects do. In the review,
//! `SELECT c.f FROM t c` called a function `f(t)`; a `public.lower(integer)` out-ranked
//! the built-in `lower(text)`; views, a domain's `CHECK`, a user operator, cast or
//! aggregate named like a built-in took session advisory locks that stayed on the pooled
//! connection; and a view calling `dblink_exec` committed an `INSERT` elsewhere.
//!
//! `sluice-postgres` asks the catalog, in the same transaction and round trip as the
//! statement and before PostgreSQL parses it, what the names the guard collected
//! ([`Names`](crate::Names)) will really run. A quick check of index look-ups finds
//! whether anything needs judging; only then does the full check follow views through
//! their rules (recursively), match routine names and operator symbols against the
//! user-defined functions and operators visible on the `search_path`, follow domain
//! checks, row-level security policies and user casts (implicit ones always, since
//! they apply unseen) to their functions, and find foreign tables, also among the
//! partitions and children of a table read. Because PostgreSQL
//! records no dependency on a built-in function, the definitions of views, domain checks
//! and policies are also deparsed and judged by the read guard, once per definition.
//!
//! Refused ([`HiddenCode`]): anybody's own function not allowed by its qualified name; a
//! built-in or extension function that is volatile and not on the allow-list; a foreign
//! table (it reads files or other servers). Trusted: PostgreSQL's own functions,
//! operators, casts and views, and the non-volatile functions and operators of
//! installed extensions (so `citext`'s `=` and PostGIS's functions pass, and
//! `dblink_exec` does not). The check is deliberately strict: a user function that
//! merely shares a name with a built-in the query calls, or a user operator with the
//! symbol of one it uses, refuses the query until the operator allows it.
//!
//! ## Session state
//!
//! No call hands the next one a connection carrying its session state. A read is always
//! rolled back, which undoes settings, temporary tables and `LISTEN`; with the default
//! allow-list nothing a read can reach takes a session advisory lock, and with a wider
//! one the locks are released in the same message as the `ROLLBACK`. After every write
//! and every failed call the connection is reset: cursors, the session's role,
//! settings, listened channels, advisory locks, cached plans, temporary tables and
//! sequence state (`DISCARD ALL` without `DEALLOCATE ALL`, which would drop the
//! statements tokio-postgres keeps for its own type look-ups).
//!
//! ## One layer of several
//!
//! The guard is never the only protection; `sluice-postgres` adds:
//!
//! 1. **a read-only transaction**: every read runs inside `BEGIN READ ONLY` and is rolled
//!    back, so a write the guard missed fails with SQLSTATE 25006;
//! 2. **the pinned settings and the catalog check** described above;
//! 3. **the extended query protocol**: a prepared statement is exactly one command, so
//!    PostgreSQL itself refuses stacked queries;
//! 4. **a statement timeout** set for the transaction;
//! 5. **row and byte caps** on results, counted as the result is sent (JSON-escaped, as
//!    text and as structured content), reported to the caller. A query whose result may
//!    pass the row cap runs behind a cursor, so PostgreSQL produces only the rows kept and
//!    one more: the judged statement follows `DECLARE sluice_rows NO SCROLL CURSOR FOR`
//!    and a line break, whole and unchanged, sent through the extended protocol (still
//!    one command, parsed as the cursor's query, as `EXPLAIN` takes its operand); the
//!    `FETCH` that reads it is the server's own text, with a comment quoting the start of
//!    the statement for `pg_stat_activity` from which every `*` and control character is
//!    taken out, so the comment can neither end early nor nest;
//! 6. **sanitised errors**: the SQLSTATE, the message and PostgreSQL's hint, with file
//!    paths and connection strings scrubbed; details go to the server log;
//! 7. **a read-only role** for reads, created by `postgres_server --print-setup-sql`,
//!    so PostgreSQL's own privileges have the last word;
//! 8. **the session reset**.
//!
//! `sluice-postgres` keeps the guard's verdicts on texts it has seen (per guard, by the
//! whole text, bounded): a verdict depends on nothing but the text and the policy, so a
//! kept one is the verdict a new check would give. Every layer above that asks the
//! database runs on every call, whatever the verdict's age; the catalog check does too,
//! in one of two forms:
//!
//! - **the check itself**, which consults the catalogs (eight of them for the quick
//!   check, the largest share of a read's work in PostgreSQL), and answers with the
//!   pins a *token*: the transaction snapshot (`txid_current_snapshot()`), the
//!   effective schemas (`current_schemas(true)`, with the session's temporary schema)
//!   and `current_user`;
//! - **a comparison in its place**, for a statement whose names and policy passed the
//!   check under the newest token seen: the same pins, and a failure unless the token
//!   on this connection, now, is the same.
//!
//! The comparison is as strong as the check. The check's verdict is a function of its
//! parameters (the names, the allow-lists), of the catalog's contents and of where names
//! resolve (schemas, role). Every change to the catalog is made by a transaction and
//! becomes visible when it commits, and a commit moves the snapshot; so an unchanged
//! token means no transaction has committed since the check ran, the catalog is the one
//! it read, and names resolve in the same schemas for the same role: the check would
//! give the same verdict. (PostgreSQL's updates in place, which commit nothing, touch
//! only statistics, freezing horizons and hints such as `relhassubclass`, which vacuum
//! clears only when nothing is behind them.) The comparison sits where the check sat —
//! in the same transaction and round trip, before PostgreSQL parses the statement — and
//! its failure aborts the transaction the same way; the call then runs the check
//! itself. It holds behind a pooler in transaction mode too, since it is made on the
//! server connection the statement runs on. The snapshot is cluster-wide, so any commit
//! anywhere ends reuse until the next check: on a busy writer the check runs nearly
//! every time, as before. `tests/check_reuse.rs` in `sluice-postgres` plants each kind
//! of object that acts behind a name after a statement's check was reused, and sees the
//! next read refused.
//!
//! A read usually reaches PostgreSQL as **one batch under one `Sync`**: the execution of
//! a prepared `BEGIN READ ONLY`, the check (or comparison), the statement, the execution
//! of a prepared `ROLLBACK`, then a single `Sync`, where tokio-postgres alone would end
//! each of the four with its own. The layers are the same ones, in the same order:
//! PostgreSQL runs the messages of a batch one after another, so the pins are set and
//! the check has passed before the statement's `Parse` is read, and the statement is
//! still exactly one command of the extended protocol. On an error PostgreSQL skips
//! every message up to the `Sync` — the statement after a failed check is never parsed,
//! as it is never run after a failed check in its own request — and the transaction is
//! left failed rather than rolled back; every failed call is rolled back and reset
//! before its connection serves again. The batch is only sent on connections Sluice
//! opens itself, never behind a pooler in transaction mode (`tests/batching.rs` in
//! `sluice-postgres`).
//!
//! On those connections a query's **literals become parameters of a statement prepared
//! once** ([`Allowed::parameterised`](crate::Allowed::parameterised): `WHERE id = 7` is
//! `WHERE id = $1` bound with `7`), so every text of one shape shares one parse and
//! plan. The guard's verdict is still on the text as sent, and what runs is no larger:
//! only plain numbers and plain strings in places where a value is all they can be are
//! taken out (never `ORDER BY 1`, a limit, a signed number, `INTERVAL '…'`), each
//! parameter typed as PostgreSQL types the literal, and a value bound to a parameter is
//! data, never SQL. The layers keep their order: the form is prepared inside the read's
//! transaction after the pins and the check, and each later read runs the check (or its
//! comparison) in its batch before the statement is bound. PostgreSQL checks a prepared
//! statement before each use and analyses it again from its text when anything it
//! depends on changed (a table replaced by a view, the `search_path`), so what a name
//! resolves to is what it resolves to now, which the check has just examined; a new
//! object that would outrank an old one (an overload created later) leaves the plan on
//! the object an earlier check passed, while the check judges the new one — stricter,
//! never looser. `tests/prepared.rs` in `sluice-postgres` compares every shape's answers
//! with the text's own and plants a view under a kept statement.
//!
//! The read-only transaction alone does not suffice, which is why the guard exists: it
//! does not stop `pg_sleep`, `pg_terminate_backend`, `set_config`, advisory locks,
//! `NOTIFY`, `ANALYZE`, or `COPY … TO PROGRAM`. The corpus tests run each attack against
//! a real server to show which layer stops it.
//!
//! ## Limits of the guard
//!
//! - Valid PostgreSQL that sqlparser cannot parse is refused (`DO`, `FOR NO KEY UPDATE`,
//!   `ALTER SYSTEM`, `U&'…' UESCAPE '!'`, some operators), and
//!   so is text the two lexers read differently even where it would be harmless
//!   (a string continued on the next line).
//! - `TABLE name` is judged as `SELECT * FROM name`, and `xmlelement(name li, …)` as
//!   `xmlelement(name, …)` (the label is no expression; sqlparser does not parse it).
//! - Relation names in verdicts are as written, not resolved through `search_path`.
//! - Expansion bounds are estimates from the text: a value grown by a function outside
//!   the list above, or by a count that is not a constant (`repeat(x, n)` with `n` from a
//!   column), is built while the statement runs and bounded by the statement timeout
//!   only (a read role with `SET statement_timeout` and the server's own memory limits are
//!   the rest).
//! - A sqlparser bug found on the way is written up in `docs/upstream/` for reporting.
//!
//! [`TooLong`]: crate::RefusalReason::TooLong
//! [`TooComplex`]: crate::RefusalReason::TooComplex
//! [`TooDeeplyNested`]: crate::RefusalReason::TooDeeplyNested
//! [`TooLarge`]: crate::RefusalReason::TooLarge
//! [`Unparsable`]: crate::RefusalReason::Unparsable
//! [`Ambiguous`]: crate::RefusalReason::Ambiguous
//! [`MultipleStatements`]: crate::RefusalReason::MultipleStatements
//! [`StatementNotAllowed`]: crate::RefusalReason::StatementNotAllowed
//! [`SystemCatalogWrite`]: crate::RefusalReason::SystemCatalogWrite
//! [`DataModifyingCte`]: crate::RefusalReason::DataModifyingCte
//! [`SelectInto`]: crate::RefusalReason::SelectInto
//! [`LockingClause`]: crate::RefusalReason::LockingClause
//! [`SensitiveRelation`]: crate::RefusalReason::SensitiveRelation
//! [`FunctionNotAllowed`]: crate::RefusalReason::FunctionNotAllowed
//! [`ExplainAnalyze`]: crate::RefusalReason::ExplainAnalyze
//! [`SettingNotAllowed`]: crate::RefusalReason::SettingNotAllowed
//! [`MissingWhere`]: crate::RefusalReason::MissingWhere
//! [`HiddenCode`]: crate::RefusalReason::HiddenCode
