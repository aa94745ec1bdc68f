# lib.sh — what the scripts share; sourced, never run: `. "$(dirname "$0")/lib.sh"`.
#
#   need SCRIPT COMMAND:PACKAGE...  installs the Debian packages of missing commands (as root)
#   defer COMMAND [ARG...]          runs the command at exit, last deferred first (no eval:
#                                   the words are kept as given and run as one command)
#   quietly COMMAND [ARG...]        runs the command with its output discarded
#   stop_pid PID                    sends SIGTERM to PID and waits for it
#   seconds START_NS                seconds since START_NS (from `date +%s%N`), one decimal
#   free_port                       a loopback TCP port that was free a moment ago
#   check DESCRIPTION COMMAND...    an end-to-end check: runs COMMAND, prints what it printed,
#                                   counts it passed (exit 0) or failed; with pass and fail
#                                   (DESCRIPTION [DETAILS]) for checks judged by the caller.
#                                   The caller defines log (its prefix).
#   checks_summary                  "N passed, N failed", then every failed check again with the
#                                   last lines its command printed: the end of a long log names
#                                   what failed and why. Exits 0 only when none failed.

need() {
    local script=$1 pair missing=()
    shift
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        echo "$script: install ${missing[*]} first (Debian: apt-get install ${missing[*]})" >&2
        exit 1
    fi
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

_deferred_words=()
_deferred_lengths=()
_run_deferred() {
    local i end=${#_deferred_words[@]} length
    for ((i = ${#_deferred_lengths[@]} - 1; i >= 0; i--)); do
        length=${_deferred_lengths[i]}
        "${_deferred_words[@]:end-length:length}" || true
        end=$((end - length))
    done
}
defer() {
    [[ $# -gt 0 ]] || return 0
    if [[ ${#_deferred_lengths[@]} -eq 0 ]]; then
        trap _run_deferred EXIT
    fi
    _deferred_words+=("$@")
    _deferred_lengths+=("$#")
}

quietly() { "$@" >/dev/null 2>&1; }

stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

seconds() { awk -v ns="$(($(date +%s%N) - $1))" 'BEGIN { printf "%.1f", ns / 1e9 }'; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

passed=0
failed=0
_failures=()
pass() { passed=$((passed + 1)); log "ok: $*"; }
fail() {
    failed=$((failed + 1))
    log "FAILED: $1"
    _failures+=("$1${2:+$'\n'$2}")
}
check() {
    local what=$1 out rc=0
    shift
    out=$(mktemp)
    "$@" >"$out" 2>&1 || rc=$?
    cat "$out"
    if [[ $rc -eq 0 ]]; then
        pass "$what"
    else
        fail "$what" "$(tail -n 20 "$out")"
    fi
    rm -f "$out"
}
checks_summary() {
    local failure
    log "$passed passed, $failed failed"
    for failure in "${_failures[@]}"; do
        log "FAILED: ${failure%%$'\n'*}"
        if [[ $failure == *$'\n'* ]]; then
            sed 's/^/      /' <<<"${failure#*$'\n'}"
        fi
    done
    [[ $failed -eq 0 ]]
}
