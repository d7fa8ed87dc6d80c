//! The corpus, judged by the guard alone: every attack refused for the right reason,
//! every honest query allowed.
#![allow(clippy::unwrap_used)]

mod corpus;

use sluice_sqlguard::{Guard, Verdict};

#[test]
fn corpus_is_large_enough() {
    assert!(corpus::attacks().len() >= 60);
    assert!(corpus::benign().len() >= 60);
}

#[test]
fn every_attack_is_refused_for_the_right_reason() {
    let guard = Guard::read_only();
    let mut wrong = Vec::new();
    for attack in corpus::attacks() {
        match guard.check(&attack.sql) {
            Verdict::Refused(refusal) if refusal.reason.as_str() == attack.reason => {
                assert!(!refusal.message.is_empty());
            }
            other => wrong.push(format!(
                "attacks.tsv:{}: {}\n    expected {}, got {other:?}",
                attack.line, attack.sql, attack.reason
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} attacks judged wrongly:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_benign_query_is_allowed() {
    let guard = Guard::read_only();
    let refused: Vec<String> = corpus::benign()
        .into_iter()
        .filter_map(|(line, sql)| match guard.check(sql) {
            Verdict::Allowed(_) => None,
            other => Some(format!("benign.sql:{line}: {sql}\n    {other:?}")),
        })
        .collect();
    assert!(
        refused.is_empty(),
        "{} honest queries refused:\n{}",
        refused.len(),
        refused.join("\n")
    );
}
