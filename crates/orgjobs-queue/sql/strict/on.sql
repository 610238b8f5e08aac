-- Strict tenant mode on, in the current database: SQL running as the tenant
-- role can no longer re-scope its transaction through a function call.
-- Needs a superuser (the objects belong to the bootstrap superuser).
-- Identifiers are quoted by format('%I').
DO $strict$
DECLARE
    r record;
BEGIN
    -- set_config('app.current_org' | 'role', ...) re-scopes a transaction;
    -- only the worker login (which sets the context before it switches
    -- role) keeps it. Other roles that need it get an explicit grant.
    REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO orgjobs_worker;
    -- A DO block can run SET.
    FOR r IN SELECT lanname FROM pg_catalog.pg_language WHERE lanispl AND lanpltrusted LOOP
        EXECUTE format('REVOKE USAGE ON LANGUAGE %I FROM PUBLIC', r.lanname);
    END LOOP;
    -- A temporary SQL function can run SET LOCAL; so can one in any schema
    -- the tenant role may create in.
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC, orgjobs_tenant', current_database());
    FOR r IN SELECT n.nspname FROM pg_catalog.pg_namespace n
             WHERE pg_catalog.has_schema_privilege('orgjobs_tenant', n.oid, 'CREATE') LOOP
        EXECUTE format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC, orgjobs_tenant', r.nspname);
    END LOOP;
END
$strict$;
