#!/usr/bin/env bash
# bench-build.sh [--cold] — measures the Docker build as docs/benchmarks.md reports it:
#
#   1. build time of every production target (`--cold`: the first target is built with
#      `--no-cache`, so every stage, the dependency layer included, is compiled again, as on a
#      new machine with the base images present; the machine's build cache is left alone);
#   2. rebuild time of the api target after changing one line in services/api;
#   3. the size of each production image's own layers (above the distroless base).
#
# Works on an export of HEAD in a temporary directory: the working tree is not touched.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
cold=0
[[ ${1:-} == --cold ]] && cold=1
export DOCKER_BUILDKIT=1

work=$(mktemp -d)
defer rm -rf "$work"
git -C "$root" archive HEAD | tar -x -C "$work"
cd "$work"

build() {  # [--no-cache] TARGET...
    local target flags=()
    if [[ $1 == --no-cache ]]; then
        flags=(--no-cache)
        shift
    fi
    for target in "$@"; do
        docker build -q "${flags[@]}" --target "$target" -t "medsync-bench/$target" . >/dev/null
    done
}

started=$(date +%s%N)
if [[ $cold == 1 ]]; then
    # The first target compiles everything afresh; the others reuse what it just built, as
    # a first `docker compose build` on a new machine would.
    build --no-cache api
    build webhook bot worker manage
else
    build api webhook bot worker manage
fi
echo "build of the 5 production targets ($([[ $cold == 1 ]] && echo cold || echo warm cache)): $(seconds "$started") s"

echo '// one changed line' >>services/api/src/lib.rs
started=$(date +%s%N)
build api
echo "rebuild of the api target after a one-line change in services/api: $(seconds "$started") s"

base=$(docker image inspect -f '{{.Size}}' gcr.io/distroless/cc-debian12:nonroot)
printf '%-8s %12s %12s\n' image total "own layers"
for target in api webhook bot worker manage; do
    size=$(docker image inspect -f '{{.Size}}' "medsync-bench/$target")
    awk -v t="$target" -v s="$size" -v b="$base" 'BEGIN { printf "%-8s %9.1f MB %9.1f MB\n", t, s / 1e6, (s - b) / 1e6 }'
done
docker image rm medsync-bench/api medsync-bench/webhook medsync-bench/bot medsync-bench/worker medsync-bench/manage >/dev/null
