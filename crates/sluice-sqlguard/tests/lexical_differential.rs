//! The differential test of the guard's reading against PostgreSQL's own.
//!
//! Twenty thousand generated `SELECT` lists mix every string and name form PostgreSQL has
//! (`'…'`, `E'…'`, `X'…'`, `B'…'`, `N'…'`, `U&'…'`, `$tag$…$tag$`, `"…"`, `U&"…"`)
//! with the characters that move their ends: quotes, backslashes, dollars, comment
//! markers, newlines, odd whitespace and non-ASCII letters. For every statement the
//! guard allows, PostgreSQL itself is asked how it read it: it must return exactly the
//! columns sqlparser saw, and each string constant must have the value sqlparser gave
//! it. A disagreement means text the guard took for data was something else to
//! PostgreSQL, so the guard must have refused it.
//!
//! The statements run inside `BEGIN READ ONLY` with the settings sluice-postgres pins
//! in every transaction (`standard_conforming_strings`, `backslash_quote`,
//! `client_encoding`), and every generated item is a constant: nothing that could do
//! harm is ever sent.
#![allow(clippy::unwrap_used)]

use sluice_sqlguard::{Guard, RefusalReason, Verdict};
use sqlparser::ast::{Expr, SelectItem, SetExpr, Statement, Value};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::error::SqlState;

/// The per-transaction pins of sluice-postgres, spelled out here so that a change there
/// shows up as a failure here rather than as a silent gap.
const PINS: &str = "BEGIN READ ONLY; SET LOCAL standard_conforming_strings = on; \
                    SET LOCAL backslash_quote = safe_encoding; SET LOCAL client_encoding = 'UTF8'";

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What may appear inside a quoted body: everything that can end it early or late.
const BODY: &[&str] = &[
    "a", "x", "0", " ", "\\", "\\\\", "'", "''", "\"", "\"\"", "$", "$$", "$a$", "--", "/*", "*/",
    "\n", "\r", "\t", "\x0b", "\x0c", ", 1", ", 'z'", "\u{a0}", "\u{2028}", "ſ", "\u{212a}", "é",
    "\\x41", "\\u0041", "\\0041", "&", "\\'", "\\n",
];

const OPENERS: &[(&str, &str)] = &[
    ("'", "'"),
    ("E'", "'"),
    ("e'", "'"),
    ("X'", "'"),
    ("B'", "'"),
    ("N'", "'"),
    ("U&'", "'"),
    ("$$", "$$"),
    ("$a$", "$a$"),
    ("$_1$", "$_1$"),
];

const BETWEEN: &[&str] = &[
    ", ",
    ",",
    ",\n",
    " , ",
    ", /* c */ ",
    ", -- c\n",
    ",\r",
    ",\x0b",
    ",\x0c",
    ",\u{a0}",
    " ",
    "\n",
    "",
];

const OTHER_ITEMS: &[&str] = &[
    "1",
    ".5",
    "1.",
    "1e3",
    "1..2",
    "0x1",
    "1_0",
    "12a",
    "$1",
    "1 AS \"q\"",
    "1 AS U&\"q\"",
    "1 AS \"q\"\"r\"",
    "1 AS \"\"",
    "1 /* a /* b */ c */",
    "1 --x",
    "1 +-- c\n 2",
    "2 */* c */ 3",
    "'a'\n'b'",
    "'a' -- c\n'b'",
    "'a' 'b'",
    "1 AS ſ",
    "1 AS k\u{212a}",
];

fn item(rng: &mut Rng) -> String {
    if rng.below(4) == 0 {
        return rng.pick(OTHER_ITEMS).to_owned();
    }
    let (open, close) = OPENERS[rng.below(OPENERS.len() as u64) as usize];
    let mut text = open.to_owned();
    for _ in 0..rng.below(6) {
        text.push_str(rng.pick(BODY));
    }
    // Mostly closed, sometimes left open so the next item's quote closes it.
    if rng.below(5) != 0 {
        text.push_str(close);
    }
    text
}

fn statement(rng: &mut Rng) -> String {
    let mut sql = "SELECT ".to_owned();
    for i in 0..=rng.below(4) {
        if i > 0 {
            sql.push_str(rng.pick(BETWEEN));
        }
        sql.push_str(&item(rng));
    }
    if rng.below(4) == 0 {
        sql.push_str(rng.pick(&[" --'", " -- $$", "/* ' */", "'", "$$"]));
    }
    sql
}

