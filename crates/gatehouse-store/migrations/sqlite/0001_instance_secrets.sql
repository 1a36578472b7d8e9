-- Secrets Gatehouse generates for itself (development master secret, later signing keys),
-- kept in the database so that restarts do not invalidate sessions or tokens.
CREATE TABLE instance_secrets (
    name       TEXT PRIMARY KEY NOT NULL,
    value      BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
