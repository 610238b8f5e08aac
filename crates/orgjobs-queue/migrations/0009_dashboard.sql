-- orgjobs queue, version 9: what the dashboard shows and needs.
--
-- Like the jobs, every table here lives in the orgjobs schema: the tenant
-- role has no privilege on any of them (the proof checks it), and only the
-- worker's and the server's login reads and writes them.

-- Workers, as they report themselves: each registers when it starts and
-- reports every few seconds (heartbeat_at); a stopped worker sets
-- stopped_at. A worker whose heartbeat is old died without saying so.
-- Rows not heard from for a day are deleted by the next report of any
-- worker.
CREATE TABLE orgjobs.workers (
    id           text PRIMARY KEY CHECK (length(id) <= 200),
    host         text NOT NULL DEFAULT '' CHECK (length(host) <= 200),
    pid          integer NOT NULL DEFAULT 0,
    concurrency  integer NOT NULL DEFAULT 0,
    kinds        text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);
GRANT SELECT, INSERT, UPDATE, DELETE ON orgjobs.workers TO orgjobs_worker;

-- The queue's short history: per minute, worker, organization (NULL for
-- global jobs) and kind, the attempts that ended, the handler time they
-- took, and how long they waited to start (run_at to claim). Workers keep
-- these in memory and add them every few seconds (one statement); rows
-- older than two hours are deleted as they go. The dashboard's charts,
-- "completed recently" and "share of worker time" come from here, not
-- from scans of the jobs table: cost grows with minutes × organizations ×
-- kinds, not with the number of jobs.
CREATE TABLE orgjobs.worker_minutes (
    minute          timestamptz NOT NULL,
    worker_id       text NOT NULL,
    organization_id uuid,
    kind            text NOT NULL,
    completed       integer NOT NULL DEFAULT 0,
    failed          integer NOT NULL DEFAULT 0,
    run_secs        float8 NOT NULL DEFAULT 0,
    wait_secs       float8 NOT NULL DEFAULT 0,
    wait_max_secs   float8 NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX worker_minutes_key
    ON orgjobs.worker_minutes (minute, worker_id, organization_id, kind) NULLS NOT DISTINCT;
GRANT SELECT, INSERT, UPDATE, DELETE ON orgjobs.worker_minutes TO orgjobs_worker;

-- Dead letters and cancelled jobs, by state and kind: the dashboard's dead
-- letter view and its exact counts of these states read this small index
-- instead of the finished jobs (which can be millions). Written only when a
-- job is discarded or cancelled.
CREATE INDEX jobs_failed_idx ON orgjobs.jobs (state, kind, finalized_at)
    WHERE state IN ('discarded', 'cancelled');

-- Dashboard sessions. A browser logs in with an API token; the session
-- holds only the SHA-256 of its random id (the cookie's value), the
-- token it came from, and its CSRF token. Revoking the token ends its
-- sessions (the lookup checks the token too).
CREATE TABLE orgjobs.dashboard_sessions (
    id_sha256    bytea PRIMARY KEY CHECK (length(id_sha256) = 32),
    token_id     uuid NOT NULL REFERENCES orgjobs.api_tokens (id) ON DELETE CASCADE,
    csrf         text NOT NULL CHECK (length(csrf) BETWEEN 32 AND 128),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expiry_idx ON orgjobs.dashboard_sessions (expires_at);
GRANT SELECT, INSERT, DELETE ON orgjobs.dashboard_sessions TO orgjobs_worker;

-- The session with this hash, unexpired, of an unrevoked token: the
-- token's id, organization (NULL: an operator), role and name, and the
-- session's CSRF token. The server's login cannot read api_tokens itself.
CREATE FUNCTION orgjobs.dashboard_session(session_sha256 bytea)
RETURNS TABLE (token_id uuid, organization_id uuid, role text, name text, csrf text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT t.id, t.organization_id, t.role, t.name, s.csrf
    FROM orgjobs.dashboard_sessions s
    JOIN orgjobs.api_tokens t ON t.id = s.token_id
    WHERE s.id_sha256 = dashboard_session.session_sha256
      AND s.expires_at > now() AND t.revoked_at IS NULL;
END
$$;
REVOKE ALL ON FUNCTION orgjobs.dashboard_session(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION orgjobs.dashboard_session(bytea) TO orgjobs_worker;
SELECT orgjobs.mark_reviewed('orgjobs.dashboard_session(bytea)');

-- Who did what from the dashboard or the API: logins, logouts, retries,
-- cancels, pauses. `actor` names the token (its name and id).
CREATE TABLE orgjobs.actions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL CHECK (length(actor) <= 300),
    organization_id uuid,
    action          text NOT NULL CHECK (length(action) <= 100),
    detail          text NOT NULL DEFAULT '' CHECK (length(detail) <= 2000)
);
GRANT SELECT, INSERT ON orgjobs.actions TO orgjobs_worker;
