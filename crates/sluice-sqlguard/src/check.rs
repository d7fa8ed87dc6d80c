//! The decision itself: parse, look at the statement's kind, then walk every node.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FromTable, Function, ObjectName, ObjectNamePart, ObjectType, Query, SetExpr, Statement,
    TableFactor, TableObject, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::policy::{Mode, Policy};
use crate::verdict::{Allowed, RefusalReason, StatementKind, Verdict};

/// Checks `sql` against `policy`.
pub(crate) fn check(policy: &Policy, sql: &str) -> Verdict {
    if sql.len() > policy.max_sql_bytes {
        return Verdict::refused(
            RefusalReason::TooLong,
            format!(
                "the SQL is {} bytes long; the limit is {} bytes. Send a shorter statement.",
                sql.len(),
                policy.max_sql_bytes
            ),
        );
    }
    let rewritten = rewrite_table_command(sql);
    let dialect = PostgreSqlDialect {};
    let tokens = match Tokenizer::new(&dialect, rewritten.as_deref().unwrap_or(sql))
        .tokenize_with_location()
    {
        Ok(tokens) => tokens,
        Err(e) => return unparsable(&e.to_string()),
    };
    // Operator chains (`1 + 1 + … + 1`) are built by a loop in the parser, so its
    // recursion limit does not see them, yet the tree they make is as deep as they are
    // long, and walking or even dropping it recurses. Count them before parsing.
    let operators = tokens.iter().filter(|t| is_operator(&t.token)).count();
    if operators > policy.max_operators {
        return Verdict::refused(
            RefusalReason::TooComplex,
            format!(
                "the SQL has {operators} operators; the limit is {}. Simplify the expression \
                 or split the work into several queries.",
                policy.max_operators
            ),
        );
    }
    let statements = match Parser::new(&dialect)
        .with_recursion_limit(policy.max_depth)
        .with_tokens_with_locations(tokens)
        .parse_statements()
    {
        Ok(statements) => statements,
        Err(ParserError::RecursionLimitExceeded) => {
            return Verdict::refused(
                RefusalReason::TooDeeplyNested,
                format!(
                    "the SQL nests more than {} levels deep; flatten the expression or the \
                     sub-queries.",
                    policy.max_depth
                ),
            );
        }
        Err(ParserError::TokenizerError(e) | ParserError::ParserError(e)) => {
            return unparsable(&e);
        }
    };
    let statement = match statements.as_slice() {
        [] => {
            return Verdict::refused(
                RefusalReason::Empty,
                "the SQL holds no statement; send exactly one.",
            );
        }
        [statement] => statement,
        more => {
            return Verdict::refused(
                RefusalReason::MultipleStatements,
                format!(
                    "only one statement per call; found {}. Send each statement in its own call.",
                    more.len()
                ),
            );
        }
    };
    match classify(policy, statement) {
        Ok(kind) => walk(policy, statement, kind),
        Err(refusal) => refusal,
    }
}

fn unparsable(error: &str) -> Verdict {
    Verdict::refused(
        RefusalReason::Unparsable,
        format!(
            "could not parse the SQL as PostgreSQL: {error}. Only statements the guard can \
             parse are run."
        ),
    )
}

/// True for tokens that join or wrap operands: everything but words, literals and the
/// punctuation of lists (`,` `(` `)` `.` `;`), plus the keyword operators.
fn is_operator(token: &Token) -> bool {
    match token {
        Token::Word(word) => matches!(
            word.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::NOT
                | Keyword::IS
                | Keyword::LIKE
                | Keyword::ILIKE
        ),
        Token::EOF
        | Token::Number(..)
        | Token::Char(_)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_)
        | Token::Comma
        | Token::Whitespace(_)
        | Token::LParen
        | Token::RParen
        | Token::Period
        | Token::SemiColon
        | Token::Placeholder(_) => false,
        _ => true,
    }
}

/// PostgreSQL's `TABLE name` is short for `SELECT * FROM name`, which sqlparser does not
/// parse on its own. The guard judges the long form instead. The rewrite can only make
/// the guard stricter than PostgreSQL: whatever follows `TABLE` is parsed and walked as
/// a `FROM` list, and anything PostgreSQL would not accept after `TABLE` it rejects itself.
fn rewrite_table_command(sql: &str) -> Option<String> {
    let trimmed = sql.trim_start();
    let keyword = trimmed.get(..5)?;
    let after = trimmed.get(5..)?;
    if keyword.eq_ignore_ascii_case("table") && after.starts_with(|c: char| c.is_whitespace()) {
        Some(format!("SELECT * FROM{after}"))
    } else {
        None
    }
}

