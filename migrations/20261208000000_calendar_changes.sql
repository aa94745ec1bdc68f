-- Each change to what decides a doctor's free slots (the doctor's slot length and whether they
-- are active, their weekly hours, time off, bookings) is announced on the channel
-- `calendar_changed` with the doctor's id, when its transaction commits; a TRUNCATE announces
-- `*` (every doctor). The api keeps computed free-slots answers and forgets a doctor's on the
-- announcement (services/api/src/slots_cache/mod.rs). NOTIFY sends one message per distinct
-- payload per transaction, so a bulk change costs one message per doctor.

CREATE FUNCTION calendar_changed_by_doctor_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('calendar_changed', OLD.doctor_id::text);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('calendar_changed', NEW.doctor_id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION calendar_changed_doctor() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('calendar_changed', OLD.id::text);
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('calendar_changed', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION calendar_changed_everyone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('calendar_changed', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER calendar_changed AFTER INSERT OR DELETE ON bookings
    FOR EACH ROW EXECUTE FUNCTION calendar_changed_by_doctor_id();
-- Confirming a booking, sending its reminder and the like change nothing a slot depends on.
CREATE TRIGGER calendar_changed_update AFTER UPDATE ON bookings
    FOR EACH ROW
    WHEN (OLD.doctor_id IS DISTINCT FROM NEW.doctor_id
          OR OLD.starts_at IS DISTINCT FROM NEW.starts_at
          OR OLD.ends_at IS DISTINCT FROM NEW.ends_at
          OR (OLD.status = 'cancelled') IS DISTINCT FROM (NEW.status = 'cancelled'))
    EXECUTE FUNCTION calendar_changed_by_doctor_id();
CREATE TRIGGER calendar_changed AFTER INSERT OR UPDATE OR DELETE ON doctor_schedules
    FOR EACH ROW EXECUTE FUNCTION calendar_changed_by_doctor_id();
CREATE TRIGGER calendar_changed AFTER INSERT OR UPDATE OR DELETE ON doctor_time_off
    FOR EACH ROW EXECUTE FUNCTION calendar_changed_by_doctor_id();
CREATE TRIGGER calendar_changed AFTER INSERT OR UPDATE OR DELETE ON doctors
    FOR EACH ROW EXECUTE FUNCTION calendar_changed_doctor();
CREATE TRIGGER calendar_changed_truncate AFTER TRUNCATE ON bookings
    FOR EACH STATEMENT EXECUTE FUNCTION calendar_changed_everyone();
CREATE TRIGGER calendar_changed_truncate AFTER TRUNCATE ON doctor_schedules
    FOR EACH STATEMENT EXECUTE FUNCTION calendar_changed_everyone();
CREATE TRIGGER calendar_changed_truncate AFTER TRUNCATE ON doctor_time_off
    FOR EACH STATEMENT EXECUTE FUNCTION calendar_changed_everyone();
CREATE TRIGGER calendar_changed_truncate AFTER TRUNCATE ON doctors
    FOR EACH STATEMENT EXECUTE FUNCTION calendar_changed_everyone();
