#!/usr/bin/env bash
# bench-api.sh [small|large] — the api's hot paths, each beside PostgreSQL running the same SQL
# at the same concurrency, in the same run:
#
#   POST /api/v1/bookings                  vs  pgbench: the statements the api ran for a booking,
#                                              captured, for another doctor, patient and slot each
#   GET  /api/v1/doctors/{id}/slots (7 d)  ┐
#   GET  /api/v1/users/me                  │   vs  pgbench: the statements the api ran for one
#   GET  /api/v1/bookings (20 a page)      │       such request, captured from PostgreSQL's own
#   GET  /api/v1/agenda                    │       log (scripts/bench-capture.py): the same
#   GET  /api/v1/doctors?q=…               │       text, the same values
#   GET  /api/v1/admin/jobs                ┘
#   POST /api/v1/auth/login                vs  pgbench: the sign-in's statements (the password
#                                              hash check, most of the api's work, has none)
#   POST /api/v1/auth/refresh              vs  pgbench: the rotation's statements
#
# small (the default): 50 doctors working around the clock in 5-minute slots, 64 patients
# signed in by password and 960 more who only book.
# large: the same, inside a clinic group's data made by scripts/bench-data.sh first (500 more
# doctors, 200,000 patients, 1 M bookings, 3 M finished and 50 k queued jobs; two minutes).
#
# Free slots, my bookings, the agenda and the doctors search are also run on a second api that
# keeps no answers (SLOTS_CACHE_MB=0 LISTS_CACHE_MB=0): "… computed every time".
#
# For each path: requests/s, p50, p99 and non-2xx of the api (wrk), transactions/s of pgbench,
# the ratio api/pgbench beside its goal, and where the CPU went (api / postgres / redis / load
# generator). Exits 1 when a ratio is below its goal; warns when the machine was not quiet.
# Not a test: numbers go to docs/benchmarks.md.
#
# PostgreSQL and Redis are local servers from Debian's packages, started here on free loopback
# ports (no Docker port proxy; installed when missing and running as root). Builds the release
# binaries (or takes `api` and `manage` from BENCH_BIN_DIR). Needs wrk, pgbench and psql
# (Debian: wrk, postgresql-client) and python3. Knobs: BENCH_SECONDS (10), BENCH_CONNECTIONS (16),
# BENCH_ONLY (names of the paths to run, e.g. "agenda my-bookings"; all by default: slots me
# my-bookings agenda doctors admin-jobs booking login refresh),
# BENCH_ROUNDS (2: a read with a goal is measured that many times, the api and pgbench in turn,
# and each side's best run kept, so a slow spell of the host lowers neither side alone),
# BENCH_LATENCY_TRIES (3: a fixed-rate run the hypervisor stole more than BENCH_STEAL_MAX_PCT,
# 2 %, of the CPUs' time from is made again, up to that many times in all),
# BENCH_POOL (the api's PostgreSQL connections, DATABASE_MAX_CONNECTIONS: BENCH_CONNECTIONS),
# BENCH_CAPTURE_DIR (a directory: the captured statements of each request are copied there),
# BENCH_PROFILE (a directory: each api run is also sampled by `perf record -g`, its report
# written there as NAME.txt; use binaries with symbols, `cargo build --profile profiling`, through
# BENCH_BIN_DIR; the sampling costs throughput, so take numbers from runs without it).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. "$root/scripts/lib.sh"
. "$root/scripts/bench-lib.sh"
SIZE=${1:-small}
[[ $SIZE == small || $SIZE == large ]] || { echo "usage: scripts/bench-api.sh [small|large]" >&2; exit 2; }
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-2}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-api: BENCH_ROUNDS must be a whole number of at least 1, not '$ROUNDS'" >&2; exit 2; }
CONNECTIONS=${BENCH_CONNECTIONS:-16}
THREADS=2
DOCTORS=50
# Bookings come from many patients, as in a clinic: each booking locks its patient's row and
# counts their upcoming visits, so one patient booking everything would serialise the run. The
# reads, sign-ins and refreshes use the first PATIENTS; BOOKERS patients book. A clinic's patient
# holds a few visits ahead (MAX_FUTURE_BOOKINGS_PER_PATIENT, 5 by default, lifted here); the
# booking runs make some 25,000 bookings (a large run's peaks), which over 64 patients left each
# with some 330 ahead by the fixed-rate run, every one of them counted by every booking (a
# third of the insert's statement). Over 1,024 each holds about 25.
PATIENTS=64
BOOKERS=1024
ZONE=Europe/Berlin
# Goals: a ratio below these fails the run (docs/benchmarks.md says why each is what it is).
declare -A GOAL=([booking]=0.8 [slots]=0.8 [me]=0.6 [my-bookings]=0.6 [agenda]=0.6
                 [doctors]=0.6 [admin-jobs]=0.6 [login]=- [refresh]=0.6)

need bench-api wrk:wrk pgbench:postgresql-client psql:postgresql-client python3:python3
# oha (a fixed request rate, coordinated omission corrected) is not packaged by Debian.
if ! command -v oha >/dev/null; then
    echo "bench-api: installing oha from crates.io (cargo install oha --locked)"
    cargo install oha --locked -q
fi

work=$(mktemp -d)
# Deferred steps run last first: the api, then the servers, then the files.
defer rm -rf "$work"
unset DATABASE_URL REDIS_URL
bench_servers "$work"
bench_url=$DATABASE_URL

