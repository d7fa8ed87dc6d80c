//! Which statements are known to give only built-in types: [`ResultTypes`].
//!
//! A statement sent unnamed with its execution in the same message (one round trip)
//! only learns its columns' types from the row description that comes ahead of its
//! rows. For a type tokio-postgres does not know by its number (an enum, a composite, a
//! domain, an extension's type such as pgvector's `vector`) it then looks the type up
//! with a query of its own, sent after the statement; the statement's rows are queued
//! ahead of that query's answer, and tokio-postgres reads them only once the look-up has
//! ended. A result larger than what the connection buffers (a few dozen kilobytes)
//! therefore never ends: the call waits for its deadline. Behind a pooler in transaction
//! mode the look-up is also sent after the transaction's end, on whatever server
//! connection comes next.
//!
//! So a statement runs in one round trip only when an earlier run of the same statement
//! gave only built-in types. Any other statement is prepared first (its types, looked
//! up there while nothing else is queued, are then known to the connection), then run:
//! one round trip more, and only for a statement seen for the first time, or one whose
//! result holds such a type.
//!
//! Statements are told apart by their text with every number written as `0`: a point
//! query asked for a thousand keys is one statement here. A text whose result types
//! change after it was learned (a column altered to an enum) may meet the wait above
//! once more; the call's deadline ends it, and the text is forgotten.
//!
//! Bounded like the guard's verdicts: at most [`ENTRIES`] texts of up to [`LONGEST`]
//! bytes; when full, it starts again.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio_postgres::types::Type;

/// The most texts kept.
pub(crate) const ENTRIES: usize = 4096;

/// The longest text kept, in bytes; a longer statement is always prepared first.
pub(crate) const LONGEST: usize = 8 * 1024;

/// Texts (numbers written as `0`) whose results hold only types tokio-postgres knows
/// without a look-up.
#[derive(Default)]
pub(crate) struct ResultTypes {
    built_in: Mutex<HashSet<Box<str>>>,
}

impl ResultTypes {
    /// True when `sql` was last seen to give only built-in types: it may run in one
    /// round trip.
    pub(crate) fn built_in(&self, sql: &str) -> bool {
        if sql.len() > LONGEST {
            return false;
        }
        self.lock().contains(shape(sql).as_str())
    }

    /// Records what a run of `sql` gave: `built_in` when none of its columns' types
    /// needed a look-up.
    pub(crate) fn learn(&self, sql: &str, built_in: bool) {
        if sql.len() > LONGEST {
            return;
        }
        let key = shape(sql);
        let mut seen = self.lock();
        if !built_in {
            seen.remove(key.as_str());
            return;
        }
        if seen.contains(key.as_str()) {
            return;
        }
        if seen.len() >= ENTRIES {
            seen.clear();
        }
        seen.insert(key.into_boxed_str());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Box<str>>> {
        self.built_in
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// True when tokio-postgres must look `ty` up in the server's catalog (it does not know
/// the type by its number).
pub(crate) fn looked_up(ty: &Type) -> bool {
    Type::from_oid(ty.oid()).is_none()
}

/// True when none of `columns` has a type that must be looked up ([`looked_up`]).
pub(crate) fn built_in_columns(columns: &[tokio_postgres::Column]) -> bool {
    !columns.iter().any(|c| looked_up(c.type_()))
}

/// True when a prepared statement's parameters or columns include a type that was
/// looked up ([`looked_up`]).
pub(crate) fn statement_looks_up(statement: &tokio_postgres::Statement) -> bool {
    statement.params().iter().any(looked_up) || !built_in_columns(statement.columns())
}

/// `sql` with every number that is not part of a name written as `0`.
fn shape(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_number = false;
    let mut after_name = false;
    for c in sql.chars() {
        if c.is_ascii_digit() {
            if in_number {
                continue;
            }
            if !after_name {
                in_number = true;
                out.push('0');
                continue;
            }
        } else {
            in_number = false;
        }
        after_name = c.is_alphanumeric() || c == '_' || c == '$';
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_one_shape_names_are_not() {
        assert_eq!(
            shape("SELECT v FROM t WHERE id = 1234"),
            "SELECT v FROM t WHERE id = 0"
        );
        assert_eq!(shape("SELECT c1, $2, 1.5e3"), "SELECT c1, $2, 0.0e3");
        assert_eq!(shape("SELECT t2.x FROM t2"), "SELECT t2.x FROM t2");
        assert_eq!(shape("SELECT -7, (8)"), "SELECT -0, (0)");
    }

    #[test]
    fn a_text_is_kept_only_while_its_types_are_built_in() {
        let types = ResultTypes::default();
        assert!(!types.built_in("SELECT 1"), "unseen");
        types.learn("SELECT 1", true);
        assert!(types.built_in("SELECT 2"), "same shape");
        types.learn("SELECT 3", false);
        assert!(!types.built_in("SELECT 1"), "forgotten");
        let long = format!("SELECT '{}'", "x".repeat(LONGEST));
        types.learn(&long, true);
        assert!(!types.built_in(&long), "too long to keep");
    }

    #[test]
    fn full_it_starts_again() {
        let types = ResultTypes::default();
        for i in 0..ENTRIES {
            types.learn(&format!("SELECT c{i}"), true);
        }
        assert!(types.built_in("SELECT c0"));
        types.learn("SELECT more", true);
        assert!(types.built_in("SELECT more"));
        assert!(!types.built_in("SELECT c0"));
    }

    #[test]
    fn the_types_known_by_number_need_no_look_up() {
        assert!(!looked_up(&Type::INT4));
        assert!(!looked_up(&Type::TEXT_ARRAY));
        let custom = Type::new(
            "mood".into(),
            90_000,
            tokio_postgres::types::Kind::Enum(vec![]),
            "public".into(),
        );
        assert!(looked_up(&custom));
    }
}
