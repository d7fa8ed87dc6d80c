//! A grammar-aware target: the fuzzer's bytes choose pieces of SQL that mix every form the
//! second review used — string and name forms with the characters that move their ends,
//! comments, keyword-operator chains, set operations with `INTO`, `EXPLAIN` spellings,
//! catalog relations, growing functions and dangerous calls — into statements.
//!
//! Properties, under both policies:
//! - the guard never panics and returns;
//! - an allowed statement, read as PostgreSQL reads it, calls none of the dangerous
//!   functions: no unquoted name from the deny list followed by `(`;
//! - an allowed statement reads no sensitive catalog and, under the write policy, writes
//!   no system catalog.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use sluice_sqlguard::{Guard, Verdict};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

const DANGEROUS: &[&str] = &[
    "pg_sleep",
    "pg_read_file",
    "pg_advisory_lock",
    "set_config",
    "dblink_exec",
    "lo_export",
    "pg_terminate_backend",
];

const SENSITIVE: &[&str] = &["pg_authid", "pg_shadow", "pg_settings", "pg_stat_activity"];

const STRINGS: &[&str] = &[
    "'", "''", "E'", "X'", "B'", "N'", "U&'", "$$", "$a$", "\"", "U&\"",
];

const INSIDE: &[&str] = &[
    "a",
    "\\",
    "'",
    "''",
    "\\'",
    "$",
    "$$",
    "--",
    "/*",
    "*/",
    "\n",
    "\r",
    " ",
    ",",
    "\u{a0}",
    "ſ",
    ", pg_sleep(1)",
    ") , pg_read_file('/etc/hostname') --",
];

const ATOMS: &[&str] = &[
    "1",
    "a",
    "c.f",
    "name",
    "'x'",
    "NULL",
    "current_user",
    "ROW(1, 2)",
    "lower(1)",
    "repeat('x', 1000)",
    "lpad('x', 100000000)",
    "pg_sleep(1)",
    "set_config('a', 'b', false)",
    "(SELECT 1)",
    "ARRAY[1]",
    "1::text",
];

const OPERATORS: &[&str] = &[
    " + ",
    " || ",
    " AND ",
    " OR ",
    " NOTNULL",
    " IS NULL",
    " IN (1)",
    " COLLATE \"C\"",
    " AT TIME ZONE 'UTC'",
    " SIMILAR TO 'a'",
    " LIKE 'a'",
    " = ANY (ARRAY[1])",
    "::int",
    " +-- c\n ",
    " */* c */ ",
];

const TABLES: &[&str] = &[
    "t",
    "public.t",
    "pg_authid",
    "pg_catalog.pg_shadow",
    "pg_settings",
    "\"pg_stat_activity\"",
    "U&\"pg_authid\"",
    "information_schema.tables",
    "generate_series(1, 3) g",
];

const PREFIXES: &[&str] = &[
    "SELECT ",
    "EXPLAIN SELECT ",
    "EXPLAIN ANALYSE SELECT ",
    "EXPLAIN (ANALYZE 1) SELECT ",
    "WITH w AS (SELECT 1) SELECT ",
    "SELECT * INTO TEMP x FROM t UNION SELECT ",
    "UPDATE pg_settings SET setting = ",
    "INSERT INTO t SELECT ",
    "DELETE FROM t WHERE a = ",
];

fn pick<'a>(u: &mut Unstructured<'_>, from: &[&'a str]) -> Result<&'a str> {
    Ok(from[u.choose_index(from.len())?])
}

fn literal(u: &mut Unstructured<'_>, out: &mut String) -> Result<()> {
    let open = pick(u, STRINGS)?;
    out.push_str(open);
    for _ in 0..u.int_in_range(0..=4)? {
        out.push_str(pick(u, INSIDE)?);
    }
    if u.ratio(4, 5)? {
        out.push_str(match open {
            "$$" => "$$",
            "$a$" => "$a$",
            "\"" | "U&\"" => "\"",
            _ => "'",
        });
    }
    Ok(())
}

fn expression(u: &mut Unstructured<'_>, out: &mut String, depth: u32) -> Result<()> {
    match u.int_in_range(0..=3)? {
        0 => literal(u, out)?,
        1 if depth < 3 => {
            out.push('(');
            expression(u, out, depth + 1)?;
            out.push(')');
        }
        _ => out.push_str(pick(u, ATOMS)?),
    }
    for _ in 0..u.int_in_range(0..=3)? {
        out.push_str(pick(u, OPERATORS)?);
        if u.ratio(1, 2)? {
            out.push_str(pick(u, ATOMS)?);
        }
    }
    Ok(())
}

fn statement(u: &mut Unstructured<'_>) -> Result<String> {
    let mut sql = pick(u, PREFIXES)?.to_owned();
    for i in 0..=u.int_in_range(0..=3)? {
        if i > 0 {
            sql.push_str(if u.ratio(1, 4)? { ",\n" } else { ", " });
        }
        expression(u, &mut sql, 0)?;
    }
    if u.ratio(2, 3)? {
        sql.push_str(" FROM ");
        sql.push_str(pick(u, TABLES)?);
    }
    if u.ratio(1, 4)? {
        sql.push_str(pick(
            u,
            &[
                " --'",
                " /* $$ */",
                ";",
                "; DELETE FROM t",
                " UNION SELECT 1",
            ],
        )?);
    }
    Ok(sql)
}

/// True when PostgreSQL's reading of `sql` (which the guard checked agrees with
/// sqlparser's tokens) holds an unquoted `name` followed by `(`, or names `name` at all.
fn mentions(sql: &str, names: &[&str], call: bool) -> bool {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return false;
    };
    let significant: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    significant.iter().enumerate().any(|(i, token)| {
        let Token::Word(word) = token else {
            return false;
        };
        let named = names.iter().any(|n| word.value.eq_ignore_ascii_case(n));
        named && (!call || matches!(significant.get(i + 1), Some(Token::LParen)))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(sql) = statement(&mut u) else {
        return;
    };
    for guard in [Guard::read_only(), Guard::write()] {
        let Verdict::Allowed(allowed) = guard.check(&sql) else {
            continue;
        };
        assert!(
            !mentions(&sql, DANGEROUS, true),
            "allowed a dangerous call: {sql:?}"
        );
        assert!(
            !mentions(&sql, SENSITIVE, false),
            "allowed a sensitive relation: {sql:?}"
        );
        assert!(
            allowed.writes.iter().all(|w| !w.starts_with("pg_")),
            "allowed a catalog write: {sql:?}"
        );
    }
});
