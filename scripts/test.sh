#!/usr/bin/env bash
# test.sh — the whole test suite, in the order a failure is cheapest to find:
#
#   1. cargo fmt --check; scripts/check-layers.py (crates depend only downwards, the domain
#      links no web or Telegram crate, no module circle, every source file under 400 lines);
#      scripts/check-kubernetes.sh (the manifests against the schemas and the policy);
#      promtool: deploy/monitoring/alerts.yml checked and unit-tested (alerts.test.yml); the
#      handbook (docs/, mdBook; installed into target/tools on first use): the configuration
#      reference generated from .env.template is current, every link and every command block's
#      script and manage/backup subcommand exists (scripts/check-book.py), and it builds clean
#   2. cargo clippy (every target, warnings are errors), then cargo doc (warnings are errors:
#      a broken intra-doc link fails)
#   3. cargo deny check bans licenses sources (deny.toml; cargo-deny is installed into
#      target/tools on first use; advisories need GitHub, see deny.toml)
#   4. cargo test: unit and integration tests against real PostgreSQL and Redis — the ones in
#      DATABASE_URL/REDIS_URL when both are set, else throw-away servers started here with
#      docker-compose.test.yml (ports 55432/56379 on loopback) and removed afterwards
#      then the query plans at a clinic group's size: scripts/bench-data.sh fills a database
#      of its own (1 M bookings, 3 M jobs) and services/api/tests/it/plans.rs checks that no
#      hot path reads bookings, jobs or users sequentially
#   5. scripts/schemathesis.sh: the running api fuzzed against its own OpenAPI document (no
#      5xx, every answer as documented)
#   6. scripts/e2e-compose.sh: builds the images, brings up docker-compose.prod.yml and the dev
#      profile, checks them through nginx, tears them down; then scripts/e2e-swarm.sh deploys
#      deploy/swarm/stack.yml on a one-node Swarm with those images (SKIP_COMPOSE_E2E=1 skips
#      both)
#
# Needs Rust, Python 3 (for schemathesis, installed from PyPI into target/), Docker with
# compose v2, promtool (Debian: prometheus) and the PostgreSQL client programs (Debian:
# postgresql-client; the backup service's tests run pg_dump and pg_restore, which must be at
# least the test server's version).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "layers, module circles and file sizes"
python3 "$root/scripts/check-layers.py"

step "Kubernetes manifests: every overlay against the schemas of two versions, and the policy"
"$root/scripts/check-kubernetes.sh"

step "alerting rules: promtool check rules, and their unit tests on synthetic series"
command -v promtool >/dev/null || { echo "promtool is missing (Debian: apt-get install prometheus)" >&2; exit 1; }
promtool check rules "$root/deploy/monitoring/alerts.yml"
promtool test rules "$root/deploy/monitoring/alerts.test.yml"

step "the handbook: the configuration reference is current, links and commands resolve, mdbook builds without a warning"
python3 "$root/scripts/config-reference.py" --check
python3 "$root/scripts/check-book.py"
MDBOOK_VERSION=0.5.4
if ! mdbook --version 2>/dev/null | grep -qF "$MDBOOK_VERSION"; then
    export PATH=$root/target/tools/bin:$PATH
    if ! mdbook --version 2>/dev/null | grep -qF "$MDBOOK_VERSION"; then
        cargo install --locked --quiet --root "$root/target/tools" mdbook --version "$MDBOOK_VERSION"
    fi
fi
mkdir -p "$root/target"
mdbook build "$root/docs" 2>&1 | tee "$root/target/mdbook.log"
if grep -qE '(WARN|ERROR)' "$root/target/mdbook.log"; then
    echo "mdbook printed a warning or an error (above)" >&2
    exit 1
fi

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "cargo deny check bans licenses sources"
CARGO_DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -qF "$CARGO_DENY_VERSION"; then
    export PATH=$root/target/tools/bin:$PATH
    if ! cargo deny --version 2>/dev/null | grep -qF "$CARGO_DENY_VERSION"; then
        cargo install --locked --quiet --root "$root/target/tools" cargo-deny --version "$CARGO_DENY_VERSION"
    fi
fi
# Errors only: the 15 crates found in two versions are warnings (`cargo deny check bans` lists
# them), and their trees would bury the verdict.
cargo deny --locked --log-level error check bans licenses sources

if [[ -z ${DATABASE_URL:-} || -z ${REDIS_URL:-} ]]; then
    step "starting PostgreSQL and Redis for the tests (docker-compose.test.yml)"
    export TEST_POSTGRES_PORT=${TEST_POSTGRES_PORT:-55432}
    export TEST_REDIS_PORT=${TEST_REDIS_PORT:-56379}
    test_compose=(docker compose -f "$root/docker-compose.test.yml")
    trap '"${test_compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true' EXIT
    "${test_compose[@]}" up -d --wait --wait-timeout 120
    export DATABASE_URL="postgres://medsync:medsync@127.0.0.1:${TEST_POSTGRES_PORT}/medsync"
    export REDIS_URL="redis://127.0.0.1:${TEST_REDIS_PORT}/0"
fi

step "cargo test (PostgreSQL and Redis: real servers)"
cargo test --workspace --locked

step "query plans at a clinic group's size (scripts/bench-data.sh: 1 M bookings, 3 M jobs)"
# A database of its own on the same server, made, filled, checked and dropped: no hot path may
# read bookings, jobs or users sequentially (services/api/tests/it/plans.rs says how it reads
# the plans).
plans_db="medsync_plans_$$"
plans_url="${DATABASE_URL%%\?*}"
plans_url="${plans_url%/*}/$plans_db"
psql -qX -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "CREATE DATABASE $plans_db" >/dev/null
DATABASE_URL="$plans_url" LOG_FORMAT=json RUST_LOG=warn cargo run -q --locked -p medsync-manage -- migrate
"$root/scripts/bench-data.sh" "$plans_url"
BENCH_DATABASE_URL="$plans_url" cargo test --locked -q -p medsync-api --test it plans -- --ignored --nocapture
psql -qX "$DATABASE_URL" -c "DROP DATABASE $plans_db WITH (FORCE)" >/dev/null

step "schemathesis against the running api"
"$root/scripts/schemathesis.sh"

if [[ ${SKIP_COMPOSE_E2E:-0} == 1 ]]; then
    step "compose end-to-end test skipped (SKIP_COMPOSE_E2E=1)"
else
    step "compose end-to-end test"
    "$root/scripts/e2e-compose.sh"
    step "Docker Swarm end-to-end test"
    "$root/scripts/e2e-swarm.sh"
fi
