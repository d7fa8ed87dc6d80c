#!/usr/bin/env bash
# The guard's fuzz targets, for a bounded time, on the stable toolchain
# (RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the sanitizer flags it needs):
#   sqlguard_grammar  statements built from the second review's forms; an allowed one
#                     must call no dangerous function and read no sensitive catalog
#   sqlguard_check    arbitrary bytes; the guard must never panic
# SLUICE_FUZZ_SECONDS sets the time per target (default 60 and 30).
set -euo pipefail
cd "$(dirname "$0")/../../fuzz"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
grammar=${SLUICE_FUZZ_SECONDS:-60}
bytes=${SLUICE_FUZZ_SECONDS:-30}
cargo fuzz build 2>&1 | tail -3
cargo fuzz run sqlguard_grammar -- -max_total_time="$grammar" -print_final_stats=0 2>&1 | tail -3
cargo fuzz run sqlguard_check -- -max_total_time="$bytes" -print_final_stats=0 2>&1 | tail -3
echo "fuzz: both targets ran without a failure"
