//! The guard's verdicts on SQL seen before: [`Verdicts`].
//!
//! An agent asks the same questions again (the same `SELECT` for each new turn, a
//! dashboard's query every minute), and the guard's verdict depends only on the text and
//! the policy: a second `Guard::check` of the same text gives the same verdict, and costs
//! 10–40 µs for a usual query, 1–2 ms for a 200-column one. So each guard of a
//! [`Database`](super::Database) keeps its recent verdicts, by the whole text (not a
//! hash of it: two texts never share a verdict). Nothing that depends on the database is
//! kept: the catalog check runs on every call, whatever the verdict's age (in the
//! form of [`crate::reuse`] while nothing it depends on has changed).
//!
//! Bounded: at most [`ENTRIES`] verdicts of texts up to [`LONGEST`] bytes; when full, it
//! starts again (simpler than tracking ages, and a workload that repeats fills it back at
//! once).

use std::collections::HashMap;
use std::sync::Mutex;

use sluice_sqlguard::{Guard, Verdict};

/// The most verdicts kept.
pub(crate) const ENTRIES: usize = 1024;

/// The longest text whose verdict is kept, in bytes (so the texts kept take at most
/// 16 MiB; most are far shorter).
pub(crate) const LONGEST: usize = 16 * 1024;

/// One guard's verdicts on texts seen before.
#[derive(Default)]
pub(crate) struct Verdicts {
    seen: Mutex<HashMap<Box<str>, Verdict>>,
}

impl Verdicts {
    /// `guard`'s verdict on `sql`: the one kept, or a new check (then kept). `guard` must
    /// be the same guard on every call to this cache.
    pub(crate) fn check(&self, guard: &Guard, sql: &str) -> Verdict {
        if sql.len() > LONGEST {
            return guard.check(sql);
        }
        if let Some(verdict) = self.lock().get(sql) {
            return verdict.clone();
        }
        // Checked without the lock: calls with other texts do not wait for this one.
        let verdict = guard.check(sql);
        let mut seen = self.lock();
        if seen.len() >= ENTRIES {
            seen.clear();
        }
        seen.insert(sql.into(), verdict.clone());
        verdict
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Verdict>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_verdict_is_the_guards_own() {
        let guard = Guard::read_only();
        let verdicts = Verdicts::default();
        for sql in [
            "SELECT 1",
            "DELETE FROM t",
            "SELECT pg_sleep(1)",
            "SELECT 1; SELECT 2",
            "",
        ] {
            let first = verdicts.check(&guard, sql);
            assert_eq!(first, guard.check(sql), "{sql}");
            assert_eq!(verdicts.check(&guard, sql), first, "{sql}");
        }
        assert_eq!(verdicts.len(), 5);
    }

    #[test]
    fn texts_that_differ_never_share_a_verdict() {
        let guard = Guard::read_only();
        let verdicts = Verdicts::default();
        assert!(verdicts.check(&guard, "SELECT 1").is_allowed());
        // Differs by a byte, and is refused.
        assert!(!verdicts.check(&guard, "SELECT 1;DROP TABLE t").is_allowed());
        assert!(
            !verdicts
                .check(&guard, "SELECT 1 ")
                .eq(&verdicts.check(&guard, "DELETE FROM t"))
        );
    }

    #[test]
    fn it_stays_bounded() {
        let guard = Guard::read_only();
        let verdicts = Verdicts::default();
        for i in 0..(3 * ENTRIES) {
            let _ = verdicts.check(&guard, &format!("SELECT {i}"));
        }
        assert!(verdicts.len() <= ENTRIES);
        let long = format!("SELECT {}1", "1 + ".repeat(LONGEST / 4));
        let before = verdicts.len();
        let _ = verdicts.check(&guard, &long);
        assert_eq!(
            verdicts.len(),
            before,
            "a text past the longest kept is not kept"
        );
    }
}
