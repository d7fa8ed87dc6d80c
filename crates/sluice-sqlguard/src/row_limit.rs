//! The most rows a query can return by its own text: a top-level `LIMIT n` or `FETCH
//! FIRST n ROWS ONLY` with a literal `n`. Anything else — a parameter, an expression,
//! `WITH TIES` (which can return more), `PERCENT`, a limit only inside parentheses or a
//! subquery — bounds nothing here.

use sqlparser::ast::{Expr, LimitClause, Statement, Value};

/// The bound `statement` sets on its own rows, when its text sets one.
pub(crate) fn of(statement: &Statement) -> Option<u64> {
    let Statement::Query(query) = statement else {
        return None;
    };
    let limit = match &query.limit_clause {
        Some(LimitClause::LimitOffset {
            limit: Some(limit),
            limit_by,
            ..
        }) if limit_by.is_empty() => literal(limit),
        _ => None,
    };
    let fetch = query
        .fetch
        .as_ref()
        .filter(|fetch| !fetch.with_ties && !fetch.percent)
        .and_then(|fetch| match &fetch.quantity {
            Some(quantity) => literal(quantity),
            // FETCH FIRST ROW ONLY: one.
            None => Some(1),
        });
    limit.into_iter().chain(fetch).min()
}

/// A non-negative integer literal.
fn literal(expr: &Expr) -> Option<u64> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(digits, _) => digits.parse().ok(),
            _ => None,
        },
        Expr::Nested(inner) => literal(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::{Guard, Verdict};

    fn bound(sql: &str) -> Option<u64> {
        match Guard::read_only().check(sql) {
            Verdict::Allowed(allowed) => allowed.row_limit,
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn literal_limits_at_the_top_bound_the_rows() {
        assert_eq!(bound("SELECT 1 LIMIT 10"), Some(10));
        assert_eq!(bound("SELECT 1 LIMIT 10 OFFSET 5"), Some(10));
        assert_eq!(bound("SELECT 1 OFFSET 5 LIMIT (3)"), Some(3));
        assert_eq!(bound("SELECT 1 FETCH FIRST 7 ROWS ONLY"), Some(7));
        assert_eq!(bound("SELECT 1 FETCH FIRST ROW ONLY"), Some(1));
        assert_eq!(
            bound("WITH w AS (SELECT 1 AS a) SELECT a FROM w UNION SELECT 2 LIMIT 4"),
            Some(4)
        );
    }

    #[test]
    fn anything_else_bounds_nothing() {
        for sql in [
            "SELECT 1",
            "SELECT 1 LIMIT ALL",
            "SELECT 1 LIMIT $1",
            "SELECT 1 LIMIT 1 + 1",
            "SELECT 1 LIMIT 1.5",
            "SELECT 1 LIMIT 1e3",
            "SELECT * FROM (SELECT 1 LIMIT 1) s",
            "(SELECT 1 LIMIT 1)",
            "SELECT 1 ORDER BY 1 FETCH FIRST 3 ROWS WITH TIES",
            "VALUES (1), (2)",
            "EXPLAIN SELECT 1 LIMIT 1",
        ] {
            assert_eq!(bound(sql), None, "{sql}");
        }
    }
}
