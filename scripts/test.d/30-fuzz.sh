#!/usr/bin/env bash
# The fuzz targets, for a bounded time, on the stable toolchain
# (RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the sanitizer flags it needs):
#   sqlguard_grammar  statements built from the second review's forms; an allowed one
#                     must call no dangerous function and read no sensitive catalog
#   sqlguard_check    arbitrary bytes; the guard must never panic
#   jsonrpc_session   lines a client sends: the JSON-RPC decoder and a session's
#                     dispatch never panic, and every answer is JSON
#   http_request      requests (raw bytes, or built from the input) through the HTTP
#                     endpoint: never a panic, always an HTTP answer
# SLUICE_FUZZ_SECONDS sets the time per target (default 60 for the grammar, 30 else).
# The MCP targets run with leak detection off: their shared runtime keeps the tasks an
# input spawned (session watchers, connections) past the input, by design.
set -euo pipefail
cd "$(dirname "$0")/../../fuzz"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
grammar=${SLUICE_FUZZ_SECONDS:-60}
others=${SLUICE_FUZZ_SECONDS:-30}
cargo fuzz build 2>&1 | tail -3
cargo fuzz run sqlguard_grammar -- -max_total_time="$grammar" -print_final_stats=0 2>&1 | tail -3
cargo fuzz run sqlguard_check -- -max_total_time="$others" -print_final_stats=0 2>&1 | tail -3
for target in jsonrpc_session http_request; do
  mkdir -p "corpus/$target"
  cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$others" -detect_leaks=0 -print_final_stats=0 2>&1 | tail -3
done
echo "fuzz: all four targets ran without a failure"
