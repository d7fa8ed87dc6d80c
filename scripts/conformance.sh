#!/usr/bin/env bash
# The official MCP conformance suite against examples/everything_server over Streamable
# HTTP, three ways, all against one server process (both eras at once):
#   1. @modelcontextprotocol/conformance 0.1.16: every server scenario (2025-11-25),
#      plus the two it lists as pending;
#   2. 0.2.0-alpha.12 --requirements 2025-11-25: the frozen 2025-11-25 set;
#   3. 0.2.0-alpha.12 --requirements 2026-07-28: the frozen 2026-07-28 set (stateless
#      requests, caching, multi-round-trip requests, header validation, ...).
# Every scored scenario must pass with no failed or warned check and no expected-failures
# file. The 2026-07-28 run also executes scenarios that set does not score: the pending
# ones must pass too; the `tasks-*` scenarios test the tasks *extension*, which Sluice
# does not implement, and are reported but not judged.
#
#   scripts/conformance.sh                        # all three runs
#   CONFORMANCE_OUT=dir scripts/conformance.sh    # keep each scenario's checks.json
#
# Needs Node's npx; the suite wants Node 22, which npm serves as the package node@22.
set -euo pipefail
cd "$(dirname "$0")/.."

stable=(npx -y -p node@22 -p @modelcontextprotocol/conformance@0.1.16 -- conformance)
next=(npx -y -p node@22 -p @modelcontextprotocol/conformance@0.2.0-alpha.12 -- conformance)
out="${CONFORMANCE_OUT:-$(mktemp -d)}"
mkdir -p "$out"

cargo build -q --example everything_server
bin="${CARGO_TARGET_DIR:-target}/debug/examples/everything_server"

# Port 0: the server picks a free port and says which on standard error.
server_log="$out/everything_server.log"
# shellcheck source=lib/everything-server.sh
. scripts/lib/everything-server.sh
pid=$server_pid
echo "conformance: server at $url, results in $out" >&2

status=0
quiet() { grep -v '^npm warn'; }

# Any check not SUCCESS or INFO (or SKIPPED where the suite says a scenario does not
# apply) in DIR fails the run; extension scenarios are left out when asked.
judge() { # DIR [exclude-glob]
    local bad
    bad=$(find "$1" -name checks.json ${2:+-not -path "$2"} \
        -exec grep -l '"status": *"\(FAILURE\|WARNING\)"' {} + 2>/dev/null || true)
    if [ -n "$bad" ]; then
        echo "conformance: some checks failed or warned in $1:" >&2
        echo "$bad" >&2
        status=1
    fi
}

echo "== 0.1.16: every active server scenario"
"${stable[@]}" server --url "$url" -o "$out/0.1.16" 2>&1 | quiet | tee "$out/0.1.16.txt" | tail -3 || status=1
grep -q 'Total: [0-9]* passed, 0 failed' "$out/0.1.16.txt" || { echo "FAIL: 0.1.16 active" >&2; status=1; }
for scenario in server-sse-polling json-schema-2020-12; do
    "${stable[@]}" server --url "$url" --scenario "$scenario" -o "$out/0.1.16-$scenario" 2>&1 \
        | quiet | tee "$out/0.1.16-$scenario.txt" | tail -1 || status=1
    grep -q ' 0 failed, 0 warnings' "$out/0.1.16-$scenario.txt" || { echo "FAIL: 0.1.16 $scenario" >&2; status=1; }
done
judge "$out/0.1.16"

echo "== 0.2.0-alpha.12 --requirements 2025-11-25"
"${next[@]}" server --url "$url" --requirements 2025-11-25 -o "$out/2025-11-25" 2>&1 | quiet \
    | tee "$out/2025-11-25.txt" | sed -n '/SUMMARY/,$p' || status=1
grep -q 'Total: [0-9]* passed, 0 failed' "$out/2025-11-25.txt" || { echo "FAIL: 2025-11-25 set" >&2; status=1; }
judge "$out/2025-11-25"

echo "== 0.2.0-alpha.12 --requirements 2026-07-28"
"${next[@]}" server --url "$url" --requirements 2026-07-28 -o "$out/2026-07-28" 2>&1 | quiet \
    | tee "$out/2026-07-28.txt" | sed -n '/SUMMARY/,$p' | grep -v '^✓' || status=1
# Every scenario but the tasks extension passes: no ✗ line names another scenario.
if grep '^✗' "$out/2026-07-28.txt" | grep -v '^✗ tasks-' | grep -q .; then
    echo "FAIL: 2026-07-28 set" >&2
    status=1
fi
grep -q '^✓ server-stateless:' "$out/2026-07-28.txt" || { echo "FAIL: server-stateless did not run" >&2; status=1; }
judge "$out/2026-07-28" "*/server-tasks-*"

if ! kill -0 "$pid" 2>/dev/null; then
    echo "everything_server exited during the run:" >&2; cat "$server_log" >&2; status=1
fi
if grep -q panicked "$server_log"; then
    echo "everything_server panicked:" >&2; grep panicked "$server_log" >&2; status=1
fi
[ $status = 0 ] && echo "conformance: every scored scenario passed (0.1.16, 2025-11-25, 2026-07-28)"
exit $status
