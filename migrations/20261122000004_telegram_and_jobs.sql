-- One-time codes that link a Telegram account to a MedSync account: the API issues one, the
-- user opens t.me/<bot>?start=<code>, the bot redeems it.
CREATE TABLE telegram_link_codes (
    code        text PRIMARY KEY CHECK (length(code) BETWEEN 16 AND 64),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX telegram_link_codes_by_expiry ON telegram_link_codes (expires_at);

-- Durable jobs (confirmations, reminders, notices, clean-ups), enqueued in the same transaction
-- as the change that causes them, claimed by workers with FOR UPDATE SKIP LOCKED.
CREATE TYPE job_status AS ENUM ('queued', 'running', 'succeeded', 'dead');

CREATE TABLE jobs (
    id           uuid PRIMARY KEY,
    -- What to run, e.g. 'booking.confirmation'; the payload's shape is versioned inside it.
    kind         text NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    payload      jsonb NOT NULL DEFAULT '{}',
    status       job_status NOT NULL DEFAULT 'queued',
    -- Not before this time.
    run_at       timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL DEFAULT 10 CHECK (max_attempts >= 1),
    -- While running: who holds it and until when; past that, another worker may take it.
    locked_by    text,
    locked_until timestamptz,
    last_error   text,
    -- At most one queued or running job per key (e.g. one reminder per booking and offset).
    dedupe_key   text,
    -- What the job belongs to, so cancelling a booking can find its reminders.
    booking_id   uuid REFERENCES bookings (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    CHECK ((status = 'running') = (locked_until IS NOT NULL))
);

-- What a worker scans when it claims: due queued jobs, oldest first.
CREATE INDEX jobs_due ON jobs (run_at) WHERE status = 'queued';
-- Expired leases of dead workers.
CREATE INDEX jobs_leased ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_by_booking ON jobs (booking_id) WHERE booking_id IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX jobs_dedupe ON jobs (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
