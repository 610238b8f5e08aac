-- Inserts the imported tickets that do not exist yet (same matching as
-- tickets_update.sql). $1 the organization; $2..$11 the incoming tickets'
-- columns, as there; $12 the status of a new ticket without a resolution
-- time, $13 with one; $14 the default priority. Returns the new tickets' ids.
INSERT INTO public.tickets
    (organization_id, external_id, subject, body, requester_email, status, priority,
     category, created_at, first_response_at, resolved_at)
SELECT $1,
       coalesce(i.external_id, 'md5:' || md5(i.subject || E'\n' || i.body || E'\n'
                || coalesce(extract(epoch FROM i.created_at)::text, ''))),
       i.subject,
       i.body,
       i.requester_email,
       coalesce(i.status, CASE WHEN i.resolved_at IS NULL THEN $12::text ELSE $13::text END),
       coalesce(i.priority, $14::text),
       i.category,
       coalesce(i.created_at, now()),
       i.first_response_at,
       i.resolved_at
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
     AS i (external_id, subject, body, requester_email, status, priority, category,
           created_at, first_response_at, resolved_at)
ON CONFLICT (organization_id, external_id) DO NOTHING
RETURNING id
