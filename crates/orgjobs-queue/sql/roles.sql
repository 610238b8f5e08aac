-- Cluster-wide roles used by orgjobs. Roles are shared by every database of the
-- server, so this runs outside the per-database migration lock and tolerates a
-- concurrent creator: the existence checks make reruns no-ops, and the handlers
-- swallow the race between check and CREATE (SQLSTATE 42710 duplicate_object,
-- 23505 unique_violation on pg_authid). The Rust caller retries the whole block
-- on "tuple concurrently updated" (XX000), which concurrent GRANTs can raise.
-- Names are quoted by format('%I'); LOGIN/NOLOGIN comes from the list below.
DO $roles$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES
        -- Tenant work: switched to per transaction, never logs in, never
        -- bypasses RLS.
        ('orgjobs_tenant', 'NOLOGIN'),
        -- Global work (cleanup, system metrics, fan-out): sees tenant tables
        -- only through policies written for it by name.
        ('orgjobs_global', 'NOLOGIN'),
        -- The least-privilege login for workers. NOINHERIT: it may switch to
        -- the tenant and global roles but does not hold their privileges
        -- otherwise. No password is set here; operators set one.
        ('orgjobs_worker', 'LOGIN')
    ) AS v (name, login)
    LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r.name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I %s NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT',
                               r.name, r.login);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
    -- The worker may switch to the tenant and the global role.
    FOR r IN SELECT * FROM (VALUES ('orgjobs_tenant'), ('orgjobs_global')) AS v (name) LOOP
        IF NOT EXISTS (
            SELECT FROM pg_catalog.pg_auth_members m
            WHERE m.roleid = r.name::regrole AND m.member = 'orgjobs_worker'::regrole
        ) THEN
            BEGIN
                EXECUTE format('GRANT %I TO orgjobs_worker', r.name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
END
$roles$;
