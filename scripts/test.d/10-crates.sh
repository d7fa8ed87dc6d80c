#!/usr/bin/env bash
# The library crates as other teams get them: each builds (warning-free) with each of its
# feature sets, and each packages for publication, verified by building the packaged
# sources against the other packaged crates (cargo's local registry for the workspace).
set -euo pipefail
cd "$(dirname "$0")/../.."

check() {
    echo "--> cargo clippy $*" >&2
    cargo clippy -q "$@" -- -D warnings
}
check -p sluice-postgres --no-default-features
check -p sluice-postgres --no-default-features --features tools
check -p sluice-postgres --no-default-features --features tls
check -p sluice-postgres --no-default-features --features oauth
check -p sluice-postgres --no-default-features --features audit
check -p sluice-mcp --no-default-features
check -p sluice-auth --no-default-features
check -p sluice-sqlguard --no-default-features

# --allow-dirty: the step also runs on a working tree with changes; CI's clone is clean.
cargo package --workspace --exclude examples --exclude sluice-testkit --locked --allow-dirty
