#!/usr/bin/env bash
# rolling-update.sh [SERVICE...] — replaces the running containers of each SERVICE (default:
# api web) one at a time, each new one healthy before an old one stops, so nginx always has a
# replica to send requests to:
#
#   docker compose -f docker-compose.prod.yml build api web     # or pull the new images
#   scripts/rolling-update.sh api web
#
# For each old container: start one more replica from the service's current image (compose
# `up --scale N+1 --no-recreate`), wait until its health check passes, give nginx a moment to
# resolve it (its resolver keeps answers 2 s), then stop the old one (SIGTERM: it stops
# accepting and finishes what it is serving, within SHUTDOWN_GRACE_SECONDS) and remove it.
# nginx sends a request that finds a stopping replica to the next one. On a replica that never
# becomes healthy the script stops, removes it and exits 1, leaving the old ones serving:
# roll back by building or pulling the previous image and running it again.
#
# COMPOSE: the compose command (default "docker compose -f docker-compose.prod.yml"), e.g.
# with -p and --env-file. HEALTH_TIMEOUT: seconds a new replica may take (default 120).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
read -ra compose <<<"${COMPOSE:-docker compose -f docker-compose.prod.yml}"
health_timeout=${HEALTH_TIMEOUT:-120}
services=("$@")
[[ ${#services[@]} -gt 0 ]] || services=(api web)

log() { printf '[rolling-update] %s\n' "$*"; }

healthy() {  # ID: waits until the container is healthy; 1 when it is not within the timeout
    local id=$1 state deadline=$(( $(date +%s) + health_timeout ))
    while :; do
        state=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null || echo gone)
        [[ $state == running/healthy ]] && return 0
        if [[ $state == exited/* || $state == gone || $(date +%s) -gt $deadline ]]; then
            log "  $id is $state"
            return 1
        fi
        sleep 1
    done
}

for service in "${services[@]}"; do
    mapfile -t old < <("${compose[@]}" ps -q "$service")
    count=${#old[@]}
    [[ $count -gt 0 ]] || { log "$service: no running container; nothing to replace"; continue; }
    log "$service: replacing $count container(s) one at a time"
    for id in "${old[@]}"; do
        mapfile -t before < <("${compose[@]}" ps -q "$service")
        "${compose[@]}" up -d --no-deps --no-recreate --scale "$service=$(( ${#before[@]} + 1 ))" "$service" >/dev/null 2>&1
        new=""
        for candidate in $("${compose[@]}" ps -q "$service"); do
            [[ " ${before[*]} " == *" $candidate "* ]] || new=$candidate
        done
        [[ -n $new ]] || { log "$service: no new container started"; exit 1; }
        if ! healthy "$new"; then
            log "$service: the new replica ${new:0:12} is not healthy; removing it, the old ones keep serving"
            docker rm -f "$new" >/dev/null
            exit 1
        fi
        sleep 3
        log "  ${new:0:12} healthy; stopping ${id:0:12}"
        docker stop --time 10 "$id" >/dev/null
        docker rm "$id" >/dev/null
    done
    log "$service: done ($count replaced)"
done
