-- The queue on a Citus cluster (`orgjobs migrate --citus`, after the regular
-- migrations). The queue's tables stay local tables of the coordinator; a
-- tenant transaction writes the organization's rows on a worker node and the
-- job's completion (or a new job) on the coordinator.
--
-- Citus commits such a transaction with one-phase commit unless it knows the
-- coordinator itself was written through Citus: it commits the worker's part
-- first, then the coordinator's, and a crash in between would keep a job's
-- writes but lose its completion (the job would run twice). A write to a
-- Citus table on the coordinator makes Citus use two-phase commit for the
-- whole transaction (PREPARE on the workers, commit here, COMMIT PREPARED,
-- recovered after a crash by Citus' 2PC recovery). So every tenant and
-- global transaction on Citus begins with orgjobs.commit_atomically(): a
-- DELETE that matches nothing from a Citus local table. A transaction that
-- writes nowhere else stays one-phase (Citus prepares only the connections
-- that wrote).
--
-- Needs the coordinator in Citus' metadata (citus_set_coordinator_host).

CREATE TABLE orgjobs.atomic_commit (id integer PRIMARY KEY);
SELECT citus_add_local_table_to_metadata('orgjobs.atomic_commit');

CREATE FUNCTION orgjobs.commit_atomically() RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ DELETE FROM orgjobs.atomic_commit WHERE id = -1 $$;

REVOKE ALL ON FUNCTION orgjobs.commit_atomically() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION orgjobs.commit_atomically() TO orgjobs_tenant, orgjobs_global, orgjobs_worker;
SELECT orgjobs.mark_reviewed('orgjobs.commit_atomically()');