/// Decides whether the statement's kind may run at all under the policy.
fn classify(policy: &Policy, statement: &Statement) -> Result<StatementKind, Verdict> {
    let read_only = policy.mode == Mode::ReadOnly;
    let kind = match statement {
        // `WITH … INSERT …` parses as a query whose body is the write.
        Statement::Query(query) => match query.body.as_ref() {
            SetExpr::Insert(_) => StatementKind::Insert,
            SetExpr::Update(_) => StatementKind::Update,
            SetExpr::Delete(_) => StatementKind::Delete,
            SetExpr::Merge(_) => StatementKind::Merge,
            _ => StatementKind::Query,
        },
        Statement::Explain {
            analyze,
            statement: inner,
            options,
            ..
        } => {
            let analyze_option = options.iter().flatten().any(|option| {
                option.name.value.eq_ignore_ascii_case("analyze")
                    && !matches!(&option.arg, Some(Expr::Value(v)) if v.to_string().eq_ignore_ascii_case("false"))
            });
            if *analyze || analyze_option {
                return Err(Verdict::refused(
                    RefusalReason::ExplainAnalyze,
                    "EXPLAIN ANALYZE runs the statement it explains, so it is not allowed; use \
                     EXPLAIN without ANALYZE.",
                ));
            }
            if !matches!(**inner, Statement::Query(_)) {
                return Err(Verdict::refused(
                    RefusalReason::StatementNotAllowed,
                    format!(
                        "EXPLAIN is only allowed for queries, not for {}.",
                        describe(inner)
                    ),
                ));
            }
            StatementKind::Explain
        }
        Statement::ShowVariable { variable } => {
            let name = variable
                .iter()
                .map(|ident| ident.value.to_lowercase())
                .collect::<Vec<_>>()
                .join(" ");
            if !policy.settings.contains(&name) {
                return Err(Verdict::refused(
                    RefusalReason::SettingNotAllowed,
                    format!(
                        "SHOW {name} is not allowed; only harmless settings such as search_path, TimeZone and server_version can be shown."
                    ),
                ));
            }
            StatementKind::Show
        }
        Statement::Insert(_) if !read_only => StatementKind::Insert,
        Statement::Update(_) if !read_only => StatementKind::Update,
        Statement::Delete(_) if !read_only => StatementKind::Delete,
        Statement::Merge(_) if !read_only => StatementKind::Merge,
        Statement::CreateTable(_) | Statement::CreateView(_) | Statement::CreateIndex(_)
            if !read_only && policy.ddl =>
        {
            StatementKind::Create
        }
        Statement::AlterTable(_) if !read_only && policy.ddl => StatementKind::Alter,
        Statement::Drop { object_type, .. }
            if !read_only
                && policy.ddl
                && matches!(
                    object_type,
                    ObjectType::Table | ObjectType::View | ObjectType::Index
                ) =>
        {
            StatementKind::Drop
        }
        other => {
            let what = describe(other);
            let message = if read_only && writes_data(other) {
                format!(
                    "{what} changes data, and this tool only runs read-only queries \
                     (SELECT, VALUES, TABLE, WITH … SELECT, EXPLAIN, SHOW)."
                )
            } else if read_only {
                format!(
                    "{what} is not allowed; this tool only runs read-only queries \
                     (SELECT, VALUES, TABLE, WITH … SELECT, EXPLAIN, SHOW)."
                )
            } else if is_ddl_kind(other) && !policy.ddl {
                format!(
                    "{what} is not allowed: this server does not allow schema changes; \
                     only INSERT, UPDATE, DELETE and MERGE can change data."
                )
            } else {
                format!(
                    "{what} is not allowed; only INSERT, UPDATE, DELETE, MERGE and queries \
                     can run here."
                )
            };
            return Err(Verdict::refused(
                RefusalReason::StatementNotAllowed,
                message,
            ));
        }
    };
    if policy.require_where {
        let missing = match statement {
            Statement::Update(update) => update.selection.is_none(),
            Statement::Delete(delete) => delete.selection.is_none(),
            _ => false,
        };
        if missing {
            return Err(Verdict::refused(
                RefusalReason::MissingWhere,
                format!(
                    "{} without WHERE would change every row, and this server refuses that; \
                     add a WHERE clause (WHERE true if you really mean every row).",
                    describe(statement)
                ),
            ));
        }
    }
    Ok(kind)
}

