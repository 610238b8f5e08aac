-- One job with the queue distributed by organization, co-located with the
-- tenant rows: the claim is a single-shard statement on the organization's
-- worker node, and the job's transaction (the tenant write, the completion,
-- the successor) touches that one node, so it commits in one phase there.
\set o random(1, 20)
\set k random(1, 100)
SELECT md5('org-' || :o)::uuid AS org \gset
UPDATE q_dist SET state = 'running'
WHERE organization_id = ':org'
  AND id = (SELECT id FROM q_dist WHERE organization_id = ':org' AND state = 'waiting'
            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id AS job \gset
BEGIN;
SELECT set_config('role', 'bench_tenant', true), set_config('citus.propagate_set_commands', 'local', true);
SET LOCAL app.current_org = ':org';
UPDATE items SET n = n + 1 WHERE organization_id = ':org' AND id = :k;
UPDATE q_dist SET state = 'completed' WHERE organization_id = ':org' AND id = :job;
INSERT INTO q_dist (organization_id) VALUES (':org');
COMMIT;
