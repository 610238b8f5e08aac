-- Completes jobs whose handlers never opened a transaction (nothing to
-- commit with them). $1: job ids, $2: their attempts, $3: this worker, $4:
-- the time (NULL: the server's now()).
-- Fenced like complete_job: only running jobs at that attempt, held by this
-- worker. Returns the ids completed.
UPDATE orgjobs.jobs j
SET state = 'completed', finalized_at = coalesce($4::timestamptz, now()), locked_by = NULL, locked_until = NULL
FROM unnest($1::bigint[], $2::integer[]) AS done(id, attempt)
-- (state || ''): by primary key, never a walk of the running jobs (migration 0004).
WHERE j.id = done.id AND j.attempt = done.attempt
  AND j.locked_by = $3::text AND (j.state || '') = 'running'
RETURNING j.id
