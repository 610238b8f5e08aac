-- Views and materialized views that the tenant role ($1) may read and that
-- read a tenant table as someone else: a view runs its query with its
-- owner's rights unless it is security_invoker, and a materialized view's
-- rows were computed at refresh time, so row-level security filters
-- neither by the reader's context. Followed through views over views.
-- Returns each such relation, its kind ('v' or 'm') and the tenant tables
-- it reaches.
WITH RECURSIVE tenant_tables AS (
    SELECT relid AS oid FROM orgjobs.tenant_tables
),
refs (view_oid, ref_oid) AS (
    SELECT DISTINCT r.ev_class, d.refobjid
    FROM pg_catalog.pg_rewrite r
    JOIN pg_catalog.pg_depend d
      ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
     AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
),
reach (view_oid, ref_oid) AS (
    SELECT view_oid, ref_oid FROM refs
    UNION
    SELECT reach.view_oid, refs.ref_oid
    FROM reach JOIN refs ON refs.view_oid = reach.ref_oid
)
SELECT v.oid::regclass::text,
       v.relkind::text,
       array_agg(DISTINCT t.oid::regclass::text ORDER BY t.oid::regclass::text)
FROM pg_catalog.pg_class v
JOIN reach ON reach.view_oid = v.oid
JOIN tenant_tables t ON t.oid = reach.ref_oid
WHERE v.relkind IN ('v', 'm')
  AND pg_catalog.has_any_column_privilege($1, v.oid, 'SELECT')
  AND (v.relkind = 'm'
       OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_options_to_table(v.reloptions) o
                      WHERE o.option_name = 'security_invoker' AND o.option_value::boolean))
GROUP BY v.oid, v.relkind
ORDER BY 1
