#!/bin/sh
# dev-run — development runner used by the `dev` image (docker-compose.yml, profile dev).
#
#   dev-run --build              build every binary of the workspace once, then exit
#   dev-run BIN [ARGS...]        build, run BIN, and on any change under the source tree
#                                rebuild and restart it (hot reload)
#
# With DEV_WAIT_FOR_SCHEMA=true, BIN starts only once every migration of the fresh build is
# applied (`manage wait-ready --schema`): after a change to a migration, the `migrate` service
# rebuilds and applies it while the others rebuild, and none of them may start first. A wait
# that times out is retried by the loop below, so a slow migration never leaves a service down.
#
# Every dev service builds the same thing (`cargo build --workspace --bins`) into the same
# CARGO_TARGET_DIR, so the workspace is compiled once per change, not once per service: cargo's
# lock serialises the containers and the later ones find the build fresh.
set -eu

cd /app

build() {
    cargo build --locked --workspace --bins
}

if [ "${1:-}" = "--build" ]; then
    build
    exit 0
fi

[ $# -ge 1 ] || { echo "usage: dev-run --build | dev-run BIN [ARGS...]" >&2; exit 64; }

sources() {
    find Cargo.toml Cargo.lock crates services migrations -type f \
        \( -name '*.rs' -o -name '*.toml' -o -name '*.sql' -o -name '*.html' -o -name Cargo.lock \) \
        -not -path '*/target/*'
}

child=""
stop() {
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    exit 0
}
trap stop TERM INT

# entr -r restarts the command on change (SIGTERM, then wait); -d makes it exit when a file is
# added to a watched directory, so the loop picks up new files; -n: no TTY.
while true; do
    sources | entr -n -r -d sh -c '
        cargo build --locked --workspace --bins || exit
        if [ "${DEV_WAIT_FOR_SCHEMA:-false}" = true ]; then
            manage wait-ready --schema --timeout 300 || exit
        fi
        exec "$@"' dev-run "$@" &
    child=$!
    wait "$child" || true
    child=""
    sleep 1
done