/// Walks every node of an allowed kind of statement, refusing what hides inside.
fn walk(policy: &Policy, statement: &Statement, kind: StatementKind) -> Verdict {
    let mut walker = Walker {
        policy,
        top: true,
        // EXPLAIN's own statement is the one nested statement that is no sub-statement.
        explained: matches!(statement, Statement::Explain { .. }),
        reads: BTreeSet::new(),
        ctes: BTreeSet::new(),
    };
    if let ControlFlow::Break(refusal) = statement.visit(&mut walker) {
        return refusal;
    }
    let mut writes = BTreeSet::new();
    // Under the read-only policy an allowed statement writes nothing: skip the second walk.
    if !kind.is_read_only() {
        write_targets(statement, &mut writes);
    }
    let reads = walker
        .reads
        .into_iter()
        .filter(|name| !walker.ctes.contains(name) && !writes.contains(name))
        .collect();
    Verdict::Allowed(Allowed {
        kind,
        reads,
        writes: writes.into_iter().collect(),
    })
}

struct Walker<'p> {
    policy: &'p Policy,
    /// True until the top-level statement has been seen.
    top: bool,
    /// True while the query an `EXPLAIN` explains has not been seen yet.
    explained: bool,
    reads: BTreeSet<String>,
    ctes: BTreeSet<String>,
}

