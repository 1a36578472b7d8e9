-- The session invalidation log: every change that makes a cached session wrong (the session
-- deleted, its active workspace switched, its user changed, its user's role in its workspace
-- changed) writes the session's token hash here, in the change's own transaction, by trigger. So
-- no code path, the CLI's included, can change a session without every instance learning of it.
-- Instances read it from where they last read (`seq` is in commit order: SQLite has one writer).
-- Rows hold only token hashes, never who they belong to, and are pruned after a few minutes.
-- `xid` is PostgreSQL's (its readers need it); here it stays 0, and is kept so that both engines
-- have the same columns.
CREATE TABLE session_invalidations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    xid        INTEGER NOT NULL DEFAULT 0,
    token_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX session_invalidations_created_idx ON session_invalidations (created_at);

CREATE TRIGGER sessions_deleted_invalidate AFTER DELETE ON sessions
BEGIN
    INSERT INTO session_invalidations (token_hash, created_at)
    VALUES (OLD.token_hash, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;

CREATE TRIGGER sessions_workspace_invalidate AFTER UPDATE OF workspace_id ON sessions
BEGIN
    INSERT INTO session_invalidations (token_hash, created_at)
    VALUES (NEW.token_hash, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;

-- The columns a session's user snapshot holds.
CREATE TRIGGER users_changed_invalidate
AFTER UPDATE OF email, email_normalized, name, email_verified_at, disabled ON users
BEGIN
    INSERT INTO session_invalidations (token_hash, created_at)
    SELECT token_hash, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM sessions WHERE user_id = NEW.id;
END;

-- A membership change matters to the sessions acting in that workspace.
CREATE TRIGGER members_added_invalidate AFTER INSERT ON workspace_members
BEGIN
    INSERT INTO session_invalidations (token_hash, created_at)
    SELECT token_hash, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM sessions
    WHERE user_id = NEW.user_id AND workspace_id = NEW.workspace_id;
END;

CREATE TRIGGER members_changed_invalidate AFTER UPDATE OF role ON workspace_members
BEGIN
    INSERT INTO session_invalidations (token_hash, created_at)
    SELECT token_hash, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM sessions
    WHERE user_id = NEW.user_id AND workspace_id = NEW.workspace_id;
END;

CREATE TRIGGER members_removed_invalidate AFTER DELETE ON workspace_members
BEGIN
    INSERT INTO session_invalidations (token_hash, created_at)
    SELECT token_hash, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM sessions
    WHERE user_id = OLD.user_id AND workspace_id = OLD.workspace_id;
END;
