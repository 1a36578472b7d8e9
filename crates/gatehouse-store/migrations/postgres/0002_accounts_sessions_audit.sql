-- Users, sessions and the audit log. Times are Unix milliseconds (UTC) in every table from here on,
-- so that SQLite and PostgreSQL compare and sort them the same way.
CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL,
    email_normalized  TEXT NOT NULL,
    name              TEXT,
    password_hash     TEXT,
    email_verified_at BIGINT,
    disabled          BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_normalized_key ON users (email_normalized);

-- Only the SHA-256 of a session token is stored.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    token_hash          BYTEA NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    last_seen_at        BIGINT NOT NULL,
    idle_expires_at     BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    user_agent          TEXT,
    ip                  TEXT
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Append-only.
CREATE TABLE audit_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  BIGINT NOT NULL,
    action       TEXT NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT,
    target       TEXT,
    ip           TEXT,
    user_agent   TEXT,
    workspace_id TEXT,
    details      JSONB NOT NULL
);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
