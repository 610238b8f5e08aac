-- Updates the imported tickets that exist already (matched on external_id,
-- or for a ticket without one on the md5 of its subject, body and creation
-- time) and whose fields changed; returns each updated ticket's id and whether
-- a field its SLA prediction reads (priority, status, timestamps) changed. A field left out (NULL)
-- keeps the stored value. A resolution time given without a status resolves
-- an open ticket; a reopening status clears the stored resolution time, so
-- that status and resolved_at agree.
-- $1 the organization; $2..$11 the incoming tickets' columns, element by
-- element (external_id, subject, body, requester_email, status, priority,
-- category, created_at, first_response_at, resolved_at); $12 the open
-- statuses; $13 the status of a resolved ticket.
WITH incoming AS (
    SELECT i.*,
           -- The creation time enters as epoch seconds: its text form would
           -- depend on the session's TimeZone, and a re-import elsewhere
           -- would duplicate the ticket.
           coalesce(i.external_id, 'md5:' || md5(i.subject || E'\n' || i.body || E'\n'
                    || coalesce(extract(epoch FROM i.created_at)::text, ''))) AS match_key
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
         AS i (external_id, subject, body, requester_email, status, priority, category,
               created_at, first_response_at, resolved_at)
), merged AS (
    SELECT stored.id,
           (stored.priority, stored.status, stored.first_response_at, stored.resolved_at,
            stored.created_at) AS sla_before,
           i.subject,
           i.body,
           coalesce(i.requester_email, stored.requester_email) AS requester_email,
           coalesce(i.status,
                    CASE WHEN i.resolved_at IS NOT NULL AND stored.status = ANY($12::text[])
                         THEN $13::text ELSE stored.status END) AS status,
           coalesce(i.priority, stored.priority) AS priority,
           coalesce(i.category, stored.category) AS category,
           coalesce(i.created_at, stored.created_at) AS created_at,
           coalesce(i.first_response_at, stored.first_response_at) AS first_response_at,
           CASE WHEN i.status = ANY($12::text[]) THEN NULL
                ELSE coalesce(i.resolved_at, stored.resolved_at) END AS resolved_at
    FROM incoming i
    JOIN public.tickets stored
      ON stored.organization_id = $1 AND stored.external_id = i.match_key
)
UPDATE public.tickets t
SET subject = m.subject, body = m.body, requester_email = m.requester_email,
    status = m.status, priority = m.priority, category = m.category,
    created_at = m.created_at, first_response_at = m.first_response_at,
    resolved_at = m.resolved_at
FROM merged m
WHERE t.organization_id = $1 AND t.id = m.id
  AND (t.subject, t.body, t.requester_email, t.status, t.priority, t.category,
       t.created_at, t.first_response_at, t.resolved_at)
      IS DISTINCT FROM
      (m.subject, m.body, m.requester_email, m.status, m.priority, m.category,
       m.created_at, m.first_response_at, m.resolved_at)
RETURNING t.id,
          m.sla_before IS DISTINCT FROM
          (t.priority, t.status, t.first_response_at, t.resolved_at, t.created_at) AS sla_changed
