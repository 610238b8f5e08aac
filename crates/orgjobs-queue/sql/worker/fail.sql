-- Records a failed attempt of job $1 (attempt $2, the fencing token) by
-- worker $3 (which must still hold it) with message $4. $5: discard now
-- (true) or retry; $6: seconds until the retry; $7: the time (NULL: the
-- server's now()). A job out of attempts is discarded either way; a job
-- whose cancellation was requested ends cancelled. Returns the new state;
-- no row when the attempt no longer holds the job.
UPDATE orgjobs.jobs
SET state        = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
                        WHEN $5::boolean OR attempt >= max_attempts THEN 'discarded'
                        ELSE 'retryable' END,
    run_at       = CASE WHEN $5::boolean OR attempt >= max_attempts THEN run_at
                        ELSE coalesce($7::timestamptz, now()) + make_interval(secs => $6::float8) END,
    finalized_at = CASE WHEN cancel_requested_at IS NOT NULL OR $5::boolean
                             OR attempt >= max_attempts THEN coalesce($7::timestamptz, now()) END,
    last_error   = $4::text,
    errors       = errors || jsonb_build_array(jsonb_build_object(
                       'attempt', attempt, 'at', coalesce($7::timestamptz, now()), 'worker', $3::text, 'error', $4::text)),
    locked_by    = NULL,
    locked_until = NULL
-- (state || ''): by primary key, never a walk of the running jobs (migration 0004).
WHERE id = $1 AND attempt = $2 AND locked_by = $3::text AND (state || '') = 'running'
RETURNING state
