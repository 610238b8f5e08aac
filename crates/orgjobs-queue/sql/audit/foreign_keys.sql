-- Foreign keys between tenant tables that do not pair the referencing
-- organization_id with the referenced row's organization (its
-- organization_id, or the column that organization_id is generated from).
-- Key checks bypass row-level security, so with such a key an insert can
-- tell whether another organization's row exists.
WITH tenant_tables AS (
    SELECT relid AS oid FROM orgjobs.tenant_tables
)
SELECT con.conname::text, con.conrelid::regclass::text, con.confrelid::regclass::text
FROM pg_catalog.pg_constraint con
WHERE con.contype = 'f'
  AND con.conrelid IN (SELECT oid FROM tenant_tables)
  AND con.confrelid IN (SELECT oid FROM tenant_tables)
  AND NOT EXISTS (
      SELECT 1
      FROM unnest(con.conkey, con.confkey) AS k(here, there)
      JOIN pg_catalog.pg_attribute ah ON ah.attrelid = con.conrelid AND ah.attnum = k.here
      JOIN pg_catalog.pg_attribute at ON at.attrelid = con.confrelid AND at.attnum = k.there
      WHERE ah.attname = 'organization_id'
        AND (at.attname = 'organization_id'
             OR EXISTS (
                 SELECT 1
                 FROM pg_catalog.pg_attribute og
                 JOIN pg_catalog.pg_attrdef d ON d.adrelid = og.attrelid AND d.adnum = og.attnum
                 WHERE og.attrelid = con.confrelid AND og.attname = 'organization_id'
                   AND og.attgenerated = 's'
                   AND pg_catalog.pg_get_expr(d.adbin, d.adrelid) = pg_catalog.quote_ident(at.attname))))
ORDER BY 2, 1
