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

server_log=$(mktemp)
# shellcheck source=../../../scripts/lib/everything-server.sh
. ../../../scripts/lib/everything-server.sh
node client.mjs http "$url"
