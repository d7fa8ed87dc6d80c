//! A read whose result may be longer than the row cap runs behind a cursor, so
//! PostgreSQL produces only the rows kept: `DECLARE … CURSOR FOR` the judged statement,
//! `MOVE` past the rows of earlier pages, `FETCH` one row more than the cap (to know the
//! result was cut), all sent together with the rest of the transaction — no round trip
//! more. Without it a cut result is still read to its end and thrown away: 30–50 ms for a
//! 100,000-row table capped at 1,000 rows, against 0.5 ms behind the cursor (and 0.4 ms
//! with `LIMIT 1001` in the SQL), measured on the development machine.
//!
//! The cursor costs one statement more, about a tenth of a one-row read, so a query whose
//! own top-level `LIMIT` keeps it within the cap (the guard reads it:
//! `Allowed::row_limit`) runs as it is, and so do reads whose results turned out small,
//! remembered ([`SmallResults`]) for the next time; one that is cut again goes back
//! behind the cursor.
//!
//! The statement is not rewritten: it follows the `DECLARE` prefix whole, after a line
//! break (as `EXPLAIN` takes it), so PostgreSQL parses the one query the guard read, as
//! the cursor's query. A statement that cannot be a cursor's query fails as it would
//! have failed on its own in a read-only transaction.
//!
//! While the rows are produced, `pg_stat_activity` (and the server's statement log)
//! shows the `FETCH`; it carries the start of the statement in a comment so an operator
//! still sees what runs. The comment's text has every `*` and control character taken
//! out, so it can neither end early nor open a nested comment: nothing of the caller's
//! text is ever read as SQL there.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

/// The cursor's name (it closes with its transaction).
const CURSOR: &str = "sluice_rows";

/// The most statements remembered as having small results.
const REMEMBERED: usize = 4096;

/// `DECLARE` of the cursor over `sql`.
pub(super) fn declare(sql: &str) -> String {
    format!("DECLARE {CURSOR} NO SCROLL CURSOR FOR\n{sql}")
}

/// Passes over `skip` rows.
pub(super) fn skip(skip: u64) -> String {
    format!("MOVE FORWARD {skip} IN {CURSOR}")
}

/// How much of the statement the `FETCH`'s comment shows.
const LABEL_CHARS: usize = 200;

/// Fetches `max_rows` rows and one more, which says whether the cap cut the result; the
/// comment names the statement `sql`.
pub(super) fn fetch(max_rows: usize, sql: &str) -> String {
    let label: String = sql
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| *c != '*')
        .take(LABEL_CHARS)
        .collect();
    format!(
        "FETCH FORWARD {} FROM {CURSOR} /* {} */",
        max_rows.saturating_add(1),
        label.trim()
    )
}

/// Reads whose last result held at most half the row cap, by a hash of their SQL (of
/// its parameterised form, when it has one).
#[derive(Default)]
pub(crate) struct SmallResults {
    hashes: Mutex<HashSet<u64>>,
}

fn hash(sql: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    sql.hash(&mut hasher);
    hasher.finish()
}

impl SmallResults {
    /// True when `sql` was last seen to give a small result: it runs without a cursor.
    pub(crate) fn contains(&self, sql: &str) -> bool {
        self.hashes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&hash(sql))
    }

    /// Records how `sql`'s result came out: small (remembered), or cut (forgotten).
    pub(crate) fn record(&self, sql: &str, rows: usize, truncated: bool, max_rows: usize) {
        let mut hashes = self
            .hashes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if truncated || rows > max_rows / 2 {
            hashes.remove(&hash(sql));
        } else {
            if hashes.len() >= REMEMBERED {
                // Simple and bounded: start again rather than track ages.
                hashes.clear();
            }
            hashes.insert(hash(sql));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_results_are_remembered_until_one_is_cut() {
        let small = SmallResults::default();
        assert!(!small.contains("SELECT 1"));
        small.record("SELECT 1", 1, false, 1000);
        assert!(small.contains("SELECT 1"));
        small.record("SELECT 1", 1000, true, 1000);
        assert!(!small.contains("SELECT 1"));
        small.record("SELECT 2", 501, false, 1000);
        assert!(!small.contains("SELECT 2"));
    }

    #[test]
    fn the_statement_follows_the_prefix_whole() {
        let sql = "SELECT 1 -- a comment to the end of the line";
        assert_eq!(
            declare(sql),
            "DECLARE sluice_rows NO SCROLL CURSOR FOR\nSELECT 1 -- a comment to the end of the line"
        );
        assert_eq!(
            fetch(1000, "SELECT 1"),
            "FETCH FORWARD 1001 FROM sluice_rows /* SELECT 1 */"
        );
        assert!(fetch(usize::MAX, "").starts_with(&format!("FETCH FORWARD {} ", usize::MAX)));
    }

    #[test]
    fn the_fetch_comment_cannot_end_or_nest() {
        for sql in [
            "SELECT 1 */ ; DROP TABLE t; /*",
            "SELECT '/*' /* nested */ */",
            "SELECT 1 /",
            "SELECT\n1 -- x\n*/*/",
        ] {
            let fetch = fetch(10, sql);
            let Some(body) = fetch
                .strip_prefix("FETCH FORWARD 11 FROM sluice_rows /* ")
                .and_then(|rest| rest.strip_suffix(" */"))
            else {
                panic!("not a fetch with one comment: {fetch}");
            };
            assert!(!body.contains('*'), "{fetch}");
            assert!(!body.chars().any(char::is_control), "{fetch}");
        }
    }
}
