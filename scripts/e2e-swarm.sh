#!/usr/bin/env bash
# e2e-swarm.sh — deploy/swarm/stack.yml on a one-node Docker Swarm, end to end:
#
#   initialises a swarm when the engine is in none (and leaves it afterwards; a swarm that was
#   there is left as it was), labels the node for the data services, writes a .env, a
#   certificate and the secrets, deploys the stack with tgsim as Telegram, waits until every
#   service has converged and answers /readyz through nginx, books through nginx, forces a
#   rolling update of the api under a steady load with 0 failed requests, kills an api task's
#   container and sees Swarm replace it, scales the worker to 2 and has it drain a backlog of
#   jobs each exactly once, and removes the stack with its volumes.
#
# Uses the images scripts/e2e-compose.sh builds (medsync/<service>:latest); builds them when
# missing. Prints "N passed, N failed" at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
STACK=${E2E_SWARM_STACK:-medsync-e2e-swarm}
e2e_http_port=${E2E_SWARM_HTTP_PORT:-18180}
e2e_https_port=${E2E_SWARM_HTTPS_PORT:-18543}
JOBS=${E2E_SWARM_JOBS:-2000}
unset DATABASE_URL REDIS_URL

work=$(mktemp -d)
log() { printf '[e2e-swarm] %s\n' "$*"; }

