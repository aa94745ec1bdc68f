#!/usr/bin/env bash
# bench-cargo.sh — how long the workspace takes to compile, as docs/benchmarks.md reports it:
#
#   1. a cold `cargo build --workspace --all-targets` (every crate, tests included) into an
#      empty target directory;
#   2. the same build again after a one-line change in the domain crate (crates/domain/src/
#      slots.rs), which every service depends on.
#
# Works on an export of HEAD in a temporary directory with its own target directory: neither
# the working tree nor target/ is touched. Needs the crates in Cargo's registry (a first
# `cargo fetch` downloads them).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"

work=$(mktemp -d)
defer rm -rf "$work"
git -C "$root" archive HEAD | tar -x -C "$work"
cd "$work"
export CARGO_TARGET_DIR=$work/target

cargo fetch --locked -q
started=$(date +%s%N)
cargo build --workspace --all-targets --locked --offline -q
echo "cold build of the workspace, every target: $(seconds "$started") s"

echo '// one changed line' >>crates/domain/src/slots.rs
started=$(date +%s%N)
cargo build --workspace --all-targets --locked --offline -q
echo "rebuild after a one-line change in crates/domain: $(seconds "$started") s"
