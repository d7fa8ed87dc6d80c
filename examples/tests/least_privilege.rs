//! `postgres_server --require-least-privilege` refuses to start as a superuser, and says
//! why; without the flag it starts and warns.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superuser_is_refused_only_when_least_privilege_is_required() {
    let db = sluice_testkit::database().await.unwrap();
    let client = db.connect().await.unwrap();
    let superuser: bool = client
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    if !superuser {
        return; // DATABASE_URL names a narrow role: nothing to refuse
    }
    let binary = common::example_binary();
    let run = |extra: &[&str]| {
        Command::new(&binary)
            .args(extra)
            .env("DATABASE_URL", db.url())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let refused = run(&["--require-least-privilege"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refusing to start (--require-least-privilege)")
            && stderr.contains("a superuser"),
        "{stderr}"
    );
    // Without the flag: a warning, then it serves (and ends when stdin closes).
    let served = run(&[]);
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert!(served.status.success(), "{stderr}");
    assert!(stderr.contains("least privilege:"), "{stderr}");
}
