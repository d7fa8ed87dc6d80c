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

# cargo unpacks the packaged crates of its temporary registry into CARGO_HOME once per
# registry path and version, and reuses what it unpacked on the next run: sources of an
# earlier commit, which the packaged crates would then be verified against. Start clean.
for unpacked in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/sluice-*; do
    if [ -e "$unpacked" ]; then rm -rf "$unpacked"; fi
done

# --allow-dirty: the step also runs on a working tree with changes; CI's clone is clean.
cargo package --workspace --exclude examples --exclude sluice-testkit --locked --allow-dirty
