//! What the examples' end-to-end tests share.
#![allow(dead_code, clippy::unwrap_used, clippy::print_stderr)] // each test binary uses part of it

use std::path::PathBuf;

pub(crate) mod stdio;

/// Sends process `pid` a signal (`TERM`, `INT`, …) with kill(1).
pub(crate) fn signal(pid: u32, name: &str) {
    let sent = std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{name} failed");
}

/// A child process, killed when the test ends, however it ends.
pub(crate) struct Running(pub(crate) std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts an HTTP server with `command` (its standard error piped) and returns it with the
/// URL it logs (`listening on …`); its log is drained from then on.
pub(crate) fn start_http(mut command: std::process::Command) -> (Running, String) {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let running = Running(child);
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the server says where it listens")
            .unwrap();
        if let Some(at) = line.find("listening on ") {
            break line[at + "listening on ".len()..].trim().to_owned();
        }
    };
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (running, url)
}

/// The peak resident memory of process `pid` so far, in MiB; `None` once it has exited.
pub(crate) fn high_water_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    Some(kib / 1024.0)
}

/// The built `postgres_server` example, next to the test's own binary (`cargo test` and
/// `scripts/test` build the examples first).
pub(crate) fn example_binary() -> PathBuf {
    example_named("postgres_server")
}

/// The built example `name`, next to the test's own binary.
pub(crate) fn example_named(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = debug.join("examples").join(name);
    assert!(
        binary.exists(),
        "{} is not built: run `cargo build --examples` first (cargo test and scripts/test do)",
        binary.display()
    );
    binary
}

/// A Python with the official MCP SDK: `SLUICE_PYTHON`, else the repository's `.venv`,
/// made here from `scripts/requirements-test.txt` when it is missing (as `scripts/test`
/// makes it), so a plain `cargo test` needs nothing set up first. `None`, after saying why
/// on standard error, only when it cannot be had (no `python3`, no package index) and
/// not in CI; in CI (`CI` set) that is a failure.
pub(crate) fn python() -> Option<PathBuf> {
    if let Ok(python) = std::env::var("SLUICE_PYTHON") {
        return Some(PathBuf::from(python));
    }
    // The tests of one binary run side by side: one sets up, the others wait.
    static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _setting_up = SETUP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    let has_sdk = |python: &std::path::Path| {
        std::process::Command::new(python)
            .args(["-c", "import mcp"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has_sdk(&python) {
        return Some(python);
    }
    match make_venv(&root, &venv) {
        Ok(()) if has_sdk(&python) => Some(python),
        outcome => {
            let why = outcome
                .err()
                .unwrap_or_else(|| "the SDK does not import".to_owned());
            let message = format!(
                "no Python with the MCP SDK ({why}): install python3 with venv and pip, or set \
                 SLUICE_PYTHON"
            );
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("SKIPPED (the Python SDK cannot be had here): {message}");
            None
        }
    }
}

/// Runs the repository's Python script `script` (a path from the repository's root) with
/// `args`, and returns what it printed, after checking that it succeeded; `None` when
/// the Python SDK cannot be had here ([`python`]).
pub(crate) fn run_python(script: &str, args: &[String]) -> Option<String> {
    let python = python()?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(script);
    let output = std::process::Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the Python client failed:\n{log}");
    Some(log)
}

/// Makes `.venv` with the pinned SDK: built beside it and renamed into place, so a test
/// process running at the same time never sees a half-made one.
fn make_venv(root: &std::path::Path, venv: &std::path::Path) -> Result<(), String> {
    let building = root.join(format!(".venv-build-{}", std::process::id()));
    let run = |program: &std::path::Path, args: &[&str]| -> Result<(), String> {
        let output = std::process::Command::new(program)
            .args(args)
            .output()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {}: {}",
                program.display(),
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    };
    let building_str = building.to_string_lossy().into_owned();
    run(
        std::path::Path::new("python3"),
        &["-m", "venv", &building_str],
    )?;
    let requirements = root.join("scripts/requirements-test.txt");
    let requirements = requirements.to_string_lossy().into_owned();
    let pip = run(
        &building.join("bin/python"),
        &[
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            &requirements,
        ],
    );
    if let Err(e) = pip {
        let _ = std::fs::remove_dir_all(&building);
        return Err(e);
    }
    if std::fs::rename(&building, venv).is_err() {
        // Another process made it first (or an old one is in the way): use that one.
        let _ = std::fs::remove_dir_all(&building);
    }
    Ok(())
}

pub(crate) mod oauth;
