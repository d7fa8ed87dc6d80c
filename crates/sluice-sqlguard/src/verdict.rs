//! What the guard decides: [`Verdict`], and the types it is made of.

use std::fmt;

/// The guard's decision on one piece of SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "verdict", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Verdict {
    /// The statement may run under the guard's policy.
    Allowed(Allowed),
    /// The statement must not run; `reason` says which rule refused it and `message`
    /// explains it in words a language model can act on.
    Refused(Refusal),
}

impl Verdict {
    /// True when the statement may run.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed(_))
    }

    /// The refusal, if the statement was refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Verdict::Refused(refusal) => Some(refusal),
            Verdict::Allowed(_) => None,
        }
    }

    pub(crate) fn refused(reason: RefusalReason, message: impl Into<String>) -> Self {
        Verdict::Refused(Refusal {
            reason,
            message: message.into(),
        })
    }
}

/// An allowed statement: what kind it is and which relations it touches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Allowed {
    /// The kind of the (single) statement.
    pub kind: StatementKind,
    /// Relations the statement reads, as written in the SQL (`schema.table` or
    /// `table`), without duplicates and without the names of its own CTEs.
    pub reads: Vec<String>,
    /// Relations the statement writes (empty for reads).
    pub writes: Vec<String>,
    /// What the statement names that only the database's catalog can resolve, for a
    /// check against it before the statement runs (`sluice-postgres` makes it).
    pub names: Names,
    /// The most rows the statement can return, by its own top-level `LIMIT n` or
    /// `FETCH FIRST n ROWS ONLY` with a literal `n` (`None` when its text does not bound
    /// it: no limit, a parameter, an expression, `WITH TIES`, `PERCENT`).
    pub row_limit: Option<u64>,
    /// The query with its literals taken out as `$1 … $n`, for a server that prepares
    /// one statement for every text of the same shape (`None` for anything but a query,
    /// and for a query with nothing to take out): [`Parameterised`](crate::Parameterised).
    pub parameterised: Option<crate::Parameterised>,
}

/// The names in a statement that the guard cannot judge from the text alone, because
/// what they do depends on the database's own objects: a relation may be a view whose
/// body calls functions, a routine name may resolve to a user-defined overload that
/// out-ranks the built-in (`lower(integer)`), `t.f` may call a function `f(t)`, an
/// operator may be user-defined, and a cast to a domain runs the domain's checks.
///
/// Every list is sorted and free of duplicates; names are folded as PostgreSQL folds
/// unquoted names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Names {
    /// Relations read or written, each as its parts (`["public", "orders"]`), without
    /// the statement's own CTE names.
    pub relations: Vec<Vec<String>>,
    /// Routine names that may be called: every function called, and the last part of
    /// every qualified name (`t.f`), without schema.
    pub routines: Vec<String>,
    /// Operator symbols used, including the comparisons PostgreSQL applies implicitly
    /// (`IN`, `BETWEEN`, `ORDER BY`, joins).
    pub operators: Vec<String>,
    /// Bare names of the types the statement casts to (`::mood`, `inet '…'`).
    pub types: Vec<String>,
}

/// A refused statement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Refusal {
    /// Which rule refused the statement.
    pub reason: RefusalReason,
    /// The explanation, written for the caller (often a language model).
    pub message: String,
}

