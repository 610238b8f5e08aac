-- helpdesk, version 3: records the helpdesk's SECURITY DEFINER trigger
-- functions as reviewed (see orgjobs.reviewed_functions). Each enqueues jobs
-- for the rows its trigger saw, through orgjobs.add_job, which refuses any
-- organization but the transaction's context; none reads a tenant table.
SELECT orgjobs.mark_reviewed('public.enqueue_new_ticket_jobs()');
SELECT orgjobs.mark_reviewed('public.enqueue_ticket_sla_job()');
SELECT orgjobs.mark_reviewed('public.enqueue_article_index_job()');
