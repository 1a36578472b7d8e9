-- JWT signing keys (private halves encrypted with a key derived from the master secret) and
-- service API keys (stored only as SHA-256 hashes).
CREATE TABLE signing_keys (
    kid                   TEXT PRIMARY KEY NOT NULL,
    algorithm             TEXT NOT NULL,
    encrypted_private_key BLOB NOT NULL,
    public_jwk            TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    retired_at            INTEGER
) STRICT;

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     BLOB NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;
CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);
