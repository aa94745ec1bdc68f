#!/usr/bin/env bash
# bench-data.sh DATABASE_URL — fills an empty, migrated MedSync database with a clinic group's
# data, for the benchmarks' "large" runs and the query-plan test:
#
#   20 specialties; 500 doctors (30-minute slots, Monday to Friday 08:00–18:00 clinic time,
#   a few with Saturday mornings), each with a week of holiday a year ago and 1 in 10 away for
#   a few days in the coming two weeks; 200,000 patients; BENCH_BOOKINGS bookings (default
#   1,000,000): the next four weeks booked at about half, the rest over the past two years,
#   10 % cancelled, none overlapping a doctor's time off; 3,000,000 finished jobs (the
#   confirmation of each booking, the reminders of past ones, cancellation notices, then
#   no-ops to the count) and 50,000 queued reminders; VACUUM (ANALYZE). Prints what it made
#   and the database's size on disk, table by table.
#
# Everything is made by generate_series inside PostgreSQL (no row crosses the network): about
# a minute and a half for the default size on two cores. The database must be migrated
# (`manage migrate`) and hold no bookings: the script refuses anything else. Needs psql.
# BENCH_BOOKINGS scales the bookings (at least 10,000), BENCH_JOBS the finished jobs (never
# fewer than the rules above make) and BENCH_QUEUED the queued ones; patients and doctors keep
# their counts.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
url=${1:-}
[[ -n $url ]] || { echo "usage: scripts/bench-data.sh DATABASE_URL" >&2; exit 2; }
BOOKINGS=${BENCH_BOOKINGS:-1000000}
[[ $BOOKINGS =~ ^[1-9][0-9]*$ && $BOOKINGS -ge 10000 ]] ||
    { echo "bench-data: BENCH_BOOKINGS must be a number of at least 10000" >&2; exit 2; }
JOBS=${BENCH_JOBS:-3000000}
QUEUED=${BENCH_QUEUED:-50000}
for n in "$JOBS" "$QUEUED"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "bench-data: BENCH_JOBS and BENCH_QUEUED must be numbers" >&2; exit 2; }
done
TZ_CLINIC=${CLINIC_TIMEZONE:-Europe/Berlin}
need bench-data psql:postgresql-client

sql() { psql -qXtA -v ON_ERROR_STOP=1 "$url" "$@"; }
ready=$(sql -c "SELECT to_regclass('public.bookings') IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM bookings) AND NOT EXISTS (SELECT 1 FROM doctors)" 2>&1) ||
    { echo "bench-data: cannot query the database: $ready" >&2; exit 1; }
[[ $ready == t ]] ||
    { echo "bench-data: the database must be migrated (manage migrate) and hold no doctors or bookings" >&2; exit 1; }

echo "bench-data: generating $BOOKINGS bookings, 200,000 patients, 500 doctors"
started=$(date +%s%N)
sql -v bookings="$BOOKINGS" -v jobs="$JOBS" -v queued="$QUEUED" -v tz="$TZ_CLINIC" <<'SQL'
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';
SET TIME ZONE :'tz';

INSERT INTO specialties (id, slug, name)
SELECT gen_random_uuid(), 'specialty-' || s, 'Specialty ' || s FROM generate_series(1, 20) s;

CREATE TEMP TABLE d AS
SELECT gen_random_uuid() AS id, n FROM generate_series(0, 499) n;
INSERT INTO doctors (id, name, slot_minutes)
SELECT id, 'Dr. Bench ' || n, 30 FROM d;
INSERT INTO doctor_specialties (doctor_id, specialty_id)
SELECT d.id, s.id
FROM d JOIN (SELECT id, row_number() OVER (ORDER BY slug) - 1 AS k FROM specialties) s
    ON s.k = d.n % 20 OR (d.n % 7 = 0 AND s.k = (d.n + 3) % 20);
INSERT INTO doctor_schedules (id, doctor_id, weekday, starts_at, ends_at)
SELECT gen_random_uuid(), d.id, w, '08:00', '18:00' FROM d, generate_series(1, 5) w;
INSERT INTO doctor_schedules (id, doctor_id, weekday, starts_at, ends_at)
SELECT gen_random_uuid(), d.id, 6, '09:00', '13:00' FROM d WHERE d.n % 10 = 0;

