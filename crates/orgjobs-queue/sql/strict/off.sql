-- Strict tenant mode off: PostgreSQL's defaults for set_config, trusted
-- procedural languages and temporary objects, back for every role. (CREATE
-- on schemas is not granted back: PostgreSQL 15 grants it to nobody by
-- default.)
DO $strict$
DECLARE
    r record;
BEGIN
    GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO PUBLIC;
    FOR r IN SELECT lanname FROM pg_catalog.pg_language WHERE lanispl AND lanpltrusted LOOP
        EXECUTE format('GRANT USAGE ON LANGUAGE %I TO PUBLIC', r.lanname);
    END LOOP;
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END
$strict$;