if [[ -n ${BENCH_BIN_DIR:-} ]]; then
    bin=$BENCH_BIN_DIR
else
    echo "bench-api: building release binaries"
    cargo build --release --locked -q -p medsync-api -p medsync-manage
    bin=${CARGO_TARGET_DIR:-$root/target}/release
fi

export DATABASE_URL REDIS_URL
export REDIS_KEY_PREFIX=bench-$$ SECRET_KEY=bench-secret-key-of-more-than-32-characters
# The api's pool (BENCH_POOL): one connection per client by default. Fewer were measured
# (docs/benchmarks.md): 4 made a booking cheaper for PostgreSQL on the large data and capped
# its peak on the small; pgbench keeps one connection per client either way.
POOL=${BENCH_POOL:-$CONNECTIONS}
[[ $POOL =~ ^[1-9][0-9]*$ ]] || { echo "bench-api: BENCH_POOL must be a whole number of at least 1, not '$POOL'" >&2; exit 2; }
export CLINIC_TIMEZONE=$ZONE LOG_FORMAT=json RUST_LOG=error DATABASE_MAX_CONNECTIONS=$POOL
export LOGIN_RATE_LIMIT_PER_IP=100000000 LOGIN_RATE_LIMIT_PER_ACCOUNT=100000000
export REGISTER_RATE_LIMIT_PER_IP=100000 REGISTER_RATE_LIMIT_GLOBAL=100000
# Each patient books a few dozen slots here: lift the hoarding limits the bench is not about.
export MAX_FUTURE_BOOKINGS_PER_PATIENT=1000000000 BOOKING_HORIZON_DAYS=3650
"$bin/manage" migrate >/dev/null
sql() { psql -qXtA -v ON_ERROR_STOP=1 "$bench_url" "$@"; }
if [[ $SIZE == large ]]; then
    CLINIC_TIMEZONE=$ZONE "$root/scripts/bench-data.sh" "$bench_url"
fi

# 50 doctors working around the clock in 5-minute slots (the clinic's local time).
sql >/dev/null <<SQL
CREATE TABLE bench_doctors (n int PRIMARY KEY, id uuid NOT NULL);
INSERT INTO bench_doctors SELECT n, gen_random_uuid() FROM generate_series(0, $DOCTORS - 1) n;
INSERT INTO doctors (id, name, slot_minutes) SELECT id, 'Dr. Around-the-clock ' || n, 5 FROM bench_doctors;
INSERT INTO doctor_schedules (id, doctor_id, weekday, starts_at, ends_at)
    SELECT gen_random_uuid(), b.id, w, '00:00', '23:59:59' FROM bench_doctors b, generate_series(1, 7) w;
CREATE SEQUENCE bench_seq;
CREATE SEQUENCE bench_refresh_seq;
SQL

port=$(free_port)
API_LISTEN_ADDR=127.0.0.1:$port "$bin/api" >"$work/api.log" 2>&1 &
api_pid=$!
defer stop_pid "$api_pid"
BENCH_CPU_API=$api_pid
base=http://127.0.0.1:$port
# A second api keeping nothing (free slots, lists of bookings): what computing every answer
# costs (a row each).
computing_port=$(free_port)
SLOTS_CACHE_MB=0 LISTS_CACHE_MB=0 API_LISTEN_ADDR=127.0.0.1:$computing_port "$bin/api" >"$work/api-computing.log" 2>&1 &
computing_pid=$!
defer stop_pid "$computing_pid"
for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$computing_port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
register() {  # EMAIL NAME
    curl -fsS -o /dev/null "$base/api/v1/auth/register" -H 'content-type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"bench password 1\",\"name\":\"$2\"}"
}
login() {  # EMAIL FIELD
    curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"bench password 1\"}" | json_field "$2"
}
tokens=()
for n in $(seq 1 "$PATIENTS"); do
    register "bench$n@clinic.example" "Bench $n"
    tokens+=("\"$(login "bench$n@clinic.example" access_token)\"")
