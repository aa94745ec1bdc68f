#!/usr/bin/env bash
# bench-cargo.sh [REV] — how long the workspace takes to compile at REV (default HEAD), as
# docs/benchmarks.md reports it:
#
#   1. a cold `cargo build --workspace --all-targets` (every crate, tests included) into an
#      empty target directory;
#   2. the same build again after a one-line change in the domain's slots.rs (crates/domain,
#      or crates/core before the split), which every service depends on.
#
# Works on an export of REV in a temporary directory with its own target directory: neither
# the working tree nor target/ is touched. Needs the crates in Cargo's registry (a first
# `cargo fetch` downloads them).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"

work=$(mktemp -d)
defer rm -rf "$work"
rev=${1:-HEAD}
git -C "$root" archive "$rev" | tar -x -C "$work"
cd "$work"
export CARGO_TARGET_DIR=$work/target

cargo fetch --locked -q
started=$(date +%s%N)
cargo build --workspace --all-targets --locked --offline -q
echo "$rev: cold build of the workspace, every target: $(seconds "$started") s"

# The domain's slots module (a file at first, a directory since): whichever the revision has.
slots=$(find crates -path '*/src/*' \( -name slots.rs -o -path '*/src/slots/mod.rs' \) | head -1)
echo '// one changed line' >>"$slots"
started=$(date +%s%N)
cargo build --workspace --all-targets --locked --offline -q
echo "$rev: rebuild after a one-line change in $slots: $(seconds "$started") s"