impl Refusal {
    /// A refusal made outside the guard, by a layer that judges what the guard cannot
    /// (`sluice-postgres` checks the catalog for code behind names).
    pub fn new(reason: RefusalReason, message: impl Into<String>) -> Self {
        Refusal {
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The kind of an allowed statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum StatementKind {
    /// A query: `SELECT`, `VALUES`, `TABLE`, or `WITH … SELECT`.
    Query,
    /// `EXPLAIN` (without `ANALYZE`) of a query.
    Explain,
    /// `SHOW` of an allow-listed setting.
    Show,
    /// `INSERT`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `MERGE`.
    Merge,
    /// `CREATE TABLE`, `CREATE VIEW` or `CREATE INDEX` (only when the policy allows DDL).
    Create,
    /// `ALTER TABLE` (only when the policy allows DDL).
    Alter,
    /// `DROP TABLE`, `DROP VIEW` or `DROP INDEX` (only when the policy allows DDL).
    Drop,
}

impl StatementKind {
    /// True for kinds that only read.
    pub fn is_read_only(self) -> bool {
        matches!(
            self,
            StatementKind::Query | StatementKind::Explain | StatementKind::Show
        )
    }
}

/// Why a statement was refused. Each variant is one rule of the guard; the
/// [manual](crate::manual) gives the attack each rule stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum RefusalReason {
    /// The input holds no statement at all (empty, or only comments).
    Empty,
    /// The input is longer than the policy's limit.
    TooLong,
    /// The input nests deeper than the parser's recursion limit.
    TooDeeplyNested,
    /// The input holds more operators than the policy's limit.
    TooComplex,
    /// The input does not parse as PostgreSQL; the guard fails closed.
    Unparsable,
    /// More than one statement: each call may run exactly one.
    MultipleStatements,
    /// The statement's kind is not allowed by the policy (a write under the read-only
    /// policy, `COPY`, `DO`, `CALL`, `SET`, transaction control, …).
    StatementNotAllowed,
    /// A data-modifying statement nested in a query (`WITH d AS (DELETE …) SELECT …`).
    DataModifyingCte,
    /// `SELECT … INTO`, which creates a table.
    SelectInto,
    /// A locking clause (`FOR UPDATE`, `FOR SHARE`, …), which takes row locks.
    LockingClause,
    /// A call of a function that is not on the allow-list of side-effect-free functions.
    FunctionNotAllowed,
    /// `EXPLAIN ANALYZE`, which runs the statement it explains.
    ExplainAnalyze,
    /// `SHOW` of a setting that is not on the allow-list.
    SettingNotAllowed,
    /// `UPDATE` or `DELETE` without `WHERE`, when the policy forbids it.
    MissingWhere,
    /// The guard's parser and PostgreSQL would tokenise the text differently (where a
    /// string, name or comment begins or ends), so the guard cannot judge what
    /// PostgreSQL would run.
    Ambiguous,
    /// A read of a system relation that holds secrets or private details of the server
    /// (`pg_authid`, `pg_settings`, `pg_stat_activity`, …).
    SensitiveRelation,
    /// A write to a system catalog (`UPDATE pg_settings …`, `DELETE FROM
    /// pg_catalog.pg_description …`).
    SystemCatalogWrite,
    /// A call would build a value above the policy's bound (`repeat('x', 500000000)`),
    /// in memory, and while planning when its arguments are constants.
    TooLarge,
    /// The statement would run code that its text does not show: a user-defined
    /// function behind a view, an overload, attribute notation, an operator, a cast, a
    /// domain check or a row-level security policy, or a foreign table. Found in the
    /// database's catalog, not by the guard itself (see `sluice-postgres`).
    HiddenCode,
}

impl RefusalReason {
    /// A stable, machine-readable name (`snake_case`) for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Empty => "empty",
            RefusalReason::TooLong => "too_long",
            RefusalReason::TooDeeplyNested => "too_deeply_nested",
            RefusalReason::TooComplex => "too_complex",
            RefusalReason::Unparsable => "unparsable",
            RefusalReason::MultipleStatements => "multiple_statements",
            RefusalReason::StatementNotAllowed => "statement_not_allowed",
            RefusalReason::DataModifyingCte => "data_modifying_cte",
            RefusalReason::SelectInto => "select_into",
            RefusalReason::LockingClause => "locking_clause",
            RefusalReason::FunctionNotAllowed => "function_not_allowed",
            RefusalReason::ExplainAnalyze => "explain_analyze",
            RefusalReason::SettingNotAllowed => "setting_not_allowed",
            RefusalReason::MissingWhere => "missing_where",
            RefusalReason::Ambiguous => "ambiguous",
            RefusalReason::SensitiveRelation => "sensitive_relation",
            RefusalReason::SystemCatalogWrite => "system_catalog_write",
            RefusalReason::HiddenCode => "hidden_code",
            RefusalReason::TooLarge => "too_large",
        }
    }
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
