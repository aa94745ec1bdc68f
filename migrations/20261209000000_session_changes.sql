-- A session ending (a refresh token revoked: sign-out, sign-out everywhere, a password or role
-- change, a reused token; or deleted: the daily clean-up, an account deleted) is announced on
-- the channel `sessions_changed` with the account's id, when its transaction commits; a
-- TRUNCATE announces `*` (every account). The api remembers for a few seconds which sessions
-- are signed in, instead of asking PostgreSQL on every request, and forgets an account's on
-- the announcement (services/api/src/live_sessions.rs). Signing in and refreshing (new rows,
-- `rotated_at`) end nothing and announce nothing.

CREATE FUNCTION sessions_changed_by_user_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sessions_changed', OLD.user_id::text);
    IF TG_OP = 'UPDATE' AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        PERFORM pg_notify('sessions_changed', NEW.user_id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION sessions_changed_everyone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sessions_changed', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_changed AFTER DELETE ON refresh_tokens
    FOR EACH ROW EXECUTE FUNCTION sessions_changed_by_user_id();
CREATE TRIGGER sessions_changed_update AFTER UPDATE ON refresh_tokens
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.family_id IS DISTINCT FROM NEW.family_id)
    EXECUTE FUNCTION sessions_changed_by_user_id();
CREATE TRIGGER sessions_changed_truncate AFTER TRUNCATE ON refresh_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION sessions_changed_everyone();
