-- The queue's indexes hold only the rows each query looks for. Before, both indexes led with
-- `state` and held every job ever run, so each state change (claim, success) wrote an entry into
-- each of them and they grew with the retained history. Now a job is in `jobs_ready` while ready,
-- in `jobs_leases` while running and in `jobs_finished` once finished: a claim writes one
-- entry besides the primary key, a success one, and the claim scans only what is ready.
DROP INDEX jobs_ready;
DROP INDEX jobs_leases;
CREATE INDEX jobs_ready ON jobs (run_at) WHERE state = 'ready';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
-- Retention deletes succeeded jobs by age; the dead-letter listing reads dead ones newest first.
CREATE INDEX jobs_finished ON jobs (state, finished_at) WHERE state IN ('succeeded', 'dead');
