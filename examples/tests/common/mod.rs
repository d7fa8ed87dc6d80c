//! What the examples' end-to-end tests share.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses part of it

use std::path::PathBuf;

/// The built `postgres_server` example, next to the test's own binary (`cargo test` and
/// `scripts/test` build the examples first).
pub(crate) fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(|deps| deps.parent()).unwrap();
    debug.join("examples").join("postgres_server")
}

pub(crate) mod oauth;
