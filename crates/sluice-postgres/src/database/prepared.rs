//! Reads prepared once per connection for every text of the same shape: [`Statements`].
//!
//! The guard gives a query its parameterised form
//! ([`sluice_sqlguard::Parameterised`]: `WHERE id = 7` as `WHERE id = $1` with `7`
//! taken out). On a connection this crate opened itself (one that batches reads:
//! [`crate::batching`]), the form is prepared once, inside a read's transaction after
//! the pins, and kept: later reads of any text of that shape bind the prepared statement
//! with their own literals, and PostgreSQL parses and plans nothing (it keeps a plan, or
//! plans for the values when its plan cache judges a generic plan worse). On a
//! connection behind a transaction pooler nothing is kept: the next transaction may
//! have another server connection.
//!
//! Each literal's parameter has the type PostgreSQL gives the literal (`integer`,
//! `bigint` or `numeric` for a number by its size and spelling, left to be inferred for
//! a string, as a string literal's type is), so the statement means what its text
//! means. A form PostgreSQL cannot prepare (`SELECT 'a' || 'b'` leaves both types
//! undecided) is remembered per pool in [`Unpreparable`], and texts of its shape run as
//! they are.
//!
//! PostgreSQL checks a prepared statement before each use: a change to what it depends
//! on (a table altered or replaced, the `search_path`) makes it analyse the statement
//! again from its text. A table whose columns changed under a statement that returns
//! them fails the call with `0A000` ("cached plan must not change result type"); the
//! statement is then dropped from the connection and the read runs again.
//!
//! Bounded: at most [`PER_CONNECTION`] statements per connection (the least recently
//! used is closed to make room) and [`UNPREPARABLE`] forms per pool.

use std::collections::HashSet;
use std::sync::Mutex;

use sluice_sqlguard::{LiteralKind, Parameterised};
use tokio_postgres::Statement;
use tokio_postgres::types::Type;

use crate::params::Param;

/// The most statements kept on one connection.
pub(crate) const PER_CONNECTION: usize = 64;

/// The most forms remembered as unpreparable per pool.
pub(crate) const UNPREPARABLE: usize = 1024;

/// The type of each literal's parameter, as PostgreSQL types the literal.
pub(crate) fn types(form: &Parameterised) -> Vec<Type> {
    form.literals
        .iter()
        .map(|literal| match literal.kind {
            LiteralKind::Integer if literal.value.parse::<i32>().is_ok() => Type::INT4,
            LiteralKind::Integer if literal.value.parse::<i64>().is_ok() => Type::INT8,
            LiteralKind::Integer | LiteralKind::Decimal => Type::NUMERIC,
            // Left to PostgreSQL to infer, as for a string literal.
            _ => Type::UNKNOWN,
        })
        .collect()
}

/// The literals' values, in PostgreSQL's text form.
pub(crate) fn values(form: &Parameterised) -> Vec<Param> {
    form.literals
        .iter()
        .map(|literal| Param::text(literal.value.as_str()))
        .collect()
}

/// One connection's prepared forms, the most recently used last (`S`, the statement,
/// is only generic for the tests).
pub(crate) struct Statements<S = Statement> {
    kept: Mutex<Vec<Kept<S>>>,
}

impl<S> Default for Statements<S> {
    fn default() -> Self {
        Statements {
            kept: Mutex::new(Vec::new()),
        }
    }
}

struct Kept<S> {
    text: Box<str>,
    types: Vec<Type>,
    statement: S,
}

impl<S: Clone> Statements<S> {
    /// The statement prepared for `text` with `types`, if kept.
    pub(crate) fn get(&self, text: &str, types: &[Type]) -> Option<S> {
        let mut kept = self.lock();
        let at = kept
            .iter()
            .position(|k| &*k.text == text && k.types == types)?;
        let entry = kept.remove(at);
        let statement = entry.statement.clone();
        kept.push(entry);
        Some(statement)
    }

    /// Keeps `statement`, prepared for `text` with `types`. The one it pushes out (the
    /// least recently used, when full) is returned, to be dropped (which closes it on
    /// the server) only outside a batch.
    #[must_use = "dropping the statement pushed out closes it: do so outside a batch"]
    pub(crate) fn keep(&self, text: &str, types: Vec<Type>, statement: S) -> Option<S> {
        let mut kept = self.lock();
        let out = if kept.len() >= PER_CONNECTION {
            Some(kept.remove(0).statement)
        } else {
            None
        };
        kept.push(Kept {
            text: text.into(),
            types,
            statement,
        });
        out
    }

