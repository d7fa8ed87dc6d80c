//! A test database as a process, for test scripts outside `cargo test`: finds or starts
//! PostgreSQL as the testkit does, creates a fresh database, prints
//! `testkit-database: URL` on standard output, and drops the database when it receives
//! SIGTERM or SIGINT. `testkit-database --drop-template` instead drops the template the
//! test databases are copied from, and exits: the end of `scripts/test`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--drop-template") {
        return match sluice_testkit::drop_template().await {
            Ok(dropped) => {
                eprintln!(
                    "testkit-database: template {}",
                    if dropped { "dropped" } else { "absent" }
                );
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("testkit-database: {e}");
                std::process::ExitCode::from(1)
            }
        };
    }
    let db = match sluice_testkit::database().await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("testkit-database: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    println!("testkit-database: {}", db.url());
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("testkit-database: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    drop(db);
    std::process::ExitCode::SUCCESS
}
