#!/usr/bin/env bash
# test.sh — the whole test suite, in the order a failure is cheapest to find:
#
#   1. cargo fmt --check
#   2. cargo clippy (every target, warnings are errors)
#   3. cargo test: unit and integration tests against real PostgreSQL and Redis — the ones in
#      DATABASE_URL/REDIS_URL when both are set, else throw-away servers started here with
#      docker-compose.test.yml (ports 55432/56379 on loopback) and removed afterwards
#   4. scripts/schemathesis.sh: the running api fuzzed against its own OpenAPI document (no
#      5xx, every answer as documented)
#   5. scripts/e2e-compose.sh: builds the images, brings up docker-compose.prod.yml and the dev
#      profile, checks them through nginx, tears them down (SKIP_COMPOSE_E2E=1 skips it)
#
# Needs Rust, Python 3 (for schemathesis, installed from PyPI into target/) and Docker with
# compose v2; nothing else.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

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

step "schemathesis against the running api"
"$root/scripts/schemathesis.sh"

if [[ ${SKIP_COMPOSE_E2E:-0} == 1 ]]; then
    step "compose end-to-end test skipped (SKIP_COMPOSE_E2E=1)"
else
    step "compose end-to-end test"
    "$root/scripts/e2e-compose.sh"
fi
