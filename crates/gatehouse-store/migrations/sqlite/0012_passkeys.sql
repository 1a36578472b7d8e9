-- Passkeys (WebAuthn credentials) and the ceremonies that add and use them.

-- A passkey: its credential id (unique across the relying party), the public key and fixed
-- extensions as the WebAuthn library encodes them (`static_state`), and what changes with each
-- use (`dynamic_state`: the signature counter, backup and user-verification flags). `transports`
-- is the library's bit set of how the authenticator is reached (usb, nfc, internal, hybrid, …).
CREATE TABLE passkeys (
    id              TEXT PRIMARY KEY NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   BLOB NOT NULL,
    name            TEXT NOT NULL,
    static_state    BLOB NOT NULL,
    transports      INTEGER NOT NULL,
    dynamic_state   BLOB NOT NULL,
    backup_eligible INTEGER NOT NULL,
    backed_up       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER
) STRICT;
CREATE UNIQUE INDEX passkeys_credential_id_key ON passkeys (credential_id);
CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- A ceremony in progress: found by the challenge the authenticator signs, spent by one
-- DELETE … RETURNING. `user_id` is the account adding a passkey; sign-ins have none yet.
CREATE TABLE webauthn_ceremonies (
    challenge  BLOB PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    state      BLOB NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX webauthn_ceremonies_expires_idx ON webauthn_ceremonies (expires_at);
