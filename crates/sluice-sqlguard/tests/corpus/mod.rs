//! Loading the corpus files shared by the guard-only and the PostgreSQL tests.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses part of it

/// One attack: the reason the guard must give, the proof kind, the SQL.
pub(crate) struct Attack {
    pub(crate) line: usize,
    pub(crate) reason: String,
    pub(crate) proof: String,
    pub(crate) sql: String,
}

pub(crate) fn attacks() -> Vec<Attack> {
    include_str!("attacks.tsv")
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|(i, line)| {
            let mut columns = line.splitn(3, '\t');
            let mut next = || {
                columns
                    .next()
                    .unwrap_or_else(|| panic!("attacks.tsv:{}: needs three columns", i + 1))
                    .to_owned()
            };
            Attack {
                line: i + 1,
                reason: next(),
                proof: next(),
                sql: next(),
            }
        })
        .collect()
}

pub(crate) fn benign() -> Vec<(usize, &'static str)> {
    include_str!("benign.sql")
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with("--"))
        .map(|(i, line)| (i + 1, line))
        .collect()
}

pub(crate) const SCHEMA: &str = include_str!("schema.sql");
