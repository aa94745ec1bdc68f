-- The worker's side of the queue.

-- Why a job ended without doing its work (e.g. "the patient has blocked the bot"), for people.
ALTER TABLE jobs ADD COLUMN note text;
-- When the current (or last) attempt started: the lag behind run_at is measured from it.
ALTER TABLE jobs ADD COLUMN started_at timestamptz;
-- Telegram chats a notification job has already reached: a retry after a partial failure does
-- not send the same message to them again.
ALTER TABLE jobs ADD COLUMN sent_to bigint[] NOT NULL DEFAULT '{}';

-- Wake idle workers (LISTEN medsync_jobs) whenever a job becomes queued: enqueued, retried,
-- or put back. NOTIFY is delivered at commit, and identical notifications of one transaction
-- are folded into one, so a transaction enqueuing many jobs wakes each worker once.
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('medsync_jobs', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify
    AFTER INSERT OR UPDATE OF status, run_at ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued')
    EXECUTE FUNCTION jobs_notify();
