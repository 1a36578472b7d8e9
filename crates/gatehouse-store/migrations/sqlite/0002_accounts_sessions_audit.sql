-- Users, sessions and the audit log. Times are Unix milliseconds (UTC) in every table from here on,
-- so that SQLite and PostgreSQL compare and sort them the same way.
CREATE TABLE users (
    id                TEXT PRIMARY KEY NOT NULL,
    email             TEXT NOT NULL,
    email_normalized  TEXT NOT NULL,
    name              TEXT,
    password_hash     TEXT,
    email_verified_at INTEGER,
    disabled          INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_email_normalized_key ON users (email_normalized);

-- Only the SHA-256 of a session token is stored.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    token_hash          BLOB NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          INTEGER NOT NULL,
    last_seen_at        INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    user_agent          TEXT,
    ip                  TEXT
) STRICT;
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Append-only.
CREATE TABLE audit_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at  INTEGER NOT NULL,
    action       TEXT NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT,
    target       TEXT,
    ip           TEXT,
    user_agent   TEXT,
    workspace_id TEXT,
    details      TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
