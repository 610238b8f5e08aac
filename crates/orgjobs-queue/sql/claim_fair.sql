-- Fair claim: up to $1 runnable jobs for worker $2, leased for $3 seconds,
-- interleaving organizations round-robin, starting after organization key
-- $4, at the most urgent runnable priority. $5: optional limit on jobs
-- running at once per organization, across all workers (NULL: none).
--
-- 1. top: the most urgent runnable priority (one probe of jobs_fetch_idx).
-- 2. orgs: organizations with runnable jobs at that priority, in key order
--    after the cursor, one index probe each (a loose index scan of
--    jobs_org_fetch_idx), at most $1 of them.
-- 3. picked: from each, its head jobs in (run_at, id) order, an equal share
--    of the batch, skipping rows other workers hold. With a limit, an
--    organization is taken only under a transaction-level advisory lock,
--    so that two workers cannot both fill its last slot.
WITH RECURSIVE
top AS (
    SELECT priority
    FROM orgjobs.jobs
    WHERE state IN ('available', 'scheduled', 'retryable') AND run_at <= now()
    ORDER BY priority, run_at, id
    LIMIT 1
),
orgs (org, n) AS (
    (
        SELECT coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid), 1
        FROM orgjobs.jobs j, top
        WHERE j.state IN ('available', 'scheduled', 'retryable')
          AND coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) > $4::uuid
          AND j.priority = top.priority
          AND j.run_at <= now()
        ORDER BY coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
        LIMIT 1
    )
    UNION ALL
    SELECT (
        SELECT coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
        FROM orgjobs.jobs j, top
        WHERE j.state IN ('available', 'scheduled', 'retryable')
          AND coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) > orgs.org
          AND j.priority = top.priority
          AND j.run_at <= now()
        ORDER BY coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
        LIMIT 1
    ), orgs.n + 1
    FROM orgs
    WHERE orgs.org IS NOT NULL AND orgs.n < $1
),
found AS (
    SELECT org FROM orgs WHERE org IS NOT NULL
),
share AS (
    SELECT greatest(1, ceil($1::float8 / greatest(count(*), 1)))::int AS k FROM found
),
allowed AS (
    SELECT found.org,
           CASE
               WHEN $5::int IS NULL OR found.org = 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid
                   THEN share.k
               ELSE least(share.k, greatest(0, $5::int - (
                   SELECT count(*) FROM orgjobs.jobs r
                   WHERE r.organization_id = found.org AND r.state = 'running')))::int
           END AS k
    FROM found, share
    WHERE $5::int IS NULL
       OR found.org = 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid
       OR pg_try_advisory_xact_lock(28522, hashtext(found.org::text))
),
picked AS (
    SELECT p.id
    FROM allowed, top, LATERAL (
        SELECT j.id
        FROM orgjobs.jobs j
        WHERE coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) = allowed.org
          AND j.state IN ('available', 'scheduled', 'retryable')
          AND j.priority = top.priority
          AND j.run_at <= now()
        ORDER BY j.run_at, j.id
        LIMIT allowed.k
        FOR UPDATE SKIP LOCKED
    ) p
    LIMIT $1
)
UPDATE orgjobs.jobs j
SET state        = 'running',
    attempt      = j.attempt + 1,
    attempted_at = now(),
    locked_by    = $2,
    locked_until = now() + make_interval(secs => $3)
FROM picked
WHERE j.id = picked.id
RETURNING j.id, j.kind, j.organization_id, j.payload, j.attempt, j.max_attempts, j.priority