state=$(docker info --format '{{.Swarm.LocalNodeState}}')
we_initialised=0
we_labelled=0
cleanup() {
    docker stack rm "$STACK" >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do
        [[ -z $(docker network ls -q --filter "label=com.docker.stack.namespace=$STACK") \
            && -z $(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK") ]] && break
        sleep 1
    done
    docker volume rm "${STACK}_pg-data" "${STACK}_redis-data" >/dev/null 2>&1 || true
    if [[ $we_labelled == 1 ]]; then docker node update --label-rm medsync.data "$(docker info --format "{{.Swarm.NodeID}}")" >/dev/null 2>&1 || true; fi
    if [[ $we_initialised == 1 ]]; then docker swarm leave --force >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [[ $state != active ]]; then
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
    we_initialised=1
    log "initialised a one-node swarm (left again at the end)"
fi
if [[ -z $(docker node inspect "$(docker info --format "{{.Swarm.NodeID}}")" --format '{{index .Spec.Labels "medsync.data"}}') ]]; then
    docker node update --label-add medsync.data=true "$(docker info --format "{{.Swarm.NodeID}}")" >/dev/null
    we_labelled=1
fi

for image in api web webhook bot worker manage tgsim; do
    if ! docker image inspect "medsync/$image:latest" >/dev/null 2>&1; then
        log "building the images"
        docker compose -f docker-compose.prod.yml -f e2e/docker-compose.e2e.yml --env-file .env.template build
        break
    fi
done

# The .env, the certificate, the secrets.
scripts/make-env.sh "$work/.env" >/dev/null
scripts/self-signed-cert.sh "$work/certs" localhost >/dev/null
TLS_CERT_DIR=$work/certs scripts/swarm-secrets.sh "$work/.env" "$work/secrets" >/dev/null
env_value() { sed -n "s/^$1=//p" "$work/.env"; }
deploy() {
    (
        set -a
        # shellcheck disable=SC1091
        . "$work/.env"
        set +a
        # After the .env (which names the ports an operator publishes, 80 and 443): the test's.
        export SECRETS_DIR=$work/secrets HTTP_PORT=$e2e_http_port HTTPS_PORT=$e2e_https_port \
            PUBLIC_HOST=localhost:$e2e_https_port \
            TELEGRAM_API_URL=http://tgsim:8090 TELEGRAM_API_ALLOW_HTTP=true
        docker stack deploy -c deploy/swarm/stack.yml -c e2e/swarm.e2e.yml "$STACK"
    )
}
started=$(date +%s)
deploy >"$work/deploy.log" 2>&1 || { cat "$work/deploy.log"; fail "docker stack deploy"; exit 1; }
log "stack $STACK deployed ($(grep -c 'Creating service' "$work/deploy.log") services)"

https=https://127.0.0.1:$e2e_https_port
status_token=$(env_value STATUS_TOKEN)
converged() {  # every service at its replica count (the migrate job completed), every one ready
    local deadline=$(( $(date +%s) + 400 )) line bad service
    while :; do
        bad=""
        while read -r line; do
            case $line in
                *_migrate\ *) [[ $line == *"(1/1 completed)"* ]] || bad+=" $line" ;;
                *) [[ $line =~ \ ([0-9]+)/([0-9]+)$ && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] || bad+=" $line" ;;
            esac
        done < <(docker service ls --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Name}} {{.Replicas}}')
        if [[ -z $bad ]]; then
            for service in api web webhook bot worker; do
                curl -sfk --max-time 5 -H "Authorization: Bearer $status_token" \
                    "$https/_status/$service/readyz" | grep -q '"status":"ready"' || bad+=" $service:not-ready"
            done
        fi
        if [[ -z $bad ]]; then
            log "  converged and ready $(( $(date +%s) - started )) s after the deploy"
            return 0
        fi
        if [[ $(date +%s) -gt $deadline ]]; then
            log "  not converged:$bad"
            docker service ls --filter "label=com.docker.stack.namespace=$STACK"
            return 1
        fi
        sleep 3
    done
}
check "every service converged and ready through nginx within 400 s" converged

# The first line of a command's output, read after it finished (`| head -1` under pipefail can
# kill the writer with SIGPIPE, which docker reports as exit 255).
first_line() { local out; out=$("$@") || return; printf '%s\n' "${out%%$'\n'*}"; }
db_container() { first_line docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_db"; }
psql_swarm() { docker exec "$(db_container)" psql -U medsync -d medsync -tAc "$1"; }
client=(python3 "$root/e2e/client.py")

docker run --rm --network "${STACK}_backend" \
    -e "DATABASE_URL=$(cat "$work/secrets/database_url")" -e LOG_FORMAT=json \
    medsync/manage:latest seed >/dev/null 2>&1 || log "  manage seed failed"
booking=$("${client[@]}" "$https" book swarm-patient@clinic.example 'swarm patient password 1') || booking=""
check "a patient books through nginx on the swarm (booking $booking)" test -n "$booking"
check "the web app answers through nginx on the swarm" bash -c "curl -sfk '$https/app/' | grep -q '<h1>Book a visit</h1>'"

# A rolling update of the api under a steady load: start-first, one task at a time.
"${client[@]}" "$https" loop 45 3 - >"$work/loop.json" 2>"$work/loop.err" &
loop_pid=$!
sleep 5
check "docker service update --force of the api (start-first, one at a time) completes" \
    bash -c 'docker service update --force --quiet "$1" >/dev/null' _ "${STACK}_api"
loop_code=0
wait "$loop_pid" || loop_code=$?
log "  load: $(cat "$work/loop.json") $(head -c 300 "$work/loop.err")"
check "under the load, through the api's rolling update: 0 failed requests" test "$loop_code" -eq 0
loop_booked_once() {
    local booked tag made
    booked=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["booked"])' "$work/loop.json") || return 1
    tag=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["patients"])' "$work/loop.json") || return 1
    made=$(psql_swarm "SELECT count(*) FROM bookings b JOIN users u ON u.id = b.patient_id WHERE u.email LIKE '$tag-%'")
    log "  bookings answered 201: $booked; in the database: $made"
    [[ $booked -gt 0 && $made == "$booked" ]]
}
check "every booking of the load was made once" loop_booked_once

# A task's container killed: Swarm replaces it.
replaced() {
    local victim tasks deadline=$(( $(date +%s) + 120 ))
    victim=$(first_line docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_api")
    docker kill -s KILL "$victim" >/dev/null
    log "  killed api container ${victim:0:12}"
    while :; do
        tasks=$(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_api" --filter health=healthy)
        if [[ $(wc -w <<<"$tasks") -ge 2 && $tasks != *"$victim"* ]]; then
            log "  healthy api containers: $(tr '\n' ' ' <<<"$tasks")"
            return 0
        fi
        [[ $(date +%s) -lt $deadline ]] || { log "  api containers: $tasks"; return 1; }
        sleep 2
    done
}
check "an api task killed with SIGKILL is replaced by Swarm, healthy, within 120 s" replaced

# Two workers drain a backlog (each job 50 ms of work): every job done once.
check "docker service scale worker=2" docker service scale --detach=false "${STACK}_worker=2" >/dev/null
sleep 5
psql_swarm "INSERT INTO jobs (id, kind, payload) SELECT gen_random_uuid(), 'system.noop', '{\"v\": 1, \"sleep_ms\": 50}' FROM generate_series(1, $JOBS)" >/dev/null
drained_once() {
    local deadline=$(( $(date +%s) + 180 )) left report
    while :; do
        left=$(psql_swarm "SELECT count(*) FROM jobs WHERE kind = 'system.noop' AND status <> 'succeeded'")
        [[ $left == 0 ]] && break
        [[ $(date +%s) -lt $deadline ]] || { log "  $left jobs left after 180 s"; return 1; }
        sleep 2
    done
    report=$(psql_swarm "SELECT count(*) || ' jobs, attempts ' || min(attempts) || '..' || max(attempts) || ', ' || count(DISTINCT locked_by) || ' workers' FROM jobs WHERE kind = 'system.noop'")
    log "  $report"
    [[ $report == "$JOBS jobs, attempts 1..1, 2 workers" ]]
}
check "two workers drain $JOBS jobs, each exactly once" drained_once

checks_summary
