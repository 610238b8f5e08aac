-- What the tenant role ($1) can still use to re-scope its transaction:
-- set_config, trusted procedural languages (DO), temporary objects, and
-- schemas it may create in. All empty or false in strict tenant mode.
SELECT pg_catalog.has_function_privilege($1, 'pg_catalog.set_config(text, text, boolean)', 'EXECUTE'),
       coalesce((SELECT array_agg(l.lanname::text ORDER BY l.lanname)
                 FROM pg_catalog.pg_language l
                 WHERE l.lanispl AND l.lanpltrusted
                   AND pg_catalog.has_language_privilege($1, l.oid, 'USAGE')), '{}'),
       pg_catalog.has_database_privilege($1, pg_catalog.current_database(), 'TEMPORARY'),
       coalesce((SELECT array_agg(n.nspname::text ORDER BY n.nspname)
                 FROM pg_catalog.pg_namespace n
                 WHERE pg_catalog.has_schema_privilege($1, n.oid, 'CREATE')), '{}')
