#!/usr/bin/env bash
# The official MCP TypeScript SDK clients (pinned in tests/interop/ts/package-lock.json)
# against everything_server over stdio and over Streamable HTTP: the 1.x client
# (2025-11-25), and the v2 client negotiating 2026-07-28 ("auto") and forced to the
# 2025 handshake ("legacy").
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
node modern.mjs stdio "$bin" auto
node modern.mjs stdio "$bin" legacy

server_log=$(mktemp)
# shellcheck source=../../../scripts/lib/everything-server.sh
. ../../../scripts/lib/everything-server.sh
node client.mjs http "$url"
node modern.mjs http "$url" auto
node modern.mjs http "$url" legacy
