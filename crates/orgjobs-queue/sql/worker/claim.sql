-- Claims up to $1 runnable jobs for worker $2, leasing them for $3 seconds.
-- $4: the time (NULL: the server's now()).
-- The inner SELECT walks jobs_fetch_idx in order and skips rows other
-- workers hold, so concurrent workers never wait on each other and the cost
-- does not grow with finished jobs.
WITH picked AS (
    SELECT id
    FROM orgjobs.jobs
    WHERE state IN ('available', 'scheduled', 'retryable')
      AND run_at <= coalesce($4::timestamptz, now())
    ORDER BY priority, run_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE orgjobs.jobs j
SET state        = 'running',
    attempt      = j.attempt + 1,
    attempted_at = coalesce($4::timestamptz, now()),
    locked_by    = $2,
    locked_until = coalesce($4::timestamptz, now()) + make_interval(secs => $3)
FROM picked
WHERE j.id = picked.id
RETURNING j.id, j.kind, j.organization_id, j.payload, j.attempt, j.max_attempts, j.priority
