-- Updates the imported articles that exist already (matched on external_id,
-- or for an article without one on the md5 of its title and body) and whose
-- title, body or tags changed; returns each updated article's id and whether
-- its title or body changed (what its index is built from). $1 the organization; $2..$5 the incoming
-- articles' external_id, title, body and tags (a JSON array each).
WITH incoming AS (
    SELECT i.external_id, i.title, i.body,
           ARRAY(SELECT jsonb_array_elements_text(i.tags)) AS tags,
           coalesce(i.external_id, 'md5:' || md5(i.title || E'\n' || i.body)) AS match_key
    FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[]) AS i (external_id, title, body, tags)
)
UPDATE public.kb_articles a
SET title = i.title, body = i.body, tags = i.tags
FROM incoming i, public.kb_articles old
WHERE a.organization_id = $1 AND a.external_id = i.match_key
  AND old.organization_id = $1 AND old.id = a.id
  AND (a.title, a.body, a.tags) IS DISTINCT FROM (i.title, i.body, i.tags)
RETURNING a.id, (old.title, old.body) IS DISTINCT FROM (a.title, a.body) AS text_changed
