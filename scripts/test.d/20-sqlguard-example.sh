#!/usr/bin/env bash
# The sqlguard example as a user runs it: JSON on stdout, exit 0/1/2.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --example sqlguard
bin="${CARGO_TARGET_DIR:-target}/debug/examples/sqlguard"
fail=0
expect() { # expected-status expected-substring args...
    local status=$1 needle=$2; shift 2
    local out rc=0
    out=$("$bin" "$@" 2>&1) || rc=$?
    if [ "$rc" != "$status" ] || [[ "$out" != *"$needle"* ]]; then
        echo "FAIL: sqlguard $* -> exit $rc: $out (wanted exit $status with $needle)"; fail=1
    fi
}
expect 0 '"verdict":"allowed"' "SELECT name FROM t WHERE note = 'DROP TABLE t'"
expect 1 '"reason":"multiple_statements"' "COMMIT; DROP SCHEMA public CASCADE"
expect 1 '"reason":"function_not_allowed"' "SELECT pg_sleep(10)"
expect 0 '"kind":"delete"' --policy write "DELETE FROM t WHERE id = 1"
expect 1 '"reason":"statement_not_allowed"' --policy read "DELETE FROM t WHERE id = 1"
expect 2 'unknown policy' --policy admin "SELECT 1"
out=$(echo "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d" | "$bin" || true)
[[ "$out" == *'"reason":"data_modifying_cte"'* ]] || { echo "FAIL: stdin: $out"; fail=1; }
# The review's crash: 12,000 chained NOTNULLs on a 256 KiB stack. A refusal, not an abort.
chain="SELECT 1$(printf ' NOTNULL%.0s' $(seq 12000))"
rc=0
out=$( (ulimit -s 256; echo "$chain" | "$bin") 2>&1) || rc=$?
[[ $rc == 1 && "$out" == *'"reason":"too_complex"'* ]] || { echo "FAIL: small stack: exit $rc: ${out:0:200}"; fail=1; }
if [ $fail = 0 ]; then echo "sqlguard example: 8 passed, 0 failed"; else exit 1; fi
