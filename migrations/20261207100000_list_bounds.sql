-- What lets the long lists (an admin's view of every booking, of every job) read an index
-- range instead of the whole table at a clinic group's size (scripts/bench-data.sh: 1 M
-- bookings, 3 M jobs; services/api/tests/it/plans.rs checks it).

-- A booking lasts at most the longest slot a doctor may have (doctors.slot_minutes <= 480), so
-- "not yet ended" bounds the start too, which bookings_by_start can range over.
ALTER TABLE bookings ADD CONSTRAINT bookings_length
    CHECK (ends_at <= starts_at + interval '480 minutes');

-- The admin jobs list, newest first: all jobs, and the dead ones (few, and what an operator
-- looks for). Queued and running jobs have their partial indexes already.
CREATE INDEX jobs_recent ON jobs (created_at, id);
CREATE INDEX jobs_dead ON jobs (created_at, id) WHERE status = 'dead';
