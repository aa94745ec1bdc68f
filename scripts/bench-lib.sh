# bench-lib.sh — what the benchmark scripts share; sourced after lib.sh, never run.
#
#   bench_servers WORK        PostgreSQL and Redis for the run, as local processes (Debian's
#                             packages), unless DATABASE_URL and REDIS_URL are both given:
#                             sets DATABASE_URL, REDIS_URL (and BENCH_PG_LOG, the server's
#                             log, when started here); stopped at exit
#   bench_cpu_start           remembers the CPU time used so far by the service under test
#                             (BENCH_CPU_API: its pids; BENCH_CPU_API_NAME: what to call it), PostgreSQL, Redis and this script's children (the load
#                             generator), and by the whole machine
#   bench_cpu_stop            sets cpu_split: each one's share since bench_cpu_start, in cores
#   bench_quiet_start WHEN    notes when the CPUs were busy in the second before a measurement
#   bench_quiet_stop WHEN     ... or a compiler ran during it, or the hypervisor took more than
#                             BENCH_STEAL_MAX_PCT (2) % of the CPUs' time from this machine
#                             (steal time); sets bench_steal to that share (bench_noisy lists
#                             what was noted)
#   bench_stolen              true when the last measurement's steal was above that share
#   bench_goal NAME A B GOAL  prints A/B and records a failure when it is below GOAL
#   bench_verdict SCRIPT      warns about noise; exits 1 when a ratio fell below its goal
#   rust_const FILE NAME      the text of `pub const NAME: &str = "…";` in FILE, so pgbench runs
#                             the statement the code runs (fails when it is not there)
#
# Why local servers: through Docker's published ports, every packet to PostgreSQL and Redis
# crosses the userland proxy, which burned 50–65 % of a core in earlier runs (as much as the
# api) and so measured the proxy, not the service. Local servers are reached over loopback
# directly; the CPU split printed with each result shows where the time went.

bench_noisy=()
bench_failed=()
_bench_watch=

# --- servers ------------------------------------------------------------------------------

_pg_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x $dir/postgres ]] && echo "$dir"
    done | sort -V | tail -n 1
}

bench_servers() {  # WORK
    local work=$1 owner=() port rport pgbin
    if [[ -n ${DATABASE_URL:-} && -n ${REDIS_URL:-} ]]; then
        return 0
    fi
    if [[ -z $(_pg_bin) ]] || ! command -v redis-server >/dev/null; then
        [[ $(id -u) -eq 0 ]] ||
            { echo "bench: install postgresql and redis-server (Debian), or give DATABASE_URL and REDIS_URL" >&2; exit 1; }
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql redis-server >/dev/null
    fi
    pgbin=$(_pg_bin)
    # PostgreSQL refuses to run as root: as its package's user then.
    if [[ $(id -u) -eq 0 ]]; then
        owner=(runuser -u postgres --)
        mkdir -p "$work/pg"
        chown postgres "$work/pg"
        chmod 755 "$work"
    fi
    port=$(free_port)
    "${owner[@]}" "$pgbin/initdb" -D "$work/pg/data" -U medsync --auth=trust >/dev/null
    # As docker-compose.test.yml's test-db: nothing kept across a crash, so the numbers are the
    # server's work, not the disk's.
    "${owner[@]}" "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w -o \
        "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=256MB" \
        start >/dev/null
    defer quietly "${owner[@]}" "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop
    "${owner[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U medsync medsync
    BENCH_PG_LOG=$work/pg/log
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log" >/dev/null
    for _ in $(seq 1 50); do [[ -s $work/redis.pid ]] && break; sleep 0.1; done
    defer quietly kill "$(cat "$work/redis.pid")"
    DATABASE_URL="postgres://medsync@127.0.0.1:$port/medsync"
    REDIS_URL="redis://127.0.0.1:$rport/0"
    echo "bench: PostgreSQL $("$pgbin/postgres" --version | awk '{ print $3 }') and Redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on loopback (ports $port, $rport)"
}

# --- CPU split ----------------------------------------------------------------------------

