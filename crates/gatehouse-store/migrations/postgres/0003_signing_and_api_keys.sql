-- JWT signing keys (private halves encrypted with a key derived from the master secret) and
-- service API keys (stored only as SHA-256 hashes).
CREATE TABLE signing_keys (
    kid                   TEXT PRIMARY KEY,
    algorithm             TEXT NOT NULL,
    encrypted_private_key BYTEA NOT NULL,
    public_jwk            JSONB NOT NULL,
    created_at            BIGINT NOT NULL,
    retired_at            BIGINT
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     BYTEA NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);
