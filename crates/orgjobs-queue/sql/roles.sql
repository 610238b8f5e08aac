-- Cluster-wide roles used by orgjobs. Roles are shared by every database of the
-- server, so this runs outside the per-database migration lock and tolerates a
-- concurrent creator: the existence checks make reruns no-ops, and the handlers
-- swallow the race between check and CREATE (SQLSTATE 42710 duplicate_object,
-- 23505 unique_violation on pg_authid). The Rust caller retries the whole block
-- on "tuple concurrently updated" (XX000), which concurrent GRANTs can raise.
DO $roles$
BEGIN
    -- Tenant work: switched to per transaction, never logs in, never bypasses RLS.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'orgjobs_tenant') THEN
        BEGIN
            CREATE ROLE orgjobs_tenant NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    -- Global work (cleanup, system metrics, fan-out): sees tenant tables only
    -- through policies written for it by name.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'orgjobs_global') THEN
        BEGIN
            CREATE ROLE orgjobs_global NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    -- The least-privilege login for workers. NOINHERIT: it may switch to the
    -- tenant and global roles but does not hold their privileges otherwise.
    -- No password is set here; operators set one (ALTER ROLE ... PASSWORD).
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'orgjobs_worker') THEN
        BEGIN
            CREATE ROLE orgjobs_worker LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF NOT EXISTS (
        SELECT FROM pg_catalog.pg_auth_members m
        WHERE m.roleid = 'orgjobs_tenant'::regrole AND m.member = 'orgjobs_worker'::regrole
    ) THEN
        BEGIN
            GRANT orgjobs_tenant TO orgjobs_worker;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF NOT EXISTS (
        SELECT FROM pg_catalog.pg_auth_members m
        WHERE m.roleid = 'orgjobs_global'::regrole AND m.member = 'orgjobs_worker'::regrole
    ) THEN
        BEGIN
            GRANT orgjobs_global TO orgjobs_worker;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
END
$roles$;
