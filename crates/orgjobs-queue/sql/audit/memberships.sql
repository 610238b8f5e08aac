-- Roles the tenant role ($1) is a member of, directly or not, that bypass
-- row-level security (superuser or BYPASSRLS): SQL that switched to one
-- would read every organization's rows.
SELECT r.rolname::text
FROM pg_catalog.pg_roles r
WHERE r.rolname <> $1
  AND (r.rolsuper OR r.rolbypassrls)
  AND pg_catalog.pg_has_role($1, r.oid, 'MEMBER')
ORDER BY 1
