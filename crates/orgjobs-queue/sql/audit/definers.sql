-- SECURITY DEFINER functions (run with their owner's rights, so past
-- row-level security) that the tenant role ($1) can reach: it may execute
-- them, or a trigger on a table it may write runs them. Each must be in
-- orgjobs.reviewed_functions with its current checksum. Returns the
-- signature and whether it is unreviewed or changed since its review.
SELECT p.oid::regprocedure::text,
       CASE WHEN rf.signature IS NULL THEN 'unreviewed' ELSE 'changed' END
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
-- Signatures are stored schema-qualified; resolving them compares by oid,
-- whatever this session's search_path.
LEFT JOIN orgjobs.reviewed_functions rf ON pg_catalog.to_regprocedure(rf.signature) = p.oid
WHERE p.prosecdef
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND (pg_catalog.has_function_privilege($1, p.oid, 'EXECUTE')
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg
                  WHERE tg.tgfoid = p.oid
                    AND pg_catalog.has_table_privilege($1, tg.tgrelid,
                                                       'INSERT, UPDATE, DELETE, TRUNCATE')))
  AND (rf.signature IS NULL OR rf.body_md5 <> orgjobs.definer_checksum(p.oid))
ORDER BY 1