-- Time off: a week of holiday a year ago for everyone (staggered), and for one doctor in ten
-- a few days within the next two weeks (what the free-slots query must subtract).
INSERT INTO doctor_time_off (id, doctor_id, period, reason)
SELECT gen_random_uuid(), d.id,
       tstzrange(date_trunc('day', now()) - interval '365 days' + (d.n % 40) * interval '1 day',
                 date_trunc('day', now()) - interval '358 days' + (d.n % 40) * interval '1 day'),
       'holiday'
FROM d;
INSERT INTO doctor_time_off (id, doctor_id, period, reason)
SELECT gen_random_uuid(), d.id,
       tstzrange(date_trunc('day', now()) + (1 + d.n % 10) * interval '1 day',
                 date_trunc('day', now()) + (4 + d.n % 10) * interval '1 day'),
       'conference'
FROM d WHERE d.n % 10 = 5;

CREATE TEMP TABLE p AS
SELECT gen_random_uuid() AS id, n FROM generate_series(0, 199999) n;
INSERT INTO users (id, email, password_hash, name, telegram_user_id, created_at)
SELECT id, 'patient' || n || '@bench.example',
       '$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hzYWx0$bench', 'Patient ' || n,
       CASE WHEN n % 3 = 0 THEN 900000000 + n END,
       now() - interval '2 years' + n * interval '5 minutes'
FROM p;
CREATE INDEX ON p (n);

-- The next four weeks: every slot of every doctor's schedule in clinic time, minus time off,
-- about half of them booked. The past two years: random weekday slots (08:00-18:00) of random
-- doctors, minus time off, to the count. Slots are distinct per doctor: no two bookings overlap.
CREATE TEMP TABLE chosen AS
SELECT d.id AS doctor_id, (day + s.starts_at + k * interval '30 minutes') AT TIME ZONE :'tz' AS starts_at
FROM d
JOIN doctor_schedules s ON s.doctor_id = d.id
CROSS JOIN LATERAL generate_series(date_trunc('day', localtimestamp) + interval '1 day',
                                   date_trunc('day', localtimestamp) + interval '28 days',
                                   interval '1 day') AS day
CROSS JOIN LATERAL generate_series(0, (extract(epoch FROM s.ends_at - s.starts_at) / 1800)::int - 1) AS k
WHERE extract(isodow FROM day) = s.weekday
  AND hashtext(d.id::text || day::text || k) % 2 = 0
  AND NOT EXISTS (SELECT 1 FROM doctor_time_off t WHERE t.doctor_id = d.id
                  AND t.period @> (day + s.starts_at + k * interval '30 minutes') AT TIME ZONE :'tz')
ORDER BY random() LIMIT :bookings / 10;
CREATE TEMP TABLE past AS
SELECT DISTINCT ON (doctor_n, starts_at) doctor_n, starts_at
FROM (SELECT (random() * 499)::int AS doctor_n,
             (date_trunc('week', localtimestamp) - (1 + (random() * 103)::int) * interval '1 week'
              + (random() * 4)::int * interval '1 day' + interval '8 hours'
              + (random() * 19)::int * interval '30 minutes') AT TIME ZONE :'tz' AS starts_at
      FROM generate_series(1, (:bookings * 1.15)::bigint)) r;
INSERT INTO chosen
SELECT d.id, past.starts_at FROM past JOIN d ON d.n = past.doctor_n
WHERE NOT EXISTS (SELECT 1 FROM doctor_time_off t
                  WHERE t.doctor_id = d.id AND t.period @> past.starts_at)
LIMIT :bookings - (SELECT count(*) FROM chosen);
DROP TABLE past;

INSERT INTO bookings (id, doctor_id, patient_id, starts_at, ends_at, status, source, created_at,
                      cancelled_at)
SELECT gen_random_uuid(), c.doctor_id, p.id, c.starts_at, c.starts_at + interval '30 minutes',
       CASE WHEN i % 10 = 0 THEN 'cancelled'::booking_status
            WHEN c.starts_at < now() THEN 'completed' ELSE 'confirmed' END,
       (ARRAY['api', 'telegram', 'api', 'admin']::booking_source[])[i % 4 + 1],
       least(c.starts_at - interval '9 days', now() - interval '1 hour'),
       CASE WHEN i % 10 = 0 THEN least(c.starts_at - interval '2 days', now() - interval '1 hour') END
