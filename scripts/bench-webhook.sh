#!/usr/bin/env bash
# bench-webhook.sh [small|large] — intake rate of the Telegram webhook receiver, beside Redis appending the
# same updates to a stream on its own, in the same run:
#
#   POST /telegram/webhook  (wrk: a private-chat text message, every update_id new)
#   vs  redis-benchmark: XADD <key> MAXLEN ~ N * update <the same JSON>
#
# Prints updates/s, p50 and p99 for the webhook (wrk --latency), ops/s, p50 and p99 for XADD,
# how much each stream grew (proof that the entries went in) and the ratio webhook/XADD. Fails
# when any webhook answer is not 200 (or an update was taken for a duplicate). Not a test:
# numbers go to docs/benchmarks.md.
#
# small (the default): both streams start empty. large: both start holding BENCH_MAXLEN entries
# (a busy bot's backlog), so every append also trims. PostgreSQL's data size does not apply:
# the intake never touches it.
#
# Uses DATABASE_URL and REDIS_URL when both are set, else local PostgreSQL and Redis servers
# from Debian's packages on free loopback ports (no Docker port proxy; DATABASE_URL is only
# parsed, never dialled). Prints the CPU split of each run and exits 1 when webhook/XADD is below
# its floor (0.15). Builds the release webhook (or takes WEBHOOK_BIN). Needs wrk and
# redis-benchmark/redis-cli (Debian: wrk, redis-tools), installed here when missing and running
# as root. Knobs: BENCH_SECONDS (20),
# BENCH_CONNECTIONS (32, also redis-benchmark's clients), BENCH_THREADS (2, wrk's and
# redis-benchmark's), BENCH_XADD_REQUESTS (500000), BENCH_MAXLEN (1000000, both streams).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
. "$root/scripts/bench-lib.sh"
cd "$root"
SIZE=${1:-small}
[[ $SIZE == small || $SIZE == large ]] || { echo "usage: scripts/bench-webhook.sh [small|large]" >&2; exit 2; }
# No goal was set for the intake; this floor (measured: 0.23 on loopback) makes a large
# regression fail the run without failing a quiet machine's normal spread.
GOAL=0.15
SECONDS_PER_RUN=${BENCH_SECONDS:-20}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
XADD_REQUESTS=${BENCH_XADD_REQUESTS:-500000}
MAXLEN=${BENCH_MAXLEN:-1000000}

need bench-webhook wrk:wrk redis-benchmark:redis-tools redis-cli:redis-tools

work=$(mktemp -d)
# Deferred steps run last first: keys go before the Redis that holds them.
defer rm -rf "$work"

bench_servers "$work"
rcli() { redis-cli -u "$REDIS_URL" --no-auth-warning "$@"; }
redis_version=$(rcli INFO server | awk -F: '/^redis_version:/ { print $2 }' | tr -d '\r')

prefix=bench-webhook-$(date +%s)-$$
stream="$prefix:tg:updates"
xadd_key="$prefix:bench:xadd"
drop_keys() { rcli --scan --pattern "$prefix:*" | xargs -r -n 1000 redis-cli -u "$REDIS_URL" --no-auth-warning UNLINK >/dev/null; }
defer drop_keys

if [[ -n ${WEBHOOK_BIN:-} ]]; then
    bin=$WEBHOOK_BIN
else
    echo "bench-webhook: building the release webhook"
    cargo build --release --locked -q -p medsync-webhook
    bin=${CARGO_TARGET_DIR:-$root/target}/release/webhook
fi

secret=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env WEBHOOK_LISTEN_ADDR="127.0.0.1:$port" DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" \
    REDIS_KEY_PREFIX="$prefix" TELEGRAM_MODE=webhook TELEGRAM_WEBHOOK_SECRET="$secret" \
    TELEGRAM_UPDATES_STREAM_MAXLEN="$MAXLEN" LOG_FORMAT=json RUST_LOG=error \
    "$bin" >"$work/webhook.log" 2>&1 &
webhook_pid=$!
defer stop_pid "$webhook_pid"
BENCH_CPU_API=$webhook_pid
BENCH_CPU_API_NAME=webhook
base=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS -o /dev/null "$base/healthz" || { cat "$work/webhook.log" >&2; exit 1; }

# What Telegram sends for a text message in a private chat (the receiver stores it as is).
update_json() {  # UPDATE_ID MESSAGE_ID USER_ID CHAT_ID DATE
    printf '{"update_id":%s,"message":{"message_id":%s,"from":{"id":%s,"is_bot":false,"first_name":"Anna","last_name":"Schmidt","username":"anna_schmidt","language_code":"de"},"chat":{"id":%s,"first_name":"Anna","last_name":"Schmidt","username":"anna_schmidt","type":"private"},"date":%s,"text":"Hello! I would like to book an appointment with Dr. Weber next Tuesday morning, if possible."}}' \
        "$@"
}

# Request i of thread t carries update_id BASE + i * THREADS + t: unique across the run, so
# every request goes through SET NX *and* XADD (a repeated id would be a cheap no-op).
cat >"$work/updates.lua" <<LUA
local template = [[$(update_json %d %d %d %d %d)]]
local threads = {}
local counter = 0
-- Runs in the main state, once per thread: numbers the threads.
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = "$secret"
function request()
  local i = counter * $THREADS + (tid or 0)
  counter = counter + 1
  local user = 500000000 + i % 5000
  local body = string.format(template, 800000000 + i, 1 + math.floor(i / 5000), user, user, os.time())
  return wrk.format(nil, "/telegram/webhook", nil, body)
