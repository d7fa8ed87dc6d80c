//! Reusing a catalog check that passed, while nothing it depends on has changed:
//! [`PassedChecks`].
//!
//! The catalog check ([`crate::objects`]) is the largest share of a guarded read's work
//! in PostgreSQL: each catalog it consults costs a lock, an open and a scan set-up
//! (about 13 µs on the CI machine kind), whether or not a row is found, and the quick
//! check consults eight. Its verdict is a function of three things only:
//!
//! 1. its parameters: the names the guard collected and the policy's allow-lists;
//! 2. the catalog's contents;
//! 3. where names resolve: the schemas of the `search_path` as it applies (with the
//!    session's temporary schema when it has one) and the role (`$user`).
//!
//! Every check that passes also answers a *token* for 2 and 3: the transaction snapshot
//! (`txid_current_snapshot()`: which transactions had committed), the effective schemas
//! (`current_schemas(true)`) and `current_user`. Any change to the catalog (a view
//! replaced, a function created, row-level security enabled, a grant) is made by a
//! transaction and becomes visible when it commits; a commit moves the snapshot (the
//! newest completed transaction, or the set still running, changes). So while a new
//! statement sees the same token, no transaction has committed since the check ran:
//! every catalog row it read is the same, the names resolve in the same schemas for the
//! same role, and the same parameters give the same verdict. (PostgreSQL's few updates
//! in place, which commit nothing, touch only statistics, frozen-transaction horizons and
//! the `relhasindex`/`relhasrules`/`relhassubclass` hints, which vacuum clears only when
//! nothing is left behind them; the check reads none of those but `relhassubclass`,
//! whose clearing only makes it find less to follow.)
//!
//! So a statement whose parameters passed before sends, in the check's place, the pins
//! and a comparison of the token (`check_sql::reuse`), which touches no catalog. It is
//! as strong as the check it replaces: it runs in the same position (before PostgreSQL
//! parses the statement, in the same transaction and the same round trip), and it fails
//! ([`check_sql::STALE_MARKER`]), aborting the transaction before the statement is
//! parsed, unless the token is the same, on the very connection the statement runs on.
//! The comparison therefore also holds behind a pooler in transaction mode, where
//! another client may have left a `search_path` or a role on the server connection: a
//! different token, and the call goes back to the full procedure. A stale token costs
//! the call one more round trip (the check, then the statement, as before).
//!
//! The snapshot is cluster-wide: any commit anywhere in the cluster (a write in another
//! database, an `ANALYZE`, the audit table) ends every reuse until the next check. This
//! pays off on databases that are mostly read, the usual case for a language model's
//! queries; on a busy writer it rarely applies, and after a stale token reuse pauses for
//! a growing number of calls (up to [`MOST_PAUSED`]) so that the extra round trips stay
//! rare.
//!
//! Bounded: at most [`ENTRIES`] parameter sets of up to [`LONGEST`] bytes; when the
//! newest token changes, or the record is full, it starts again.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The most parameter sets kept.
pub(crate) const ENTRIES: usize = 4096;

/// The longest parameter set kept, in bytes.
pub(crate) const LONGEST: usize = 8 * 1024;

/// The most calls that skip reuse after stale tokens in a row.
pub(crate) const MOST_PAUSED: u32 = 64;

/// The checks that passed under the newest token seen, per pool.
#[derive(Default)]
pub(crate) struct PassedChecks {
    inner: Mutex<Inner>,
    /// Checks that ran and passed, reuses that held, reuses found stale, since start.
    counts: [AtomicU64; 3],
}

#[derive(Default)]
struct Inner {
    /// The newest token a check or a stale reuse answered.
    latest: Option<Arc<str>>,
    /// Parameter sets whose check passed under `latest`.
    passed: HashSet<Box<str>>,
    /// Calls still to make with the check before reuse is tried again.
    paused: u32,
    /// Stale tokens in a row.
    stale_in_a_row: u32,
}

