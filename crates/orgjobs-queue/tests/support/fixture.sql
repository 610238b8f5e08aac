-- The queue's test fixture: the smallest application that uses it. One
-- tenant table (items) and one directory of organizations that global work
-- may list through a policy naming the global role. Nothing here is the
-- helpdesk's: the queue's tests must pass without it.
CREATE TABLE public.orgs (
    organization_id uuid PRIMARY KEY,
    name            text NOT NULL
);

CREATE TABLE public.items (
    organization_id uuid NOT NULL REFERENCES public.orgs (organization_id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    subject         text NOT NULL DEFAULT '',
    body            text NOT NULL DEFAULT '',
    PRIMARY KEY (organization_id, id)
);

-- Every tenant table gets RLS enabled and forced, and the standard policy.
DO $fixture$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['orgs', 'items'] LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON public.%I FOR ALL '
                       'USING (organization_id = orgjobs.current_org()) '
                       'WITH CHECK (organization_id = orgjobs.current_org())', t);
    END LOOP;
END
$fixture$;
CREATE POLICY global_list_orgs ON public.orgs FOR SELECT TO orgjobs_global USING (true);

GRANT SELECT, INSERT, UPDATE ON public.orgs TO orgjobs_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.items TO orgjobs_tenant;
GRANT SELECT (organization_id, name) ON public.orgs TO orgjobs_global;
