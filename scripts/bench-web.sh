#!/usr/bin/env bash
# bench-web.sh — the web app's slots page beside the api's JSON for the same doctor and day, in
# the same run:
#
#   GET /app/doctors/{id}?day=D           the page: the day strip (the booking window's free
#                                         times counted per day) and D's times, as HTML
#   GET /api/v1/doctors/{id}/slots        the api's JSON for D (from D 00:00 to D+1 00:00)
#
# Prints requests/s, p50 and p99 of each (wrk), the ratio page/api (the web app's target: at
# least 0.8), and the page's weight: HTML, CSS and JS, gzip-compressed as served. Not a test:
# numbers go to docs/benchmarks.md.
#
# Uses DATABASE_URL/REDIS_URL when both are set (a database `<name>_bench` is created next to
# DATABASE_URL's and dropped afterwards), else starts docker-compose.test.yml. Builds the
# release binaries. Needs wrk and psql (Debian: wrk, postgresql-client), installed here when
# missing and running as root. Knobs: BENCH_SECONDS (10), BENCH_CONNECTIONS (16).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. "$root/scripts/lib.sh"
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
THREADS=2

need bench-web wrk:wrk psql:postgresql-client

work=$(mktemp -d)
defer rm -rf "$work"

if [[ -z ${DATABASE_URL:-} || -z ${REDIS_URL:-} ]]; then
    docker compose -f docker-compose.test.yml up -d --wait --wait-timeout 120 >/dev/null
    defer quietly docker compose -f "$root/docker-compose.test.yml" down -v
    DATABASE_URL="postgres://medsync:medsync@127.0.0.1:${TEST_POSTGRES_PORT:-55432}/medsync"
    REDIS_URL="redis://127.0.0.1:${TEST_REDIS_PORT:-56379}/0"
fi
admin_url=$DATABASE_URL
bench_db="$(basename "${admin_url%%\?*}")_bench"
bench_url="${admin_url%/*}/$bench_db"
psql -q "$admin_url" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $bench_db" -c "CREATE DATABASE $bench_db" >/dev/null
defer quietly psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)"

echo "bench-web: building release binaries"
cargo build --release --locked -q -p medsync-api -p medsync-web -p medsync-manage
bin=${CARGO_TARGET_DIR:-$root/target}/release

export DATABASE_URL=$bench_url REDIS_URL
export REDIS_KEY_PREFIX=bench-$$ SECRET_KEY=bench-secret-key-of-more-than-32-characters
export CLINIC_TIMEZONE=UTC LOG_FORMAT=json RUST_LOG=error DATABASE_MAX_CONNECTIONS=$CONNECTIONS
"$bin/manage" migrate >/dev/null

# A doctor working around the clock in 5-minute slots (288 a day), as in bench-api.sh.
doctor=$(psql -tA "$bench_url" <<'SQL'
WITH d AS (INSERT INTO doctors (id, name, slot_minutes) VALUES (gen_random_uuid(), 'Dr. Bench', 5) RETURNING id),
     s AS (INSERT INTO doctor_schedules (id, doctor_id, weekday, starts_at, ends_at)
           SELECT gen_random_uuid(), d.id, w, '00:00', '23:59:59' FROM d, generate_series(1, 7) w)
SELECT id FROM d;
SQL
)
doctor=$(head -1 <<<"$doctor")

api_port=$(free_port)
API_LISTEN_ADDR=127.0.0.1:$api_port "$bin/api" >"$work/api.log" 2>&1 &
defer stop_pid $!
web_port=$(free_port)
WEB_LISTEN_ADDR=127.0.0.1:$web_port "$bin/web" >"$work/web.log" 2>&1 &
defer stop_pid $!
for port in "$api_port" "$web_port"; do
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
done

# A whole day, two days ahead: every slot is in the future.
day0=$(( ($(date -u +%s) / 86400 + 2) * 86400 ))
day=$(date -u -d "@$day0" +%Y-%m-%d)
from=$(date -u -d "@$day0" +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d "@$((day0 + 86400))" +%Y-%m-%dT%H:%M:%SZ)
page_path="/app/doctors/$doctor?day=$day"
api_path="/api/v1/doctors/$doctor/slots?from=$from&to=$to"
page_times=$(curl -fsS "http://127.0.0.1:$web_port$page_path" | grep -c '/app/book?doctor=')
api_times=$(curl -fsS "http://127.0.0.1:$api_port$api_path" | grep -o '"starts_at"' | wc -l)
[[ $page_times == "$api_times" ]] || { echo "bench-web: the page lists $page_times times, the api $api_times"; exit 1; }

run_wrk() {  # URL → "rps p50 p99 non2xx"
    local out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -H 'Accept-Encoding: gzip' "$1")
    awk '
        /Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = $2 }
        /^ +99%/ { p99 = $2 }
        /Non-2xx or 3xx responses:/ { bad = $5 }
        END { printf "%s %s %s %s\n", rps, p50, p99, bad + 0 }' <<<"$out"
}

echo "bench-web: ${SECONDS_PER_RUN}s per run, $CONNECTIONS connections, $THREADS threads, $page_times times on the day"
read -r w_rps w_p50 w_p99 w_bad < <(run_wrk "http://127.0.0.1:$web_port$page_path")
read -r a_rps a_p50 a_p99 a_bad < <(run_wrk "http://127.0.0.1:$api_port$api_path")

gz() { curl -fsS -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "http://127.0.0.1:$web_port$1"; }
html=$(curl -fsS "http://127.0.0.1:$web_port$page_path")
css=$(grep -o '/app/static/app\.[0-9a-f]*\.css' <<<"$html")
js=$(grep -o '/app/static/app\.[0-9a-f]*\.js' <<<"$html")
html_gz=$(gz "$page_path") css_gz=$(gz "$css") js_gz=$(gz "$js")
total=$((html_gz + css_gz + js_gz))

printf '\n%-36s %10s %10s %10s %8s\n' "" "req/s" p50 p99 non-2xx
printf '%-36s %10s %10s %10s %8s\n' "web: the slots page (HTML)" "$w_rps" "$w_p50" "$w_p99" "$w_bad"
printf '%-36s %10s %10s %10s %8s\n' "api: the same day's slots (JSON)" "$a_rps" "$a_p50" "$a_p99" "$a_bad"
printf 'page/api: %s (target >= 0.80)\n' "$(awk -v a="$w_rps" -v b="$a_rps" 'BEGIN { printf "%.2f", a / b }')"
printf 'page weight, gzip: HTML %s + CSS %s + JS %s = %s bytes (budget 30720); HTML uncompressed %s bytes\n' \
    "$html_gz" "$css_gz" "$js_gz" "$total" "${#html}"
