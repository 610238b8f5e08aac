-- Fair claim: up to $1 runnable jobs for worker $2, leased for $3 seconds,
-- interleaving organizations round-robin, starting after organization key
-- $4, at the most urgent runnable priority. $5: optional limit on jobs
-- running at once per organization, across all workers (NULL: none). $6:
-- the time (NULL: the server's statement_timestamp(), as in claim.sql, so
-- that a lease counts from the claim, not from its transaction's start).
-- $7: the advisory lock class of
-- per-organization limits. $8: organizations to pass over this time (those
-- ahead of their share of worker time; an empty array passes over none).
--
-- 1. top: the most urgent runnable priority (one probe of jobs_fetch_idx).
-- 2. orgs: organizations with waiting jobs, in key order after the
--    cursor, one index probe each (a loose index scan of
--    jobs_org_fetch_idx), at most $1 of them.
-- 3. picked: from each, its head jobs in (run_at, id) order, an equal share
--    of the batch, skipping rows other workers hold. With a limit, an
--    organization is taken only under a transaction-level advisory lock,
--    so that two workers cannot both fill its last slot.
-- 4. granted: with rate limits, what their buckets allow (below).
-- The last column says whether the walk reached the last organization (the
-- next claim then starts over from the first).
WITH RECURSIVE
-- Whether any rate limit or pause exists (when none, the checks below cost
-- nothing).
limits AS MATERIALIZED (
    SELECT EXISTS (SELECT 1 FROM orgjobs.rate_limits) OR EXISTS (SELECT 1 FROM orgjobs.pauses) AS present
),
-- The most urgent priority among jobs that may start now (a paused or
-- rate-limited job must not set it: no organization would then be useful).
top AS (
    SELECT priority
    FROM orgjobs.jobs j
    WHERE state IN ('available', 'scheduled', 'retryable') AND run_at <= coalesce($6::timestamptz, statement_timestamp())
      AND NOT ((SELECT present FROM limits)
               AND orgjobs.start_blocked(j.organization_id, j.kind, coalesce($6::timestamptz, statement_timestamp())))
    ORDER BY priority, run_at, id
    LIMIT 1
),
orgs (org, useful, n) AS (
    -- Each step is a plain "next key after" on the leading column of
    -- jobs_org_fetch_idx, so the planner takes that index whatever its
    -- statistics say (a freshly filled table has none). An organization is
    -- useful when its most urgent runnable job has the top priority (a probe
    -- ordered like the same index, so again no other index fits); n counts
    -- useful ones, and the walk stops at $1 of them or at the last
    -- organization.
    (
        SELECT o.org, h.useful, h.useful::int
        FROM (
            SELECT coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) AS org
            FROM orgjobs.jobs j
            WHERE j.state IN ('available', 'scheduled', 'retryable')
              AND coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) > $4::uuid
            ORDER BY coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
            LIMIT 1
        ) o, LATERAL (
            SELECT coalesce((
                SELECT h.priority
                FROM orgjobs.jobs h
                WHERE coalesce(h.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) = o.org
                  AND h.state IN ('available', 'scheduled', 'retryable')
                  AND h.run_at <= coalesce($6::timestamptz, statement_timestamp())
                  AND NOT ((SELECT present FROM limits)
                           AND orgjobs.start_blocked(h.organization_id, h.kind, coalesce($6::timestamptz, statement_timestamp())))
              ORDER BY coalesce(h.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid),
                         h.priority, h.run_at, h.id
                LIMIT 1
            ) = (SELECT priority FROM top), false)
              AND NOT coalesce(o.org = ANY($8::uuid[]), false)
              AND NOT ((SELECT present FROM limits)
                       AND orgjobs.start_blocked(o.org, NULL, coalesce($6::timestamptz, statement_timestamp()))) AS useful
        ) h
    )
    UNION ALL
    SELECT nxt.org, h.useful, orgs.n + h.useful::int
    FROM orgs, LATERAL (
        SELECT (
            SELECT coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
            FROM orgjobs.jobs j
            WHERE j.state IN ('available', 'scheduled', 'retryable')
              AND coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) > orgs.org
            ORDER BY coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
            LIMIT 1
        ) AS org
    ) nxt, LATERAL (
        SELECT coalesce((
            SELECT h.priority
            FROM orgjobs.jobs h
            WHERE coalesce(h.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) = nxt.org
              AND h.state IN ('available', 'scheduled', 'retryable')
              AND h.run_at <= coalesce($6::timestamptz, statement_timestamp())
              AND NOT ((SELECT present FROM limits)
                       AND orgjobs.start_blocked(h.organization_id, h.kind, coalesce($6::timestamptz, statement_timestamp())))
          ORDER BY coalesce(h.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid),
                     h.priority, h.run_at, h.id
            LIMIT 1
        ) = (SELECT priority FROM top), false)
          AND NOT coalesce(nxt.org = ANY($8::uuid[]), false)
          AND NOT ((SELECT present FROM limits)
                   AND orgjobs.start_blocked(nxt.org, NULL, coalesce($6::timestamptz, statement_timestamp()))) AS useful
    ) h
    WHERE orgs.org IS NOT NULL AND orgs.n < $1
),
found AS (
    SELECT org FROM orgs WHERE org IS NOT NULL AND useful
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
       OR pg_try_advisory_xact_lock($7::int, hashtext(found.org::text))
),
picked AS (
    SELECT p.id, p.organization_id, p.kind, p.priority, p.run_at
    FROM allowed, LATERAL (
        -- Ordered like jobs_org_fetch_idx (organization and priority are
        -- fixed here), so that no other index fits.
        SELECT j.id, j.organization_id, j.kind, j.priority, j.run_at
        FROM orgjobs.jobs j
        WHERE coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) = allowed.org
          AND j.state IN ('available', 'scheduled', 'retryable')
          AND j.priority = (SELECT priority FROM top)
          AND j.run_at <= coalesce($6::timestamptz, statement_timestamp())
          AND NOT ((SELECT present FROM limits)
                   AND orgjobs.start_blocked(j.organization_id, j.kind, coalesce($6::timestamptz, statement_timestamp())))
        ORDER BY coalesce(j.organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid),
                 j.priority, j.run_at, j.id
        LIMIT allowed.k
        FOR UPDATE SKIP LOCKED
    ) p
    LIMIT $1
),
-- 4. granted: the picked jobs of organizations with rate limits start only
--    as far as their buckets allow (orgjobs.grant_starts takes the tokens);
--    the others all start.
granted AS (
    SELECT picked.id
    FROM picked
    WHERE NOT (SELECT present FROM limits)
       OR NOT EXISTS (SELECT 1 FROM orgjobs.rate_limits r WHERE r.organization_id = picked.organization_id)
    UNION ALL
    SELECT orgjobs.grant_starts(array_agg(picked.id ORDER BY picked.priority, picked.run_at, picked.id),
                                array_agg(picked.organization_id ORDER BY picked.priority, picked.run_at, picked.id),
                                array_agg(picked.kind ORDER BY picked.priority, picked.run_at, picked.id),
                                coalesce($6::timestamptz, statement_timestamp()))
    FROM picked
    WHERE (SELECT present FROM limits)
      AND EXISTS (SELECT 1 FROM orgjobs.rate_limits r WHERE r.organization_id = picked.organization_id)
    HAVING count(*) > 0
)
UPDATE orgjobs.jobs j
SET state        = 'running',
    attempt      = j.attempt + 1,
    attempted_at = coalesce($6::timestamptz, statement_timestamp()),
    locked_by    = $2,
    locked_until = coalesce($6::timestamptz, statement_timestamp()) + make_interval(secs => $3)
-- By primary key whatever the planner thinks grant_starts returns.
WHERE j.id = ANY (ARRAY(SELECT id FROM granted))
RETURNING j.id, j.kind, j.organization_id, j.payload, j.attempt, j.max_attempts, j.priority,
          (SELECT bool_or(org IS NULL) FROM orgs) AS reached_end,
          -- For the worker's history: how long the job waited to start.
          j.attempted_at, j.run_at
