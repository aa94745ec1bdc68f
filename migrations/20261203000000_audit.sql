-- The audit trail: security and business events, appended and never changed. Who did what
-- (actor), to whom (subject), through which channel, from where, to which booking; details
-- in JSON. Rows are removed only by the retention clean-up, which sets
-- medsync.audit_purge = 'on' in its own transaction; any other UPDATE or DELETE fails.
CREATE TABLE audit_events (
    id          uuid PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    action      text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    channel     text NOT NULL CHECK (channel IN ('api', 'bot', 'web', 'manage', 'worker')),
    -- No foreign keys: the trail outlives the accounts and bookings it names.
    actor_id    uuid,
    subject_id  uuid,
    booking_id  uuid,
    ip          inet,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(details) = 'object')
);

CREATE INDEX audit_events_by_time ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_by_actor ON audit_events (actor_id, at DESC) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_by_subject ON audit_events (subject_id, at DESC) WHERE subject_id IS NOT NULL;
CREATE INDEX audit_events_by_booking ON audit_events (booking_id, at DESC) WHERE booking_id IS NOT NULL;
CREATE INDEX audit_events_by_action ON audit_events (action, at DESC);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('medsync.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- A session (refresh family) has an absolute lifetime from its sign-in: each rotated token
-- carries the sign-in's time on.
ALTER TABLE refresh_tokens ADD COLUMN session_started_at timestamptz NOT NULL DEFAULT now();
