//! A query's literals taken out as parameters: [`Parameterised`].
//!
//! `SELECT v FROM t WHERE id = 7` and `… WHERE id = 8` are one statement to PostgreSQL
//! once the number is a parameter: `SELECT v FROM t WHERE id = $1`, prepared once on a
//! connection and bound with `7`, then `8`. A server that keeps prepared statements can
//! then skip parsing and planning for every text of that shape (`sluice-postgres` does,
//! on connections that are its own).
//!
//! Only literals whose meaning a parameter keeps are taken out, in a query (never a
//! write): plain numbers (typed as PostgreSQL types the literal: `integer`, `bigint`,
//! `numeric`) and plain `'…'` or `$$…$$` strings (left for PostgreSQL to type from where
//! they stand, as it types a literal). Left in the text are
//!
//! - literals in `ORDER BY`, `GROUP BY`, `DISTINCT ON`, window definitions, `LIMIT`,
//!   `OFFSET` and `FETCH` (`ORDER BY 1` names a column; a parameter there would sort by a
//!   constant; a limit the planner cannot see plans worse),
//! - a number with a sign before it (PostgreSQL folds `-5` into one constant of the
//!   type `-5` has), the string of `INTERVAL '1 day'` and of `date '…'` (syntax that takes
//!   no parameter), `TABLESAMPLE`'s arguments,
//! - any other kind of literal (`E'…'`, `B'…'`, `X'…'`, `U&'…'`, `1_000`, `0x1F`).
//!
//! A statement that already has placeholders, or more than [`MAX_LITERALS`] literals to
//! take out, or none, gets no parameterised form.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Distinct, Expr, GroupByExpr, OrderBy, Query, Select, SelectItem, SetExpr, Statement,
    TableFactor, Value, ValueWithSpan, Visit, Visitor, WindowType,
};
use sqlparser::tokenizer::Location;

use crate::agreement::Offsets;

/// The most literals one statement has taken out; a statement with more (a long
/// `IN (…)` list) stays as it is.
pub const MAX_LITERALS: usize = 100;

/// A query with its literals taken out: the text with `$1 … $n` in their place, and the
/// literals in that order. [`Allowed::parameterised`](crate::Allowed::parameterised).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Parameterised {
    /// The statement with `$1 … $n` where its literals stood.
    pub text: String,
    /// The literals, `$1` first.
    pub literals: Vec<Literal>,
}

/// One literal taken out of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Literal {
    /// What kind of literal it was, which says how to type its parameter.
    pub kind: LiteralKind,
    /// Its value in PostgreSQL's text form: the number as written, the string's content
    /// (quotes removed, `''` read as `'`).
    pub value: String,
}

/// The kind of a [`Literal`], and so the type its parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum LiteralKind {
    /// Digits only: `integer` when it fits, else `bigint`, else `numeric`, as
    /// PostgreSQL types such a literal.
    Integer,
    /// A number with a point or an exponent: `numeric`.
    Decimal,
    /// A string: its type is left for PostgreSQL to infer from where it stands.
    String,
}

/// The parameterised form of a query (`statement`, parsed from `sql`), if it has one.
pub(crate) fn parameterise(sql: &str, statement: &Statement) -> Option<Parameterised> {
    if !matches!(statement, Statement::Query(_)) {
        return None;
    }
    let mut found = Found::default();
    let _ = statement.visit(&mut found);
    if found.placeholder {
        return None;
    }
    let mut candidates: Vec<Candidate> = found
        .candidates
        .into_iter()
        .filter(|c| !found.excluded.contains(&key(c.start)))
        .collect();
    if candidates.is_empty() || candidates.len() > MAX_LITERALS {
        return None;
    }
    candidates.sort_by_key(|c| key(c.start));
    let mut offsets = Offsets::new(sql);
    let mut text = String::with_capacity(sql.len() + 2 * candidates.len());
    let mut literals = Vec::with_capacity(candidates.len());
    let mut copied = 0;
    for (i, candidate) in candidates.into_iter().enumerate() {
        let start = offsets.byte(candidate.start);
        let end = offsets.byte(candidate.end);
        let raw = sql.get(start..end)?;
        if start < copied || !candidate.spelled_by(raw) {
            // Not where the tree says, or not as it says: leave the statement whole.
            return None;
        }
        text.push_str(sql.get(copied..start)?);
        if text.ends_with(joins) {
            text.push(' ');
        }
        text.push('$');
        text.push_str(&(i + 1).to_string());
        if sql.get(end..)?.starts_with(joins) {
            text.push(' ');
        }
        copied = end;
        literals.push(Literal {
            kind: candidate.kind,
            value: candidate.value,
        });
    }
    text.push_str(sql.get(copied..)?);
    Some(Parameterised { text, literals })
}

