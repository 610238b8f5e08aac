-- Gives back jobs this worker started but will not finish (graceful
-- shutdown): runnable again at once, the unfinished attempt not counted
-- (a job whose cancellation was requested ends cancelled instead).
-- $1: job ids, $2: their attempts, $3: this worker. Fenced like completion.
UPDATE orgjobs.jobs j
SET state        = CASE WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE 'available' END,
    finalized_at = CASE WHEN j.cancel_requested_at IS NOT NULL THEN now() END,
    run_at       = now(),
    attempt      = j.attempt - 1,
    locked_by    = NULL,
    locked_until = NULL
FROM unnest($1::bigint[], $2::integer[]) AS held(id, attempt)
WHERE j.id = held.id AND j.attempt = held.attempt
  AND j.locked_by = $3::text AND j.state = 'running'
RETURNING j.id
