//! The official MCP Python SDK drives the built `everything_server` over stdio: tools
//! of every content type, progress and log notifications, resources.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

#[test]
fn python_sdk_over_stdio() {
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples/everything_server");
    assert!(
        binary.exists(),
        "{} is not built: run `cargo build --examples` first (scripts/test does)",
        binary.display()
    );
    let python = std::env::var("SLUICE_PYTHON").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "no Python with the MCP SDK: run scripts/test or set SLUICE_PYTHON"
    );
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/stdio_everything.py");
    let output = Command::new(python)
        .arg(script)
        .arg(binary)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the Python client failed:\n{log}");
    assert!(log.contains("python interop: 7 passed, 0 failed"), "{log}");
}
