-- Gives back jobs this worker started but will not finish (graceful
-- shutdown): runnable again at once (a job whose cancellation was requested
-- ends cancelled instead). The interrupted attempt does not count against
-- the job: max_attempts grows by one. The attempt number itself never goes
-- back, so it stays a fencing token that no later claim reuses.
-- $1: job ids, $2: their attempts, $3: this worker, $4: the time (NULL:
-- the server's now()). Fenced like completion.
UPDATE orgjobs.jobs j
SET state        = CASE WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE 'available' END,
    finalized_at = CASE WHEN j.cancel_requested_at IS NOT NULL THEN coalesce($4::timestamptz, now()) END,
    run_at       = coalesce($4::timestamptz, now()),
    max_attempts = j.max_attempts + 1,
    locked_by    = NULL,
    locked_until = NULL
FROM unnest($1::bigint[], $2::integer[]) AS held(id, attempt)
-- (state || ''): by primary key, never a walk of the running jobs (migration 0004).
WHERE j.id = held.id AND j.attempt = held.attempt
  AND j.locked_by = $3::text AND (j.state || '') = 'running'
RETURNING j.id