/// The string value sqlparser gave a projection item, when it is a string constant.
fn string_value(item: &SelectItem) -> Option<String> {
    let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else {
        return None;
    };
    let Expr::Value(value) = expr else {
        return None;
    };
    match &value.value {
        Value::SingleQuotedString(s)
        | Value::EscapedStringLiteral(s)
        | Value::NationalStringLiteral(s)
        | Value::UnicodeStringLiteral(s) => Some(s.clone()),
        Value::DollarQuotedString(d) => Some(d.value.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn postgres_reads_every_allowed_statement_as_the_guard_does() {
    let db = sluice_testkit::database().await.unwrap();
    let client = db.connect().await.unwrap();
    let guard = Guard::read_only();
    let mut rng = Rng(0x5eed_1e55_0fc0_de42);
    let (mut allowed, mut ambiguous, mut postgres_errors) = (0, 0, 0);
    let mut wrong = Vec::new();
    for _ in 0..20_000 {
        let sql = statement(&mut rng);
        match guard.check(&sql) {
            Verdict::Allowed(_) => allowed += 1,
            Verdict::Refused(refusal) => {
                if refusal.reason == RefusalReason::Ambiguous {
                    ambiguous += 1;
                }
                continue;
            }
            _ => continue,
        }
        let parsed = Parser::parse_sql(&PostgreSqlDialect {}, &sql).unwrap();
        let Statement::Query(query) = &parsed[0] else {
            panic!("allowed but not a query: {sql:?}");
        };
        let SetExpr::Select(select) = query.body.as_ref() else {
            panic!("allowed but not a SELECT: {sql:?}");
        };
        client.batch_execute(PINS).await.unwrap();
        let result = client.simple_query(&sql).await;
        client.batch_execute("ROLLBACK").await.unwrap();
        let messages = match result {
            Ok(messages) => messages,
            // A syntax error means PostgreSQL's reading broke where sqlparser's did not:
            // a differential, even if this one happened to stop in time.
            Err(e) if e.code() == Some(&SqlState::SYNTAX_ERROR) => {
                wrong.push(format!(
                    "{sql:?}: sqlparser parsed it, PostgreSQL says {e:?}"
                ));
                continue;
            }
            // Any other refusal of what the guard allowed is harmless (an invalid hex
            // digit, a column that does not exist): nothing ran.
            Err(_) => {
                postgres_errors += 1;
                continue;
            }
        };
        let Some(row) = messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        }) else {
            wrong.push(format!("{sql:?}: PostgreSQL returned no row"));
            continue;
        };
        if row.len() != select.projection.len() {
            wrong.push(format!(
                "{sql:?}: sqlparser saw {} columns, PostgreSQL returned {}",
                select.projection.len(),
                row.len()
            ));
            continue;
        }
        for (i, item) in select.projection.iter().enumerate() {
            if let Some(expected) = string_value(item)
                && row.get(i) != Some(expected.as_str())
            {
                wrong.push(format!(
                    "{sql:?}: column {i} is {:?} to sqlparser and {:?} to PostgreSQL",
                    expected,
                    row.get(i)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} statements read differently:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // The generator must reach both sides, or the test proves nothing.
    assert!(allowed > 2_000, "only {allowed} statements were allowed");
    assert!(
        ambiguous > 100,
        "only {ambiguous} were refused as ambiguous"
    );
    eprintln!(
        "{allowed} allowed and read alike ({postgres_errors} of them rejected by PostgreSQL), \
         {ambiguous} refused as ambiguous"
    );
}

/// The review's examples, each a string that hid code from the guard.
#[test]
fn known_differentials_are_refused() {
    let guard = Guard::read_only();
    for sql in [
        r"SELECT X'\' , pg_sleep(4) --'",
        r"SELECT B'\' , pg_sleep(4) --'",
        "SELECT 'a'\n' , pg_sleep(4) --'",
        "SELECT U&\"\\0070g_sleep\"(1)",
        "SELECT 1 FROM U&\"pg_authid\"",
        "ſELECT 1",
        "SELECT 0x1F",
        "SELECT a.'x' FROM t",
        "SELECT 'x' + FROM pg_settings",
    ] {
        let verdict = guard.check(sql);
        assert!(!verdict.is_allowed(), "{sql:?} was allowed");
    }
}

/// Why the pins matter: with `standard_conforming_strings = off` PostgreSQL reads the
/// review's first example as a function call, while the guard (and PostgreSQL with the
/// pins) reads one harmless string.
#[tokio::test]
async fn the_pins_make_postgres_read_strings_as_the_guard_does() {
    let db = sluice_testkit::database().await.unwrap();
    let client = db.connect().await.unwrap();
    let sql = r"SELECT '\' || $$ ', version() -- $$ AS v";
    assert!(Guard::read_only().check(sql).is_allowed());
    let columns = |messages: Vec<SimpleQueryMessage>| {
        messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
            _ => None,
        })
    };
    client.batch_execute(PINS).await.unwrap();
    let pinned = columns(client.simple_query(sql).await.unwrap());
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(pinned, Some(Some(r"\ ', version() -- ".to_owned())));
    client
        .batch_execute("BEGIN READ ONLY; SET LOCAL standard_conforming_strings = off")
        .await
        .unwrap();
    let unpinned = client.simple_query(sql).await;
    client.batch_execute("ROLLBACK").await.unwrap();
    // Unpinned, the text after the first quote is code: version() ran, or it failed to
    // parse; either way it is not the string the guard saw.
    let unpinned = unpinned.ok().and_then(columns);
    assert_ne!(unpinned, pinned);
}
