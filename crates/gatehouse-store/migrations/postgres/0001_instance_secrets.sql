-- Secrets Gatehouse generates for itself (development master secret, later signing keys),
-- kept in the database so that restarts do not invalidate sessions or tokens.
CREATE TABLE instance_secrets (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
