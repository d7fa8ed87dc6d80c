//! What a [`Guard`](crate::Guard) allows: [`Policy`].

use std::collections::HashSet;

use crate::functions::{SAFE_FUNCTIONS, WRITE_FUNCTIONS};
use crate::relations::SENSITIVE_RELATIONS;

/// The default limit on the length of the SQL text, in bytes.
pub const DEFAULT_MAX_SQL_BYTES: usize = 100 * 1024;

/// The default limit on the parser's recursion depth (nested expressions and queries).
pub const DEFAULT_MAX_DEPTH: usize = 32;

/// The default bound on a value a growing function (`repeat`, `lpad`, …) may build:
/// 1 MiB, the default result cap of `sluice-postgres`.
pub const DEFAULT_MAX_CONSTANT_BYTES: usize = 1024 * 1024;

/// The default limit on operators (`+`, `AND`, `||`, `::`, …) in one statement.
pub const DEFAULT_MAX_OPERATORS: usize = 2_000;

/// Settings `SHOW` may read under the read-only policy: harmless facts a model needs to
/// write correct SQL (time zone, date style, search path, version).
const SAFE_SETTINGS: &[&str] = &[
    "search_path",
    "timezone",
    "time zone",
    "datestyle",
    "intervalstyle",
    "server_version",
    "server_version_num",
    "server_encoding",
    "client_encoding",
    "lc_collate",
    "lc_ctype",
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "standard_conforming_strings",
    "transaction_isolation",
    "transaction_read_only",
    "statement_timeout",
    "max_identifier_length",
    "integer_datetimes",
];

/// Which statements the guard allows, and its limits.
///
/// Start from [`Policy::read_only`] (for `queryDatabase`) or [`Policy::write`] (for
/// `executeDatabase`) and adjust with the builder methods.
///
/// ```
/// use sluice_sqlguard::{Guard, Policy};
///
/// let policy = Policy::read_only().allow_function("my_schema.safe_score");
/// let guard = Guard::new(policy);
/// assert!(guard.check("SELECT my_schema.safe_score(42)").is_allowed());
/// assert!(!guard.check("SELECT other_fn(42)").is_allowed());
/// ```
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) mode: Mode,
    pub(crate) functions: HashSet<String>,
    pub(crate) settings: HashSet<String>,
    pub(crate) sensitive: HashSet<String>,
    pub(crate) ddl: bool,
    pub(crate) require_where: bool,
    pub(crate) max_sql_bytes: usize,
    pub(crate) max_depth: usize,
    pub(crate) max_operators: usize,
    pub(crate) max_constant_bytes: usize,
}

/// Reading or writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    ReadOnly,
    Write,
}

impl Policy {
    /// The read-only policy: exactly one `SELECT` / `VALUES` / `TABLE` / `WITH … SELECT`
    /// whose every part only reads, `EXPLAIN` (without `ANALYZE`) of one, or `SHOW` of an
    /// allow-listed setting; functions only from the allow-list of side-effect-free
    /// functions.
    pub fn read_only() -> Self {
        Policy {
            mode: Mode::ReadOnly,
            functions: SAFE_FUNCTIONS.iter().map(|f| (*f).to_owned()).collect(),
            settings: SAFE_SETTINGS.iter().map(|s| (*s).to_owned()).collect(),
            sensitive: SENSITIVE_RELATIONS
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            ddl: false,
            require_where: false,
            max_sql_bytes: DEFAULT_MAX_SQL_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
            max_operators: DEFAULT_MAX_OPERATORS,
            max_constant_bytes: DEFAULT_MAX_CONSTANT_BYTES,
        }
    }

    /// The write policy: exactly one `INSERT`, `UPDATE`, `DELETE` or `MERGE` (plus
    /// queries, which a writer may run too). Never `DROP DATABASE`/`SCHEMA`,
    /// `ALTER SYSTEM`, `COPY`, `CREATE EXTENSION`/`FUNCTION`/`LANGUAGE`, privilege or role
    /// changes, `SET ROLE`, or transaction control. DDL on tables, views and indexes only
    /// after [`Policy::allow_ddl`]. Functions come from the same allow-list as reads,
    /// plus the sequence functions (`nextval`, `setval`, …).
    pub fn write() -> Self {
        let mut policy = Policy::read_only();
        policy.mode = Mode::Write;
        policy
            .functions
            .extend(WRITE_FUNCTIONS.iter().map(|f| (*f).to_owned()));
        policy
    }

