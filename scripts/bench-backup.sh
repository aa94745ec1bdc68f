#!/usr/bin/env bash
# bench-backup.sh — how long a backup and a restore take at a clinic group's size: the
# recovery point and recovery time docs/backups.md promises, measured.
#
#   a scratch database bench_backup_<random> with the schema (`manage migrate`) and
#   BENCH_BOOKINGS bookings (default 1,000,000: 500 doctors, 200,000 patients, 10 % cancelled,
#   a reminder job queued for each future booking and a finished one for each past booking),
#   made by generate_series; then `backup now` (pg_dump custom format + full read-back +
#   checksum) and `backup restore` into a second, empty database (verify + one-transaction
#   restore + migrations + checks), each timed; the database's and the file's sizes.
#
# Uses DATABASE_URL's server (a superuser or the database's owner; the two scratch databases
# are dropped afterwards), else the test-db service of docker-compose.test.yml. Builds the
# release backup and manage binaries (or takes BACKUP_BIN and MANAGE_BIN). Needs psql,
# pg_dump and pg_restore (Debian: postgresql-client) as new as the server. Not a test: the
# numbers go to docs/benchmarks.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. "$root/scripts/lib.sh"
BOOKINGS=${BENCH_BOOKINGS:-1000000}
[[ $BOOKINGS =~ ^[1-9][0-9]*$ && $BOOKINGS -ge 1000 ]] ||
    { echo "bench-backup: BENCH_BOOKINGS must be a number of at least 1000" >&2; exit 1; }
need bench-backup psql:postgresql-client pg_dump:postgresql-client pg_restore:postgresql-client

work=$(mktemp -d)
defer rm -rf "$work"
if [[ -z ${DATABASE_URL:-} ]]; then
    compose=(docker compose -f "$root/docker-compose.test.yml")
    if [[ -z $("${compose[@]}" ps -q --status running test-db 2>/dev/null) ]]; then
        defer quietly "${compose[@]}" rm -sfv test-db
        "${compose[@]}" up -d --wait --wait-timeout 120 test-db >/dev/null
    fi
    DATABASE_URL="postgres://medsync:medsync@127.0.0.1:${TEST_POSTGRES_PORT:-55432}/medsync"
fi
url_base=${DATABASE_URL%%\?*}
suffix=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
source_db=bench_backup_$suffix
target_db=bench_restore_$suffix
db_url() { echo "${url_base%/*}/$1${DATABASE_URL#"$url_base"}"; }
for db in "$source_db" "$target_db"; do
    psql -qX -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
    defer quietly psql -qX "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
done

if [[ -z ${BACKUP_BIN:-} || -z ${MANAGE_BIN:-} ]]; then
    echo "bench-backup: building the release backup and manage binaries"
    cargo build --release --locked -q -p medsync-backup -p medsync-manage
fi
backup_bin=${BACKUP_BIN:-target/release/backup}
manage_bin=${MANAGE_BIN:-target/release/manage}
DATABASE_URL=$(db_url "$source_db") LOG_FORMAT=json RUST_LOG=warn "$manage_bin" migrate

sql() { psql -qXtA -v ON_ERROR_STOP=1 "$(db_url "$source_db")" "$@"; }
echo "bench-backup: generating $BOOKINGS bookings"
started=$(date +%s%N)
sql <<SQL
INSERT INTO specialties (id, slug, name)
SELECT gen_random_uuid(), 'specialty-' || s, 'Specialty ' || s FROM generate_series(1, 20) s;
INSERT INTO doctors (id, name, slot_minutes)
SELECT gen_random_uuid(), 'Dr. Bench ' || d, 30 FROM generate_series(1, 500) d;
INSERT INTO doctor_specialties (doctor_id, specialty_id)
SELECT d.id, s.id
FROM (SELECT id, row_number() OVER (ORDER BY id) % 20 AS k FROM doctors) d
JOIN (SELECT id, row_number() OVER (ORDER BY slug) % 20 AS k FROM specialties) s USING (k);
INSERT INTO doctor_schedules (id, doctor_id, weekday, starts_at, ends_at)
SELECT gen_random_uuid(), d.id, w, '08:00', '18:00' FROM doctors d, generate_series(1, 5) w;
INSERT INTO users (id, email, password_hash, name)
SELECT gen_random_uuid(), 'patient' || p || '@bench.example',
       '\$argon2id\$v=19\$m=19456,t=2,p=1\$bench\$bench', 'Patient ' || p
