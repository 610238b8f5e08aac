-- orgjobs queue, version 8: pausing an organization, a kind, or one kind of
-- one organization.
--
-- A paused organization's jobs (or a paused kind's) wait; everyone else's
-- run. Every worker's claim passes over them from its next claim on (jobs
-- already claimed finish). Operators pause and resume through `orgjobs
-- pause`/`orgjobs resume`, `orgjobs_queue::pause`, or the API's operator
-- routes; `queue stats` and the SYSTEM_METRICS gauges show what is paused.
CREATE TABLE orgjobs.pauses (
    -- NULL: every organization (a paused kind).
    organization_id uuid,
    -- NULL: every kind of the organization.
    kind            text,
    reason          text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    paused_by       text NOT NULL DEFAULT '' CHECK (length(paused_by) <= 200),
    paused_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pauses_something CHECK (organization_id IS NOT NULL OR kind IS NOT NULL),
    CONSTRAINT pauses_kind_format CHECK (kind ~ '^[A-Z][A-Z0-9_]{0,63}$')
);
CREATE UNIQUE INDEX pauses_key ON orgjobs.pauses (organization_id, kind) NULLS NOT DISTINCT;
GRANT SELECT ON orgjobs.pauses TO orgjobs_worker, orgjobs_global;
GRANT INSERT, DELETE ON orgjobs.pauses TO orgjobs_worker;

-- Whether a job of `org` and `job_kind` may not start at `at`: a pause
-- covers it, or a rate-limit bucket that covers it holds less than one
-- token. With `job_kind` NULL, whether the organization as a whole may not
-- (the claims' walk over organizations). Plain SQL without settings, so
-- that the planner inlines it (see 0006).
CREATE OR REPLACE FUNCTION orgjobs.start_blocked(org uuid, job_kind text, at timestamptz) RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (
        SELECT 1 FROM orgjobs.pauses p
        WHERE (p.organization_id IS NULL OR p.organization_id = start_blocked.org)
          AND (p.kind IS NULL OR p.kind = start_blocked.job_kind))
        OR EXISTS (
        SELECT 1 FROM orgjobs.rate_limits r
        WHERE r.organization_id = start_blocked.org
          AND (r.kind IS NULL OR r.kind = start_blocked.job_kind)
          AND orgjobs.rate_tokens(r, start_blocked.at) < 1)
$$;