    /// Drops the statement kept for `text` with `types`, returned to be dropped outside a
    /// batch.
    #[must_use = "dropping the statement closes it: do so outside a batch"]
    pub(crate) fn forget(&self, text: &str, types: &[Type]) -> Option<S> {
        let mut kept = self.lock();
        let at = kept
            .iter()
            .position(|k| &*k.text == text && k.types == types)?;
        Some(kept.remove(at).statement)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept<S>>> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Forms PostgreSQL would not prepare, per pool; texts of these shapes run as written.
#[derive(Default)]
pub(crate) struct Unpreparable {
    forms: Mutex<HashSet<Box<str>>>,
}

impl Unpreparable {
    /// True when `text` (a parameterised form) failed to prepare before.
    pub(crate) fn contains(&self, text: &str) -> bool {
        self.lock().contains(text)
    }

    /// Remembers that `text` failed to prepare; when full, it starts again.
    pub(crate) fn add(&self, text: &str) {
        let mut forms = self.lock();
        if forms.len() >= UNPREPARABLE {
            forms.clear();
        }
        forms.insert(text.into());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Box<str>>> {
        self.forms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// True when a failure to prepare the parameterised form may come from the form itself
/// (a parameter whose type PostgreSQL cannot decide, or one where the syntax takes no
/// parameter), so the text runs as written from now on.
pub(crate) fn form_failed(e: &tokio_postgres::Error) -> bool {
    matches!(
        crate::errors::sqlstate_of(e),
        Some(
            "42P18" // indeterminate datatype
                | "42804" // datatype mismatch
                | "42883" // undefined function or operator
                | "42725" // ambiguous function or operator
                | "42P08" // ambiguous parameter
                | "42601" // syntax error
                | "0A000" // feature not supported
        )
    )
}

#[cfg(test)]
mod tests {
    use sluice_sqlguard::{Guard, Verdict};

    use super::*;

    fn form(sql: &str) -> Parameterised {
        let Verdict::Allowed(allowed) = Guard::read_only().check(sql) else {
            panic!("refused: {sql}");
        };
        allowed.parameterised.expect("a form")
    }

    #[test]
    fn parameters_are_typed_as_the_literals_are() {
        let form = form(
            "SELECT * FROM t WHERE a = 2147483647 AND b = 2147483648 \
             AND c = 99999999999999999999 AND d = 1.5 AND e = 'x'",
        );
        assert_eq!(
            types(&form),
            [
                Type::INT4,
                Type::INT8,
                Type::NUMERIC,
                Type::NUMERIC,
                Type::UNKNOWN
            ]
        );
        assert_eq!(
            values(&form),
            [
                Param::text("2147483647"),
                Param::text("2147483648"),
                Param::text("99999999999999999999"),
                Param::text("1.5"),
                Param::text("x"),
            ]
        );
    }

    #[test]
    fn the_least_recently_used_statement_makes_room() {
        let kept = Statements::<usize>::default();
        for i in 0..PER_CONNECTION {
            assert_eq!(kept.keep(&format!("s{i}"), vec![Type::INT4], i), None);
        }
        assert_eq!(
            kept.get("s0", &[Type::INT4]),
            Some(0),
            "used: now the newest"
        );
        assert_eq!(
            kept.get("s0", &[Type::INT8]),
            None,
            "other types, other statement"
        );
        assert_eq!(kept.keep("new", vec![], 100), Some(1), "s1 was the oldest");
        assert_eq!(kept.get("s1", &[Type::INT4]), None);
        assert_eq!(kept.forget("s0", &[Type::INT4]), Some(0));
        assert_eq!(kept.get("s0", &[Type::INT4]), None);
        assert_eq!(kept.get("new", &[]), Some(100));
    }

    #[test]
    fn unpreparable_forms_stay_bounded() {
        let forms = Unpreparable::default();
        for i in 0..=UNPREPARABLE {
            forms.add(&format!("SELECT $1 || c{i}"));
        }
        assert!(forms.contains(&format!("SELECT $1 || c{UNPREPARABLE}")));
        assert!(
            !forms.contains("SELECT $1 || c0"),
            "started again when full"
        );
    }
}
