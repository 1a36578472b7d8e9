-- The durable job queue. A job is claimed with a lease: a claim token and an expiry that the
-- worker extends while it works. State changes name the claim token, so a worker that lost its
-- lease cannot finish a job another worker now holds. Times are Unix milliseconds.
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    payload          JSONB NOT NULL,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    max_attempts     BIGINT NOT NULL,
    run_at           BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    claim_token      TEXT,
    lease_expires_at BIGINT,
    finished_at      BIGINT,
    last_error       TEXT
);
-- Claiming looks for ready jobs by run_at, and for running ones whose lease expired.
CREATE INDEX jobs_ready ON jobs (state, run_at);
CREATE INDEX jobs_leases ON jobs (state, lease_expires_at);
