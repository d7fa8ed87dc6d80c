//! The testkit's fake GitHub as a process, for test scripts outside `cargo test` (the
//! conformance suite's authorization run). Prints `fake-github: http://127.0.0.1:PORT`
//! on standard output once it listens, then serves until killed.
//!
//! ```sh
//! fake-github CLIENT_ID CLIENT_SECRET [GITHUB_ID LOGIN]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use sluice_testkit::github::{FakeGitHub, FakeUser};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(id), Some(secret)) = (args.first(), args.get(1)) else {
        eprintln!("usage: fake-github CLIENT_ID CLIENT_SECRET [GITHUB_ID LOGIN]");
        return std::process::ExitCode::from(2);
    };
    let github = match FakeGitHub::start(id, secret).await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("fake-github: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let user_id = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(42);
    let login = args.get(3).map_or("octocat", String::as_str);
    github.sign_in_as(FakeUser::new(user_id, login));
    println!("fake-github: {}", github.url());
    std::future::pending::<()>().await;
    std::process::ExitCode::SUCCESS
}
