#!/usr/bin/env bash
# The official MCP TypeScript SDK client (pinned in tests/interop/ts/package-lock.json)
# against everything_server over stdio and over Streamable HTTP.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --example everything_server
# An absolute path: the client runs from its own folder.
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
bin="$target_dir/debug/examples/everything_server"
cd tests/interop/ts
npm ci --no-audit --no-fund --loglevel=error >/dev/null

node client.mjs stdio "$bin"

log=$(mktemp)
"$bin" --transport http --bind 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
url=
for _ in $(seq 1 100); do
    url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log" | head -1)
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { cat "$log" >&2; echo "everything_server did not start" >&2; exit 1; }
node client.mjs http "$url"
