//! The guard never panics and stays bounded, whatever it is fed.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sluice_sqlguard::{Guard, Policy, RefusalReason};

/// Runs `check` on a thread with a small stack, as a tokio worker would have, so that
/// unbounded recursion shows up as a crash here rather than in production.
fn check_on_small_stack(policy: Policy, sql: String) -> sluice_sqlguard::Verdict {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || Guard::new(policy).check(&sql))
        .unwrap()
        .join()
        .unwrap()
}

/// A stack smaller than any a library user's thread is likely to have: 64 KiB (the
/// review that crashed the `sqlguard` example with 12,000 chained `NOTNULL`s used
/// 256 KiB, and an unoptimised build once overflowed that at the operator limit). The
/// check lends itself a stack when too little is left ([`sluice_sqlguard::STACK_RED_ZONE`]).
fn check_on_tiny_stack(policy: Policy, sql: String) -> sluice_sqlguard::Verdict {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || Guard::new(policy).check(&sql))
        .unwrap()
        .join()
        .unwrap()
}

/// Every form that nests the syntax tree by a loop in the parser (not by recursion),
/// each as a chain: `{}` stands for the previous link.
const CHAINS: &[&str] = &[
    "{} + 1",
    "{} AND true",
    "{} || 'a'",
    "{} NOTNULL",
    "{} IS NULL",
    "{} IN (1)",
    "{} COLLATE \"C\"",
    "{} AT TIME ZONE 'UTC'",
    "{} SIMILAR TO 'a'",
    "{} LIKE 'a'",
    "{} BETWEEN 1 AND 2",
    "{} = ANY (ARRAY[1])",
    "{}::text",
    "{}[1]",
    "{} UNION SELECT 1",
    "{} INTERSECT SELECT 1",
    "{} EXCEPT SELECT 1",
];

fn chain(link: &str, n: usize) -> String {
    let mut sql = "1".to_owned();
    for _ in 0..n {
        sql = link.replace("{}", &sql);
    }
    format!("SELECT {sql}")
}

#[test]
fn every_chain_form_is_bounded_on_a_small_stack() {
    for link in CHAINS {
        // Far past the limit: refused before it is parsed.
        let policy = Policy::read_only().max_sql_bytes(1 << 20);
        let verdict = check_on_tiny_stack(policy, chain(link, 12_000));
        assert!(!verdict.is_allowed(), "{link} x 12000 was allowed");
        // At the limit, whatever the verdict, the check returns on the same stack.
        let n = sluice_sqlguard::DEFAULT_MAX_OPERATORS / 2;
        let policy = Policy::read_only().max_sql_bytes(1 << 20);
        let _ = check_on_tiny_stack(policy, chain(link, n));
    }
}

#[test]
fn deep_parentheses_are_refused_as_too_deep() {
    let sql = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    let verdict = check_on_small_stack(Policy::read_only(), sql);
    assert_eq!(
        verdict.refusal().unwrap().reason,
        RefusalReason::TooDeeplyNested
    );
}

#[test]
fn deep_subqueries_are_refused_as_too_deep() {
    let sql = format!(
        "{}SELECT 1{}",
        "SELECT * FROM (".repeat(500),
        ") s".repeat(500)
    );
    let verdict = check_on_small_stack(Policy::read_only(), sql);
    assert_eq!(
        verdict.refusal().unwrap().reason,
        RefusalReason::TooDeeplyNested
    );
}

#[test]
fn long_operator_chains_do_not_exhaust_the_stack() {
    // A left-deep chain is built by a loop in the parser, not by recursion, so the
    // recursion limit does not see it; walking and dropping it must still be safe.
    for op in ["1 + ", "true AND ", "'a' || ", "x OR ", "1::int + "] {
        let sql = format!("SELECT {}1", op.repeat(20_000));
        let policy = Policy::read_only().max_sql_bytes(1 << 20);
        let verdict = check_on_small_stack(policy, sql);
        assert_eq!(
            verdict.refusal().unwrap().reason,
            RefusalReason::TooComplex,
            "{op}"
        );
    }
    // Just under the limit is fine, on the same small stack.
    let sql = format!("SELECT {}1", "1 + ".repeat(1_999));
    assert!(check_on_small_stack(Policy::read_only(), sql).is_allowed());
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let sql = format!("SELECT '{}'", "x".repeat(200 * 1024));
    // Refused before any parsing: the length alone decides.
    let verdict = Guard::read_only().check(&sql);
    assert_eq!(verdict.refusal().unwrap().reason, RefusalReason::TooLong);
    let small = Guard::new(Policy::read_only().max_sql_bytes(10)).check("SELECT 1234567890");
    assert_eq!(small.refusal().unwrap().reason, RefusalReason::TooLong);
}

#[test]
fn empty_input_is_refused() {
    for sql in ["", "   ", "-- only a comment", "/* nothing */", ";"] {
        let verdict = Guard::read_only().check(sql);
        let reason = verdict.refusal().unwrap().reason;
        assert!(
            matches!(reason, RefusalReason::Empty | RefusalReason::Unparsable),
            "{sql:?}: {reason:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(sql in ".{0,300}") {
        let _ = Guard::read_only().check(&sql);
        let _ = Guard::write().check(&sql);
    }

    #[test]
    fn sql_like_text_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("SELECT"), Just("FROM"), Just("WHERE"), Just("WITH"), Just("("), Just(")"),
                Just(","), Just(";"), Just("'"), Just("$$"), Just("--"), Just("/*"), Just("*/"),
                Just("t"), Just("pg_sleep(1)"), Just("DELETE"), Just("INSERT INTO t"),
                Just("VALUES"), Just("1"), Just("AS"), Just("::int"), Just("E'\\'"), Just("\""),
                Just("UNION"), Just("FOR UPDATE"), Just("INTO"), Just("EXPLAIN"), Just("ANALYZE"),
            ],
            0..40,
        )
    ) {
        let sql = parts.join(" ");
        let _ = Guard::read_only().check(&sql);
        let _ = Guard::write().check(&sql);
    }
}

#[test]
fn growing_functions_are_bounded_by_what_they_would_build() {
    let guard = Guard::read_only();
    for sql in [
        "SELECT format('%900000000s', 'x')",
        "SELECT repeat('x', 1000) || repeat(repeat('y', 1100), 1000)",
        "SELECT lpad(name, 2000000) FROM t",
        "SELECT array_fill('x'::text, ARRAY[2000, 2000])",
        "SELECT replace(repeat('a', 100000), 'a', repeat('b', 100))",
    ] {
        assert_eq!(
            guard.check(sql).refusal().map(|r| r.reason),
            Some(RefusalReason::TooLarge),
            "{sql}"
        );
    }
    for sql in [
        "SELECT repeat('-', 80)",
        "SELECT lpad(code, 8, '0') FROM t",
        "SELECT repeat(name, 2) FROM t",
        "SELECT format('%s and %s', a, b) FROM t",
        "SELECT replace(note, 'a', 'b') FROM t",
    ] {
        assert!(guard.check(sql).is_allowed(), "{sql}");
    }
    // The bound is the policy's.
    let strict = Guard::new(Policy::read_only().max_constant_bytes(10));
    assert!(!strict.check("SELECT repeat('-', 80)").is_allowed());
}