end
-- wrk counts answers of status 400 and above as errors.status ("Non-2xx or 3xx responses").
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("bench-summary %d %d %.0f %.0f %d %d %d %d %d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
LUA

xlen() { rcli XLEN "$1"; }
payload=$(update_json 800000000 1 500000000 500000000 "$(date +%s)")
echo "bench-webhook: Redis $redis_version; updates of ${#payload} bytes; webhook ${SECONDS_PER_RUN}s, $CONNECTIONS connections," \
    "$THREADS threads; XADD $XADD_REQUESTS requests, $CONNECTIONS clients, $THREADS threads; streams trimmed to ~$MAXLEN"

if [[ $SIZE == large ]]; then
    for key in "$stream" "$xadd_key"; do
        redis-benchmark -u "$REDIS_URL" -c 8 -n "$MAXLEN" -P 64 -q \
            XADD "$key" MAXLEN '~' "$MAXLEN" '*' update "$payload" >/dev/null
    done
    echo "bench-webhook: both streams filled: $(xlen "$stream") and $(xlen "$xadd_key") entries"
fi

before=$(xlen "$stream")
bench_quiet_start webhook
bench_cpu_start
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$work/updates.lua" "$base" >"$work/wrk.txt"
bench_cpu_stop
bench_quiet_stop webhook
w_cpu=$cpu_split
after=$(xlen "$stream")
read -r w_requests w_duration w_p50 w_p99 w_status w_connect w_read w_write w_timeout \
    < <(awk '$1 == "bench-summary" { $1 = ""; print }' "$work/wrk.txt") || { cat "$work/wrk.txt" >&2; exit 1; }
w_growth=$((after - before))
# The receiver's own count of its answers by status, and of the updates it took for repeats.
curl -fsS "$base/metrics" >"$work/metrics.txt"
read -r m_ok m_other < <(awk '/^http_requests_total\{/ && /route="\/telegram\/webhook"/ {
        if ($0 ~ /status="200"/) ok += $NF; else other += $NF } END { print ok + 0, other + 0 }' "$work/metrics.txt")
m_dup=$(awk '/^telegram_webhook_updates_total\{/ && /outcome="duplicate"/ { n += $NF } END { print n + 0 }' "$work/metrics.txt")

failed=()
((w_requests > 0)) || failed+=("wrk completed no request")
((w_status == 0)) || failed+=("$w_status answers of status >= 400 (wrk)")
((m_other == 0)) || failed+=("$m_other answers other than 200 (the receiver's http_requests_total)")
((m_dup == 0)) || failed+=("$m_dup updates taken for duplicates")
((w_connect + w_read + w_write + w_timeout == 0)) ||
    failed+=("socket errors: connect $w_connect, read $w_read, write $w_write, timeout $w_timeout")
((w_growth >= w_requests || after >= MAXLEN * 9 / 10)) || failed+=("the stream grew by $w_growth for $w_requests answers")
if [[ ${#failed[@]} -gt 0 ]]; then
    printf 'bench-webhook: FAILED: %s\n' "${failed[@]}" >&2
    cat "$work/wrk.txt" >&2
    tail -n 20 "$work/webhook.log" >&2
    exit 1
fi

x_before=$(xlen "$xadd_key")
bench_quiet_start XADD
bench_cpu_start
redis-benchmark -u "$REDIS_URL" -c "$CONNECTIONS" --threads "$THREADS" -n "$XADD_REQUESTS" -P 1 --csv \
    XADD "$xadd_key" MAXLEN '~' "$MAXLEN" '*' update "$payload" >"$work/xadd.csv" 2>&1
bench_cpu_stop
bench_quiet_stop XADD
x_cpu=$cpu_split
x_growth=$(($(xlen "$xadd_key") - x_before))
# The last line: "<the command>","rps","avg","min","p50","p95","p99","max" (the command's own
# quotes are not escaped, so the fields are taken from the end).
read -r x_rps x_p50 x_p99 < <(tail -n 1 "$work/xadd.csv" | awk -F'","' '{ print $(NF - 6), $(NF - 3), $(NF - 1) }')
[[ $x_rps =~ ^[0-9.]+$ && ($x_growth -gt 0 || $SIZE == large) ]] || { echo "bench-webhook: redis-benchmark failed:" >&2; cat "$work/xadd.csv" >&2; exit 1; }

w_rps=$(awk -v n="$w_requests" -v us="$w_duration" 'BEGIN { printf "%.0f", n / (us / 1e6) }')
ms() { awk -v v="$1" -v d="$2" 'BEGIN { printf "%.2f ms", v / d }'; }
printf '\n%-34s %12s %10s %10s %14s\n' "" "per second" p50 p99 "stream growth"
printf '%-34s %12s %10s %10s %14s\n' "webhook POST /telegram/webhook" "$w_rps" "$(ms "$w_p50" 1000)" "$(ms "$w_p99" 1000)" "$w_growth"
printf '%-34s %12s %10s %10s %14s\n' "redis-benchmark XADD" "$(printf '%.0f' "$x_rps")" "$(ms "$x_p50" 1)" "$(ms "$x_p99" 1)" "$x_growth"
echo "ratio webhook/XADD: $(awk -v a="$w_rps" -v b="$x_rps" 'BEGIN { printf "%.2f", a / b }')" \
    "($m_ok updates answered 200 by the receiver, none refused or taken for a duplicate)"
printf '  webhook run: %s\n  XADD run:    %s\n' "$w_cpu" "$x_cpu"
bench_goal "webhook/XADD" "$w_rps" "$x_rps" "$GOAL"
bench_verdict bench-webhook