impl Visitor for Walker<'_> {
    type Break = Verdict;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<Verdict> {
        if std::mem::take(&mut self.top) {
            return ControlFlow::Continue(());
        }
        if matches!(statement, Statement::Query(_)) && std::mem::take(&mut self.explained) {
            return ControlFlow::Continue(());
        }
        // A statement inside the statement: `WITH d AS (DELETE … RETURNING …) SELECT …`
        // and its INSERT/UPDATE/MERGE cousins, at any depth.
        if self.policy.mode == Mode::ReadOnly {
            return ControlFlow::Break(Verdict::refused(
                RefusalReason::DataModifyingCte,
                format!(
                    "the query contains a data-modifying {} (inside WITH or a sub-query); \
                     this tool only runs read-only queries.",
                    describe(statement)
                ),
            ));
        }
        match statement {
            Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::Merge(_)
            | Statement::Query(_) => ControlFlow::Continue(()),
            other => ControlFlow::Break(Verdict::refused(
                RefusalReason::StatementNotAllowed,
                format!(
                    "{} is not allowed inside another statement.",
                    describe(other)
                ),
            )),
        }
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Verdict> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.to_lowercase());
            }
        }
        if !query.locks.is_empty() && self.policy.mode == Mode::ReadOnly {
            return ControlFlow::Break(Verdict::refused(
                RefusalReason::LockingClause,
                "locking clauses (FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE, FOR KEY SHARE) \
                 take row locks and are not allowed in read-only queries; remove the FOR … \
                 clause.",
            ));
        }
        if let SetExpr::Select(select) = query.body.as_ref()
            && select.into.is_some()
        {
            return ControlFlow::Break(select_into());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<Verdict> {
        self.reads.insert(relation_name(relation));
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Verdict> {
        match factor {
            // `FROM generate_series(1, 3)`: sqlparser reads a table with arguments.
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => self.check_function_name(name),
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Verdict> {
        match expr {
            Expr::Function(Function { name, .. }) => self.check_function_name(name),
            // Sub-queries in expressions are walked like any other query: their own
            // pre_visit_query runs when the visitor reaches them.
            _ => ControlFlow::Continue(()),
        }
    }
}

impl Walker<'_> {
    fn check_function_name(&mut self, name: &ObjectName) -> ControlFlow<Verdict> {
        // The name as called, with the table function's name not being a relation read.
        self.reads.remove(&relation_name(name));
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|part| match part {
                ObjectNamePart::Identifier(ident) => fold(ident),
                // A computed name part is nothing PostgreSQL has; fail closed.
                ObjectNamePart::Function(f) => format!("{}()", f.name.value),
            })
            .collect();
        let allowed = match parts.as_slice() {
            [name] => self.policy.function_allowed(None, name),
            [schema, name] => self.policy.function_allowed(Some(schema), name),
            _ => false,
        };
        if allowed {
            return ControlFlow::Continue(());
        }
        let shown = parts.join(".");
        let message = if self.policy.mode == Mode::ReadOnly {
            format!(
                "function {shown} is not allowed in read-only queries: only functions known to \
                 have no side effects (aggregates, math, string, date/time, JSON, array, \
                 window functions, …) can be called."
            )
        } else {
            format!(
                "function {shown} is not allowed: only functions known to have no side effects \
                 beyond the statement itself can be called."
            )
        };
        ControlFlow::Break(Verdict::refused(RefusalReason::FunctionNotAllowed, message))
    }
}

fn select_into() -> Verdict {
    Verdict::refused(
        RefusalReason::SelectInto,
        "SELECT … INTO creates a new table and is not allowed; remove the INTO clause to \
         read the rows instead.",
    )
}

/// An identifier as PostgreSQL sees it: unquoted names fold to lower case, quoted names
/// keep their case exactly.
fn fold(ident: &sqlparser::ast::Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn relation_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => fold(ident),
            ObjectNamePart::Function(f) => f.name.value.clone(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The relations a statement (and the statements nested in it) writes.
fn write_targets(statement: &Statement, out: &mut BTreeSet<String>) {
    struct Targets<'a>(&'a mut BTreeSet<String>);
    impl Visitor for Targets<'_> {
        type Break = ();
        fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
            match statement {
                Statement::Insert(insert) => {
                    if let TableObject::TableName(name) = &insert.table {
                        self.0.insert(relation_name(name));
                    }
                }
                Statement::Update(update) => table_factor_name(&update.table.relation, self.0),
                Statement::Delete(delete) => {
                    let (FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables)) =
                        &delete.from;
                    for table in tables {
                        table_factor_name(&table.relation, self.0);
                    }
                }
                Statement::Merge(merge) => table_factor_name(&merge.table, self.0),
                Statement::CreateTable(create) => {
                    self.0.insert(relation_name(&create.name));
                }
                Statement::AlterTable(alter) => {
                    self.0.insert(relation_name(&alter.name));
                }
                Statement::Drop { names, .. } => {
                    self.0.extend(names.iter().map(relation_name));
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    fn table_factor_name(factor: &TableFactor, out: &mut BTreeSet<String>) {
        if let TableFactor::Table { name, .. } = factor {
            out.insert(relation_name(name));
        }
    }
    let _ = statement.visit(&mut Targets(out));
}

fn writes_data(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::Merge(_)
            | Statement::Truncate(_)
            | Statement::Copy { .. }
    ) || is_ddl_kind(statement)
}

fn is_ddl_kind(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateTable(_)
            | Statement::CreateView(_)
            | Statement::CreateIndex(_)
            | Statement::AlterTable(_)
            | Statement::Drop { .. }
    )
}

/// A short, upper-case name of what a statement is, for messages.
fn describe(statement: &Statement) -> String {
    let name = match statement {
        Statement::Query(_) => "a query",
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge(_) => "MERGE",
        Statement::Truncate(_) => "TRUNCATE",
        Statement::Copy { .. } => "COPY",
        Statement::Call(_) => "CALL",
        Statement::Set(_) => "SET",
        Statement::Reset(_) => "RESET",
        Statement::Discard { .. } => "DISCARD",
        Statement::StartTransaction { .. } => "transaction control (BEGIN/START TRANSACTION)",
        Statement::Commit { .. } => "transaction control (COMMIT)",
        Statement::Rollback { .. } => "transaction control (ROLLBACK)",
        Statement::Savepoint { .. } | Statement::ReleaseSavepoint { .. } => {
            "transaction control (SAVEPOINT)"
        }
        Statement::Prepare { .. } => "PREPARE",
        Statement::Execute { .. } => "EXECUTE",
        Statement::Deallocate { .. } => "DEALLOCATE",
        Statement::LISTEN { .. } => "LISTEN",
        Statement::UNLISTEN { .. } => "UNLISTEN",
        Statement::NOTIFY { .. } => "NOTIFY",
        Statement::LockTables { .. } => "LOCK",
        Statement::Vacuum(_) => "VACUUM",
        Statement::Analyze(_) => "ANALYZE",
        Statement::Explain { .. } => "EXPLAIN",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView(_) => "CREATE VIEW",
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::AlterTable(_) => "ALTER TABLE",
        Statement::Drop { object_type, .. } => {
            return format!("DROP {}", object_type.to_string().to_uppercase());
        }
        Statement::CreateSchema { .. } => "CREATE SCHEMA",
        Statement::CreateDatabase { .. } => "CREATE DATABASE",
        Statement::CreateFunction(_) => "CREATE FUNCTION",
        Statement::CreateProcedure { .. } => "CREATE PROCEDURE",
        Statement::CreateExtension(_) => "CREATE EXTENSION",
        Statement::CreateTrigger(_) => "CREATE TRIGGER",
        Statement::CreateRole(_) | Statement::CreateUser(_) => "CREATE ROLE",
        Statement::AlterRole { .. } | Statement::AlterUser(_) => "ALTER ROLE",
        Statement::Grant(_) => "GRANT",
        Statement::Revoke(_) => "REVOKE",
        Statement::Declare { .. } => "DECLARE (cursor)",
        Statement::Fetch { .. } => "FETCH (cursor)",
        Statement::Close { .. } => "CLOSE (cursor)",
        Statement::Comment { .. } => "COMMENT",
        _ => {
            // Name it by its first keyword, as the user wrote it.
            let text = statement.to_string();
            let keyword: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
                .to_uppercase();
            return if keyword.is_empty() {
                "this statement".to_owned()
            } else {
                keyword
            };
        }
    };
    name.to_owned()
}
