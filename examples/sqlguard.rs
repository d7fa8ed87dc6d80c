//! Why is my query refused? Prints the SQL guard's verdict as one line of JSON.
//!
//! ```sh
//! cargo run --example sqlguard -- "SELECT * FROM t FOR UPDATE"
//! cargo run --example sqlguard -- --policy write "DELETE FROM t WHERE id = 1"
//! echo "SELECT 1; SELECT 2" | cargo run --example sqlguard
//! ```
//!
//! Exit status: 0 allowed, 1 refused, 2 usage error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Read;
use std::process::ExitCode;

use sluice_sqlguard::{Guard, Verdict};

const USAGE: &str = "usage: sqlguard [--policy read|write] [SQL]   (SQL from stdin when absent)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut policy = "read".to_owned();
    let mut sql = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--policy" => match args.next() {
                Some(value) => policy = value,
                None => return usage("--policy needs a value"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if sql.is_none() => sql = Some(arg),
            _ => return usage("give the SQL as one argument (quote it)"),
        }
    }
    let guard = match policy.as_str() {
        "read" => Guard::read_only(),
        "write" => Guard::write(),
        other => return usage(&format!("unknown policy {other:?}: use read or write")),
    };
    let sql = match sql {
        Some(sql) => sql,
        None => {
            let mut text = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut text) {
                return usage(&format!("cannot read SQL from stdin: {e}"));
            }
            text
        }
    };
    let verdict = guard.check(&sql);
    match serde_json::to_string(&verdict) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("sqlguard: cannot print the verdict: {e}");
            return ExitCode::from(2);
        }
    }
    match verdict {
        Verdict::Allowed(_) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("sqlguard: {problem}\n{USAGE}");
    ExitCode::from(2)
}
