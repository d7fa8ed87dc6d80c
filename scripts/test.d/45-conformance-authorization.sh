#!/usr/bin/env bash
# The official conformance suite's `authorization` command (newest release that has it:
# @modelcontextprotocol/conformance 0.2.0-alpha.12) against postgres_server's OAuth
# authorization server, driven headless: the suite prints an authorization URL and waits
# for a browser; tests/e2e/headless_consent.py plays the browser (consent form, the
# testkit's fake GitHub, our callback, the suite's callback).
set -euo pipefail
cd "$(dirname "$0")/../.."

suite=(npx -y -p node@22 -p @modelcontextprotocol/conformance@0.2.0-alpha.12 -- conformance)
python="${SLUICE_PYTHON:-.venv/bin/python}"
out="${CONFORMANCE_OUT:-$(mktemp -d)}/authorization"
mkdir -p "$out"
target="${CARGO_TARGET_DIR:-target}/debug"
cargo build -q -p examples --example postgres_server
cargo build -q -p sluice-testkit --bins

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_for() { # FILE PATTERN PID: the first match of PATTERN's group in FILE
    local value=
    for _ in $(seq 1 300); do
        value=$(sed -n "s/$2/\1/p" "$1" | head -1)
        [ -n "$value" ] && { echo "$value"; return 0; }
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1
    done
    echo "timed out waiting in $1 for $2:" >&2; cat "$1" >&2; return 1
}
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$target/testkit-database" >"$out/db.out" 2>&1 </dev/null &
pids+=($!)
db_url=$(wait_for "$out/db.out" 'testkit-database: \(.*\)' "${pids[-1]}")
secret="conformance-github-secret-$RANDOM$RANDOM"
"$target/fake-github" conformance-gh "$secret" 42 octocat >"$out/github.out" 2>&1 &
pids+=($!)
github=$(wait_for "$out/github.out" 'fake-github: \(.*\)' "${pids[-1]}")

port=$(free_port)
callback_port=$(free_port)
cat >"$out/clients.json" <<JSON
[{"client_id": "conformance-client", "client_name": "MCP conformance suite",
  "redirect_uris": ["http://127.0.0.1:$callback_port/callback"]}]
JSON
GITHUB_CLIENT_ID=conformance-gh GITHUB_CLIENT_SECRET="$secret" \
    "$target/examples/postgres_server" --transport http --bind "127.0.0.1:$port" \
    --database-url "$db_url" --github-url "$github" --github-api-url "$github" \
    --oauth-clients "$out/clients.json" 2>"$out/server.log" &
pids+=($!)
server_pid=${pids[-1]}
wait_for "$out/server.log" '.*\(serving PostgreSQL over MCP\).*' "$server_pid" >/dev/null
issuer="http://127.0.0.1:$port"

"${suite[@]}" authorization --url "$issuer" --client-id conformance-client \
    --resource "$issuer/mcp" -p "$callback_port" -o "$out/results" >"$out/suite.txt" 2>&1 &
suite_pid=$!
authorize=$(wait_for "$out/suite.txt" '^\(http:\/\/127\.0\.0\.1:[0-9]*\/authorize?.*\)$' "$suite_pid")
"$python" tests/e2e/headless_consent.py "$authorize"
status=0
wait "$suite_pid" || status=1
grep -v '^npm warn' "$out/suite.txt"
grep -q 'Total: [0-9]* passed, 0 failed' "$out/suite.txt" || status=1
if find "$out/results" -name checks.json -exec grep -l '"status": *"\(FAILURE\|WARNING\)"' {} + 2>/dev/null | grep -q .; then
    echo "conformance authorization: some checks failed or warned" >&2
    status=1
fi
if grep -q -e "$secret" -e panicked "$out/server.log"; then
    echo "conformance authorization: the server log holds a secret or a panic" >&2
    status=1
fi
kill -0 "$server_pid" 2>/dev/null || { echo "postgres_server exited:" >&2; cat "$out/server.log" >&2; status=1; }
[ $status = 0 ] && echo "conformance authorization: all scenarios passed"
exit $status
