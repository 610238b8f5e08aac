-- One job with the queue on the coordinator (orgjobs' layout): the claim in
-- a statement of its own, then the job's transaction: the tenant context
-- (propagated), the 2PC marker, the tenant write on the organization's
-- worker node, the completion and the successor on the coordinator; Citus
-- commits it with two-phase commit.
\set o random(1, 20)
\set k random(1, 100)
SELECT md5('org-' || :o)::uuid AS org \gset
UPDATE q_local SET state = 'running'
WHERE id = (SELECT id FROM q_local WHERE organization_id = ':org' AND state = 'waiting'
            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id AS job \gset
BEGIN;
SELECT set_config('role', 'bench_tenant', true), set_config('citus.propagate_set_commands', 'local', true);
SET LOCAL app.current_org = ':org';
SELECT commit_atomically();
UPDATE items SET n = n + 1 WHERE organization_id = ':org' AND id = :k;
SELECT complete_local(:job, ':org');
COMMIT;
