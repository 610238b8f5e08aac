-- orgjobs queue, version 6: per-organization rate limits on job starts.
--
-- A row limits how many jobs of one organization (of one kind, or of all
-- its kinds when kind is NULL) may start per period, across every worker
-- process: a token bucket that holds at most `burst` starts and refills at
-- `starts` per `period`. A job starts only when every bucket that covers it
-- has a whole token; the claim takes the tokens in the same transaction as
-- the jobs. Organizations without a row are not limited and pay one probe
-- of an empty index per claim.
--
-- Queue configuration, not tenant data: like orgjobs.jobs it lives in the
-- orgjobs schema, where the tenant role has no privilege; operators manage
-- it through `orgjobs rate-limit` (the schema owner) and workers read and
-- charge it.
CREATE TABLE orgjobs.rate_limits (
    organization_id uuid        NOT NULL,
    -- NULL: all of the organization's kinds together.
    kind            text,
    starts          integer     NOT NULL CHECK (starts >= 1),
    period          interval    NOT NULL CHECK (period >= interval '1 millisecond'),
    burst           integer     NOT NULL CHECK (burst >= 1),
    -- The bucket: whole and fractional starts left at refilled_at.
    tokens          float8      NOT NULL,
    refilled_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rate_limits_kind_format CHECK (kind ~ '^[A-Z][A-Z0-9_]{0,63}$')
);
CREATE UNIQUE INDEX rate_limits_key ON orgjobs.rate_limits (organization_id, kind) NULLS NOT DISTINCT;

-- The starts a bucket holds at `at`: what it held, plus what its rate has
-- added since, up to its burst. This function and start_blocked are plain
-- SQL without settings, so that the planner inlines them into the claims
-- (a SET clause would make each call a function call: 8 ms instead of
-- 1 ms for a claim of 32 limited jobs); they run with the caller's rights
-- and name every object with its schema.
CREATE FUNCTION orgjobs.rate_tokens(r orgjobs.rate_limits, at timestamptz) RETURNS float8
LANGUAGE sql IMMUTABLE
AS $$
    SELECT least(r.burst::float8, r.tokens + r.starts * greatest(0, extract(epoch FROM at - r.refilled_at))
                                       / extract(epoch FROM r.period))
$$;

-- Which of the candidate jobs (ids, with their organizations and kinds, in
-- claim order) may start at `at`, taking one token from each bucket that
-- covers each job started. The buckets are locked with SKIP LOCKED: a
-- bucket another claim holds right now refuses its organization's jobs for
-- this claim (they stay waiting), so claims never wait on each other and
-- cannot deadlock, even across the several passes of one claim
-- transaction. The second statement's snapshot is taken after the locks,
-- so it reads what the previous claim left.
CREATE FUNCTION orgjobs.grant_starts(ids bigint[], orgs uuid[], kinds text[], at timestamptz)
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE ROWS 16
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    held text[];
BEGIN
    SELECT coalesce(array_agg(l.key), '{}') INTO held
    FROM (
        SELECT r.organization_id::text || '/' || coalesce(r.kind, '') AS key
        FROM orgjobs.rate_limits r
        WHERE r.organization_id = ANY(grant_starts.orgs)
        ORDER BY r.organization_id, r.kind NULLS FIRST
        FOR UPDATE SKIP LOCKED
    ) l;

    RETURN QUERY
    WITH busy AS (
        -- Organizations with a bucket another claim holds: none of their
        -- jobs start in this claim.
        SELECT DISTINCT r.organization_id AS org
        FROM orgjobs.rate_limits r
        WHERE r.organization_id = ANY(grant_starts.orgs)
          AND NOT (r.organization_id::text || '/' || coalesce(r.kind, '')) = ANY(held)
    ),
    cand AS (
        SELECT c.id, c.org, c.kind, c.ord
        FROM unnest(grant_starts.ids, grant_starts.orgs, grant_starts.kinds)
             WITH ORDINALITY AS c (id, org, kind, ord)
        WHERE c.org NOT IN (SELECT org FROM busy)
    ),
    buckets AS (
        SELECT r.organization_id AS org, r.kind, orgjobs.rate_tokens(r, grant_starts.at) AS avail
        FROM orgjobs.rate_limits r
        WHERE (r.organization_id::text || '/' || coalesce(r.kind, '')) = ANY(held)
    ),
    -- First each kind's own bucket, then the organization's over the jobs
    -- that passed it (a job refused by its kind's bucket takes nothing
    -- from its organization's).
    by_kind AS (
        SELECT c.*, row_number() OVER (PARTITION BY c.org, c.kind ORDER BY c.ord) AS n
        FROM cand c
    ),
    kind_ok AS (
        SELECT b.id, b.org, b.kind, b.ord
        FROM by_kind b
        LEFT JOIN buckets k ON k.org = b.org AND k.kind = b.kind
        WHERE k.avail IS NULL OR b.n <= floor(k.avail)
    ),
    by_org AS (
        SELECT c.*, row_number() OVER (PARTITION BY c.org ORDER BY c.ord) AS n
        FROM kind_ok c
    ),
    ok AS (
        SELECT b.id, b.org, b.kind
        FROM by_org b
        LEFT JOIN buckets o ON o.org = b.org AND o.kind IS NULL
        WHERE o.avail IS NULL OR b.n <= floor(o.avail)
    ),
    charge AS (
        UPDATE orgjobs.rate_limits r
        SET tokens = bk.avail - (
                SELECT count(*) FROM ok
                WHERE ok.org = r.organization_id AND (r.kind IS NULL OR ok.kind = r.kind)),
            refilled_at = greatest(r.refilled_at, grant_starts.at)
        FROM buckets bk
        WHERE bk.org = r.organization_id AND bk.kind IS NOT DISTINCT FROM r.kind
    )
    SELECT ok.id FROM ok;
END
$$;

-- Whether a job of `org` and `kind` would be refused a start at `at` (a
-- bucket that covers it holds less than one token), read without locking:
-- the claims use it to pass over what grant_starts would refuse, so that a
-- limited organization's heads do not fill the claim.
CREATE FUNCTION orgjobs.start_blocked(org uuid, job_kind text, at timestamptz) RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (
        SELECT 1 FROM orgjobs.rate_limits r
        WHERE r.organization_id = start_blocked.org
          AND (r.kind IS NULL OR r.kind = start_blocked.job_kind)
          AND orgjobs.rate_tokens(r, start_blocked.at) < 1)
$$;

REVOKE ALL ON FUNCTION orgjobs.rate_tokens(orgjobs.rate_limits, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION orgjobs.grant_starts(bigint[], uuid[], text[], timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION orgjobs.start_blocked(uuid, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION orgjobs.rate_tokens(orgjobs.rate_limits, timestamptz) TO orgjobs_worker;
GRANT EXECUTE ON FUNCTION orgjobs.grant_starts(bigint[], uuid[], text[], timestamptz) TO orgjobs_worker;
GRANT EXECUTE ON FUNCTION orgjobs.start_blocked(uuid, text, timestamptz) TO orgjobs_worker;
GRANT SELECT, UPDATE ON orgjobs.rate_limits TO orgjobs_worker;