/// True for a character that would run into a `$n` written beside it.
fn joins(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

fn key(at: Location) -> (u64, u64) {
    (at.line, at.column)
}

/// A literal that may become a parameter.
struct Candidate {
    start: Location,
    end: Location,
    kind: LiteralKind,
    value: String,
    /// How its text must read.
    spelling: Spelling,
}

enum Spelling {
    Number,
    Quoted,
    Dollar(Option<String>),
}

impl Candidate {
    /// True when `raw`, the text at the literal's span, is the literal as parsed.
    fn spelled_by(&self, raw: &str) -> bool {
        match &self.spelling {
            Spelling::Number => raw == self.value,
            Spelling::Quoted => raw
                .strip_prefix('\'')
                .and_then(|inner| inner.strip_suffix('\''))
                .is_some_and(|inner| inner.replace("''", "'") == self.value),
            Spelling::Dollar(tag) => {
                let tag = tag.as_deref().unwrap_or("");
                raw == format!("${tag}${}${tag}$", self.value)
            }
        }
    }
}

/// Literals to take out, and those to leave.
#[derive(Default)]
struct Found {
    candidates: Vec<Candidate>,
    excluded: HashSet<(u64, u64)>,
    placeholder: bool,
}

impl Found {
    /// Leaves `expr` in the text when it is a string literal standing alone (a column
    /// of `SELECT 'a'` or of `VALUES ('a')`): nothing around it decides its type, and
    /// PostgreSQL makes such a literal `text` but cannot type a parameter there.
    fn bare_string(&mut self, expr: &Expr) {
        let mut inner = expr;
        while let Expr::Nested(nested) = inner {
            inner = nested;
        }
        if let Expr::Value(literal) = inner
            && matches!(
                literal.value,
                Value::SingleQuotedString(_) | Value::DollarQuotedString(_)
            )
        {
            self.excluded.insert(key(literal.span.start));
        }
    }

    /// [`bare_string`](Self::bare_string) for every value of the `VALUES` lists in
    /// `body` (through `UNION` and the like; a nested query is visited on its own).
    fn bare_strings_of(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Values(values) => {
                for expr in values.rows.iter().flat_map(|row| &row.content) {
                    self.bare_string(expr);
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.bare_strings_of(left);
                self.bare_strings_of(right);
            }
            _ => {}
        }
    }

    /// Leaves every literal inside `node` in the text.
    fn exclude<V: Visit>(&mut self, node: &V) {
        let _ = node.visit(&mut Every(&mut self.excluded));
    }

    fn candidate(&mut self, literal: &ValueWithSpan) {
        let (kind, value, spelling) = match &literal.value {
            Value::Number(n, _) => match number_kind(n) {
                Some(kind) => (kind, n.clone(), Spelling::Number),
                None => return,
            },
            Value::SingleQuotedString(s) => (LiteralKind::String, s.clone(), Spelling::Quoted),
            Value::DollarQuotedString(d) => (
                LiteralKind::String,
                d.value.clone(),
                Spelling::Dollar(d.tag.clone()),
            ),
            Value::Placeholder(_) => {
                self.placeholder = true;
                return;
            }
            _ => return,
        };
        self.candidates.push(Candidate {
            start: literal.span.start,
            end: literal.span.end,
            kind,
            value,
            spelling,
        });
    }
}

/// The kind of a plain number (`12`, `1.5`, `.5`, `1e-3`), or `None` for any other
/// spelling.
fn number_kind(n: &str) -> Option<LiteralKind> {
    if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
        return Some(LiteralKind::Integer);
    }
    let (mantissa, exponent) = match n.find(['e', 'E']) {
        Some(at) => (&n[..at], Some(&n[at + 1..])),
        None => (n, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next().unwrap_or("");
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(whole) && digits(fraction) && whole.len() + fraction.len() > 0;
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    (mantissa_ok && exponent_ok).then_some(LiteralKind::Decimal)
}

/// Collects the start of every literal it visits.
struct Every<'a>(&'a mut HashSet<(u64, u64)>);

impl Visitor for Every<'_> {
    type Break = ();

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<()> {
        self.0.insert(key(value.span.start));
        ControlFlow::Continue(())
    }
}

