#!/usr/bin/env bash
# bench-api.sh — throughput and latency of the api's two hottest routes, beside PostgreSQL
# running the same SQL at the same concurrency, in the same run:
#
#   GET  /api/v1/doctors/{id}/slots   (7 days)   vs  pgbench: the 4 queries that load a calendar
#   POST /api/v1/bookings                       vs  pgbench: calendar + insert + 3 job inserts
#
# Prints requests/s, p50 and p99 for the api (wrk), transactions/s and mean latency for
# pgbench, and the ratio api/pgbench. Not a test: numbers go to docs/benchmarks.md.
#
# Uses DATABASE_URL/REDIS_URL when both are set (a database `<name>_bench` is created next to
# DATABASE_URL's and dropped afterwards), else starts docker-compose.test.yml. Builds the
# release binaries. Needs wrk and pgbench/psql (Debian: wrk, postgresql-client), installed
# here when missing and running as root. Knobs: BENCH_SECONDS (10), BENCH_CONNECTIONS (16).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. "$root/scripts/lib.sh"
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
THREADS=2
DOCTORS=50
# Bookings come from many patients, as in a clinic: each booking locks its patient's row and
# counts their upcoming visits, so one patient booking everything would serialise the run.
PATIENTS=64

need bench-api wrk:wrk pgbench:postgresql-client psql:postgresql-client

work=$(mktemp -d)
# Deferred steps run last first: the api, then its database, then the servers.
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

echo "bench-api: building release binaries"
cargo build --release --locked -q -p medsync-api -p medsync-manage
bin=${CARGO_TARGET_DIR:-$root/target}/release

export DATABASE_URL=$bench_url REDIS_URL
export REDIS_KEY_PREFIX=bench-$$ SECRET_KEY=bench-secret-key-of-more-than-32-characters
export CLINIC_TIMEZONE=UTC LOG_FORMAT=json RUST_LOG=error DATABASE_MAX_CONNECTIONS=$CONNECTIONS
export LOGIN_RATE_LIMIT_PER_IP=100000 LOGIN_RATE_LIMIT_PER_ACCOUNT=100000
export REGISTER_RATE_LIMIT_PER_IP=100000 REGISTER_RATE_LIMIT_GLOBAL=100000
# Each patient books a few dozen slots here: lift the hoarding limits the bench is not about.
export MAX_FUTURE_BOOKINGS_PER_PATIENT=1000000000 BOOKING_HORIZON_DAYS=3650
"$bin/manage" migrate >/dev/null

# 50 doctors working around the clock in 5-minute slots; a patient account.
psql -q "$bench_url" >/dev/null <<SQL
CREATE TABLE bench_doctors (n int PRIMARY KEY, id uuid NOT NULL);
INSERT INTO bench_doctors SELECT n, gen_random_uuid() FROM generate_series(0, $DOCTORS - 1) n;
INSERT INTO doctors (id, name, slot_minutes) SELECT id, 'Dr. Bench ' || n, 5 FROM bench_doctors;
INSERT INTO doctor_schedules (id, doctor_id, weekday, starts_at, ends_at)
    SELECT gen_random_uuid(), b.id, w, '00:00', '23:59:59' FROM bench_doctors b, generate_series(1, 7) w;
CREATE SEQUENCE bench_seq;
SQL

port=$(free_port)
API_LISTEN_ADDR=127.0.0.1:$port "$bin/api" >"$work/api.log" 2>&1 &
api_pid=$!
defer stop_pid "$api_pid"
base=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
tokens=()
for n in $(seq 1 "$PATIENTS"); do
    curl -fsS -o /dev/null "$base/api/v1/auth/register" -H 'content-type: application/json' \
        -d "{\"email\":\"bench$n@clinic.example\",\"password\":\"bench password 1\",\"name\":\"Bench $n\"}"
    tokens+=("\"$(curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"bench$n@clinic.example\",\"password\":\"bench password 1\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')\"")