# The process listening on a loopback TCP port (PostgreSQL's postmaster, redis-server), or
# nothing when it cannot be told.
_listener() {  # PORT
    ss -Htlnp "sport = :$1" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1
}
_port_of() {  # URL
    sed -n 's|^[a-z]*://[^/]*:\([0-9]*\)/.*|\1|p' <<<"$1"
}
# Clock ticks used by PID and its live descendants, plus what its exited children used (which
# the kernel adds to a parent's cutime/cstime when it reaps them: PostgreSQL's ended backends).
_ticks_tree() {  # PID
    local pid=$1 total=0 child
    [[ -n $pid && -r /proc/$pid/stat ]] || { echo 0; return; }
    total=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
    for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
        total=$((total + $(_ticks_tree "$child")))
    done
    echo "$total"
}
# This script's reaped children (the load generator, run in the foreground so it is reaped
# before the measurement ends): $$ is the script itself, also in a subshell.
_ticks_self_children() {
    awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$$/stat"
}
_ticks_machine() {  # busy, and of it stolen by the hypervisor (steal)
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $9 }' /proc/stat
}
_bench_cpu_now() {
    local pg redis
    pg=$(_listener "$(_port_of "$DATABASE_URL")")
    redis=$(_listener "$(_port_of "$REDIS_URL")")
    local service=0 pid
    for pid in ${BENCH_CPU_API:-}; do service=$((service + $(_ticks_tree "$pid"))); done
    echo "$(date +%s%N) $service $(_ticks_tree "$pg") $(_ticks_tree "$redis") $(_ticks_self_children) $(_ticks_machine) ${pg:-0} ${redis:-0}"
}
bench_cpu_start() { _bench_cpu_before=$(_bench_cpu_now); }
bench_cpu_stop() {
    local after
    after=$(_bench_cpu_now)
    cpu_split=$(awk -v a="$_bench_cpu_before" -v b="$after" -v hz="$(getconf CLK_TCK)" \
        -v api_name="${BENCH_CPU_API_NAME:-api}" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        s = (y[1] - x[1]) / 1e9; if (s <= 0) s = 1
        api = (y[2] - x[2]) / hz / s; pg = (y[3] - x[3]) / hz / s; rd = (y[4] - x[4]) / hz / s
        load = (y[5] - x[5]) / hz / s; all = (y[6] - x[6]) / hz / s; steal = (y[7] - x[7]) / hz / s
        other = all - steal - api - pg - rd - load; if (other < 0) other = 0
        printf "cpu (cores): %s %.2f, postgres %.2f, redis %.2f, load generator %.2f, other %.2f, stolen %.2f", api_name, api, pg, rd, load, other, steal
        if (y[8] == 0) printf " (postgres not found on its port)"
    }')
    # Reached through a proxy (docker-proxy listening instead of the server): say so.
    local pg
    pg=$(awk '{ print $(NF - 1) }' <<<"$after")
    if [[ $pg != 0 && $(cat "/proc/$pg/comm" 2>/dev/null) == docker-proxy ]]; then
        cpu_split+=" — PostgreSQL through Docker's userland proxy: its CPU is the proxy's"
    fi
}

# --- a quiet machine ------------------------------------------------------------------------

# All the CPUs' ticks, idle ones, and ones the hypervisor gave to another machine (steal: on a
# shared host, time this machine's CPUs were ready to run and did not; every process stalls).
_cpu_busy_idle() { awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6, $9 }' /proc/stat; }
# One scan of /proc every two seconds: each pgrep costs milliseconds of a core, which a
# watcher scanning three names twice a second took from the measurement it watched.
_compilers() { pgrep -lx 'rustc|cc1|cc1plus' | awk '{ print $2 }'; true; }
bench_quiet_start() {  # WHEN
    local before after busy
    before=$(_cpu_busy_idle); sleep 1; after=$(_cpu_busy_idle)
    busy=$(awk -v a="$before" -v b="$after" 'BEGIN { split(a, x, " "); split(b, y, " ")
        t = y[1] - x[1]; printf "%.0f", (t > 0 ? 100 * (t - (y[2] - x[2])) / t : 0) }')
    ((busy <= 20)) || bench_noisy+=("$1 (CPUs ${busy}% busy just before)")
    _bench_steal_before=$after
    _bench_compilers_log=$(mktemp)
    (while true; do _compilers; sleep 2; done) >"$_bench_compilers_log" 2>/dev/null &
    _bench_watch=$!
}
bench_quiet_stop() {  # WHEN
    [[ -n $_bench_watch ]] || return 0
    kill "$_bench_watch" 2>/dev/null || true
    wait "$_bench_watch" 2>/dev/null || true
    _bench_watch=
    [[ ! -s $_bench_compilers_log ]] || bench_noisy+=("$1 ($(sort -u "$_bench_compilers_log" | paste -sd, -) running)")
    # Noted last, so a caller measuring again can take this note back (bench_stolen).
    bench_steal=$(awk -v a="$_bench_steal_before" -v b="$(_cpu_busy_idle)" 'BEGIN { split(a, x, " "); split(b, y, " ")
        t = y[1] - x[1]; printf "%.1f", (t > 0 ? 100 * (y[3] - x[3]) / t : 0) }')
    ! bench_stolen || bench_noisy+=("$1 (the hypervisor took ${bench_steal}% of the CPUs' time)")
    rm -f "$_bench_compilers_log"
}

bench_stolen() { awk -v s="${bench_steal:-0}" -v m="${BENCH_STEAL_MAX_PCT:-2}" 'BEGIN { exit !(s > m) }'; }

# --- goals ----------------------------------------------------------------------------------

bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
bench_goal() {  # NAME A B GOAL (GOAL "-" for none)
    local ratio
    ratio=$(bench_ratio "$2" "$3")
    if [[ $4 != - ]] && awk -v r="$ratio" -v g="$4" 'BEGIN { exit !(r < g) }'; then
        bench_failed+=("$1: $ratio below its goal of $4")
    fi
}
bench_verdict() {  # SCRIPT
    if [[ ${#bench_noisy[@]} -gt 0 ]]; then
        printf '%s: warning: the machine was not quiet: %s; compare numbers from a quiet machine only\n' "$1" "${bench_noisy[*]}" >&2
    fi
    if [[ ${#bench_failed[@]} -gt 0 ]]; then
        local failure
        for failure in "${bench_failed[@]}"; do printf '%s: FAILED: %s\n' "$1" "$failure" >&2; done
        exit 1
    fi
    echo "$1: every ratio at or above its goal"
}

# --- the code's own SQL -----------------------------------------------------------------------

rust_const() {  # FILE NAME
    awk -v name="$2" '
        index($0, "pub const " name ": &str = \"") == 1 { on = 1; sub(/^[^"]*"/, "") }
        on { if (sub(/";$/, "")) { print; found = 1; exit } print }
        END { exit !found }' "$1"
}