impl PassedChecks {
    /// The token to compare against, when the check of `key` passed under the newest
    /// token seen and reuse is not paused; `None`: run the check.
    pub(crate) fn reusable(&self, key: &str) -> Option<Arc<str>> {
        let mut inner = self.lock();
        if inner.paused > 0 {
            inner.paused -= 1;
            return None;
        }
        if !inner.passed.contains(key) {
            return None;
        }
        inner.latest.clone()
    }

    /// Checks that ran and passed, reuses that held, and reuses found stale, since start.
    pub(crate) fn counts(&self) -> [u64; 3] {
        self.counts
            .each_ref()
            .map(|count| count.load(Ordering::Relaxed))
    }

    /// Records that the check of `key` passed with `token`.
    pub(crate) fn passed(&self, key: &str, token: &str) {
        self.counts[0].fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        inner.observe(token);
        if key.len() > LONGEST {
            return;
        }
        if inner.passed.len() >= ENTRIES {
            inner.passed.clear();
        }
        inner.passed.insert(key.into());
    }

    /// Records that a reuse found the token still the same.
    pub(crate) fn still_fresh(&self) {
        self.counts[1].fetch_add(1, Ordering::Relaxed);
        self.lock().stale_in_a_row = 0;
    }

    /// Records that a reuse found `token` instead: the checks passed before it no longer
    /// apply, and reuse pauses for a while.
    pub(crate) fn stale(&self, token: &str) {
        self.counts[2].fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        inner.observe(token);
        inner.stale_in_a_row = inner.stale_in_a_row.saturating_add(1);
        // 1, 2, 4, … calls, at most MOST_PAUSED.
        let doublings = inner.stale_in_a_row.saturating_sub(1).min(6);
        inner.paused = (1u32 << doublings).min(MOST_PAUSED);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    /// A token seen: when it is new, what passed under the old one is forgotten.
    fn observe(&mut self, token: &str) {
        if self.latest.as_deref() != Some(token) {
            self.latest = Some(token.into());
            self.passed.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_passed_under_the_newest_token_is_reused() {
        let checks = PassedChecks::default();
        assert_eq!(checks.reusable("a"), None);
        checks.passed("a", "t1");
        assert_eq!(checks.reusable("a").as_deref(), Some("t1"));
        assert_eq!(checks.reusable("b"), None);
        checks.passed("b", "t2");
        assert_eq!(checks.reusable("a"), None, "a passed under the old token");
        assert_eq!(checks.reusable("b").as_deref(), Some("t2"));
    }

    #[test]
    fn a_stale_token_forgets_and_pauses_longer_each_time() {
        let checks = PassedChecks::default();
        let skipped = |checks: &PassedChecks| {
            (0..1000)
                .take_while(|_| checks.reusable("a").is_none())
                .count()
        };
        checks.passed("a", "t1");
        checks.passed("b", "t1");
        checks.stale("t2");
        checks.passed("a", "t2");
        assert_eq!(skipped(&checks), 1, "the first stale token pauses one call");
        assert_eq!(checks.reusable("b"), None, "b passed under the old token");
        checks.stale("t3");
        checks.passed("a", "t3");
        assert_eq!(skipped(&checks), 2, "two in a row: two calls");
        checks.still_fresh();
        checks.stale("t4");
        checks.passed("a", "t4");
        assert_eq!(skipped(&checks), 1, "a reuse that held starts again at one");
        for _ in 0..100 {
            checks.stale("t5");
        }
        checks.passed("a", "t5");
        assert_eq!(skipped(&checks), MOST_PAUSED as usize);
        assert_eq!(checks.counts(), [6, 1, 103]);
    }

    #[test]
    fn bounded() {
        let checks = PassedChecks::default();
        for i in 0..(ENTRIES + 10) {
            checks.passed(&i.to_string(), "t");
        }
        assert!(checks.lock().passed.len() <= ENTRIES);
        checks.passed(&"x".repeat(LONGEST + 1), "t");
        assert_eq!(checks.reusable(&"x".repeat(LONGEST + 1)), None);
    }
}
