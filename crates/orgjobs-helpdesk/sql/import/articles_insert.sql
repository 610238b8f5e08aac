-- Inserts the imported articles that do not exist yet (same matching as
-- articles_update.sql). $1 the organization; $2..$5 as there. Returns the new
-- articles' ids.
INSERT INTO public.kb_articles (organization_id, external_id, title, body, tags)
SELECT $1,
       coalesce(i.external_id, 'md5:' || md5(i.title || E'\n' || i.body)),
       i.title,
       i.body,
       ARRAY(SELECT jsonb_array_elements_text(i.tags))
FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[]) AS i (external_id, title, body, tags)
ON CONFLICT (organization_id, external_id) DO NOTHING
RETURNING id
