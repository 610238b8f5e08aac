-- Claims up to $1 runnable jobs for worker $2, leasing them for $3 seconds.
-- $4: the time (NULL: the server's statement_timestamp(), not now(): the
-- claim's transaction may have begun a while ago — a stalled connection, a
-- wait for a lock — and a lease counted from then could be over at once).
-- The last column counts the jobs
-- picked before rate limits refused some (more than returned: another pass
-- may find jobs behind the refused ones).
-- The inner SELECT walks jobs_fetch_idx in order and skips rows other
-- workers hold, so concurrent workers never wait on each other and the cost
-- does not grow with finished jobs. Jobs of organizations with rate limits
-- (orgjobs.rate_limits) are passed over while a bucket that covers them is
-- empty, and start only as far as their buckets allow (grant_starts takes
-- the tokens); paused organizations and kinds (orgjobs.pauses) are passed
-- over too. When neither exists those checks cost two probes.
WITH limits AS MATERIALIZED (
    SELECT EXISTS (SELECT 1 FROM orgjobs.rate_limits) OR EXISTS (SELECT 1 FROM orgjobs.pauses) AS present
),
picked AS (
    SELECT id, organization_id, kind, priority, run_at
    FROM orgjobs.jobs j
    WHERE state IN ('available', 'scheduled', 'retryable')
      AND run_at <= coalesce($4::timestamptz, statement_timestamp())
      AND NOT ((SELECT present FROM limits)
               AND orgjobs.start_blocked(j.organization_id, j.kind, coalesce($4::timestamptz, statement_timestamp())))
    ORDER BY priority, run_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
),
granted AS (
    SELECT picked.id
    FROM picked
    WHERE NOT (SELECT present FROM limits)
       OR NOT EXISTS (SELECT 1 FROM orgjobs.rate_limits r WHERE r.organization_id = picked.organization_id)
    UNION ALL
    SELECT orgjobs.grant_starts(array_agg(picked.id ORDER BY picked.priority, picked.run_at, picked.id),
                                array_agg(picked.organization_id ORDER BY picked.priority, picked.run_at, picked.id),
                                array_agg(picked.kind ORDER BY picked.priority, picked.run_at, picked.id),
                                coalesce($4::timestamptz, statement_timestamp()))
    FROM picked
    WHERE (SELECT present FROM limits)
      AND EXISTS (SELECT 1 FROM orgjobs.rate_limits r WHERE r.organization_id = picked.organization_id)
    HAVING count(*) > 0
)
UPDATE orgjobs.jobs j
SET state        = 'running',
    attempt      = j.attempt + 1,
    attempted_at = coalesce($4::timestamptz, statement_timestamp()),
    locked_by    = $2,
    locked_until = coalesce($4::timestamptz, statement_timestamp()) + make_interval(secs => $3)
-- By primary key whatever the planner thinks grant_starts returns.
WHERE j.id = ANY (ARRAY(SELECT id FROM granted))
RETURNING j.id, j.kind, j.organization_id, j.payload, j.attempt, j.max_attempts, j.priority,
          (SELECT count(*) FROM picked) AS picked,
          -- For the worker's history: how long the job waited to start.
          j.attempted_at, j.run_at
