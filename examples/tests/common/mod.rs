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

/// A Python with the `mcp` package: `SLUICE_PYTHON`, else the repo's `.venv` that
/// `scripts/test` creates.
pub(crate) fn python() -> PathBuf {
    if let Ok(python) = std::env::var("SLUICE_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with the MCP SDK: run scripts/test (it creates .venv from \
         scripts/requirements-test.txt) or set SLUICE_PYTHON"
    );
    venv
}

pub(crate) mod oauth;
