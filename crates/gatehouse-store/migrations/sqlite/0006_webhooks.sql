-- Webhook endpoints, the deliveries of events to them, and every attempt at a delivery. Secrets
-- are stored sealed with a key derived from the master secret (signing needs them in the clear).
-- Times are Unix milliseconds.
CREATE TABLE webhook_endpoints (
    id                     TEXT PRIMARY KEY NOT NULL,
    url                    TEXT NOT NULL,
    event_types            TEXT NOT NULL,
    enabled                INTEGER NOT NULL,
    sealed_secret          BLOB NOT NULL,
    previous_sealed_secret BLOB,
    previous_secret_until  INTEGER,
    disabled_reason        TEXT,
    failing_since          INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_deliveries (
    id          TEXT PRIMARY KEY NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    event       TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
-- One delivery per event and endpoint, however often the fan-out runs.
CREATE UNIQUE INDEX webhook_deliveries_event_endpoint_key ON webhook_deliveries (event_id, endpoint_id);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id      TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at     INTEGER NOT NULL,
    status_code      INTEGER,
    latency_ms       INTEGER NOT NULL,
    error_class      TEXT,
    response_excerpt TEXT
) STRICT;
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
