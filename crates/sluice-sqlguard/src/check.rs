//! The decision itself: parse, look at the statement's kind, then walk every node.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, ObjectName, ObjectNamePart, ObjectType, Query, SetExpr, Statement, TableFactor,
    Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::describe::{describe, is_ddl_kind, writes_data};
use crate::names::{self, Collected, fold, relation_name, write_targets};
use crate::policy::{Mode, Policy};
use crate::verdict::{Allowed, Refusal, RefusalReason, StatementKind, Verdict};
use crate::{agreement, expansion, relations};

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
    let text = rewritten.as_deref().unwrap_or(sql);
    let tokens = match Tokenizer::new(&dialect, text).tokenize_with_location() {
        Ok(tokens) => tokens,
        Err(e) => return unparsable(&e.to_string()),
    };
    // Judge only what PostgreSQL will read the same way.
    if let Err(refusal) = agreement::check(text, &tokens) {
        return Verdict::Refused(refusal);
    }
    if let Some(refusal) = explain_analyse(&tokens) {
        return refusal;
    }
    let tokens = xml_element_labels(tokens);
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
        Ok(kind) => match walk(policy, statement, kind) {
            // The text PostgreSQL gets is `sql` itself: a rewritten one has no form.
            Verdict::Allowed(mut allowed) if rewritten.is_none() => {
                allowed.parameterised = crate::literals::parameterise(sql, statement);
                Verdict::Allowed(allowed)
            }
            other => other,
        },
        Err(refusal) => Verdict::Refused(refusal),
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
        // Every key word that joins or wraps operands, each a level of the syntax tree.
        Token::Word(word) => matches!(
            word.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::NOT
                | Keyword::IS
                | Keyword::NOTNULL
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::BETWEEN
                | Keyword::IN
                | Keyword::COLLATE
                | Keyword::AT
                | Keyword::UNION
                | Keyword::INTERSECT
                | Keyword::EXCEPT
                | Keyword::ESCAPE
                | Keyword::OVERLAPS
                | Keyword::ANY
                | Keyword::ALL
                | Keyword::SOME
                | Keyword::CASE
                | Keyword::WHEN
                | Keyword::EXISTS
                | Keyword::ARRAY
                | Keyword::OPERATOR
                | Keyword::XOR
                | Keyword::DIV
                | Keyword::MOD
                | Keyword::REGEXP
                | Keyword::RLIKE
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
fn classify(policy: &Policy, statement: &Statement) -> Result<StatementKind, Refusal> {
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
            // An ANALYZE option in either spelling, unless its value is one PostgreSQL
            // reads as false: `1`, `on`, `yes`, `'t'` and no value all mean true.
            let analyze_option = options.iter().flatten().any(|option| {
                (option.name.value.eq_ignore_ascii_case("analyze")
                    || option.name.value.eq_ignore_ascii_case("analyse"))
                    && !option.arg.as_ref().is_some_and(means_false)
            });
            if *analyze || analyze_option {
                return Err(explain_analyze_refusal());
            }
            if !matches!(**inner, Statement::Query(_)) {
                return Err(Refusal::new(
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
                .map(|ident| ident.value.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(" ");
            if !policy.settings.contains(&name) {
                return Err(Refusal::new(
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
            return Err(Refusal::new(RefusalReason::StatementNotAllowed, message));
        }
    };
    if policy.require_where {
        let missing = match statement {
            Statement::Update(update) => update.selection.is_none(),
            Statement::Delete(delete) => delete.selection.is_none(),
            _ => false,
        };
        if missing {
            return Err(Refusal::new(
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
    let mut writes = BTreeSet::new();
    // Under the read-only policy an allowed statement writes nothing: skip this walk.
    // (Under the write policy a query may still write, in a data-modifying CTE.)
    // Writes are judged first: a write to a catalog is refused as that, whatever it reads.
    if policy.mode == Mode::Write {
        write_targets(statement, &mut writes);
        if let Some(refusal) = writes
            .iter()
            .find_map(|name| relations::system_target(name))
        {
            return refusal;
        }
    }
    let mut walker = Walker {
        policy,
        top: true,
        // EXPLAIN's own statement is the one nested statement that is no sub-statement.
        explained: matches!(statement, Statement::Explain { .. }),
        reads: BTreeSet::new(),
        ctes: BTreeSet::new(),
        collected: Collected::default(),
    };
    if let ControlFlow::Break(refusal) = statement.visit(&mut walker) {
        return refusal;
    }
    let Walker {
        reads,
        ctes,
        collected,
        ..
    } = walker;
    let names = collected.into_names(&ctes);
    let reads = reads
        .into_iter()
        .filter(|name| !ctes.contains(name) && !writes.contains(name))
        .collect();
    Verdict::Allowed(Allowed {
        kind,
        reads,
        writes: writes.into_iter().collect(),
        names,
        row_limit: crate::row_limit::of(statement),
        parameterised: None,
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
    /// What the statement names that the catalog resolves (for [`Names`]).
    collected: Collected,
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
                self.ctes.insert(fold(&cte.alias.name));
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
        // `SELECT … INTO t FROM a UNION SELECT …`: INTO may sit in any branch.
        if has_into(query.body.as_ref()) {
            return ControlFlow::Break(select_into());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<Verdict> {
        for part in &relation.0 {
            if let ObjectNamePart::Identifier(ident) = part {
                self.check_not_reserved(ident)?;
            }
        }
        let name = relation_name(relation);
        self.collected.relation(relation);
        if let Some(refusal) = relations::sensitive(self.policy, &name) {
            return ControlFlow::Break(refusal);
        }
        self.reads.insert(name);
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
        self.collected.expr(expr);
        match expr {
            Expr::Identifier(ident) => self.check_not_reserved(ident),
            Expr::CompoundIdentifier(idents) => idents
                .iter()
                .try_for_each(|ident| self.check_not_reserved(ident)),
            Expr::Function(function) => {
                self.check_function_name(&function.name)?;
                self.check_expansion(function)
            }
            // Sub-queries in expressions are walked like any other query: their own
            // pre_visit_query runs when the visitor reaches them.
            _ => ControlFlow::Continue(()),
        }
    }
}

impl Walker<'_> {
    /// Refuses a name PostgreSQL would not read as one: a reserved key word, or a name
    /// written in single quotes or backticks (`a.'x'`, which sqlparser accepts as a
    /// column and PostgreSQL rejects).
    fn check_not_reserved(&self, ident: &sqlparser::ast::Ident) -> ControlFlow<Verdict> {
        if !matches!(ident.quote_style, None | Some('"')) {
            return ControlFlow::Break(Verdict::refused(
                RefusalReason::Unparsable,
                format!(
                    "{}{}{} is a string where PostgreSQL expects a name; write names plainly \
                     or in double quotes.",
                    ident.quote_style.unwrap_or('\''),
                    ident.value,
                    ident.quote_style.unwrap_or('\'')
                ),
            ));
        }
        if names::is_reserved(ident) {
            return ControlFlow::Break(Verdict::refused(
                RefusalReason::Unparsable,
                format!(
                    "{} is a reserved word in PostgreSQL and cannot be a name here; if it \
                     is one, quote it (\"{}\"). Only statements the guard can parse as \
                     PostgreSQL does are run.",
                    ident.value.to_uppercase(),
                    ident.value.to_ascii_lowercase()
                ),
            ));
        }
        ControlFlow::Continue(())
    }

    /// Refuses a call that would build a value above the policy's bound: while planning,
    /// when its arguments are constants, or for every row, when its count is.
    fn check_expansion(&self, function: &Function) -> ControlFlow<Verdict> {
        if !expansion::is_growing(function) {
            return ControlFlow::Continue(());
        }
        let bound = self.policy.max_constant_bytes as u128;
        let size = expansion::oversized_count(function, bound)
            .or_else(|| expansion::function_size(function).filter(|s| *s > bound));
        match size {
            Some(size) => ControlFlow::Break(Verdict::refused(
                RefusalReason::TooLarge,
                format!(
                    "{} would build a value of up to {} bytes (the limit is {bound}); \
                     PostgreSQL builds such values in memory, constant ones while it plans. \
                     Ask for less.",
                    function.name,
                    if size == u128::MAX {
                        "unbounded".to_owned()
                    } else {
                        size.to_string()
                    },
                ),
            )),
            None => ControlFlow::Continue(()),
        }
    }

    fn check_function_name(&mut self, name: &ObjectName) -> ControlFlow<Verdict> {
        self.collected.routine(name);
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

/// True when a `SELECT … INTO` is a branch of this set expression (nested queries are
/// walked on their own).
fn has_into(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.into.is_some(),
        SetExpr::SetOperation { left, right, .. } => has_into(left) || has_into(right),
        SetExpr::Query(query) => has_into(query.body.as_ref()),
        _ => false,
    }
}

/// `xmlelement(name li, …)`: sqlparser does not parse the element's label, a name that
/// PostgreSQL never evaluates. The guard parses the call without the label (as
/// `xmlelement(name, …)`), which leaves every expression in it to be judged.
fn xml_element_labels(
    mut tokens: Vec<sqlparser::tokenizer::TokenWithSpan>,
) -> Vec<sqlparser::tokenizer::TokenWithSpan> {
    let significant: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_)))
        .map(|(i, _)| i)
        .collect();
    let word = |i: usize, value: &str| {
        matches!(&tokens[i].token, Token::Word(w)
            if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(value))
    };
    let mut labels = Vec::new();
    for window in significant.windows(4) {
        let [call, open, name, label] = [window[0], window[1], window[2], window[3]];
        if word(call, "xmlelement")
            && matches!(tokens[open].token, Token::LParen)
            && word(name, "name")
            && matches!(tokens[label].token, Token::Word(_))
        {
            labels.push(label);
        }
    }
    for label in labels.into_iter().rev() {
        tokens.remove(label);
    }
    tokens
}

/// `EXPLAIN ANALYSE …`, the British spelling sqlparser does not parse, gets the same
/// answer as `EXPLAIN ANALYZE …` instead of "unparsable".
fn explain_analyse(tokens: &[sqlparser::tokenizer::TokenWithSpan]) -> Option<Verdict> {
    let mut words = tokens.iter().filter_map(|t| match &t.token {
        Token::Whitespace(_) => None,
        Token::Word(word) => Some(Some(word)),
        _ => Some(None),
    });
    let first = words.next()??;
    let second = words.next()??;
    (first.keyword == Keyword::EXPLAIN
        && first.quote_style.is_none()
        && second.quote_style.is_none()
        && (second.value.eq_ignore_ascii_case("analyse") || second.keyword == Keyword::ANALYZE))
        .then(|| Verdict::Refused(explain_analyze_refusal()))
}

/// True when PostgreSQL's `parse_bool` reads the option value as false: `false`, `off`,
/// `no`, `0` and their unambiguous prefixes, bare or quoted.
fn means_false(value: &Expr) -> bool {
    let text = value.to_string().to_ascii_lowercase();
    let text = text.trim_matches('\'');
    !text.is_empty()
        && ("false".starts_with(text)
            || "no".starts_with(text)
            || text == "off"
            || text == "of"
            || text == "0")
}

fn explain_analyze_refusal() -> Refusal {
    Refusal::new(
        RefusalReason::ExplainAnalyze,
        "EXPLAIN ANALYZE runs the statement it explains, so it is not allowed; use \
         EXPLAIN without ANALYZE.",
    )
}

fn select_into() -> Verdict {
    Verdict::refused(
        RefusalReason::SelectInto,
        "SELECT … INTO creates a new table and is not allowed; remove the INTO clause to \
         read the rows instead.",
    )
}
