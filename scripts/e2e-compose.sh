#!/usr/bin/env bash
# e2e-compose.sh — the stack as users run it, end to end, in Docker:
#
#   production: builds the images, writes a .env from .env.template (random secrets) and a
#               self-signed certificate, brings up docker-compose.prod.yml, waits for every
#               service to be healthy, then checks through nginx: the API over HTTPS, the
#               HTTP→HTTPS redirect, security headers, /readyz of every service; that every
#               container runs as non-root; that a bad DATABASE_URL (the webhook: REDIS_URL) is refused with a message
#               naming it; that `stop api` is graceful (exit 0) and quick (< 10 s).
#   development: brings up `--profile dev` with no .env, waits for every service to be
#               healthy, checks the API and every /readyz through nginx, and non-root.
#
# Each stack runs under its own compose project name and ports (E2E_* below) and is removed
# with its volumes afterwards, also on failure. Prints "N passed, N failed" at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

HTTP_PORT=${E2E_HTTP_PORT:-18080}
HTTPS_PORT=${E2E_HTTPS_PORT:-18443}
DEV_HTTP_PORT=${E2E_DEV_HTTP_PORT:-18000}
TGSIM_PORT=${E2E_TGSIM_PORT:-18090}
PROD_TGSIM_PORT=${E2E_PROD_TGSIM_PORT:-18091}
PROD_API_PORT=${E2E_PROD_API_PORT:-18092}
PROMETHEUS_PORT=${E2E_PROMETHEUS_PORT:-18095}
DOCS_PORT=${E2E_DOCS_PORT:-18096}
PROD_PROJECT=${E2E_PROD_PROJECT:-medsync-e2e}
DEV_PROJECT=${E2E_DEV_PROJECT:-medsync-e2e-dev}
WAIT_TIMEOUT=${E2E_WAIT_TIMEOUT:-900}
export HTTP_PORT HTTPS_PORT DEV_HTTP_PORT TGSIM_PORT PROMETHEUS_PORT DOCS_PORT
# The production overlay publishes its tgsim and its api here (the dev stack uses TGSIM_PORT).
export E2E_PROD_TGSIM_PORT=$PROD_TGSIM_PORT E2E_PROD_API_PORT=$PROD_API_PORT
export E2E_PROD_API_PORT_LAST=$((PROD_API_PORT + 5))
# The test suite's own connection strings must not leak into the stacks.
unset DATABASE_URL REDIS_URL
export DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1

work=$(mktemp -d)
# tgsim plays Telegram for the production images (e2e/docker-compose.e2e.yml).
# The monitoring profile too: Prometheus scrapes the stack, and the metric-name check asks it.
prod=(docker compose -p "$PROD_PROJECT" -f docker-compose.prod.yml -f e2e/docker-compose.e2e.yml
      --env-file "$work/.env" --profile monitoring)
# --env-file: an empty one, so that a developer's own .env cannot change what is tested.
dev=(docker compose -p "$DEV_PROJECT" -f docker-compose.yml --env-file "$work/empty.env" --profile dev)

