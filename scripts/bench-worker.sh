#!/usr/bin/env bash
# bench-worker.sh [small|large] — job throughput of the worker with a no-op handler, at 1 and 2 worker
# processes, beside pgbench running the worker's own claim and completion SQL at the same
# concurrency, in the same run:
#
#   N `system.noop` jobs drained by P worker processes × WORKER_CONCURRENCY C   (P = 1, 2)
#   vs  pgbench -M prepared, P × C clients, per transaction: CLAIM_SQL (LIMIT 1), COMPLETE_SQL
#
# The two statements are read from crates/domain/src/jobs/queue.rs (CLAIM_SQL, COMPLETE_SQL) at
# every run, so pgbench runs the text the worker runs; the parameters become pgbench variables
# (bound as parameters of a prepared statement, as sqlx does), except the completion's note,
# which is a literal NULL (the no-op handler leaves none; pgbench cannot bind a NULL).
#
# The worker's rate is N ÷ (the last job's finished_at − the moment before the processes were
# started), so it includes their start-up; pgbench's is its "tps … (without initial connection
# time)". Prints both and the ratio worker/pgbench. Fails when a job ran more than once, was
# left undone, or the workers' own medsync_jobs_succeeded_total disagrees. Not a test: numbers
# go to docs/benchmarks.md.
#
# small (the default): the queue holds the benchmark's jobs alone. large: they are queued beside
# a clinic group's history, made by scripts/bench-data.sh first (3 M finished jobs and 50 k
# queued reminders; the reminders due within the next hour are moved a day on, so the no-op
# handler is all that runs), and only the benchmark's jobs are loaded, checked and removed.
#
# Uses DATABASE_URL and REDIS_URL when both are set, else local PostgreSQL and Redis servers
# from Debian's packages started here on free loopback ports (no Docker port proxy). A
# throw-away database bench_worker_<random> is created next to DATABASE_URL's, given the schema
# by psql from migrations/*.sql, and dropped afterwards. Redis only answers the workers'
# /readyz. Builds the release worker (or takes WORKER_BIN). Needs pgbench/psql (Debian:
# postgresql-client), installed here when missing and running as root, and curl. Prints the CPU
# split of each run (workers / postgres / redis / pgbench) and exits 1 when worker/pgbench is
# below its goal (0.7). Knobs: BENCH_JOBS (20000), BENCH_CONCURRENCY (8, each worker's
# WORKER_CONCURRENCY), BENCH_TIMEOUT (300 s per worker run).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. "$root/scripts/lib.sh"
. "$root/scripts/bench-lib.sh"
SIZE=${1:-small}
[[ $SIZE == small || $SIZE == large ]] || { echo "usage: scripts/bench-worker.sh [small|large]" >&2; exit 2; }
GOAL=0.7
JOBS=${BENCH_JOBS:-20000}
CONCURRENCY=${BENCH_CONCURRENCY:-8}
TIMEOUT=${BENCH_TIMEOUT:-300}
THREADS=2    # pgbench -j
LEASE=60     # WORKER_LEASE_SECONDS' default, for both sides
PROCESSES=(1 2)
NOOP_PAYLOAD='{"v": 1, "sleep_ms": 0}'
JOBS_RS=crates/domain/src/jobs/queue.rs
if ! [[ $JOBS =~ ^[1-9][0-9]*$ && $CONCURRENCY =~ ^[1-9][0-9]*$ && $TIMEOUT =~ ^[1-9][0-9]*$ ]] ||
    ((JOBS < ${PROCESSES[-1]} * CONCURRENCY)); then
    echo "bench-worker: BENCH_JOBS, BENCH_CONCURRENCY and BENCH_TIMEOUT must be positive, BENCH_JOBS at least 2 × BENCH_CONCURRENCY" >&2
    exit 1
fi

need bench-worker pgbench:postgresql-client psql:postgresql-client curl:curl

