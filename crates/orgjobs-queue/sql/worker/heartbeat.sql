-- Renews the leases of the jobs this worker is running. $1: job ids, $2:
-- their attempts (the fencing tokens), $3: this worker, $4: lease seconds,
-- $5: the time (NULL: the server's now()).
-- Returns each job still held, and whether its cancellation was requested;
-- a job missing from the result has been taken from this worker (or ended
-- while the renewal waited for it).
-- The rows are locked in id order, as an organization batch completes its
-- jobs, so that a renewal and a batch that both hold some of the same jobs
-- cannot deadlock (a renewal that locked in arbitrary order did, under load
-- on Citus, where commits take longer).
WITH held AS (
    SELECT j.id
    FROM unnest($1::bigint[], $2::integer[]) AS h(id, attempt)
    JOIN orgjobs.jobs j ON j.id = h.id AND j.attempt = h.attempt
    -- (state || ''): by primary key, never a walk of the running jobs (migration 0004).
    WHERE j.locked_by = $3::text AND (j.state || '') = 'running'
    ORDER BY j.id
    FOR UPDATE OF j
)
UPDATE orgjobs.jobs j
SET locked_until = coalesce($5::timestamptz, now()) + make_interval(secs => $4::float8)
FROM held
WHERE j.id = held.id
RETURNING j.id, j.cancel_requested_at IS NOT NULL
