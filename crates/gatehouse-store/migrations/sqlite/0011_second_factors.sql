-- Second factors: TOTP with recovery codes, the second step of a sign-in, and how each session was
-- established (for `amr`, `auth_time` and step-up).

-- `amr` holds the RFC 8176 method values the session was established with, space-separated
-- (`pwd`, `otp`, `oauth`, `email`, …); sessions from before this migration hold ''. `auth_time`
-- is when the person last proved who they are for this session (sign-in, or a later step-up).
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN auth_time INTEGER;

-- A step-up changes what a cached session says.
CREATE TRIGGER sessions_auth_invalidate AFTER UPDATE OF amr, auth_time ON sessions
BEGIN
    INSERT INTO session_invalidations (token_hash, created_at)
    VALUES (NEW.token_hash, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
END;

-- One authenticator app per account. The secret is sealed under a key derived from the master
-- secret, bound to the factor's id and its user. `last_step` is the last 30-second step whose code
-- was accepted: a code for it or an earlier step is refused, so a code works once.
CREATE TABLE mfa_totp (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    last_used_at  INTEGER,
    last_step     INTEGER
) STRICT;
CREATE UNIQUE INDEX mfa_totp_user_key ON mfa_totp (user_id);

-- Single-use recovery codes, stored only as SHA-256 (each is 80 random bits).
CREATE TABLE mfa_recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

-- The second step of a sign-in: the first factor was right, the session waits for the second.
-- Only the SHA-256 of its token is stored; it is spent by one DELETE … RETURNING.
CREATE TABLE mfa_steps (
    id           TEXT PRIMARY KEY NOT NULL,
    token_hash   BLOB NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    first_factor TEXT NOT NULL,
    return_to    TEXT,
    user_agent   TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX mfa_steps_token_hash_key ON mfa_steps (token_hash);
CREATE INDEX mfa_steps_user_idx ON mfa_steps (user_id);
CREATE INDEX mfa_steps_expires_idx ON mfa_steps (expires_at);
