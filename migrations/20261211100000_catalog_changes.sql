-- Any change to what the doctors search shows (a doctor's name, bio, slot length, whether they
-- are active, their specialties, a specialty's name) is announced on the channel
-- `catalog_changed` with the payload `*` when its transaction commits: any such change may
-- move a doctor into or out of any search's answer, so every kept answer ends. The api keeps
-- the search's answers and forgets them all on the announcement
-- (services/api/src/kept_pages.rs). The catalog changes a few times a month, so the triggers
-- are per statement: one message per transaction whatever the number of rows.

CREATE FUNCTION catalog_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('catalog_changed', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON doctors
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed();
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON specialties
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed();
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON doctor_specialties
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed();
