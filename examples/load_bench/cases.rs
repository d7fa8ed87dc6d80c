//! What each call asks: the cases of the bench, their tables and their SQL.

use clap::ValueEnum;

/// A kind of read, measured the same way in every column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Case {
    /// `SELECT v FROM sluice_bench WHERE id = N`: one row of a 1,000-row table, a
    /// thousand different texts in turn.
    Point,
    /// All 1,000 rows of a 4-column table (int, text, float8, timestamptz): the
    /// cost of rows, decoding and JSON.
    Large,
    /// All of a 100,000-row table, which the server cuts at its row cap (1,000): what
    /// a result cut at the cap costs.
    Capped,
    /// The same 100,000-row table with `LIMIT 1000` in the SQL: what `capped` should
    /// cost.
    Limited,
}

impl Case {
    /// The SQL of call `i`.
    pub(crate) fn sql(self, i: usize) -> String {
        match self {
            Case::Point => format!("SELECT v FROM sluice_bench WHERE id = {}", i % 1000),
            Case::Large => "SELECT id, name, score, created FROM sluice_bench_wide".to_owned(),
            Case::Capped => "SELECT id, v FROM sluice_bench_long".to_owned(),
            Case::Limited => "SELECT id, v FROM sluice_bench_long LIMIT 1000".to_owned(),
        }
    }

    /// The same read for the raw baseline: prepared once, with `$1` where the point
    /// query's id goes (and the cap as a `LIMIT`: a raw client has none of its own).
    pub(crate) fn raw_sql(self) -> &'static str {
        match self {
            Case::Point => "SELECT v FROM sluice_bench WHERE id = $1",
            Case::Large => "SELECT id, name, score, created FROM sluice_bench_wide",
            Case::Capped | Case::Limited => "SELECT id, v FROM sluice_bench_long LIMIT 1000",
        }
    }

    /// The rows each call returns (after the server's cap).
    pub(crate) fn rows(self) -> usize {
        match self {
            Case::Point => 1,
            Case::Large | Case::Capped | Case::Limited => 1000,
        }
    }

    /// Its name in the table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Case::Point => "point",
            Case::Large => "1000 rows x 4",
            Case::Capped => "cut at the cap",
            Case::Limited => "LIMIT 1000",
        }
    }
}

/// The tables, as `(name, what creates and fills it)`.
pub(crate) const TABLES: [(&str, &str); 3] = [
    (
        "sluice_bench",
        "CREATE TABLE sluice_bench (id int PRIMARY KEY, v text NOT NULL);
         INSERT INTO sluice_bench SELECT g, md5(g::text) FROM generate_series(0, 999) g;",
    ),
    (
        "sluice_bench_wide",
        "CREATE TABLE sluice_bench_wide (id int PRIMARY KEY, name text NOT NULL,
             score float8 NOT NULL, created timestamptz NOT NULL);
         INSERT INTO sluice_bench_wide
             SELECT g, 'name ' || md5(g::text), g / 7.0,
                    timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute'
             FROM generate_series(1, 1000) g;",
    ),
    (
        "sluice_bench_long",
        "CREATE TABLE sluice_bench_long (id int PRIMARY KEY, v text NOT NULL);
         INSERT INTO sluice_bench_long SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
         ANALYZE sluice_bench_long;",
    ),
];
