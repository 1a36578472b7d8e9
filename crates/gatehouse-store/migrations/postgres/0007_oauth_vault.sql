-- Sign-in with providers and the token vault. Times are Unix milliseconds.

-- A started sign-in or link, until its callback consumes it (at most ten minutes). Only the
-- SHA-256 of the `state` parameter and of the browser-binding cookie are stored.
CREATE TABLE oauth_states (
    id_hash         BYTEA PRIMARY KEY,
    provider        TEXT NOT NULL,
    browser_hash    BYTEA NOT NULL,
    pkce_verifier   TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    redirect_to     TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    link_user_id    TEXT,
    link_session_id TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX oauth_states_expires_at_idx ON oauth_states (expires_at);

-- A provider identity linked to an account: one account per (provider, subject).
CREATE TABLE identities (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    email      TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX identities_provider_subject_key ON identities (provider, subject);
CREATE INDEX identities_user_id_idx ON identities (user_id);

-- Third-party tokens, one record per (user, provider): the tokens sealed under a per-record data
-- key, the data key wrapped under a key derived from the master secret. The refresh lock makes
-- one instance at a time spend a refresh token.
CREATE TABLE vault_connections (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider           TEXT NOT NULL,
    status             TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    expires_at         BIGINT,
    has_refresh_token  BOOLEAN NOT NULL,
    wrapped_key        BYTEA NOT NULL,
    ciphertext         BYTEA NOT NULL,
    refresh_holder     TEXT,
    refresh_lock_until BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE UNIQUE INDEX vault_connections_user_provider_key ON vault_connections (user_id, provider);
