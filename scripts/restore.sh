#!/usr/bin/env bash
# restore.sh [--force] [--no-checksum] FILE — restores a backup into the production stack's
# database:
#
#   docker compose -f docker-compose.prod.yml exec backup backup list   # what there is
#   scripts/restore.sh medsync-20261206T020000Z.dump                    # into an empty database
#   scripts/restore.sh --force medsync-20261206T020000Z.dump            # replacing its contents
#
# FILE is a backup in the backups volume (its name, as `backup list` prints it) or a file on
# this host (with its .sha256 beside it, e.g. copied back from off-host storage).
#
# 1. checks the file without touching anything (its checksum and a full read: a corrupted or
#    truncated file stops here, with the services still running);
# 2. stops the services that write to the database (api, web, bot, worker, backup) and starts
#    PostgreSQL if it is not running (an empty volume gets a new, empty database);
# 3. `backup restore`: refuses a database that has tables unless --force; restores in one
#    transaction (all or nothing); runs the migrations; checks the tables, indexes, the
#    exclusion constraint and the migrations, and prints the row counts;
# 4. `migrate`: the services' own database role and its grants (not part of a backup);
# 5. starts everything again and waits until it is healthy.
#
# --no-checksum restores a file that has no .sha256 (the full read still runs). COMPOSE: the
# compose command (default "docker compose -f docker-compose.prod.yml"), e.g. with -p and
# --env-file.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
read -ra compose <<<"${COMPOSE:-docker compose -f docker-compose.prod.yml}"

flags=()
file=""
for arg in "$@"; do
    case $arg in
        --force | --no-checksum) flags+=("$arg") ;;
        -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "restore.sh: unknown option $arg" >&2; exit 2 ;;
        *) [[ -z $file ]] || { echo "restore.sh: one FILE only" >&2; exit 2; }; file=$arg ;;
    esac
done
[[ -n $file ]] || { echo "usage: scripts/restore.sh [--force] [--no-checksum] FILE" >&2; exit 2; }

log() { printf '[restore] %s\n' "$*"; }

# The file as the backup container sees it: in its volume, or a host file mounted read-only.
mounts=()
if [[ -f $file ]]; then
    host=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")
    inside=/restore/$(basename "$file")
    mounts+=(-v "$host:$inside:ro")
    [[ ! -f $host.sha256 ]] || mounts+=(-v "$host.sha256:$inside.sha256:ro")
elif [[ $file == */* ]]; then
    echo "restore.sh: $file: no such file on this host" >&2
    exit 2
else
    inside=/backups/$file
fi
backup() { "${compose[@]}" run --rm --no-deps -T "${mounts[@]}" backup "$@"; }

started=$(date +%s)
log "1/5 checking $file"
verify_flags=()
[[ " ${flags[*]} " != *" --no-checksum "* ]] || verify_flags+=(--no-checksum)
backup verify "${verify_flags[@]}" "$inside"

log "2/5 stopping the services that write to the database; PostgreSQL up"
"${compose[@]}" stop api web bot worker backup
"${compose[@]}" up -d --wait db

log "3/5 restoring (one transaction), migrating, checking"
if ! backup restore "${flags[@]}" "$inside"; then
    log "the restore failed and changed nothing; starting the services again"
    "${compose[@]}" up -d --wait
    exit 1
fi

log "4/5 the services' database role and its grants (migrate)"
"${compose[@]}" run --rm migrate

log "5/5 starting everything"
"${compose[@]}" up -d --wait
log "done in $(( $(date +%s) - started )) s"
