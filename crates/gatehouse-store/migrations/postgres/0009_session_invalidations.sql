-- The session invalidation log: every change that makes a cached session wrong (the session
-- deleted, its active workspace switched, its user changed, its user's role in its workspace
-- changed) writes the session's token hash here, in the change's own transaction, by trigger. So
-- no code path, the CLI's included, can change a session without every instance learning of it.
-- Rows hold only token hashes, never who they belong to, and are pruned after a few minutes.
--
-- `seq` is not in commit order on PostgreSQL (a transaction can take a number and commit after a
-- later one), so readers follow `xid`: a reader that last saw snapshot xmin X reads every row with
-- xid >= X, which cannot miss a row committed since. The trigger also notifies the invalidation
-- channel, on commit, so listening instances read the log at once instead of at their next poll.
CREATE TABLE session_invalidations (
    seq        BIGSERIAL PRIMARY KEY,
    xid        XID8 NOT NULL DEFAULT pg_current_xact_id(),
    token_hash BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX session_invalidations_xid_idx ON session_invalidations (xid);
CREATE INDEX session_invalidations_created_idx ON session_invalidations (created_at);

CREATE FUNCTION gatehouse_invalidate_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    now_ms BIGINT := (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT;
BEGIN
    IF TG_TABLE_NAME = 'sessions' THEN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO session_invalidations (token_hash, created_at) VALUES (OLD.token_hash, now_ms);
        ELSE
            INSERT INTO session_invalidations (token_hash, created_at) VALUES (NEW.token_hash, now_ms);
        END IF;
    ELSIF TG_TABLE_NAME = 'users' THEN
        INSERT INTO session_invalidations (token_hash, created_at)
        SELECT token_hash, now_ms FROM sessions WHERE user_id = NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO session_invalidations (token_hash, created_at)
        SELECT token_hash, now_ms FROM sessions WHERE user_id = OLD.user_id AND workspace_id = OLD.workspace_id;
    ELSE
        INSERT INTO session_invalidations (token_hash, created_at)
        SELECT token_hash, now_ms FROM sessions WHERE user_id = NEW.user_id AND workspace_id = NEW.workspace_id;
    END IF;
    PERFORM pg_notify('gatehouse_sessions', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_deleted_invalidate AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION gatehouse_invalidate_sessions();
CREATE TRIGGER sessions_workspace_invalidate AFTER UPDATE OF workspace_id ON sessions
    FOR EACH ROW EXECUTE FUNCTION gatehouse_invalidate_sessions();
-- The columns a session's user snapshot holds.
CREATE TRIGGER users_changed_invalidate
    AFTER UPDATE OF email, email_normalized, name, email_verified_at, disabled ON users
    FOR EACH ROW EXECUTE FUNCTION gatehouse_invalidate_sessions();
-- A membership change matters to the sessions acting in that workspace.
CREATE TRIGGER members_invalidate AFTER INSERT OR DELETE OR UPDATE OF role ON workspace_members
    FOR EACH ROW EXECUTE FUNCTION gatehouse_invalidate_sessions();
