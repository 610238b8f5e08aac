-- The helpdesk on a Citus cluster (`orgjobs migrate --citus`): every tenant
-- table distributed by its organization, all co-located, so that one
-- organization's rows (and every join and foreign key between them) live on
-- one node. Applied after the regular migrations, once, on the coordinator;
-- the orgjobs schema (the queue, tokens, sessions) stays a set of local
-- tables on the coordinator (see ARCHITECTURE.md, "Citus").
--
-- What changes against a single server:
-- * organizations is distributed by id (its organization_id is generated
--   from id, and Citus cannot distribute by a generated column); the other
--   tables by organization_id, co-located with it. The redundant
--   UNIQUE (organization_id) goes: Citus refuses a unique key without the
--   distribution column, and the primary key on id already says it.
-- * The triggers that enqueue jobs go: on a distributed table they would run
--   on the worker nodes, which cannot reach the queue on the coordinator. The
--   application enqueues the same jobs itself, in the writing transaction
--   (orgjobs_helpdesk::enqueue), so a ticket and its jobs still commit
--   together; plain SQL that inserts tickets on the cluster does not get
--   them (`orgjobs enqueue` or orgjobs.add_job does).
-- * tickets' foreign key to agents cannot SET NULL on a distributed table
--   (Citus: not supported when the key includes the distribution column):
--   deleting an agent who still has tickets is refused instead; reassign
--   them first.
-- * kb_articles_bump_version stays: it changes only the row being updated,
--   which is what Citus' citus.enable_unsafe_triggers allows safely.

ALTER TABLE public.organizations DROP CONSTRAINT organizations_org_key;

DROP TRIGGER tickets_enqueue_jobs ON public.tickets;
DROP TRIGGER tickets_enqueue_sla_job ON public.tickets;
DROP TRIGGER kb_articles_enqueue_index_insert ON public.kb_articles;
DROP TRIGGER kb_articles_enqueue_index_update ON public.kb_articles;

ALTER TABLE public.tickets DROP CONSTRAINT tickets_organization_id_assigned_to_fkey;
ALTER TABLE public.tickets ADD CONSTRAINT tickets_organization_id_assigned_to_fkey
    FOREIGN KEY (organization_id, assigned_to)
    REFERENCES public.agents (organization_id, id) ON DELETE RESTRICT;

SET LOCAL citus.enable_unsafe_triggers = on;

SELECT create_distributed_table('public.organizations', 'id');
-- Parents before the tables whose foreign keys name them.
SELECT create_distributed_table(t, 'organization_id', colocate_with => 'public.organizations')
FROM unnest(ARRAY[
    'public.agents', 'public.tickets', 'public.metrics_snapshots', 'public.kb_articles',
    'public.kb_passages', 'public.sla_policies', 'public.ticket_ai_triage',
    'public.ai_suggestions', 'public.sla_predictions', 'public.triage_models'
]::regclass[]) WITH ORDINALITY AS u (t, ord)
ORDER BY ord;

-- On the worker nodes Citus fills metrics_snapshots' identity column with an
-- explicit nextval(), which needs USAGE on its sequence (a single server
-- checks none for an identity column). Granted after distributing, so that
-- Citus propagates it.
GRANT USAGE ON SEQUENCE public.metrics_snapshots_id_seq TO orgjobs_tenant;
