# backup-drill.sh — the restore drill, sourced by scripts/e2e-compose.sh on the running
# production stack (it uses that script's prod, check, log, psql_prod, client, https, work and
# the patient it made):
#
#   with the services that write stopped, a fingerprint of what must survive (bookings, the
#   queued jobs, users, indexes, the exclusion constraint); `backup now`; a corrupted and a
#   truncated copy refused by scripts/restore.sh with the database unchanged; the database's
#   volume destroyed; scripts/restore.sh from the backup; the same fingerprint, the patient
#   signs in and reads the booking, every service healthy.

# Counts and checksums of every row of bookings and users, of every job (by id and kind) and
# of every queued job due after the drill's horizon, in a stable order; the indexes and
# exclusion constraints by name. The worker runs between the comparisons (the services are
# up during the refusals and after the restore): a job that falls due meanwhile is rightly
# run, so only the jobs due after the horizon are compared whole, and the clock cannot decide
# the outcome.
drill_horizon=$(date -u -d '+1 hour' +%FT%TZ)
drill_fingerprint() {
    psql_prod "SELECT concat_ws(' | ',
        (SELECT 'bookings ' || count(*) || ' ' || md5(coalesce(string_agg(b::text, ',' ORDER BY id), '')) FROM bookings b),
        (SELECT 'jobs ' || count(*) || ' ' || md5(coalesce(string_agg(j.id || ' ' || j.kind, ',' ORDER BY id), '')) FROM jobs j),
        (SELECT 'queued jobs due later ' || count(*) || ' ' || md5(coalesce(string_agg(j::text, ',' ORDER BY id), ''))
         FROM jobs j WHERE status = 'queued' AND run_at > '$drill_horizon'::timestamptz),
        (SELECT 'users ' || count(*) || ' ' || md5(coalesce(string_agg(u::text, ',' ORDER BY id), '')) FROM users u),
        (SELECT 'indexes ' || count(*) || ' ' || md5(string_agg(indexname, ',' ORDER BY indexname)) FROM pg_indexes WHERE schemaname = 'public'),
        (SELECT 'exclusion ' || string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE contype = 'x'))"
}
restore_sh() { env COMPOSE="${prod[*]}" "$root/scripts/restore.sh" "$@" >"$work/restore.log" 2>&1; }

"${prod[@]}" stop api web bot worker >/dev/null 2>&1
drill_before=$(drill_fingerprint)
log "  before: $drill_before"
drill_file=$("${prod[@]}" exec -T backup backup now | tail -1)
drill_name=$(basename "$drill_file")
check "backup now wrote $drill_name and its checksum into the backups volume" \
    "${prod[@]}" exec -T backup sh -c "cd /backups && sha256sum -c $drill_name.sha256"
"${prod[@]}" up -d --wait api web bot worker >/dev/null 2>&1

# Damaged copies on this host: one byte changed (its checksum file beside it), and the first
# half only (no checksum file: only the full read can tell).
"${prod[@]}" cp "backup:$drill_file" "$work/$drill_name" >/dev/null
"${prod[@]}" cp "backup:$drill_file.sha256" "$work/$drill_name.sha256" >/dev/null
chmod 0644 "$work/$drill_name" "$work/$drill_name.sha256"
python3 - "$work/$drill_name" "$work/corrupted.dump" "$work/truncated.dump" <<'PY'
import sys
data = bytearray(open(sys.argv[1], 'rb').read())
open(sys.argv[3], 'wb').write(data[: len(data) // 2])
data[len(data) // 2] ^= 0xFF
open(sys.argv[2], 'wb').write(data)
PY
cp "$work/$drill_name.sha256" "$work/corrupted.dump.sha256"
chmod 0644 "$work"/*.dump "$work"/*.sha256
refused_unchanged() {  # WANT ARGS...: restore.sh fails saying WANT; the database is unchanged
    local want=$1 now
    shift
    if restore_sh "$@"; then
        log "  restore.sh $* succeeded"
        return 1
    fi
    grep -q "$want" "$work/restore.log" || { log "  no '$want' in: $(tail -3 "$work/restore.log")"; return 1; }
    now=$(drill_fingerprint)
    [[ $now == "$drill_before" ]] || { log "  changed: $now"; return 1; }
}
check "a corrupted backup is refused (checksum mismatch) and nothing changes" \
    refused_unchanged "checksum mismatch" --force "$work/corrupted.dump"
check "a truncated backup without checksum is refused by the full read and nothing changes" \
    refused_unchanged "not a complete PostgreSQL custom-format archive" --force --no-checksum "$work/truncated.dump"
check "a restore into a database that has tables is refused without --force" \
    refused_unchanged "is not empty" "$drill_name"
check "after the refusals every service is healthy" wait_healthy

# The disaster: the database's volume is gone.
"${prod[@]}" stop api web bot worker backup >/dev/null 2>&1
"${prod[@]}" rm -sf db >/dev/null 2>&1
check "the database volume is destroyed" docker volume rm "${PROD_PROJECT}_pg-data"
drill_started=$(date +%s)
if restore_sh "$drill_name"; then
    drill_seconds=$(( $(date +%s) - drill_started ))
    pass "scripts/restore.sh $drill_name into a new, empty database: done in $drill_seconds s"
    log "  $(grep -o '{"tables".*}' "$work/restore.log" | head -1)"
else
    fail "scripts/restore.sh $drill_name failed"
    tail -30 "$work/restore.log"
fi
drill_after=$(drill_fingerprint)
log "  after:  $drill_after"
check "the same bookings, queued jobs, users, indexes and exclusion constraint after the restore" \
    test "$drill_after" == "$drill_before"
check "after the restore every service is healthy" wait_healthy
check "after the restore the patient signs in and reads the booking, its reminder still queued" data_intact