# --- the worker's SQL, from jobs.rs --------------------------------------------------------
if ! claim_sql=$(rust_const "$JOBS_RS" CLAIM_SQL) || ! complete_sql=$(rust_const "$JOBS_RS" COMPLETE_SQL); then
    echo "bench-worker: CLAIM_SQL or COMPLETE_SQL not found in $JOBS_RS" >&2; exit 1
fi
for placeholder in "\$1" "\$2" "\$3"; do
    [[ $claim_sql == *"$placeholder"* && $complete_sql == *"$placeholder"* ]] ||
        { echo "bench-worker: $placeholder missing from CLAIM_SQL or COMPLETE_SQL: update this script" >&2; exit 1; }
done
[[ $claim_sql$complete_sql != *[\\\"]* && $claim_sql$complete_sql != *"\$4"* && $claim_sql == *"FOR UPDATE SKIP LOCKED"* ]] ||
    { echo "bench-worker: CLAIM_SQL/COMPLETE_SQL changed shape (escapes, a 4th parameter, no SKIP LOCKED): update this script" >&2; exit 1; }
# CLAIM_SQL: $1 worker, $2 lease (seconds), $3 limit. COMPLETE_SQL: $1 job, $2 worker, $3 note.
claim_pg=${claim_sql//"\$1"/:worker}
claim_pg=${claim_pg//"\$2"/:lease}
claim_pg=${claim_pg//"\$3"/:limit}
complete_pg=${complete_sql//"\$1"/:id}
complete_pg=${complete_pg//"\$2"/:worker}
complete_pg=${complete_pg//"\$3"/NULL}

work=$(mktemp -d)
# Deferred steps run last first: workers stop before their database is dropped.
defer rm -rf "$work"

bench_servers "$work"

admin_url=$DATABASE_URL
url_base=${admin_url%%\?*}
bench_db=bench_worker_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
bench_url="${url_base%/*}/$bench_db${admin_url#"$url_base"}"
psql -qX -v ON_ERROR_STOP=1 "$admin_url" -c "CREATE DATABASE $bench_db" >/dev/null
defer quietly psql -qX "$admin_url" -c "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)"
sql() { psql -qXtA -v ON_ERROR_STOP=1 "$bench_url" "$@"; }
for migration in migrations/*.sql; do  # sqlx runs each in a transaction, in name order
    sql --single-transaction -f "$migration" >/dev/null
done
pg_version=$(sql -c "SHOW server_version")
if [[ $SIZE == large ]]; then
    "$root/scripts/bench-data.sh" "$bench_url"
    moved=$(sql -c "WITH m AS (UPDATE jobs SET run_at = run_at + interval '1 day'
                              WHERE status = 'queued' AND run_at <= now() + interval '1 hour' RETURNING 1)
                    SELECT count(*) FROM m")
    echo "bench-worker: $moved queued reminders due within the hour moved a day on"
fi
# The benchmark's own jobs, told from a large data set's by their payload.
MINE="payload = '$NOOP_PAYLOAD'::jsonb"

if [[ -n ${WORKER_BIN:-} ]]; then
    bin=$WORKER_BIN
else
    echo "bench-worker: building the release worker"
    cargo build --release --locked -q -p medsync-worker
    bin=${CARGO_TARGET_DIR:-$root/target}/release/worker
fi

# A compilation or a test suite on the same cores lowers the numbers a lot: bench_quiet_* say
# so when the CPUs were busy in the second before a measurement, or a compiler ran during it.
defer bench_quiet_stop cleanup
BENCH_CPU_API_NAME=workers

load_jobs() {  # COUNT: none of the benchmark's jobs, then COUNT due no-op jobs (one INSERT)
    sql -c "DELETE FROM jobs WHERE $MINE" \
        -c "INSERT INTO jobs (id, kind, payload)
            SELECT gen_random_uuid(), 'system.noop', '$NOOP_PAYLOAD' FROM generate_series(1, $1)" \
        -c "VACUUM ANALYZE jobs" >/dev/null
}
check_once() {  # COUNT WHAT: every job succeeded, each on its first and only attempt
    local counts
    counts=$(sql -c "SELECT count(*) FILTER (WHERE status = 'succeeded' AND attempts = 1) || ' '
                            || coalesce(sum(attempts), 0) || ' ' || count(*) FROM jobs WHERE $MINE")
    [[ $counts == "$1 $1 $1" ]] ||
        { echo "bench-worker: FAILED ($2): succeeded on the first attempt, sum of attempts, jobs = $counts; expected $1 each" >&2; exit 1; }
}

worker_pids=()
stop_workers() {
    local pid
    for pid in "${worker_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${worker_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    worker_pids=()
}
defer stop_workers
show_logs() { tail -n 20 "$work"/worker-*.log >&2 || true; }

# Both runs set globals (not command substitution: an exit or a started worker must reach the
# main shell, whose clean-up stops the workers).
run_workers() {  # PROCESSES → w_rate (jobs/s), w_first (s to the first claim), w_shares
    local procs=$1 i port t0 pid finished=0 deadline ports=() metrics=0 elapsed
    load_jobs "$JOBS"
    for ((i = 1; i <= procs; i++)); do
        ports+=("$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')")
    done
    bench_quiet_start "workers ×$procs"
    t0=$(sql -c "SELECT clock_timestamp()")
    for ((i = 1; i <= procs; i++)); do
        port=${ports[i - 1]}
        env DATABASE_URL="$bench_url" REDIS_URL="$REDIS_URL" REDIS_KEY_PREFIX="bench-worker-$$" \
            WORKER_ID="bench-worker-$procs-$i" WORKER_LISTEN_ADDR="127.0.0.1:$port" \
            WORKER_CONCURRENCY="$CONCURRENCY" WORKER_LEASE_SECONDS="$LEASE" \
            LOG_FORMAT=json RUST_LOG=warn \
            "$bin" >"$work/worker-$procs-$i.log" 2>&1 &
        worker_pids+=($!)
    done
    BENCH_CPU_API="${worker_pids[*]}"
    bench_cpu_start
    deadline=$((SECONDS + TIMEOUT))
    while ((finished < JOBS)); do
        sleep 0.1
        finished=$(sql -c "SELECT count(*) FROM jobs WHERE status = 'succeeded' AND $MINE")
        for pid in "${worker_pids[@]}"; do
            kill -0 "$pid" 2>/dev/null || { echo "bench-worker: a worker exited early" >&2; show_logs; exit 1; }
        done
        ((SECONDS < deadline)) ||
            { echo "bench-worker: FAILED: $finished of $JOBS jobs done after ${TIMEOUT}s" >&2; show_logs; exit 1; }
    done
    bench_cpu_stop
    w_cpu_split=$cpu_split
    BENCH_CPU_API=
    bench_quiet_stop "workers ×$procs"
    read -r elapsed w_first < <(sql -F ' ' -c "SELECT extract(epoch FROM max(finished_at) - '$t0'::timestamptz),
                                                    extract(epoch FROM min(started_at) - '$t0'::timestamptz) FROM jobs WHERE $MINE")
    w_shares=$(sql -c "SELECT string_agg(n::text, '/' ORDER BY locked_by) FROM (SELECT locked_by, count(*) n FROM jobs WHERE $MINE GROUP BY 1) s")
    # The workers' own count of what they ran, before they stop.
    for port in "${ports[@]}"; do
        metrics=$((metrics + $(curl -fsS "http://127.0.0.1:$port/metrics" |
            awk '/^medsync_jobs_succeeded_total\{/ && /kind="system.noop"/ { n += $NF } END { printf "%d", n }')))
    done
    for pid in "${worker_pids[@]}"; do kill -TERM "$pid"; done
    for pid in "${worker_pids[@]}"; do
        wait "$pid" || { echo "bench-worker: a worker exited with status $? after SIGTERM" >&2; show_logs; exit 1; }
    done
    worker_pids=()
    check_once "$JOBS" "$procs worker process(es)"
    ((metrics == JOBS)) ||
        { echo "bench-worker: FAILED: the workers' medsync_jobs_succeeded_total says $metrics, expected $JOBS" >&2; exit 1; }
    w_rate=$(awk -v n="$JOBS" -v s="$elapsed" 'BEGIN { printf "%.0f", n / s }')
}

# One pgbench transaction = what a worker does for one job: claim one, complete it.
cat >"$work/claim-complete.sql" <<SQL
\\set limit 1
\\set lease $LEASE
$claim_pg
\\gset
$complete_pg;
SQL

run_pgbench() {  # PROCESSES → p_tps, p_clients, p_jobs
    local per out processed tps
    p_clients=$(($1 * CONCURRENCY))
    per=$((JOBS / p_clients))
    p_jobs=$((per * p_clients))
    load_jobs "$p_jobs"
    bench_quiet_start "pgbench ×$1"
    bench_cpu_start
    out="$work/pgbench-$1.txt"
    pgbench -n -M prepared -c "$p_clients" -j "$THREADS" -t "$per" -D worker=bench-pgbench \
        -f "$work/claim-complete.sql" "$bench_url" >"$out" 2>&1 ||
        { echo "bench-worker: pgbench failed:" >&2; cat "$out" >&2; exit 1; }
    bench_cpu_stop
    p_cpu_split=$cpu_split
    bench_quiet_stop "pgbench ×$1"
    processed=$(awk -F'[:/ ]+' '/^number of transactions actually processed/ { print $(NF - 1) }' "$out")
    tps=$(awk '/^tps = / && /without initial connection time|excluding connections/ { print $3 }' "$out")
    [[ $processed == "$p_jobs" && $tps =~ ^[0-9.]+$ ]] ||
        { echo "bench-worker: pgbench processed ${processed:-?} of $p_jobs:" >&2; cat "$out" >&2; exit 1; }
    check_once "$p_jobs" "pgbench, $p_clients clients"
    p_tps=$(printf '%.0f' "$tps")
}

echo "bench-worker: PostgreSQL $pg_version; $SIZE data; $JOBS no-op jobs per run; WORKER_CONCURRENCY $CONCURRENCY;" \
    "pgbench -M prepared -j $THREADS, CLAIM_SQL (LIMIT 1) + COMPLETE_SQL from $JOBS_RS"
rows=()
splits=()
if [[ $SIZE == large ]]; then
    # The 3 M jobs' indexes are not in PostgreSQL's cache after the data set is made: a first
    # pass, not recorded, brings in what a worker in steady state has there (its first pass ran
    # at under half the speed of the second).
    echo "bench-worker: a warm-up pass (not recorded)"
    run_workers 1
    bench_noisy=()
fi
for procs in "${PROCESSES[@]}"; do
    run_workers "$procs"
    run_pgbench "$procs"
    rows+=("$procs $w_rate $w_first $w_shares $p_clients $p_jobs $p_tps")
    splits+=("  workers ×$procs: $w_cpu_split" "  pgbench ×$procs: $p_cpu_split")
    bench_goal "workers ×$procs" "$w_rate" "$p_tps" "$GOAL"
done

printf '\n%-10s %13s %12s   %-14s | %16s %12s | %14s %5s\n' processes "worker jobs/s" "first claim" "jobs per proc" \
    "pgbench clients" "pgbench tps" "worker/pgbench" goal
for row in "${rows[@]}"; do
    read -r procs w_rate w_first w_shares p_clients p_jobs p_tps <<<"$row"
    printf '%-10s %13s %12s   %-14s | %16s %12s | %14s %5s\n' "$procs" "$w_rate" "$(awk -v f="$w_first" 'BEGIN { printf "%.0f ms", f * 1000 }')" \
        "$w_shares" "$p_clients ($p_jobs jobs)" "$p_tps" "$(bench_ratio "$w_rate" "$p_tps")" "$GOAL"
done
printf '%s\n' "${splits[@]}"
echo "every job ran exactly once (attempts = 1) on both sides; the workers' medsync_jobs_succeeded_total agrees"
bench_verdict bench-worker