done
patient_token=${tokens[0]//\"/}
# The other bookers: bench1's account copied, each signed in by a refresh token of its own
# (stored as the api stores one, its SHA-256), so no password is hashed for them.
sql >/dev/null <<SQL
INSERT INTO users (id, email, password_hash, name, role)
SELECT gen_random_uuid(), 'bench' || n || '@clinic.example', u.password_hash, 'Bench ' || n, 'patient'
FROM users u, generate_series($PATIENTS + 1, $BOOKERS) n WHERE u.email = 'bench1@clinic.example';
INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, session_started_at)
SELECT gen_random_uuid(), u.id, gen_random_uuid(), sha256(('bench-booker-' || n)::bytea), now() + interval '1 day', now()
FROM generate_series($PATIENTS + 1, $BOOKERS) n JOIN users u ON u.email = 'bench' || n || '@clinic.example';
SQL
mapfile -t -O "${#tokens[@]}" tokens < <(python3 - "$base" "$((PATIENTS + 1))" "$BOOKERS" <<'PY'
import json, sys, urllib.request
base, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for n in range(first, last + 1):
    request = urllib.request.Request(f"{base}/api/v1/auth/refresh", method="POST",
        data=json.dumps({"refresh_token": f"bench-booker-{n}"}).encode(),
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        print(json.dumps(json.load(answer)["access_token"]))
PY
)
((${#tokens[@]} == BOOKERS)) || { echo "bench-api: $BOOKERS bookers wanted, ${#tokens[@]} signed in" >&2; exit 1; }
token_list=$(IFS=,; echo "${tokens[*]}")
echo "[$token_list]" >"$work/tokens.json"  # too long for one argument of a command
# A doctor behind an account (doctor 0's agenda) and an admin: registered, then given the role.
register bench-doctor@clinic.example "Dr. Bench"
register bench-admin@clinic.example "Admin Bench"
sql >/dev/null <<SQL
UPDATE users SET role = 'doctor' WHERE email = 'bench-doctor@clinic.example';
UPDATE doctors SET user_id = (SELECT id FROM users WHERE email = 'bench-doctor@clinic.example')
    WHERE id = (SELECT id FROM bench_doctors WHERE n = 0);
UPDATE users SET role = 'admin' WHERE email = 'bench-admin@clinic.example';
CREATE TABLE bench_patients AS
    SELECT row_number() OVER (ORDER BY substring(email FROM '[0-9]+')::int) - 1 AS n, id FROM users
    WHERE email LIKE 'bench%@clinic.example' AND role = 'patient';
SQL
doctor_token=$(login bench-doctor@clinic.example access_token)
admin_token=$(login bench-admin@clinic.example access_token)
doctor=$(sql -c "SELECT id FROM bench_doctors WHERE n = 0")
doctor_list=$(sql -c "SELECT string_agg('\"' || id || '\"', ',' ORDER BY n) FROM bench_doctors")
# Slots from the next UTC midnight but one: all in the future, all on the grid.
day0=$(( ($(date -u +%s) / 86400 + 2) * 86400 ))
from=$(date -u -d "@$day0" +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d "@$((day0 + 7 * 86400))" +%Y-%m-%dT%H:%M:%SZ)

# The bench doctors' hours end at 23:59:59, so a day's last five minutes (local 23:55) are no
# slot: the n-th booking of a doctor takes the n-th slot that is one (a booking run of over
# 275 slots a doctor crossed it and was refused 50 times).
last_slot=$(python3 -c 'import datetime, sys, zoneinfo
t = datetime.datetime.fromtimestamp(int(sys.argv[1]), zoneinfo.ZoneInfo(sys.argv[2]))
print((23 * 60 + 55 - t.hour * 60 - t.minute) // 5 % 288)' "$day0" "$ZONE")

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
  local n = math.floor(i / #doctors)
  if n >= $last_slot then  -- every 288th five minutes from the first 23:55 skipped
    local m = n - $last_slot
    n = $last_slot + 1 + m + math.floor(m / 287)
  end
  local starts = $day0 + n * 300
  local body = string.format('{"doctor_id":"%s","starts_at":"%s"}', doctor, os.date("!%Y-%m-%dT%H:%M:%SZ", starts))
  return wrk.format(nil, "/api/v1/bookings", headers, body)
end
LUA
# Sign-in: wrk rotates over the 64 patients; pgbench runs the sign-in's statements (the account
# by email, then the session's refresh token and the audit event in one transaction).
cat >"$work/login.lua" <<LUA
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  counter = counter + 1
  local body = string.format('{"email":"bench%d@clinic.example","password":"bench password 1"}', (counter % $PATIENTS) + 1)
  return wrk.format(nil, "/api/v1/auth/login", nil, body)
end
LUA
cat >"$work/login.sql" <<SQL
\set p random(1, $PATIENTS)
SELECT id, email, name, phone, role, telegram_user_id, password_hash FROM users WHERE email = 'bench' || :p || '@clinic.example';
BEGIN;
INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, session_started_at)
    SELECT gen_random_uuid(), u.id, f.family, sha256(random()::text::bytea), now() + interval '30 days',
           COALESCE((SELECT min(session_started_at) FROM refresh_tokens WHERE family_id = f.family), now())
    FROM users u, (SELECT gen_random_uuid() AS family) f WHERE u.email = 'bench' || :p || '@clinic.example';
INSERT INTO audit_events (id, action, channel, actor_id, subject_id, booking_id, ip, details)
    SELECT gen_random_uuid(), 'auth.login.succeeded', 'api', id, NULL, NULL, '127.0.0.1'::inet, '{"session": "bench"}'
    FROM users WHERE email = 'bench' || :p || '@clinic.example';
COMMIT;
SQL

# Refresh: each token is good once, so each wrk thread starts with a stock of its own (signed in
# above, one per connection and a spare) and goes on with the tokens the answers carry.
refresh_tokens=()
for n in $(seq 1 $((CONNECTIONS + THREADS * 2))); do
    refresh_tokens+=("\"$(login "bench$(( (n % PATIENTS) + 1 ))@clinic.example" refresh_token)\"")
done
cat >"$work/refresh.lua" <<LUA
local all = { $(IFS=,; echo "${refresh_tokens[*]}") }
local started = 0
function setup(thread)
  thread:set("tid", started)
  started = started + 1
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local stock = nil
local function fill()
  stock = {}
  for i = 1, #all do
    if (i - 1) % $THREADS == tid then table.insert(stock, all[i]) end
  end
end
function request()
  if stock == nil then fill() end
  local token = table.remove(stock, 1) or "exhausted"
  return wrk.format(nil, "/api/v1/auth/refresh", nil, string.format('{"refresh_token":"%s"}', token))
end
function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(stock, token) end
end
LUA
# pgbench: a stock of tokens made here (as issue() stores them: the SHA-256 of the token), the
# rotation's transaction (the token with its account, locked; marked rotated; its successor
# issued), then the account read back.
sql >/dev/null <<SQL
INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, session_started_at)
SELECT gen_random_uuid(), p.id, gen_random_uuid(), sha256(('bench-refresh-' || i)::bytea), now() + interval '30 days', now()
FROM generate_series(1, 200000) i JOIN bench_patients p ON p.n = i % $PATIENTS;
ANALYZE refresh_tokens;
SQL
cat >"$work/refresh.sql" <<SQL
SELECT nextval('bench_refresh_seq') AS i \gset
BEGIN;
SELECT t.id AS tid, t.user_id AS uid, t.family_id AS fam, t.expires_at, t.rotated_at, t.revoked_at, u.role, t.session_started_at
    FROM refresh_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = sha256(('bench-refresh-' || :i)::bytea) FOR UPDATE OF t \gset
UPDATE refresh_tokens SET rotated_at = now() WHERE id = :tid;
INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, session_started_at)
    VALUES (gen_random_uuid(), :uid, :fam, sha256(('bench-refreshed-' || :i)::bytea), now() + interval '30 days',
            :session_started_at);
COMMIT;
SELECT id, email, name, phone, role, telegram_user_id FROM users WHERE id = :uid;
SQL

run_wrk() {  # NAME WRK-ARGS... → globals rps p50 p99 bad
    local perf_pid=
    bench_quiet_start "$1 (api)"
    bench_cpu_start
    if [[ -n ${BENCH_PROFILE:-} ]]; then
        perf record -q -F 499 -g -o "$BENCH_PROFILE/$1.perf" -p "$api_pid" -- sleep "$((SECONDS_PER_RUN - 1))" 2>/dev/null &
        perf_pid=$!
    fi
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "${@:2}" >"$work/wrk-$1.txt"
    if [[ -n $perf_pid ]]; then
        wait "$perf_pid" || true
        perf report -i "$BENCH_PROFILE/$1.perf" --stdio --no-children --sort dso,symbol --percent-limit 1 \
            2>/dev/null | grep -v '^$' | grep -v '^#' | grep '%' | head -n 40 >"$BENCH_PROFILE/$1.txt" || true
    fi
    bench_cpu_stop
    bench_quiet_stop "$1 (api)"
    api_cpu=$cpu_split
    read -r rps p50 p99 bad < <(awk '
        /Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = $2 }
        /^ +99%/ { p99 = $2 }
        /Non-2xx or 3xx responses:/ { bad = $5 }
        /Socket errors:/ { bad += $4 + $6 + $8 + $10 }
        END { printf "%.0f %s %s %s\n", rps, p50, p99, bad + 0 }' "$work/wrk-$1.txt")
}
run_pgbench() {  # NAME SCRIPT → globals tps pg_lat
    bench_quiet_start "$1 (pgbench)"
    bench_cpu_start
    pgbench -n -M prepared -c "$CONNECTIONS" -j "$THREADS" -T "$SECONDS_PER_RUN" -f "$2" "$bench_url" >"$work/pgbench-$1.txt" 2>&1 ||
        { echo "bench-api: pgbench failed on $1:" >&2; tail -n 20 "$work/pgbench-$1.txt" >&2; exit 1; }
    bench_cpu_stop
    bench_quiet_stop "$1 (pgbench)"
    pg_cpu=$cpu_split
    read -r tps pg_lat failed < <(awk '
        /^latency average/ { lat = $4 } /^tps/ { tps = $3 } /^number of failed transactions/ { f = $5 }
        END { printf "%.0f %s %d\n", tps, lat, f }' "$work/pgbench-$1.txt")
    ((failed == 0)) || { echo "bench-api: pgbench: $failed failed transactions on $1" >&2; exit 1; }
}
rows=()
declare -A PEAK=()
measure() {  # NAME LABEL PGBENCH-SCRIPT WRK-ARGS...
    # Reads leave the data as they found it, so a read with a goal is run ROUNDS times, the api
    # and pgbench in turn, and each side's best run kept (its CPU split and latency with it;
    # answers that were not 2xx are counted over every round).
    # The writes run once: a second booking run would find its slots taken, a refresh run its
    # tokens rotated.
    local rounds=1 round best_rps=-1 best_tps=-1 kept_api kept_pg all_bad=0
    [[ ${GOAL[$1]} == - || $1 == booking || $1 == login || $1 == refresh ]] || rounds=$ROUNDS
    for ((round = 1; round <= rounds; round++)); do
        run_wrk "$1" "${@:4}"
        ((rps <= best_rps)) || { best_rps=$rps; kept_api="$rps|$p50|$p99|$api_cpu"; }
        all_bad=$((all_bad + bad))
        run_pgbench "$1" "$3"
        ((tps <= best_tps)) || { best_tps=$tps; kept_pg="$tps|$pg_lat|$pg_cpu"; }
        ((rounds == 1)) || printf '  %-26s round %d: api %9s req/s  pgbench %9s tps\n' "$2" "$round" "$rps" "$tps"
    done
    IFS='|' read -r rps p50 p99 api_cpu <<<"$kept_api"
    bad=$all_bad  # a failed answer in any round counts
    IFS='|' read -r tps pg_lat pg_cpu <<<"$kept_pg"
    bench_goal "$2" "$rps" "$tps" "${GOAL[$1]}"
    rows+=("$2|$rps|$p50|$p99|$bad|$tps|$pg_lat|$(bench_ratio "$rps" "$tps")|${GOAL[$1]}")
    printf '  %-26s api %9s req/s  pgbench %9s tps  ratio %s\n    api run:     %s\n    pgbench run: %s\n' \
        "$2" "$rps" "$tps" "$(bench_ratio "$rps" "$tps")" "$api_cpu" "$pg_cpu"
}

echo "bench-api: $SIZE data, ${SECONDS_PER_RUN}s per run, $CONNECTIONS connections, $THREADS threads, the api's pool $POOL, clinic zone $ZONE"
# What the reads read, the same in every run whatever the booking run makes (it comes last): the
# first patient has 40 visits ahead with doctor 0 (three weeks out, outside the slots' week) and
# 40 behind; the queue holds 1,000 finished jobs (a large run's 3 M besides).
sql >/dev/null <<SQL
INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, status, source)
SELECT gen_random_uuid(), (SELECT id FROM bench_doctors WHERE n = 0),
       (SELECT id FROM users WHERE email = 'bench1@clinic.example'),
       to_timestamp($day0) + k * interval '1 hour' + o, to_timestamp($day0) + k * interval '1 hour' + o + interval '5 minutes',
       CASE WHEN o < interval '0' THEN 'completed' ELSE 'confirmed' END::booking_status, 'api'
FROM generate_series(0, 39) k, (VALUES (interval '21 days'), (interval '-30 days')) AS w(o);
INSERT INTO jobs (id, kind, payload, status, attempts, finished_at)
SELECT gen_random_uuid(), 'system.noop', '{"v": 1}', 'succeeded', 1, now() - k * interval '1 minute'
FROM generate_series(1, 1000) k;
ANALYZE bookings;
ANALYZE jobs;
SQL

# The reads: each request made once with every statement logged, between two markers.
declare -A READS=(
    [slots]="/api/v1/doctors/$doctor/slots?from=$from&to=$to|"
    [me]="/api/v1/users/me|$patient_token"
    [my-bookings]="/api/v1/bookings|$patient_token"
    [agenda]="/api/v1/agenda|$doctor_token"
    [doctors]="/api/v1/doctors?q=Around-the-clock%2042|"
    [admin-jobs]="/api/v1/admin/jobs|$admin_token"
)
READ_ORDER=(slots me my-bookings agenda doctors admin-jobs)
ONLY=" ${BENCH_ONLY:-${READ_ORDER[*]} booking login refresh} "
for name in $ONLY; do
    [[ " ${READ_ORDER[*]} booking login refresh " == *" $name "* ]] ||
        { echo "bench-api: BENCH_ONLY: no path named $name" >&2; exit 2; }
done
wanted() { [[ $ONLY == *" $1 "* ]]; }
declare -A LABEL=([slots]="GET …/slots (7 days)" [me]="GET /api/v1/users/me" [my-bookings]="GET /api/v1/bookings"
                  [agenda]="GET /api/v1/agenda" [doctors]="GET /api/v1/doctors?q=" [admin-jobs]="GET /api/v1/admin/jobs")
get() {  # PATH TOKEN
    local auth=()
    [[ -z $2 ]] || auth=(-H "Authorization: Bearer $2")
    curl -fsS -o /dev/null "${auth[@]}" "$base$1"
}
for name in "${READ_ORDER[@]}"; do get "${READS[$name]%%|*}" "${READS[$name]#*|}"; done  # types known to every connection
# The slots' answer, the lists and the search are kept after that first request, and the
# sessions are remembered as signed in: announce a change of the doctor's calendar, of every
# list, of the catalog and of every session, as PostgreSQL does on one, so each captured
# request does all its work (the session checked, the answer computed), as a request does when
# nothing is kept.
sql -c "NOTIFY calendar_changed, '$doctor'" >/dev/null
sleep 0.2
log_lines=$(wc -l <"$BENCH_PG_LOG")
sql -c "ALTER SYSTEM SET log_statement = 'all'" -c "ALTER SYSTEM SET log_line_prefix = '%p|%a|'" \
    -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
capture() {  # NAME COMMAND...
    sql -c "NOTIFY sessions_changed, '*'" -c "NOTIFY bookings_changed, '*'" -c "NOTIFY catalog_changed, '*'" >/dev/null
    sleep 0.1
    sql -c "SELECT 'bench-capture:begin:$1'" >/dev/null
    "${@:2}"
    sleep 0.2
    sql -c "SELECT 'bench-capture:end:$1'" >/dev/null
}
for name in "${READ_ORDER[@]}"; do
    capture "$name" get "${READS[$name]%%|*}" "${READS[$name]#*|}"
done
# The writes too, to compare their statements with the hand-written scripts' (not replayed:
# a second insert of the same row would fail).
spare_refresh=$(login bench2@clinic.example refresh_token)
capture booking-written curl -fsS -o /dev/null "$base/api/v1/bookings" -H 'content-type: application/json' \
    -H "Authorization: Bearer $patient_token" \
    -d "{\"doctor_id\":\"$doctor\",\"starts_at\":\"$(date -u -d "@$((day0 + 90 * 86400))" +%Y-%m-%dT%H:%M:%SZ)\"}"
capture login-written login bench1@clinic.example access_token >/dev/null
capture refresh-written curl -fsS -o /dev/null "$base/api/v1/auth/refresh" -H 'content-type: application/json' \
    -d "{\"refresh_token\":\"$spare_refresh\"}"
sql -c "ALTER SYSTEM RESET log_statement" -c "ALTER SYSTEM RESET log_line_prefix" -c "SELECT pg_reload_conf()" >/dev/null
tail -n +"$((log_lines + 1))" "$BENCH_PG_LOG" >"$work/capture.log"
echo "bench-api: statements per request, captured from PostgreSQL's log:" \
    "$(python3 "$root/scripts/bench-capture.py" "$work/capture.log" "$work/reads" "$bench_url" | paste -sd, - | sed 's/,/, /g')"
# A booking for pgbench: the statements the api ran for the one above, each transaction for
# another doctor, patient and slot (bench-capture.py says how).
python3 "$root/scripts/bench-capture.py" booking "$work/reads/booking-written.sql" "$work/booking.sql" \
    "$doctor" "$(sql -c "SELECT id FROM users WHERE email = 'bench1@clinic.example'")" \
    "$((day0 + 90 * 86400))" "$DOCTORS" "$BOOKERS" >/dev/null
[[ -z ${BENCH_CAPTURE_DIR:-} ]] || cp "$work"/reads/*.sql "$work/booking.sql" "$BENCH_CAPTURE_DIR"/
for name in login refresh; do
    script=$work/$name.sql
    echo "  $name: the api ran $(grep -c ';$' "$work/reads/$name-written.sql") statements" \
        "(BEGIN and COMMIT included); $(basename "$script") runs $(grep -cE '^(BEGIN|COMMIT|SELECT|INSERT|UPDATE|WITH)' "$script")"
done

# --- Latency at half of each path's peak: oha sends at a fixed rate (its latency corrected for
# coordinated omission: a late answer delays no request's start), 16 connections, no
# Accept-Encoding (as wrk, whose peak it halves). Bookings come from scripts/bench-rate.py
# (the same fixed rate and latency counting, 16 connections), each request from the next of
# the 1,024 bookers (a patient's bookings queue on their row lock: one patient booking hundreds
# a second is no clinic's load) for the next doctor's slot 120+ days out.
# Then pgbench runs the path's SQL at the same rate, and PostgreSQL's own p50 and p99 are
# printed beside the api's: what the database alone takes at that load.
LATENCY_GOAL_MS=10 LATENCY_TRIES=${BENCH_LATENCY_TRIES:-3}
oha_run() {  # OUT RATE OHA-ARGS...
    oha -z "${SECONDS_PER_RUN}s" -c "${OHA_CONNECTIONS:-$CONNECTIONS}" -q "$2" --latency-correction --no-tui \
        --output-format json "${@:3}" >"$1" 2>/dev/null || true
}
oha_read() {  # EXPECTED-4XX FILES... → "p50_ms p99_ms rps non_2xx errors expected" (p99 the
    python3 - "$@" <<'PY'  # largest, rps the sum; EXPECTED-4XX "-" or a code, counted apart)
import json, sys
p50 = p99 = rps = 0.0
bad = errors = expected = 0
for path in sys.argv[2:]:
    try:
        d = json.load(open(path))
    except (OSError, ValueError):
        errors += 1
        continue
    if "p99_ms" in d:  # scripts/bench-rate.py's
        d = {"latencyPercentiles": {"p50": (d["p50_ms"] or 0) / 1000, "p99": (d["p99_ms"] or 0) / 1000},
             "summary": {"requestsPerSec": d["answered_per_second"]},
             "statusCodeDistribution": d["status"], "errorDistribution": {"failed": d["failed"]}}
    p50 = max(p50, (d["latencyPercentiles"].get("p50") or 0) * 1000)
    p99 = max(p99, (d["latencyPercentiles"].get("p99") or 0) * 1000)
    rps += d["summary"].get("requestsPerSec") or 0
    for code, n in d.get("statusCodeDistribution", {}).items():
        if code == sys.argv[1]:
            expected += n
        elif not code.startswith("2"):
            bad += n
            print(f"{path}: {n} answered {code}", file=sys.stderr)
    errors += sum(n for what, n in d.get("errorDistribution", {}).items() if "deadline" not in what)
print(f"{p50:.2f} {p99:.2f} {rps:.0f} {bad} {errors} {expected}")
PY
}
# PostgreSQL alone at the same fixed rate (pgbench -R, each transaction's time logged; its
# latency counted from when it was due, as oha's): the floor under the api's latency.
pg_latency() {  # NAME SCRIPT RATE → "p50_ms p99_ms"
    local dir=$work/pglat-$1
    mkdir -p "$dir"
    (cd "$dir" && pgbench -n -M prepared -c "$CONNECTIONS" -j "$THREADS" -T "$SECONDS_PER_RUN" -R "$3" \
        -l --log-prefix=tx -f "$2" "$bench_url" >"$dir/summary.txt" 2>&1) ||
        { echo "bench-api: pgbench -R failed on $1:" >&2; tail -n 20 "$dir/summary.txt" >&2; exit 1; }
    # A log line: client, transaction, time (µs), script, epoch s, µs, schedule lag (µs).
    cat "$dir"/tx.* | awk '{ print $3 + $7 }' | sort -n |
        awk '{ t[NR] = $1 } END { if (NR == 0) { print "- -"; exit }
              printf "%.2f %.2f\n", t[int((NR - 1) * 0.5) + 1] / 1000, t[int((NR - 1) * 0.99) + 1] / 1000 }'
}
latency_rows=()
latency() {  # NAME LABEL EXPECTED-4XX PGBENCH-SCRIPT FILES...: right after the api's run
    local p50 p99 got bad errors expected rate=$((PEAK[$1] / 2)) also= pg50 pg99 stolen=$bench_steal
    read -r p50 p99 got bad errors expected < <(oha_read "$3" "${@:5}")
    [[ $3 == - ]] || also=" ($expected answered $3, expected)"
    bench_quiet_start "$1 (pgbench latency)"
    read -r pg50 pg99 < <(pg_latency "$1" "$4" "$rate")
    bench_quiet_stop "$1 (pgbench latency)"
    latency_rows+=("$2|$rate|$got|$p50|$p99|$bad|$errors|$stolen|$pg50|$pg99")
    printf '    latency at %s req/s (half of %s): p50 %s ms, p99 %s ms, %s not 2xx%s, %s failed, %s%% of the CPUs stolen; pgbench at that rate: p50 %s ms, p99 %s ms\n' \
        "$rate" "${PEAK[$1]}" "$p50" "$p99" "$bad" "$also" "$errors" "$stolen" "$pg50" "$pg99"
    if awk -v p="$p99" -v g="$LATENCY_GOAL_MS" 'BEGIN { exit !(p > g) }'; then
        bench_failed+=("$2: p99 $p99 ms at half its peak, above $LATENCY_GOAL_MS ms")
    fi
    [[ $bad == 0 && $errors == 0 ]] || bench_failed+=("$2 at half its peak: $bad answers not 2xx, $errors failed")
}
# A fixed-rate run measures the host too: when the hypervisor takes the CPUs from this machine
# (steal), every request in flight stalls together and the p99 is the host's other tenants'.
# Such a run (steal above BENCH_STEAL_MAX_PCT) is made again, up to LATENCY_TRIES times in all;
# one still stolen from at the last try stays noted, and its p99 still counts against the goal.
again_if_stolen() {  # NAME TRY: true when the run just made is to be made again
    bench_stolen && (($2 < LATENCY_TRIES)) || return 1
    unset 'bench_noisy[-1]'
    echo "    $1: the hypervisor took ${bench_steal}% of the CPUs' time during the fixed-rate run; measuring again ($(($2 + 1)) of $LATENCY_TRIES)"
}
latency_get() {  # NAME LABEL PGBENCH-SCRIPT URL [OHA-ARGS...]: right after NAME's peak, in the same state
    local try
    for ((try = 1; ; try++)); do
        bench_quiet_start "$1 (latency)"
        oha_run "$work/oha-$1.json" "$((PEAK[$1] / 2))" --disable-compression "${@:5}" "$4"
        bench_quiet_stop "$1 (latency)"
        again_if_stolen "$1" "$try" || break
    done
    latency "$1" "$2" - "$3" "$work/oha-$1.json"
}
latency_booking() {  # scripts/bench-rate.py: oha sends one Authorization header per run
    local rate=$((PEAK[booking] / 2)) try
    for ((try = 1; ; try++)); do  # each try books slots of its own, 5 days after the last's
        book_at_rate "$rate" "$((day0 + (115 + 5 * try) * 86400))"
        again_if_stolen booking "$try" || break
    done
    latency booking "POST /api/v1/bookings" 409 "$work/booking.sql" "$work/rate-booking.json"
}
book_at_rate() {  # RATE FIRST-SLOT (seconds)
    local rate=$1
    python3 - "$work/book.lines" "$2" "$doctor_list" "$work/tokens.json" "$ZONE" \
        "$((rate * SECONDS_PER_RUN + rate))" <<'PY'
import datetime, json, sys, zoneinfo
out, start = sys.argv[1], int(sys.argv[2])
doctors, tokens = json.loads("[" + sys.argv[3] + "]"), json.load(open(sys.argv[4]))
zone, count = zoneinfo.ZoneInfo(sys.argv[5]), int(sys.argv[6])
def slots():  # the day's last 5 minutes are no slot (the hours end at 23:59:59)
    at = datetime.datetime.fromtimestamp(start, datetime.timezone.utc)
    while True:
        if at.astimezone(zone).strftime("%H:%M") != "23:55":
            yield at.strftime("%Y-%m-%dT%H:%M:%SZ")
        at += datetime.timedelta(minutes=5)
times, starts = slots(), None
with open(out, "w") as lines:
    for i in range(count):  # every doctor's slot once, the patients in turn
        if i % len(doctors) == 0:
            starts = next(times)
        body = json.dumps({"doctor_id": doctors[i % len(doctors)], "starts_at": starts})
        lines.write(f"POST\t/api/v1/bookings\t{tokens[i % len(tokens)]}\t{body}\n")
PY
    bench_quiet_start "booking (latency)"
    python3 "$root/scripts/bench-rate.py" "$base" "$rate" "$SECONDS_PER_RUN" "$CONNECTIONS" "$work/book.lines" \
        >"$work/rate-booking.json"
    bench_quiet_stop "booking (latency)"
}

slots_cache="slots not run"
lists_cache=""
cache_counts() {  # METRIC
    curl -fsS "$base/metrics" | awk -v m="^$1" '$0 ~ m { split($1, l, "\""); n[l[2]] = $2 } END { printf "%d %d\n", n["hit"], n["miss"] }'
}
computed_too() {  # NAME LABEL PATH AUTH...: the same request on the api that keeps nothing
    local base_pid=$api_pid
    api_pid=$computing_pid BENCH_CPU_API=$computing_pid
    GOAL[$1-computed]=-
    measure "$1-computed" "$2" "$work/reads/$1.sql" "${@:4}" "http://127.0.0.1:$computing_port$3"
    api_pid=$base_pid BENCH_CPU_API=$base_pid
}
for name in "${READ_ORDER[@]}"; do
    wanted "$name" || continue
    path=${READS[$name]%%|*}
    bearer=${READS[$name]#*|}
    auth=()
    [[ -z $bearer ]] || auth=(-H "Authorization: Bearer $bearer")
    if [[ $name == slots ]]; then
        read -r hits0 misses0 < <(cache_counts medsync_slots_cache_requests_total)
        measure slots "${LABEL[slots]}" "$work/reads/slots.sql" "$base$path"
        PEAK[slots]=$rps
        latency_get slots "${LABEL[slots]}" "$work/reads/slots.sql" "$base$path"
        measure slots "… the same, gzip (as browsers ask)" "$work/reads/slots.sql" -H 'Accept-Encoding: gzip' "$base$path"
        read -r hits1 misses1 < <(cache_counts medsync_slots_cache_requests_total)
        slots_cache="kept answers served $((hits1 - hits0)), computed $((misses1 - misses0))"
        echo "  slots cache: $slots_cache"
        computed_too slots "… computed every time (cache off)" "$path"
        continue
    fi
    metric=medsync_lists_cache_requests_total
    [[ $name != doctors ]] || metric=medsync_doctors_cache_requests_total
    read -r hits0 misses0 < <(cache_counts $metric)
    measure "$name" "${LABEL[$name]}" "$work/reads/$name.sql" "${auth[@]}" "$base$path"
    PEAK[$name]=$rps
    [[ $name != my-bookings ]] || latency_get "$name" "${LABEL[$name]}" "$work/reads/$name.sql" "$base$path" "${auth[@]}"
    if [[ $name == my-bookings || $name == agenda || $name == doctors ]]; then
        read -r hits1 misses1 < <(cache_counts $metric)
        lists_cache+="; $name: kept pages served $((hits1 - hits0)), computed $((misses1 - misses0))"
        echo "  kept pages: served $((hits1 - hits0)), computed $((misses1 - misses0))"
        computed_too "$name" "… computed every time (cache off)" "$path" "${auth[@]}"
    fi
done
slots_in_answer=$(curl -fsS "$base${READS[slots]%%|*}" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
if wanted booking; then
    measure booking "POST /api/v1/bookings" "$work/booking.sql" -s "$work/book.lua" "$base"
    PEAK[booking]=$rps
    # The peak runs took the bench doctors' bookings from 81 rows to some 15,000 in 20 s, and
    # the jobs and audit events as many times over. A running database's autovacuum analyzes
    # such a table within its naptime (a minute) and every plan made for it is then made again;
    # until then a plan made while the table was tiny (the free slots' generic plan: a
    # sequential scan, right for 81 rows) scans every booking of the run, for each booking
    # (measured: 390 M rows read in 40 s, p99 823 ms). What the latency run measures is the
    # steady state, so the statistics are brought up to date here, as autovacuum would.
    sql -c "ANALYZE bookings" -c "ANALYZE jobs" -c "ANALYZE audit_events" >/dev/null
    latency_booking
fi
booked=$(sql -c "SELECT count(*) FROM bookings b JOIN bench_doctors d ON d.id = b.doctor_id WHERE starts_at >= to_timestamp($day0) AND starts_at < to_timestamp($day0 + 20 * 86400)")
! wanted login || measure login "POST /api/v1/auth/login" "$work/login.sql" -s "$work/login.lua" "$base"
! wanted refresh || measure refresh "POST /api/v1/auth/refresh" "$work/refresh.sql" -s "$work/refresh.lua" "$base"


printf '\n%-28s %10s %9s %9s %8s | %11s %9s | %7s %5s\n' "route ($SIZE data)" "api req/s" p50 p99 non-2xx "pgbench tps" "pg mean" "api/pg" goal
for row in "${rows[@]}"; do
    IFS='|' read -r label r a b c t l ratio goal <<<"$row"
    printf '%-28s %10s %9s %9s %8s | %11s %9s | %7s %5s\n' "$label" "$r" "$a" "$b" "$c" "$t" "$l ms" "$ratio" "$goal"
done
printf '\n%-28s %10s %10s %9s %9s %8s %7s %7s | %12s %12s\n' "half peak, fixed rate" "rate" "answered" p50 p99 non-2xx failed stolen "pgbench p50" "pgbench p99"
for row in "${latency_rows[@]}"; do
    IFS='|' read -r label rate got a b c d st e f <<<"$row"
    printf '%-28s %10s %10s %9s %9s %8s %7s %7s | %12s %12s\n' "$label" "$rate" "$got" "$a ms" "$b ms" "$c" "$d" "$st%" "$e ms" "$f ms"
done
echo "bookings made by the api during its run: $booked; slots in the 7-day answer: $slots_in_answer; $slots_cache$lists_cache"
[[ $SIZE == small ]] || echo "the tables: $(sql -c "SELECT (SELECT count(*) FROM bookings) || ' bookings, ' || (SELECT count(*) FROM jobs) || ' jobs, ' || (SELECT count(*) FROM users) || ' users'")"
for row in "${rows[@]}"; do
    IFS='|' read -r label r a b c t l ratio goal <<<"$row"
    [[ $c == 0 ]] || bench_failed+=("$label: $c answers were not 2xx (or sockets failed)")
done
bench_verdict bench-api
