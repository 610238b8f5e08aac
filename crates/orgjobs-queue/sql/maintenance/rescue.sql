-- Run by the leader: makes jobs whose lease expired (their worker died or
-- lost the database) runnable again at once, counting the lost attempt. At
-- most $1 jobs per call; $2: the time (NULL: the server's now()). The
-- attempt number stays, so the old executor, if it ever wakes up, can no
-- longer complete, fail or release the job.
WITH stuck AS (
    SELECT id
    FROM orgjobs.jobs
    WHERE state = 'running' AND locked_until < coalesce($2::timestamptz, now())
    ORDER BY locked_until
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE orgjobs.jobs j
SET state        = CASE WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
                        WHEN j.attempt >= j.max_attempts THEN 'discarded'
                        ELSE 'retryable' END,
    run_at       = coalesce($2::timestamptz, now()),
    finalized_at = CASE WHEN j.cancel_requested_at IS NOT NULL OR j.attempt >= j.max_attempts
                        THEN coalesce($2::timestamptz, now()) END,
    last_error   = 'lease expired: worker ' || coalesce(j.locked_by, '?')
                   || ' stopped renewing it (presumed dead)',
    errors       = j.errors || jsonb_build_array(jsonb_build_object(
                       'attempt', j.attempt, 'at', coalesce($2::timestamptz, now()), 'worker', j.locked_by,
                       'error', 'lease expired (worker presumed dead)')),
    locked_by    = NULL,
    locked_until = NULL
FROM stuck
WHERE j.id = stuck.id
RETURNING j.id, j.state
