-- Renews the leases of the jobs this worker is running. $1: job ids, $2:
-- their attempts (the fencing tokens), $3: this worker, $4: lease seconds,
-- $5: the time (NULL: the server's now()).
-- Returns each job still held, and whether its cancellation was requested;
-- a job missing from the result has been taken from this worker.
UPDATE orgjobs.jobs j
SET locked_until = coalesce($5::timestamptz, now()) + make_interval(secs => $4::float8)
FROM unnest($1::bigint[], $2::integer[]) AS held(id, attempt)
-- (state || ''): by primary key, never a walk of the running jobs (migration 0004).
WHERE j.id = held.id AND j.attempt = held.attempt
  AND j.locked_by = $3::text AND (j.state || '') = 'running'
RETURNING j.id, j.cancel_requested_at IS NOT NULL
