-- Each change to what a list of bookings shows is announced on the channel `bookings_changed`
-- when its transaction commits, with the ids of the accounts whose lists it changes: the
-- booking's patient and the account of its doctor (whose agenda it is), separated by a space.
-- A doctor renamed or linked to another account announces `*` (every list), as a TRUNCATE does.
-- The api keeps pages of upcoming bookings and of agendas and forgets an account's
-- on the announcement (services/api/src/lists_cache.rs).
--
-- What the api's lists show: a booking's id, doctor, doctor's name, patient, start, end,
-- status, source, creation and cancellation times. Its note and who cancelled it are not
-- shown, so changing only those announces nothing; nor does a patient's name, which the lists
-- do not show.

CREATE FUNCTION bookings_listed_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rows_of CONSTANT text[] := CASE TG_OP
        WHEN 'INSERT' THEN ARRAY['new']
        WHEN 'DELETE' THEN ARRAY['old']
        ELSE ARRAY['old', 'new'] END;
    which text;
    patient uuid;
    doctor uuid;
    account uuid;
BEGIN
    FOREACH which IN ARRAY rows_of LOOP
        IF which = 'old' THEN
            patient := OLD.patient_id;
            doctor := OLD.doctor_id;
        ELSE
            patient := NEW.patient_id;
            doctor := NEW.doctor_id;
        END IF;
        SELECT d.user_id INTO account FROM doctors d WHERE d.id = doctor;
        PERFORM pg_notify('bookings_changed', concat_ws(' ', patient::text, account::text));
    END LOOP;
    RETURN NULL;
END
$$;

CREATE FUNCTION bookings_listed_changed_everyone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bookings_changed', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER bookings_listed_changed AFTER INSERT OR DELETE ON bookings
    FOR EACH ROW EXECUTE FUNCTION bookings_listed_changed();
CREATE TRIGGER bookings_listed_changed_update AFTER UPDATE ON bookings
    FOR EACH ROW
    WHEN ((OLD.id, OLD.doctor_id, OLD.patient_id, OLD.starts_at, OLD.ends_at, OLD.status,
           OLD.source, OLD.created_at, OLD.cancelled_at)
          IS DISTINCT FROM (NEW.id, NEW.doctor_id, NEW.patient_id, NEW.starts_at, NEW.ends_at,
           NEW.status, NEW.source, NEW.created_at, NEW.cancelled_at))
    EXECUTE FUNCTION bookings_listed_changed();
CREATE TRIGGER bookings_listed_changed_doctor AFTER UPDATE ON doctors
    FOR EACH ROW
    WHEN ((OLD.id, OLD.name, OLD.user_id) IS DISTINCT FROM (NEW.id, NEW.name, NEW.user_id))
    EXECUTE FUNCTION bookings_listed_changed_everyone();
CREATE TRIGGER bookings_listed_changed_truncate AFTER TRUNCATE ON bookings
    FOR EACH STATEMENT EXECUTE FUNCTION bookings_listed_changed_everyone();
CREATE TRIGGER bookings_listed_changed_truncate AFTER TRUNCATE ON doctors
    FOR EACH STATEMENT EXECUTE FUNCTION bookings_listed_changed_everyone();