done
token_list=$(IFS=,; echo "${tokens[*]}")
psql -q "$bench_url" >/dev/null <<SQL
CREATE TABLE bench_patients AS SELECT row_number() OVER (ORDER BY email) - 1 AS n, id FROM users;
SQL
doctor=$(psql -tA "$bench_url" -c "SELECT id FROM bench_doctors WHERE n = 0")
doctor_list=$(psql -tA "$bench_url" -c "SELECT string_agg('\"' || id || '\"', ',' ORDER BY n) FROM bench_doctors")
# Slots from the next UTC midnight but one: all in the future, all on the grid.
day0=$(( ($(date -u +%s) / 86400 + 2) * 86400 ))
from=$(date -u -d "@$day0" +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d "@$((day0 + 7 * 86400))" +%Y-%m-%dT%H:%M:%SZ)

cat >"$work/book.lua" <<LUA
local doctors = { $doctor_list }
local tokens = { $token_list }
local counter = 0
local started = 0
-- Runs in the main state, once per thread: gives each thread its own share of the slots.
function setup(thread)
  thread:set("tid", started)
  started = started + 1
end
wrk.method = "POST"
function request()
  local i = counter * $THREADS + (tid or 0)
  counter = counter + 1
  local headers = { ["Content-Type"] = "application/json",
                    ["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1] }
  local doctor = doctors[(i % #doctors) + 1]
  local starts = $day0 + math.floor(i / #doctors) * 300
  local body = string.format('{"doctor_id":"%s","starts_at":"%s"}', doctor, os.date("!%Y-%m-%dT%H:%M:%SZ", starts))
  return wrk.format(nil, "/api/v1/bookings", headers, body)
end
LUA

# The same SQL for pgbench. Calendar of a random doctor over the same 7 days (+1 day each side,
# as load_calendar widens it):
cat >"$work/slots.sql" <<SQL
\set d random(0, $((DOCTORS - 1)))
SELECT slot_minutes FROM doctors d JOIN bench_doctors b ON b.id = d.id WHERE b.n = :d AND d.active;
SELECT weekday, starts_at, ends_at FROM doctor_schedules s JOIN bench_doctors b ON b.id = s.doctor_id WHERE b.n = :d ORDER BY weekday, starts_at;
SELECT lower(period), upper(period) FROM doctor_time_off t JOIN bench_doctors b ON b.id = t.doctor_id WHERE b.n = :d AND period && tstzrange(to_timestamp($day0 - 86400), to_timestamp($day0 + 8 * 86400));
SELECT starts_at, ends_at FROM bookings k JOIN bench_doctors b ON b.id = k.doctor_id WHERE b.n = :d AND k.status <> 'cancelled' AND k.starts_at < to_timestamp($day0 + 8 * 86400) AND k.ends_at > to_timestamp($day0 - 86400);
SQL
# A booking: the calendar of one day, the patient's row lock, the insert, the count of their
# upcoming visits, its three jobs, the read-back; slots far after the api's so the two never
# collide.
cat >"$work/book.sql" <<SQL
BEGIN;
SELECT nextval('bench_seq') AS i \gset
\set d :i % $DOCTORS
\set t $((day0 + 40 * 86400)) + (:i / $DOCTORS) * 300
\set p :i % $PATIENTS
SELECT slot_minutes FROM doctors d JOIN bench_doctors b ON b.id = d.id WHERE b.n = :d AND d.active;
SELECT weekday, starts_at, ends_at FROM doctor_schedules s JOIN bench_doctors b ON b.id = s.doctor_id WHERE b.n = :d ORDER BY weekday, starts_at;
SELECT lower(period), upper(period) FROM doctor_time_off t JOIN bench_doctors b ON b.id = t.doctor_id WHERE b.n = :d AND period && tstzrange(to_timestamp(:t - 86400), to_timestamp(:t + 86400));
SELECT starts_at, ends_at FROM bookings k JOIN bench_doctors b ON b.id = k.doctor_id WHERE b.n = :d AND k.status <> 'cancelled' AND k.starts_at < to_timestamp(:t + 86400) AND k.ends_at > to_timestamp(:t - 86400);
SELECT 1 FROM users u JOIN bench_patients p ON p.id = u.id WHERE p.n = :p FOR NO KEY UPDATE OF u;
WITH booking AS (
    INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, source)
    SELECT gen_random_uuid(), b.id, (SELECT id FROM bench_patients WHERE n = :p), to_timestamp(:t), to_timestamp(:t + 300), 'api'
    FROM bench_doctors b WHERE b.n = :d RETURNING id)
INSERT INTO jobs (id, kind, payload, run_at, dedupe_key, booking_id)
    SELECT gen_random_uuid(), k.kind, '{}', k.run_at, k.kind || k.tag || booking.id, booking.id
    FROM booking, (VALUES ('booking.confirmation', now(), ''),
                          ('booking.reminder', to_timestamp(:t - 86400), '1440'),
                          ('booking.reminder', to_timestamp(:t - 7200), '120')) AS k(kind, run_at, tag);
SELECT count(*) FROM bookings WHERE patient_id = (SELECT id FROM bench_patients WHERE n = :p) AND status = 'confirmed' AND starts_at > now();
SELECT b.id, d.name FROM bookings b JOIN doctors d ON d.id = b.doctor_id JOIN bench_doctors x ON x.id = b.doctor_id
    WHERE x.n = :d AND b.starts_at = to_timestamp(:t);
COMMIT;
SQL

run_wrk() {  # WRK ARGS... → "rps p50 p99 non2xx"
    local out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$@")
    awk '
        /Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = $2 }
        /^ +99%/ { p99 = $2 }
        /Non-2xx or 3xx responses:/ { bad = $5 }
        END { printf "%s %s %s %s\n", rps, p50, p99, bad + 0 }' <<<"$out"
}
run_pgbench() {  # SCRIPT → "tps latency_ms"
    pgbench -n -c "$CONNECTIONS" -j "$THREADS" -T "$SECONDS_PER_RUN" -f "$1" "$bench_url" 2>/dev/null |
        awk '/^latency average/ { lat = $4 } /^tps/ { tps = $3 } END { printf "%s %s\n", tps, lat }'
}

echo "bench-api: ${SECONDS_PER_RUN}s per run, $CONNECTIONS connections, $THREADS threads"
read -r s_rps s_p50 s_p99 s_bad < <(run_wrk "$base/api/v1/doctors/$doctor/slots?from=$from&to=$to")
read -r s_tps s_lat < <(run_pgbench "$work/slots.sql")
read -r b_rps b_p50 b_p99 b_bad < <(run_wrk -s "$work/book.lua" "$base")
read -r b_tps b_lat < <(run_pgbench "$work/book.sql")
booked=$(psql -tA "$bench_url" -c "SELECT count(*) FROM bookings WHERE starts_at < to_timestamp($day0 + 40 * 86400)")

printf '\n%-28s %12s %10s %10s %10s | %14s %12s | %8s\n' route "api req/s" p50 p99 "non-2xx" "pgbench tps" "pg mean" "api/pg"
printf '%-28s %12s %10s %10s %10s | %14s %12s | %8s\n' "GET  .../slots (7 days)" "$s_rps" "$s_p50" "$s_p99" "$s_bad" "$s_tps" "${s_lat} ms" \
    "$(awk -v a="$s_rps" -v b="$s_tps" 'BEGIN { printf "%.2f", a / b }')"
printf '%-28s %12s %10s %10s %10s | %14s %12s | %8s\n' "POST /api/v1/bookings" "$b_rps" "$b_p50" "$b_p99" "$b_bad" "$b_tps" "${b_lat} ms" \
    "$(awk -v a="$b_rps" -v b="$b_tps" 'BEGIN { printf "%.2f", a / b }')"
echo "bookings made by the api during its run: $booked"