cleanup() {
    "${prod[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    "${dev[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
# A command that stops the script (set -e) names its line, so a failure outside a check is found.
trap 'printf "[e2e] stopped: line %s exited %s\n" "$LINENO" "$?"' ERR

log() { printf '[e2e] %s\n' "$*"; }
# The first line of a command's output, read after the command has finished. Never
# `cmd | head -1` under pipefail: head closes the pipe early, the compose plugin dies of
# SIGPIPE on its next write, and `docker` reports that as exit 255 with no message.
first_line() { local out; out=$("$@") || return; printf '%s\n' "${out%%$'\n'*}"; }

body_contains() {  # URL TEXT [CURL ARGS...]
    local url=$1 text=$2 body
    shift 2
    body=$(curl -sS --max-time 10 "$@" "$url") || return 1
    [[ $body == *"$text"* ]] || { log "  $url answered: $body"; return 1; }
}

status_is() {  # URL CODE [CURL ARGS...]
    local url=$1 want=$2 got
    shift 2
    got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url") || true
    [[ $got == "$want" ]] || { log "  $url answered $got, expected $want"; return 1; }
}

header_present() {  # URL HEADER [CURL ARGS...]
    local url=$1 header=$2
    shift 2
    curl -sS -D - -o /dev/null --max-time 10 "$@" "$url" | grep -qi "^$header:"
}

# Every process of every running container of the project runs under a non-zero uid; a
# container that has exited (the one-shot migrate) is checked by its configured user.
all_non_root() {  # COMPOSE...
    local ok=0 id name uids user
    for id in $("$@" ps -aq); do
        name=$(docker inspect -f '{{.Name}}' "$id")
        if [[ $(docker inspect -f '{{.State.Running}}' "$id") == true ]]; then
            uids=$(docker top "$id" -eo pid,uid | awk 'NR > 1 { print $2 }' | sort -u | tr '\n' ' ')
            if [[ -z $uids || " $uids" == *" 0 "* ]]; then
                log "  $name runs processes as uid(s): $uids"
                ok=1
            else
                log "  $name: uid(s) $uids"
            fi
        else
            user=$(docker inspect -f '{{.Config.User}}' "$id")
            if [[ -z $user || $user == root || $user == 0 || $user == 0:* ]]; then
                log "  $name (exited) is configured to run as '${user:-root}'"
                ok=1
            else
                log "  $name (exited): user $user"
            fi
        fi
    done
    return $ok
}

# What the README claims of every production container (e2e's own tgsim aside): a read-only
# root file system, no Linux capabilities, no-new-privileges, a memory limit.
all_hardened() {  # COMPOSE...
    local ok=0 id name facts
    for id in $("$@" ps -aq); do
        name=$(docker inspect -f '{{.Name}}' "$id")
        [[ $name == *tgsim* ]] && continue
        facts=$(docker inspect -f 'ro={{.HostConfig.ReadonlyRootfs}} drop={{.HostConfig.CapDrop}} add={{.HostConfig.CapAdd}} sec={{.HostConfig.SecurityOpt}} mem={{.HostConfig.Memory}}' "$id")
        if [[ $facts == *"ro=true"* && $facts == *"drop=[ALL]"* && $facts =~ add=(\[\]|<no\ value>) \
              && $facts == *no-new-privileges* && ! $facts =~ mem=0$ ]]; then
            log "  $name: $facts"
        else
            log "  $name NOT hardened: $facts"
            ok=1
        fi
    done
    return $ok
}

# Plain HTTP redirects to PUBLIC_HOST, whatever Host the client sends.
redirects_to_public_host() {  # URL WANT
    local location
    location=$(curl -s -o /dev/null -w '%{redirect_url}' --max-time 10 -H 'Host: evil.example' "$1")
    [[ $location == "$2" ]] || { log "  Host: evil.example redirected to '$location', expected $2"; return 1; }
}

# Every security header nginx promises, on an HTTPS answer.
security_headers() {  # URL
    local headers h ok=0
    headers=$(curl -sS -k -D - -o /dev/null --max-time 10 "$1" | tr -d '\r')
    for h in strict-transport-security x-content-type-options x-frame-options referrer-policy \
             content-security-policy permissions-policy; do
        grep -qi "^$h:" <<<"$headers" || { log "  missing $h"; ok=1; }
    done
    return $ok
}

# The TLS key is nginx's alone, and TLS 1.1 and a CBC cipher are refused.
tls_is_tight() {  # CERT_DIR PORT
    local mode
    mode=$(stat -c '%a %u' "$1/tls.key")
    [[ $mode == "600 101" ]] || { log "  tls.key mode/owner: $mode"; return 1; }
    if openssl s_client -connect "127.0.0.1:$2" -tls1_1 </dev/null >/dev/null 2>&1; then
        log "  TLS 1.1 accepted"; return 1
    fi
    if openssl s_client -connect "127.0.0.1:$2" -tls1_2 -cipher AES128-SHA </dev/null >/dev/null 2>&1; then
        log "  TLS 1.2 with AES128-SHA (CBC, no forward secrecy) accepted"; return 1
    fi
    openssl s_client -connect "127.0.0.1:$2" -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 </dev/null >/dev/null 2>&1 \
        || { log "  TLS 1.2 with ECDHE-RSA-AES128-GCM-SHA256 refused"; return 1; }
}

refuses_bad_url() {  # VAR IMAGE [ARGS...]: VAR unset or garbage (the other URL valid) stops it
    local var=$1 image=$2 out code
    shift 2
    local -A valid=([DATABASE_URL]=postgres://medsync:x@db:5432/medsync [REDIS_URL]=redis://redis:6379)
    unset "valid[$var]"
    local -a env=()
    for other in "${!valid[@]}"; do env+=(-e "$other=${valid[$other]}"); done
    for value in "" garbage; do
        code=0
        out=$(timeout 30 docker run --rm -e "$var=$value" "${env[@]}" "$image" "$@" 2>&1) || code=$?
        if [[ $code -eq 0 || $code -eq 124 || $out != *"$var"* || $out == *panicked* ]]; then
            log "  $image with $var='$value': exit $code: $out"
            return 1
        fi
    done
}

graceful_stop() {  # COMPOSE... SERVICE: every replica stops within 10 s with exit code 0
    local service=${*: -1} started elapsed codes
    local -a compose=("${@:1:$#-1}") ids
    mapfile -t ids < <("${compose[@]}" ps -q "$service")
    started=$(date +%s%N)
    "${compose[@]}" stop "$service" >/dev/null 2>&1
    elapsed=$(( ($(date +%s%N) - started) / 1000000 ))
    codes=$(docker inspect -f '{{.State.ExitCode}}' "${ids[@]}" | sort -u | tr '\n' ' ')
    log "  stop $service (${#ids[@]} replica(s)): ${elapsed} ms, exit code(s) $codes"
    [[ $elapsed -lt 10000 && $codes == "0 " ]]
}

# ---------------------------------------------------------------------------------------------
log "production stack (project $PROD_PROJECT, https://localhost:$HTTPS_PORT)"
scripts/make-env.sh "$work/.env" >/dev/null
sed -i 's|^TELEGRAM_API_URL=.*|TELEGRAM_API_URL=http://tgsim:8090|; s|^TELEGRAM_API_ALLOW_HTTP=.*|TELEGRAM_API_ALLOW_HTTP=true|' "$work/.env"
sed -i "s|^PUBLIC_HOST=.*|PUBLIC_HOST=localhost:$HTTPS_PORT|" "$work/.env"
env_value() { sed -n "s/^$1=//p" "$work/.env"; }
scripts/self-signed-cert.sh "$work/certs" localhost >/dev/null
export TLS_CERT_DIR="$work/certs"

started=$(date +%s)
if "${prod[@]}" up -d --build --wait --wait-timeout "$WAIT_TIMEOUT"; then
    pass "production stack healthy ($(( $(date +%s) - started )) s including the build)"
else
    fail "production stack did not become healthy"
    "${prod[@]}" ps -a || true
    "${prod[@]}" logs --tail 50 || true
    checks_summary || exit 1
fi
"${prod[@]}" ps -a

https=https://127.0.0.1:$HTTPS_PORT
check "GET /api/v1/version over HTTPS through nginx" body_contains "$https/api/v1/version" '"name":"MedSync"' -k
check "plain HTTP redirects to HTTPS (308)" status_is "http://127.0.0.1:$HTTP_PORT/api/v1/version" 308
check "HSTS header on HTTPS answers" header_present "$https/api/v1/version" strict-transport-security -k
check "every security header on HTTPS answers" security_headers "$https/api/v1/version"
check "plain HTTP redirects to PUBLIC_HOST, not to the client's Host" \
    redirects_to_public_host "http://127.0.0.1:$HTTP_PORT/api/v1/version" "https://localhost:$HTTPS_PORT/api/v1/version"
check "TLS: key 0600 owned by nginx, TLS 1.1 and CBC ciphers refused" tls_is_tight "$work/certs" "$HTTPS_PORT"
check "Swagger UI is off in production, the OpenAPI document is served" \
    bash -c "[[ \$(curl -sk -o /dev/null -w '%{http_code}' $https/api/docs/) == 404 ]] && curl -sfk $https/api/openapi.json | grep -q '\"openapi\"'"
check "X-Request-Id returned" header_present "$https/api/v1/version" x-request-id -k
check "unknown route is a 404 problem" status_is "$https/api/v1/no-such-route" 404 -k
status_token=$(env_value STATUS_TOKEN)
for service in api webhook bot worker web; do
    check "$service /readyz through nginx with the status token" \
        body_contains "$https/_status/$service/readyz" '"status":"ready"' -k -H "Authorization: Bearer $status_token"
done
# Addresses prove nothing behind docker-proxy (every client here is a private address): only
# the token opens /_status/*.
check "/_status/* without the token is 401" status_is "$https/_status/api/metrics" 401 -k
check "/_status/* with a wrong token is 401" status_is "$https/_status/api/metrics" 401 -k \
    -H "Authorization: Bearer not-the-token"
# The web app through nginx: its own CSP (framed by Telegram Web only, not nginx's "DENY").
check "GET /app/ over HTTPS through nginx: the web app's home page" body_contains "$https/app/" '<h1>Book a visit</h1>' -k
check "GET /docs/ over HTTPS through nginx: the handbook, with its backup and monitoring chapters" \
    body_contains "$https/docs/" 'href="backups.html"' -k
check "GET /docs/configuration.html through nginx: the configuration reference" \
    body_contains "$https/docs/configuration.html" 'BACKUP_SCHEDULE' -k
web_headers() {
    local headers
    headers=$(curl -sk -D - -o /dev/null --max-time 10 "$https/app/" | tr -d '\r')
    grep -qi '^content-security-policy: .*frame-ancestors .self. https://web.telegram.org' <<<"$headers" \
        || { log "  CSP: $(grep -i '^content-security-policy' <<<"$headers")"; return 1; }
    if grep -qi '^x-frame-options' <<<"$headers"; then log "  X-Frame-Options set on /app/"; return 1; fi
    [[ $(grep -ci '^content-security-policy' <<<"$headers") == 1 ]] || { log "  two CSP headers"; return 1; }
    grep -qi '^strict-transport-security' <<<"$headers"
}
check "/app/ carries the web app's CSP (framed by Telegram Web), no X-Frame-Options, HSTS" web_headers
check "the web app as a Telegram Mini App through nginx: initData signed with Python's hmac signs in (200), a tampered copy is refused (401)" \
    python3 "$root/e2e/client.py" "$https" miniapp "$(env_value TELEGRAM_BOT_TOKEN)" 5150
check "every production container runs as non-root" all_non_root "${prod[@]}"
check "every production container: read-only root, no capabilities, no-new-privileges, memory limit" \
    all_hardened "${prod[@]}"
# Least privilege: the services' database role, split networks, secrets where they are used.
# The backup service is the one that connects as the owner (pg_dump reads every table, a
# restore makes them), like `manage`; it is told apart by its application_name.
services_db_role_is_not_superuser() {
    local bad good
    bad=$("${prod[@]}" exec -T db psql -U medsync -d medsync -tAc \
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename
         WHERE a.client_addr IS NOT NULL AND r.rolsuper AND a.application_name <> 'medsync-backup'")
    good=$("${prod[@]}" exec -T db psql -U medsync -d medsync -tAc \
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename
         WHERE a.client_addr IS NOT NULL AND a.usename = 'medsync_app' AND NOT r.rolsuper")
    log "  connections over the network: $good as medsync_app (not superuser), $bad as a superuser"
    [[ $bad == 0 && $good -gt 0 ]]
}
check "the services connect as a database role that is not superuser (the backup service aside)" services_db_role_is_not_superuser
nginx_cannot_reach_backend() {
    local host
    for host in db redis; do
        if "${prod[@]}" exec -T nginx getent hosts "$host" >/dev/null 2>&1; then
            log "  nginx resolves $host"; return 1
        fi
    done
    # The api, on both networks, does reach them (it is ready): the check can fail.
    "${prod[@]}" exec -T nginx getent hosts api >/dev/null
}
check "nginx cannot reach PostgreSQL or Redis (separate network)" nginx_cannot_reach_backend
secrets_where_used() {
    local env ok=0
    env=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$(first_line "${prod[@]}" ps -q api)")
    grep -q '^TELEGRAM_BOT_TOKEN=' <<<"$env" && { log "  api has TELEGRAM_BOT_TOKEN"; ok=1; }
    grep -q '^TELEGRAM_WEBHOOK_SECRET=' <<<"$env" && { log "  api has TELEGRAM_WEBHOOK_SECRET"; ok=1; }
    grep -q '^SECRET_KEY=' <<<"$env" || { log "  api lacks SECRET_KEY"; ok=1; }
    env=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$(first_line "${prod[@]}" ps -q web)")
    grep -q '^TELEGRAM_WEBHOOK_SECRET=' <<<"$env" && { log "  web has TELEGRAM_WEBHOOK_SECRET"; ok=1; }
    for service in bot worker webhook web; do
        env=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$(first_line "${prod[@]}" ps -q "$service")")
        grep -q '^SECRET_KEY=' <<<"$env" && { log "  $service has SECRET_KEY"; ok=1; }
        grep -q '^POSTGRES_PASSWORD=' <<<"$env" && { log "  $service has POSTGRES_PASSWORD"; ok=1; }
    done
    env=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$("${prod[@]}" ps -q webhook)")
    grep -q '^TELEGRAM_BOT_TOKEN=' <<<"$env" && { log "  webhook has TELEGRAM_BOT_TOKEN"; ok=1; }
    return $ok
}
check "each service has only the secrets it uses" secrets_where_used
redis_hardened() {
    local args policy
    args=$(docker inspect -f '{{.Path}} {{join .Args " "}}' "$(first_line "${prod[@]}" ps -q redis)")
    [[ $args != *"$(env_value REDIS_PASSWORD)"* ]] || { log "  the Redis password is on its command line"; return 1; }
    policy=$("${prod[@]}" exec -T redis redis-cli CONFIG GET maxmemory-policy | tail -1)
    log "  redis maxmemory-policy: $policy"
    [[ $policy == noeviction ]]
}
check "Redis: password not on the command line, maxmemory with noeviction" redis_hardened
for image in api bot worker web; do
    check "$image image refuses an unset or garbage DATABASE_URL" refuses_bad_url DATABASE_URL "medsync/$image:latest"
done
check "manage image refuses an unset or garbage DATABASE_URL" refuses_bad_url DATABASE_URL medsync/manage:latest migrate
check "backup image refuses an unset or garbage DATABASE_URL" refuses_bad_url DATABASE_URL medsync/backup:latest
# The webhook reads no DATABASE_URL (it never queries PostgreSQL): its one connection is Redis.
check "webhook image refuses an unset or garbage REDIS_URL" refuses_bad_url REDIS_URL medsync/webhook:latest

# --- Restarts with the volumes kept: data made first, then every service restarted on its
# own, then the whole stack taken down and up again; healthy each time, nothing lost.
client=(python3 "$root/e2e/client.py")
tgsim=http://127.0.0.1:$PROD_TGSIM_PORT
bot_token=$(env_value TELEGRAM_BOT_TOKEN)
webhook_secret=$(env_value TELEGRAM_WEBHOOK_SECRET)
patient=e2e-patient@clinic.example
patient_password='e2e patient password 1'
stream_key="$(env_value REDIS_KEY_PREFIX):tg:updates"

psql_prod() { "${prod[@]}" exec -T db psql -U medsync -d medsync -tAc "$1"; }

# nginx overwrites a client's own X-Real-IP: the api records the address nginx saw (the audit
# trail of a failed sign-in shows it), not the one the client claimed.
curl -sk -o /dev/null --max-time 10 -H 'content-type: application/json' -H 'X-Real-IP: 203.0.113.77' \
    -d '{"email":"spoofer@clinic.example","password":"wrong password"}' "$https/api/v1/auth/login" || true
xreal_ip_overwritten() {
    local got
    got=$(psql_prod "SELECT host(ip) FROM audit_events WHERE action = 'auth.login.failed'
                     AND details->>'email' = 'spoofer@clinic.example'")
    log "  address recorded for the spoofed sign-in: ${got:-none}"
    [[ -n $got && $got != 203.0.113.77 ]]
}
check "a client's X-Real-IP is overwritten by nginx" xreal_ip_overwritten
stream_length() {
    "${prod[@]}" exec -T redis redis-cli XLEN "$stream_key"
}

# Every container of SERVICES (default: all that should run) is running and healthy within 180 s.
wait_healthy() {
    local deadline=$(( $(date +%s) + 180 )) id state bad services=("$@")
    [[ ${#services[@]} -gt 0 ]] || services=(db redis api webhook bot worker web backup docs prometheus nginx tgsim)
    while :; do
        bad=""
        for service in "${services[@]}"; do
            ids=$("${prod[@]}" ps -q "$service")
            [[ -n $ids ]] || bad+=" $service=missing"
            for id in $ids; do  # every replica
                state=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
                [[ $state == running/healthy ]] || bad+=" $service=${state:-missing}"
            done
        done
        [[ -z $bad ]] && return 0
        if [[ $(date +%s) -gt $deadline ]]; then
            log "  not healthy after 180 s:$bad"
            "${prod[@]}" ps -a || true
            return 1
        fi
        sleep 2
    done
}

data_intact() {  # the booking, its queued reminder and the patient's sign-in
    local status queued
    status=$("${client[@]}" "$https" booking "$patient" "$patient_password" "$booking_id") || return 1
    queued=$(queued_reminders) || return 1
    log "  booking $booking_id: $status; queued jobs of it: $queued (expected $queued_jobs)"
    [[ $status == confirmed || $status == pending ]] && [[ $queued == "$queued_jobs" ]]
}

"${prod[@]}" run --rm migrate seed >/dev/null 2>&1 || log "  manage seed failed"
booking_id=$("${client[@]}" "$https" book "$patient" "$patient_password") || booking_id=""
check "a patient books through nginx (booking $booking_id)" test -n "$booking_id"
page_weight() {  # the slots page of one doctor, HTML + CSS + JS, gzip, under 30 KB
    local doctor_page css js total=0 size url
    doctor_page=$(curl -sk "$https/app/doctors" | grep -o 'href="/app/doctors/[0-9a-f-]*"' | sed -n 1p | cut -d'"' -f2)
    [[ -n $doctor_page ]] || { log "  no doctor on /app/doctors"; return 1; }
    css=$(curl -sk "$https$doctor_page" | grep -o '/app/static/app\.[0-9a-f]*\.css')
    js=$(curl -sk "$https$doctor_page" | grep -o '/app/static/app\.[0-9a-f]*\.js')
    for url in "$doctor_page" "$css" "$js"; do
        size=$(curl -sk -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "$https$url")
        log "  $url: $size bytes (gzip)"
        total=$((total + size))
    done
    log "  the slots page weighs $total bytes compressed (budget 30720)"
    (( total <= 30720 ))
}
check "the slots page (HTML + CSS + JS, gzip) is within its 30 KB budget" page_weight
# Reminders due over an hour from now: none of them is sent while the test runs.
queued_reminders() {
    psql_prod "SELECT count(*) FROM jobs WHERE booking_id = '$booking_id' AND status = 'queued' AND run_at > '$started_at'::timestamptz + interval '1 hour'"
}
started_at=$(date -u +%FT%TZ)
queued_jobs=$(queued_reminders)
check "the booking has a queued reminder ($queued_jobs)" test "${queued_jobs:-0}" -ge 1

# An update waits in the stream while the bot is stopped.
"${prod[@]}" stop bot >/dev/null 2>&1
update=$("${client[@]}" tgsim-send "$tgsim" "$bot_token" 4242 /help) || update=""
check "the webhook takes an update through nginx while the bot is down" \
    bash -c 'printf "%s" "$1" | "${@:2}"' _ "$update" "${client[@]}" "$https" webhook "$webhook_secret"
stream_before=$(stream_length)
check "the update waits in the Redis stream (length $stream_before)" test "${stream_before:-0}" -ge 1

for service in db redis api webhook worker web nginx tgsim; do
    "${prod[@]}" restart --no-deps "$service" >/dev/null 2>&1
    check "after restart of $service: every service healthy" \
        wait_healthy db redis api webhook worker web nginx tgsim
done
check "after the restarts the stream still holds the update ($(stream_length))" \
    test "$(stream_length)" == "$stream_before"
check "after the restarts the booking, its jobs and the sign-in are intact" data_intact
"${prod[@]}" start bot >/dev/null 2>&1
check "the bot, started again, answers the update that waited (reply in tgsim)" \
    "${client[@]}" tgsim-wait "$tgsim" "$bot_token" 4242 "What I can do" 60
stream_emptied() {  # a handled update is deleted from Redis, not only acknowledged
    local n
    for _ in $(seq 1 20); do
        n=$(stream_length)
        [[ $n == 0 ]] && return 0
        sleep 0.5
    done
    log "  stream length after handling: $n"
    return 1
}
check "the handled update is deleted from the stream (patients' messages do not stay in Redis)" stream_emptied

"${prod[@]}" down >/dev/null 2>&1
if "${prod[@]}" up -d --wait --wait-timeout 300 >/dev/null 2>&1 && wait_healthy; then
    pass "down, then up -d --wait with the volumes kept: every service healthy"
else
    fail "down, then up -d --wait with the volumes kept: not healthy"
    "${prod[@]}" logs --tail 30 db redis || true
fi
check "after down and up the booking, its jobs and the sign-in are intact" data_intact
check "redis log has no permission error" bash -c '! "${@}" logs redis 2>&1 | grep -qi "permission denied"' _ "${prod[@]}"

# --- Zero downtime on one host: a steady load through nginx (reads, the web app, bookings
# with an Idempotency-Key each) while scripts/rolling-update.sh replaces every api and web
# replica one at a time, and then while one api replica is killed with SIGKILL. Every answer
# must be a 2xx or an expected 4xx (a time taken, a patient's cap): no 502, no 503, no failed
# connection; and nothing booked twice by nginx's retries.
api_port=$(docker port "$(first_line "${prod[@]}" ps -q api)" 8080/tcp | sed -n 1p | sed 's/.*://')
"${client[@]}" "$https" loop 50 6 "http://127.0.0.1:$api_port" >"$work/loop.json" 2>"$work/loop.err" &
loop_pid=$!
sleep 6
check "scripts/rolling-update.sh replaces the api and web replicas one at a time, each healthy first" \
    env COMPOSE="${prod[*]}" scripts/rolling-update.sh api web
sleep 3
victim=$(first_line "${prod[@]}" ps -q api)
log "  SIGKILL to api replica ${victim:0:12}"
docker kill -s KILL "$victim" >/dev/null
loop_code=0
wait "$loop_pid" || loop_code=$?
log "  load: $(cat "$work/loop.json") $(head -c 300 "$work/loop.err")"
check "under the load, through the rolling update and the SIGKILL: 0 failed requests (no 5xx, no connection error)" \
    test "$loop_code" -eq 0
loop_booked_once() {
    local booked tag made
    booked=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["booked"])' "$work/loop.json") || return 1
    tag=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["patients"])' "$work/loop.json") || return 1
    made=$(psql_prod "SELECT count(*) FROM bookings b JOIN users u ON u.id = b.patient_id WHERE u.email LIKE '$tag-%'")
    log "  bookings answered 201: $booked; bookings in the database for the load's patients: $made"
    [[ $booked -gt 0 && $made == "$booked" ]]
}
check "every booking of the load was made once (nginx's retries replayed, not repeated)" loop_booked_once
check "after the rolling update and the SIGKILL: every service healthy" wait_healthy

# --- One request followed across the services by its id (X-Request-Id, kept by nginx): a
# booking through the api to the worker's job, and a Telegram update through the webhook to
# the bot's handling of it. `grep <id>` over the stack's logs finds each step.
trace_id=e2e-trace-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
E2E_REQUEST_ID=$trace_id "${client[@]}" "$https" book "traced-$trace_id@clinic.example" "$patient_password" >/dev/null ||
    log "  the traced booking failed"
# An update of its own (a fresh update_id, so the webhook's de-duplication lets it through) from
# the chat tgsim already knows.
update=$(printf '{"update_id": %d, "message": {"message_id": 1, "date": %d, "text": "/help", "chat": {"id": 4242, "type": "private", "first_name": "E2E"}, "from": {"id": 4242, "is_bot": false, "first_name": "E2E"}}}' \
    "$(( 700000000 + RANDOM * 1000 + RANDOM % 1000 ))" "$(date +%s)")
printf '%s' "$update" | E2E_REQUEST_ID="$trace_id-bot" "${client[@]}" "$https" webhook "$webhook_secret" ||
    log "  the traced update was refused"
followed() {  # ID SERVICE:TEXT...: within 60 s, each SERVICE has a log line with ID and TEXT
    local id=$1 deadline=$(( $(date +%s) + 60 )) missing pair lines
    shift
    while :; do
        missing=""
        for pair in "$@"; do
            lines=$("${prod[@]}" logs --no-color "${pair%%:*}" 2>/dev/null | grep -F -- "$id" | grep -cF -- "${pair#*:}" || true)
            [[ $lines -gt 0 ]] || missing+=" ${pair%%:*}(${pair#*:})"
        done
        [[ -z $missing ]] && break
        [[ $(date +%s) -lt $deadline ]] || { log "  no line with $id in:$missing"; return 1; }
        sleep 2
    done
    log "  $id: $("${prod[@]}" logs --no-color 2>/dev/null | grep -cF -- "$id") log lines across the stack"
}
check "grep <request id> finds the booking's request in the api and its job in the worker's log" \
    followed "$trace_id" 'api:"request_id":"'"$trace_id"'"' 'worker:job done'
check "grep <request id> finds the Telegram update at the webhook and its handling in the bot's log" \
    followed "$trace_id-bot" 'webhook:"request_id":"'"$trace_id-bot"'"' 'bot:update handled'

# --- A sign-in storm against the api itself, under its production limits (256 MiB, 1 CPU):
# 200 registrations and 200 sign-ins at once, each from its own address (X-Real-IP, trusted
# in production because nginx sets it), so the per-address limits let them all reach the
# password hasher. The api must stay up, answer only 200/201/401/429/503, stay under its
# memory limit, and give the memory back within a minute.
# One api replica, and the loopback port (of the overlay's range) that reaches it.
api_id=$(first_line "${prod[@]}" ps -q api)
api_port=$(docker port "$api_id" 8080/tcp | sed -n 1p | sed 's/.*://')
log "  the storm's replica: ${api_id:0:12} on 127.0.0.1:$api_port"
api_pid=$(docker inspect -f '{{.State.Pid}}' "$api_id")
proc_kib() {  # FIELD: VmRSS or VmHWM of the api's process, in KiB
    awk -v f="$1:" '$1 == f { print $2 }' "/proc/$api_pid/status"
}
restarts_before=$(docker inspect -f '{{.RestartCount}}' "$api_id")
log "  api before the storm: RSS $(( $(proc_kib VmRSS) / 1024 )) MiB"
storm=$("${client[@]}" "http://127.0.0.1:$api_port" burst 200) || storm='{"client failed": 1}'
log "  answers: $storm"
check "under 200 registrations and 200 sign-ins at once the api answers only 200/201/401/429/503" \
    python3 -c 'import json, sys; c = json.loads(sys.argv[1]); sys.exit(not c or any(k not in ("200", "201", "401", "429", "503") for k in c))' "$storm"
peak=$(( $(proc_kib VmHWM) / 1024 ))
log "  api peak RSS during the storm: $peak MiB (limit 256 MiB)"
check "the api stayed up: not OOM-killed, not restarted, peak RSS $peak MiB under 256 MiB" bash -c '
    [[ $(docker inspect -f "{{.State.Running}} {{.State.OOMKilled}} {{.RestartCount}}" "$1") == "true false $2" ]] && (( $3 < 256 ))' \
    _ "$api_id" "$restarts_before" "$peak"
rss_settles() {  # RSS under 64 MiB within 60 s
    local rss
    for _ in $(seq 60); do
        rss=$(( $(proc_kib VmRSS) / 1024 ))
        (( rss < 64 )) && { log "  api RSS after the storm: $rss MiB"; return 0; }
        sleep 1
    done
    log "  api RSS a minute after the storm: $rss MiB"
    return 1
}
check "a minute after the storm the api's RSS is back under 64 MiB" rss_settles
nginx_flood() {  # 60 sign-ins at once from one address: nginx refuses those past its burst
    seq 60 | xargs -P 60 -I{} curl -sk -X POST -H 'content-type: application/json' \
        -d '{"email":"flood@clinic.example","password":"x"}' "$https/api/v1/auth/login" \
        -w '\n' >"$work/flood" 2>/dev/null
    log "  nginx refused $(grep -c 'from this address' "$work/flood") of 60"
    grep -q '"status":429,"detail":"too many requests from this address' "$work/flood"
}
check "nginx limits sign-ins per address (429 problem document past its burst)" nginx_flood


# --- Backups: the restore drill (e2e/backup-drill.sh).
# shellcheck source=e2e/backup-drill.sh
source "$root/e2e/backup-drill.sh"

# --- Monitoring: Prometheus (the monitoring profile) scrapes every service and evaluates every
# alerting rule, and every metric the rules and the Grafana dashboard name is exported.
check "Prometheus scrapes every service, evaluates every alerting rule, and every metric the rules and the dashboard name is exported" \
    python3 "$root/scripts/check-metric-names.py" "http://127.0.0.1:$PROMETHEUS_PORT" 120

# Nothing personal or secret in any service's log of this whole run: no email address, no
# password sent, no secret of the .env, no Telegram initData. (tgsim is the test's own fake
# Telegram: its log has the bot token in request paths, as Telegram's would.)
logs_hold_no_secrets() {
    local logs ok=0 needle
    logs=$("${prod[@]}" logs --no-color db redis migrate api webhook bot worker web backup nginx 2>&1)
    log "  $(wc -l <<<"$logs") log lines searched"
    local -a needles=(
        "@clinic.example" "$patient_password" "burst password 1" "wrong password" "initData" "init_data"
        "$(env_value SECRET_KEY)" "$(env_value TELEGRAM_BOT_TOKEN)" "$(env_value TELEGRAM_WEBHOOK_SECRET)"
        "$(env_value POSTGRES_PASSWORD)" "$(env_value REDIS_PASSWORD)" "$(env_value DATABASE_APP_PASSWORD)"
        "$(env_value STATUS_TOKEN)"
    )
    for needle in "${needles[@]}"; do
        [[ -n $needle ]] || continue
        if grep -qiF -- "$needle" <<<"$logs"; then
            log "  found in the logs: '${needle:0:6}…': $(grep -iF -- "$needle" <<<"$logs" | head -2 | cut -c1-200)"
            ok=1
        fi
    done
    return $ok
}
check "no email, password, secret or initData in any production service's log" logs_hold_no_secrets

check "docker compose stop api is graceful and under 10 s" graceful_stop "${prod[@]}" api
"${prod[@]}" down -v --remove-orphans >/dev/null 2>&1

# ---------------------------------------------------------------------------------------------
log "development stack (project $DEV_PROJECT, no .env, http://localhost:$DEV_HTTP_PORT)"
started=$(date +%s)
: >"$work/empty.env"
if "${dev[@]}" up -d --build --wait --wait-timeout "$WAIT_TIMEOUT"; then
    pass "development stack healthy ($(( $(date +%s) - started )) s including the build)"
else
    fail "development stack did not become healthy"
    "${dev[@]}" ps -a || true
    "${dev[@]}" logs --tail 80 || true
    checks_summary || exit 1
fi
"${dev[@]}" ps -a

http=http://127.0.0.1:$DEV_HTTP_PORT
check "GET /api/v1/version through the dev nginx" body_contains "$http/api/v1/version" '"name":"MedSync"'
for service in api webhook bot worker web; do
    check "dev $service /readyz through nginx" body_contains "$http/_status/$service/readyz" '"status":"ready"'
done
check "GET /app/ through the dev nginx: the web app's home page" body_contains "$http/app/" '<h1>Book a visit</h1>'
check "the handbook in development: mdbook serve on DOCS_PORT and through the dev nginx at /docs/" \
    bash -c 'curl -sf "$1" | grep -q "MedSync handbook" && curl -sf "$2" | grep -q "MedSync handbook"' _ \
        "http://127.0.0.1:$DOCS_PORT/" "$http/docs/"
# A doctor account for the agenda page: registered in the web app, made a doctor's by SQL.
dev_doctor=e2e-doctor@example.com
curl -s -o /dev/null -X POST -H "Origin: $http" --data-urlencode "email=$dev_doctor" \
    --data-urlencode 'password=correct horse 42' --data-urlencode 'name=Dr. E2E' "$http/app/register" || true
"${dev[@]}" exec -T db psql -U medsync -d medsync -qc \
    "UPDATE users SET role = 'doctor' WHERE email = '$dev_doctor';
     UPDATE doctors SET user_id = (SELECT id FROM users WHERE email = '$dev_doctor')
     WHERE id = (SELECT id FROM doctors WHERE user_id IS NULL ORDER BY name LIMIT 1)" >/dev/null || true
check "the web app in Chromium: a plain browser registers, books, cancels; the Mini App in tgsim books with the Main button and the worker confirms in the chat; JavaScript off still books; axe finds nothing serious on any page, light or dark (screenshots in target/artifacts)" \
    env APP_URL="http://localhost:$DEV_HTTP_PORT/app/" TGSIM_URL="http://127.0.0.1:$TGSIM_PORT" \
        ADMIN_EMAIL=admin@medsync.local ADMIN_PASSWORD=medsync-dev-admin DOCTOR_EMAIL="$dev_doctor" \
        ARTIFACT_DIR="$root/target/artifacts" scripts/browser-test.sh webapp.mjs
check "tgsim's chat page is served on its port" body_contains "http://127.0.0.1:$TGSIM_PORT/" 'data-token="123456789:medsync-dev-token"'
check "tgsim answers getMe for the dev bot" body_contains "http://127.0.0.1:$TGSIM_PORT/bot123456789:medsync-dev-token/getMe" '"username":"medsync_bot"'
check "a person books by clicking through the bot's dialogue in tgsim's page and the worker's confirmation arrives (headless Chromium; screenshot in target/artifacts)" \
    env TGSIM_URL="http://127.0.0.1:$TGSIM_PORT" ARTIFACT_DIR="$root/target/artifacts" WAIT_FOR_WORKER=1 scripts/browser-test.sh
check "the seed ran: the demo admin exists" bash -c \
    "[[ \$(\"\${@}\" exec -T db psql -U medsync -tAc \"SELECT count(*) FROM users WHERE role = 'admin'\") == 1 ]]" _ "${dev[@]}"
check "every development container runs as non-root" all_non_root "${dev[@]}"
check "docker compose stop api is graceful and under 10 s (dev)" graceful_stop "${dev[@]}" api

# Starting or restarting one dev service never re-runs `migrate` (a build, the migrations, the
# seed) first: it is a long-running service, already healthy.
dev_restart_leaves_migrate() {
    local migrate before after service id state deadline
    migrate=$("${dev[@]}" ps -q migrate)
    before=$(docker inspect -f '{{.State.StartedAt}}' "$migrate")
    "${dev[@]}" start api >/dev/null 2>&1 || return 1
    "${dev[@]}" restart worker >/dev/null 2>&1 || return 1
    "${dev[@]}" up -d bot >/dev/null 2>&1 || return 1
    for service in api worker bot; do
        id=$("${dev[@]}" ps -q "$service")
        deadline=$(( $(date +%s) + 180 ))
        until state=$(docker inspect -f '{{.State.Status}}/{{.State.Health.Status}}' "$id") \
                && [[ $state == running/healthy ]]; do
            [[ $(date +%s) -lt $deadline ]] || { log "  $service: $state after 180 s"; return 1; }
            sleep 2
        done
    done
    after=$(docker inspect -f '{{.State.StartedAt}}' "$migrate")
    log "  migrate started at $before, and at $after after the restarts"
    [[ $before == "$after" ]]
}
check "starting or restarting one dev service does not re-run migrate, and it comes back healthy" dev_restart_leaves_migrate

checks_summary
