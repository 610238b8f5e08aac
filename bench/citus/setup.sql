-- Where the queue lives on Citus: the fixture of bench/citus.sh. Run as a
-- superuser on the coordinator of a fresh cluster (scripts/citus-cluster).
--
-- items: a tenant table (RLS forced, the standard predicate), distributed by
-- organization; 20 organizations x 100 rows. Two queues of the same shape:
-- q_local, a local table of the coordinator (orgjobs' choice), and q_dist,
-- distributed by organization and co-located with items. atomic_commit and
-- commit_atomically() are orgjobs' 2PC marker (migration
-- orgjobs/citus/0001_atomic_commit). Each queue starts with 2,000 waiting
-- jobs per organization; every job run enqueues its successor, so the
-- backlog stays level.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_tenant') THEN
    CREATE ROLE bench_tenant NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
END $$;

CREATE TABLE items (
  organization_id uuid NOT NULL,
  id integer NOT NULL,
  n bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (organization_id, id)
);
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
ALTER TABLE items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON items FOR ALL
  USING (organization_id = nullif(current_setting('app.current_org', true), '')::uuid)
  WITH CHECK (organization_id = nullif(current_setting('app.current_org', true), '')::uuid);
GRANT SELECT, UPDATE ON items TO bench_tenant;
SELECT create_distributed_table('items', 'organization_id');
INSERT INTO items (organization_id, id)
SELECT md5('org-' || o)::uuid, i FROM generate_series(1, 20) o, generate_series(1, 100) i;

CREATE TABLE q_local (
  id bigserial PRIMARY KEY,
  organization_id uuid NOT NULL,
  state text NOT NULL DEFAULT 'waiting'
);
CREATE INDEX q_local_waiting ON q_local (organization_id, id) WHERE state = 'waiting';
INSERT INTO q_local (organization_id)
SELECT md5('org-' || o)::uuid FROM generate_series(1, 20) o, generate_series(1, 2000);

CREATE TABLE q_dist (
  organization_id uuid NOT NULL,
  id bigserial,
  state text NOT NULL DEFAULT 'waiting',
  PRIMARY KEY (organization_id, id)
);
CREATE INDEX q_dist_waiting ON q_dist (organization_id, id) WHERE state = 'waiting';
SELECT create_distributed_table('q_dist', 'organization_id', colocate_with => 'items');
INSERT INTO q_dist (organization_id)
SELECT md5('org-' || o)::uuid FROM generate_series(1, 20) o, generate_series(1, 2000);
GRANT SELECT, INSERT, UPDATE ON q_dist TO bench_tenant;
GRANT USAGE ON SEQUENCE q_dist_id_seq TO bench_tenant;

CREATE TABLE atomic_commit (id integer PRIMARY KEY);
SELECT citus_add_local_table_to_metadata('atomic_commit');
CREATE FUNCTION commit_atomically() RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ DELETE FROM atomic_commit WHERE id = -1 $$;
CREATE FUNCTION complete_local(job bigint, org uuid) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  UPDATE q_local SET state = 'completed' WHERE id = job;
  INSERT INTO q_local (organization_id) VALUES (org);
$$;
GRANT EXECUTE ON FUNCTION commit_atomically(), complete_local(bigint, uuid) TO bench_tenant;

SELECT run_command_on_workers('SET citus.enable_ddl_propagation TO off; ALTER ROLE bench_tenant LOGIN');
VACUUM ANALYZE items;
VACUUM ANALYZE q_local;
VACUUM ANALYZE q_dist;