FROM (SELECT *, row_number() OVER () AS i FROM chosen) c
JOIN p ON p.n = (c.i * 7919) % 200000;
DROP TABLE chosen;

-- Finished jobs: each booking's confirmation, a past booking's two reminders, a cancelled
-- one's notice; no-ops to BENCH_JOBS. Queued: the next BENCH_QUEUED reminders.
INSERT INTO jobs (id, kind, payload, status, run_at, attempts, created_at, updated_at,
                  finished_at, booking_id)
SELECT gen_random_uuid(), 'booking.confirmation', jsonb_build_object('v', 1, 'booking_id', id),
       'succeeded', created_at, 1, created_at, created_at, created_at + interval '1 second', id
FROM bookings;
INSERT INTO jobs (id, kind, payload, status, run_at, attempts, created_at, updated_at,
                  finished_at, booking_id)
SELECT gen_random_uuid(), 'booking.reminder',
       jsonb_build_object('v', 1, 'booking_id', b.id, 'minutes_before', m),
       'succeeded', b.starts_at - m * interval '1 minute', 1, b.created_at,
       b.starts_at - m * interval '1 minute', b.starts_at - m * interval '1 minute' + interval '1 second', b.id
FROM bookings b CROSS JOIN (VALUES (1440), (120)) AS r(m)
WHERE b.status = 'completed';
INSERT INTO jobs (id, kind, payload, status, run_at, attempts, created_at, updated_at,
                  finished_at, booking_id)
SELECT gen_random_uuid(), 'booking.cancellation', jsonb_build_object('v', 1, 'booking_id', id),
       'succeeded', cancelled_at, 1, cancelled_at, cancelled_at, cancelled_at + interval '1 second', id
FROM bookings WHERE status = 'cancelled';
INSERT INTO jobs (id, kind, payload, status, run_at, attempts, created_at, updated_at, finished_at)
SELECT gen_random_uuid(), 'system.noop', '{"v": 1}', 'succeeded',
       now() - i * interval '10 seconds', 1, now() - i * interval '10 seconds',
       now() - i * interval '10 seconds', now() - i * interval '10 seconds'
FROM generate_series(1, greatest(0, :jobs - (SELECT count(*) FROM jobs))) i;
INSERT INTO jobs (id, kind, payload, status, run_at, dedupe_key, booking_id)
SELECT gen_random_uuid(), 'booking.reminder',
       jsonb_build_object('v', 1, 'booking_id', b.id, 'minutes_before', m),
       'queued', b.starts_at - m * interval '1 minute',
       'reminder:' || b.id || ':' || m, b.id
FROM bookings b CROSS JOIN (VALUES (1440), (120)) AS r(m)
WHERE b.status = 'confirmed'
ORDER BY b.starts_at - m * interval '1 minute'
LIMIT :queued;
-- A database in steady state: visibility maps set and statistics fresh, so no autovacuum of
-- the new rows runs into a measurement made right after.
VACUUM (ANALYZE, PARALLEL 0);
SQL
took=$(seconds "$started")

sql -F '|' <<'SQL' | awk -F '|' -v took="$took" '
    NR == 1 { printf "bench-data: %s bookings (%s cancelled, %s ahead), %s patients, %s doctors, %s time off, %s finished and %s queued jobs, in %s s\n", $1, $2, $3, $4, $5, $6, $7, $8, took; next }
    NR == 2 { printf "bench-data: on disk %s in all\n", $0; next }
    { printf "  %-22s %s\n", $1, $2 }'
SELECT (SELECT count(*) FROM bookings), (SELECT count(*) FROM bookings WHERE status = 'cancelled'),
       (SELECT count(*) FROM bookings WHERE starts_at > now()),
       (SELECT count(*) FROM users), (SELECT count(*) FROM doctors),
       (SELECT count(*) FROM doctor_time_off),
       (SELECT count(*) FROM jobs WHERE status = 'succeeded'),
       (SELECT count(*) FROM jobs WHERE status = 'queued');
SELECT pg_size_pretty(pg_database_size(current_database()));
SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class
WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
ORDER BY pg_total_relation_size(oid) DESC LIMIT 6;
SQL
