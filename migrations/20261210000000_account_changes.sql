-- An account changing in what the api shows of it ("who am I": email, name, phone, role, the
-- Telegram link) or deleted is announced on `sessions_changed` with its id when its
-- transaction commits, as an ended session is; a TRUNCATE announces `*`. The api remembers an
-- account's row beside its sessions and forgets both on the announcement
-- (services/api/src/live_sessions.rs). A change to the password hash alone announces nothing:
-- the sessions it ends are announced by their own rows.

CREATE FUNCTION account_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sessions_changed', OLD.id::text);
    IF TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id THEN
        PERFORM pg_notify('sessions_changed', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER account_changed AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION account_changed();
CREATE TRIGGER account_changed_update AFTER UPDATE ON users
    FOR EACH ROW
    WHEN ((OLD.id, OLD.email, OLD.name, OLD.phone, OLD.role, OLD.telegram_user_id)
          IS DISTINCT FROM (NEW.id, NEW.email, NEW.name, NEW.phone, NEW.role, NEW.telegram_user_id))
    EXECUTE FUNCTION account_changed();
CREATE TRIGGER account_changed_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION sessions_changed_everyone();