    /// Allows a function by name: `name` or `schema.name`, matched the way PostgreSQL
    /// matches unquoted names (case-insensitively). An unqualified name matches calls
    /// written unqualified or qualified with `pg_catalog`; a qualified name matches only
    /// calls qualified with that schema.
    #[must_use]
    pub fn allow_function(mut self, name: &str) -> Self {
        self.functions.insert(name.trim().to_ascii_lowercase());
        self
    }

    /// Removes a function from the allow-list (for example `version`, if the server's
    /// version is nobody's business).
    #[must_use]
    pub fn deny_function(mut self, name: &str) -> Self {
        self.functions.remove(&name.trim().to_ascii_lowercase());
        self
    }

    /// Allows `SHOW` of one more setting under the read-only policy.
    #[must_use]
    pub fn allow_setting(mut self, name: &str) -> Self {
        self.settings.insert(name.trim().to_ascii_lowercase());
        self
    }

    /// Lets queries read a relation that is refused by default as sensitive
    /// (`pg_catalog.pg_stat_activity`, say, for a monitoring server whose readers may see
    /// other sessions' SQL). Name it with its schema, as listed in the
    /// [manual](crate::manual#sensitive-relations).
    #[must_use]
    pub fn allow_relation(mut self, name: &str) -> Self {
        self.sensitive.remove(&name.trim().to_ascii_lowercase());
        self
    }

    /// Refuses reads of one more relation (`schema.name`), as the sensitive system
    /// relations are: `audit.secrets`, say. An unqualified reference to a relation of
    /// that name is refused too.
    #[must_use]
    pub fn deny_relation(mut self, name: &str) -> Self {
        self.sensitive.insert(name.trim().to_ascii_lowercase());
        self
    }

    /// The functions that may be called: names (built-in functions, matched in any
    /// schema the call names or `pg_catalog`) and `schema.name` entries, sorted.
    pub fn allowed_functions(&self) -> impl Iterator<Item = &str> {
        let mut names: Vec<&str> = self.functions.iter().map(String::as_str).collect();
        names.sort_unstable();
        names.into_iter()
    }

    /// The relations refused as sensitive, `schema.name`, sorted.
    pub fn sensitive_relations(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.sensitive.iter().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Under the write policy, also allows `CREATE`/`ALTER`/`DROP` of tables, views and
    /// indexes (never of databases, schemas, roles, functions, extensions or languages).
    #[must_use]
    pub fn allow_ddl(mut self, allow: bool) -> Self {
        self.ddl = allow;
        self
    }

    /// Refuses `UPDATE` and `DELETE` without a `WHERE` clause, the classic accident.
    #[must_use]
    pub fn require_where(mut self, require: bool) -> Self {
        self.require_where = require;
        self
    }

    /// Sets the longest SQL text accepted, in bytes.
    #[must_use]
    pub fn max_sql_bytes(mut self, bytes: usize) -> Self {
        self.max_sql_bytes = bytes;
        self
    }

    /// Sets the parser's recursion limit: deeper input is refused before it can exhaust
    /// the stack.
    #[must_use]
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Sets the most operators one statement may hold. Long operator chains make deep
    /// syntax trees that the parser's recursion limit does not see.
    #[must_use]
    pub fn max_operators(mut self, operators: usize) -> Self {
        self.max_operators = operators;
        self
    }

    /// Sets the largest value a growing function (`repeat`, `lpad`, `rpad`, `format`,
    /// `array_fill`, …) may build from constants, and the largest constant count it may
    /// take. PostgreSQL folds constant calls while it plans, before any timeout or row
    /// cap applies.
    #[must_use]
    pub fn max_constant_bytes(mut self, bytes: usize) -> Self {
        self.max_constant_bytes = bytes;
        self
    }

    /// True for a policy built from [`Policy::read_only`].
    pub fn is_read_only(&self) -> bool {
        self.mode == Mode::ReadOnly
    }

    /// True when `name` (already folded as PostgreSQL would) may be called.
    pub(crate) fn function_allowed(&self, schema: Option<&str>, name: &str) -> bool {
        match schema {
            None | Some("pg_catalog") => self.functions.contains(name),
            Some(schema) => self.functions.contains(&format!("{schema}.{name}")),
        }
    }
}