FROM generate_series(1, 200000) p;
CREATE TEMP TABLE d AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM doctors;
CREATE TEMP TABLE p AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM users;
-- Booking i: doctor i % 500, its (i / 500)-th half hour from a year ago: no two overlap.
INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, source, status, cancelled_at)
SELECT gen_random_uuid(), d.id, p.id, t, t + interval '30 minutes', 'api',
       CASE WHEN i % 10 = 0 THEN 'cancelled'::booking_status ELSE 'confirmed' END,
       CASE WHEN i % 10 = 0 THEN t - interval '1 day' END
FROM (SELECT i, date_trunc('hour', now()) - interval '365 days' + (i / 500) * interval '30 minutes' AS t
      FROM generate_series(0, $BOOKINGS - 1) i) b
JOIN d ON d.n = b.i % 500
JOIN p ON p.n = b.i % 200000;
INSERT INTO jobs (id, kind, payload, status, run_at, attempts, finished_at, booking_id)
SELECT gen_random_uuid(), 'booking.reminder',
       jsonb_build_object('v', 1, 'booking_id', id, 'minutes_before', 120),
       CASE WHEN starts_at < now() THEN 'succeeded'::job_status ELSE 'queued' END,
       starts_at - interval '2 hours',
       CASE WHEN starts_at < now() THEN 1 ELSE 0 END,
       CASE WHEN starts_at < now() THEN starts_at - interval '2 hours' END,
       id
FROM bookings WHERE status = 'confirmed';
ANALYZE;
SQL
generated=$(seconds "$started")
counts=$(sql -c "SELECT (SELECT count(*) FROM bookings) || ' bookings, ' || (SELECT count(*) FROM users) || ' users, '
                 || (SELECT count(*) FROM jobs) || ' jobs, ' || pg_size_pretty(pg_database_size(current_database()))")
echo "bench-backup: $counts (generated in $generated s)"

backup_env=(env DATABASE_URL="$(db_url "$source_db")" BACKUP_DIR="$work" LOG_FORMAT=json RUST_LOG=warn)
started=$(date +%s%N)
file=$("${backup_env[@]}" "$backup_bin" now | tail -1)
dump_s=$(seconds "$started")
size=$(stat -c %s "$file")

restore_env=(env DATABASE_URL="$(db_url "$target_db")" BACKUP_DIR="$work" LOG_FORMAT=json RUST_LOG=warn)
started=$(date +%s%N)
summary=$("${restore_env[@]}" "$backup_bin" restore "$file" | tail -1)
restore_s=$(seconds "$started")
restored=$(psql -qXtA "$(db_url "$target_db")" -c "SELECT count(*) FROM bookings")

printf '\nbench-backup: PostgreSQL %s, %s\n' "$(sql -c 'SHOW server_version')" "$counts"
printf '  backup  (pg_dump -Fc, read back, sha256): %6s s, file %s MB\n' "$dump_s" "$((size / 1000000))"
printf '  restore (verify, one transaction, migrate, check): %6s s, %s bookings back\n' "$restore_s" "$restored"
printf '  restored: %s\n' "$summary"
[[ $restored == "$(sql -c 'SELECT count(*) FROM bookings')" ]] ||
    { echo "bench-backup: the restore has $restored bookings, the source more" >&2; exit 1; }
