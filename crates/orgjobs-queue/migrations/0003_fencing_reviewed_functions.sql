-- orgjobs queue, version 3: completion fenced by the worker as well as the
-- attempt, and the list of reviewed SECURITY DEFINER functions.

-- Completion names the worker that claimed the attempt (locked_by), like
-- every other transition out of 'running' (batch completion, failure,
-- release, heartbeat): an executor that lost its job to another worker can
-- no longer complete it, even where the attempt number matches. The
-- two-argument form is dropped so that no unfenced path remains; workers of
-- an earlier version must stop before this migration runs (their
-- completions would fail and their jobs run again).
CREATE FUNCTION orgjobs.complete_job(job_id bigint, job_attempt integer, worker text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE orgjobs.jobs j
    SET state = 'completed', finalized_at = now(), locked_by = NULL, locked_until = NULL
    WHERE j.id = complete_job.job_id
      AND j.attempt = complete_job.job_attempt
      AND j.locked_by = complete_job.worker
      AND j.state = 'running'
      AND j.organization_id IS NOT DISTINCT FROM orgjobs.current_org();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % attempt % is not running under this context and worker', job_id, job_attempt
            USING ERRCODE = 'OJ001';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION orgjobs.complete_job(bigint, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION orgjobs.complete_job(bigint, integer, text)
    TO orgjobs_tenant, orgjobs_global, orgjobs_worker;
DROP FUNCTION orgjobs.complete_job(bigint, integer);

-- SECURITY DEFINER functions run with their owner's rights: one that the
-- tenant role may execute (or that a trigger on a table it may write runs)
-- can read past row-level security. Each such function must be reviewed and
-- recorded here by the migration that creates it; `orgjobs proof` and the
-- worker's startup check refuse any other, and any whose body or settings
-- changed since (body_md5 covers prosrc and proconfig, see
-- orgjobs.definer_checksum).
CREATE TABLE orgjobs.reviewed_functions (
    -- regprocedure as text, e.g. orgjobs.add_job(text,uuid,jsonb,...).
    signature   text PRIMARY KEY,
    body_md5    text NOT NULL,
    reviewed_at timestamptz NOT NULL DEFAULT now()
);

-- The checksum a reviewed function is recorded with.
CREATE FUNCTION orgjobs.definer_checksum(fn regprocedure) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT md5(p.prosrc || E'\n' || coalesce(array_to_string(p.proconfig, E'\n'), ''))
    FROM pg_catalog.pg_proc p WHERE p.oid = fn
$$;

-- Records `fn` as reviewed, with its current body. Only the schema owner
-- (migrations) may call it.
CREATE FUNCTION orgjobs.mark_reviewed(fn regprocedure) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO orgjobs.reviewed_functions (signature, body_md5)
    VALUES (fn::text, orgjobs.definer_checksum(fn))
    ON CONFLICT (signature) DO UPDATE
        SET body_md5 = EXCLUDED.body_md5, reviewed_at = now()
$$;
REVOKE ALL ON FUNCTION orgjobs.mark_reviewed(regprocedure) FROM PUBLIC;

SELECT orgjobs.mark_reviewed('orgjobs.add_job(text,uuid,jsonb,timestamptz,integer,integer,text)');
SELECT orgjobs.mark_reviewed('orgjobs.complete_job(bigint,integer,text)');

GRANT SELECT ON orgjobs.reviewed_functions TO orgjobs_worker;

-- What a tenant table is, in one place: an ordinary or partitioned table
-- (not a partition) outside the system schemas and orgjobs with an
-- organization_id column. The startup check, the proof and its audits read
-- this view, so a new table is covered without anyone registering it.
CREATE VIEW orgjobs.tenant_tables AS
SELECT c.oid AS relid
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a
  ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'orgjobs')
  AND n.nspname NOT LIKE 'pg\_%';
GRANT SELECT ON orgjobs.tenant_tables TO orgjobs_worker;
