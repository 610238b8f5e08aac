-- A ticket with what its jobs found: triage, SLA prediction, suggestions and
-- the latest reply draft. $1: the ticket, $2: the transaction's organization
-- (row-level security limits every table to it anyway; named, so that on
-- Citus the statement runs on its one shard). bench/api.sh runs it in
-- pgbench.
SELECT t.id, t.subject, t.body, t.status, t.priority, t.category, t.requester_email,
       t.external_id, t.created_at, t.first_response_at, t.resolved_at,
       tr.category, tr.priority, tr.confidence, tr.model, tr.details, tr.created_at,
       p.predicted_first_response_at, p.predicted_resolution_at,
       p.breach_probability, p.risk_level, p.created_at,
       (SELECT s.content FROM public.ai_suggestions s
        WHERE s.organization_id = t.organization_id AND s.ticket_id = t.id
          AND s.suggestion_type = 'kb'),
       (SELECT s.content FROM public.ai_suggestions s
        WHERE s.organization_id = t.organization_id AND s.ticket_id = t.id
          AND s.suggestion_type = 'smart_reply')
FROM public.tickets t
LEFT JOIN public.ticket_ai_triage tr
  ON tr.organization_id = t.organization_id AND tr.ticket_id = t.id
LEFT JOIN public.sla_predictions p
  ON p.organization_id = t.organization_id AND p.ticket_id = t.id
WHERE t.id = $1 AND t.organization_id = $2