impl Visitor for Found {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.exclude(&query.limit_clause);
        self.exclude(&query.fetch);
        self.bare_strings_of(&query.body);
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        if let Some(Distinct::On(on)) = &select.distinct {
            self.exclude(on);
        }
        self.exclude(&select.named_window);
        for item in &select.projection {
            if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
                self.bare_string(expr);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_order_by(&mut self, order_by: &OrderBy) -> ControlFlow<()> {
        self.exclude(order_by);
        ControlFlow::Continue(())
    }

    fn pre_visit_group_by(&mut self, group_by: &GroupByExpr) -> ControlFlow<()> {
        self.exclude(group_by);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            sample: Some(sample),
            ..
        } = factor
        {
            self.exclude(sample);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::Value(literal) => self.candidate(literal),
            Expr::Interval(interval) => self.exclude(interval),
            Expr::UnaryOp { expr: operand, .. } => {
                let mut inner = operand.as_ref();
                while let Expr::Nested(nested) = inner {
                    inner = nested;
                }
                if let Expr::Value(literal) = inner {
                    self.excluded.insert(key(literal.span.start));
                }
            }
            Expr::Function(function) => {
                if let Some(WindowType::WindowSpec(spec)) = &function.over {
                    self.exclude(spec);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Guard, Verdict};

    use super::*;

    fn shape(sql: &str) -> Option<(String, Vec<(LiteralKind, String)>)> {
        let Verdict::Allowed(allowed) = Guard::read_only().check(sql) else {
            panic!("refused: {sql}");
        };
        allowed.parameterised.map(|p| {
            (
                p.text,
                p.literals.into_iter().map(|l| (l.kind, l.value)).collect(),
            )
        })
    }

    fn text(sql: &str) -> Option<String> {
        shape(sql).map(|(text, _)| text)
    }

    #[test]
    fn numbers_and_strings_become_parameters() {
        assert_eq!(
            shape("SELECT v FROM t WHERE id = 42 AND name = 'it''s' AND x > 1.5e3"),
            Some((
                "SELECT v FROM t WHERE id = $1 AND name = $2 AND x > $3".into(),
                vec![
                    (LiteralKind::Integer, "42".into()),
                    (LiteralKind::String, "it's".into()),
                    (LiteralKind::Decimal, "1.5e3".into()),
                ]
            ))
        );
        assert_eq!(
            shape("SELECT * FROM t WHERE a IN (1,2) AND b = $q$x'y$q$"),
            Some((
                "SELECT * FROM t WHERE a IN ($1,$2) AND b = $3".into(),
                vec![
                    (LiteralKind::Integer, "1".into()),
                    (LiteralKind::Integer, "2".into()),
                    (LiteralKind::String, "x'y".into()),
                ]
            ))
        );
    }

    #[test]
    fn lines_and_characters_outside_ascii_keep_their_places() {
        assert_eq!(
            text("SELECT \"ö\" FROM t\nWHERE s = 'é'\n  AND id = 7 -- 8\n"),
            Some("SELECT \"ö\" FROM t\nWHERE s = $1\n  AND id = $2 -- 8\n".into())
        );
    }

    #[test]
    fn literals_that_mean_more_than_a_value_stay() {
        assert_eq!(
            text("SELECT a, b FROM t WHERE c = 3 GROUP BY 1, 2 ORDER BY 2 DESC LIMIT 10 OFFSET 5"),
            Some(
                "SELECT a, b FROM t WHERE c = $1 GROUP BY 1, 2 ORDER BY 2 DESC LIMIT 10 OFFSET 5"
                    .into()
            )
        );
        assert_eq!(
            text("SELECT DISTINCT ON (1) a FROM t WHERE b = 'x' ORDER BY (1)"),
            Some("SELECT DISTINCT ON (1) a FROM t WHERE b = $1 ORDER BY (1)".into())
        );
        assert_eq!(
            text("SELECT sum(a) OVER (ORDER BY b ROWS 2 PRECEDING) FROM t WHERE c = 1"),
            Some("SELECT sum(a) OVER (ORDER BY b ROWS 2 PRECEDING) FROM t WHERE c = $1".into())
        );
        assert_eq!(
            text("SELECT now() - INTERVAL '1 day', date '2024-01-01', -5, -(6), 7 FETCH FIRST 3 ROWS ONLY"),
            Some("SELECT now() - INTERVAL '1 day', date '2024-01-01', -5, -(6), $1 FETCH FIRST 3 ROWS ONLY".into())
        );
        assert_eq!(text("SELECT E'a', B'1', X'1F' FROM t"), None);
        assert_eq!(
            text("SELECT 'label' AS l, ('x'), 'y' || s FROM t WHERE s = 'z'"),
            Some("SELECT 'label' AS l, ('x'), $1 || s FROM t WHERE s = $2".into())
        );
        assert_eq!(
            text("VALUES (1, 'a') UNION ALL VALUES (2, 'b')"),
            Some("VALUES ($1, 'a') UNION ALL VALUES ($2, 'b')".into())
        );
    }

    #[test]
    fn statements_without_a_form() {
        assert_eq!(text("SELECT a FROM t"), None, "no literal");
        assert_eq!(text("SELECT a FROM t WHERE b = $1 AND c = 2"), None);
        let many = format!(
            "SELECT a FROM t WHERE b IN ({})",
            (0..=MAX_LITERALS)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(text(&many), None, "too many");
        assert_eq!(text("TABLE t"), None, "rewritten before parsing");
        assert_eq!(text("EXPLAIN SELECT 1"), None, "not a query");
        let Verdict::Allowed(allowed) = Guard::write().check("DELETE FROM t WHERE id = 1") else {
            panic!("a write the write policy allows");
        };
        assert_eq!(allowed.parameterised, None, "writes keep their text");
    }

    #[test]
    fn a_parameter_never_runs_into_its_neighbours() {
        assert_eq!(
            text("SELECT x FROM t WHERE s = 'a'AND y = 1"),
            Some("SELECT x FROM t WHERE s = $1 AND y = $2".into())
        );
    }

    #[test]
    fn numbers_by_spelling() {
        assert_eq!(number_kind("12"), Some(LiteralKind::Integer));
        assert_eq!(number_kind("1.5"), Some(LiteralKind::Decimal));
        assert_eq!(number_kind(".5"), Some(LiteralKind::Decimal));
        assert_eq!(number_kind("5."), Some(LiteralKind::Decimal));
        assert_eq!(number_kind("1e-3"), Some(LiteralKind::Decimal));
        assert_eq!(number_kind("1E+3"), Some(LiteralKind::Decimal));
        for other in ["", ".", "1e", "0x1F", "1_000", "1.2.3", "e5"] {
            assert_eq!(number_kind(other), None, "{other}");
        }
    }
}
