-- Helpdesk schema, version 1: organizations, agents, tickets, metrics
-- snapshots. Every table is a tenant table: organization_id NOT NULL, RLS
-- enabled and forced, the standard policy, indexes and keys leading with
-- organization_id.

CREATE TABLE public.organizations (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Same value as id, so that this table follows the one rule every tenant
    -- table follows (and the catalog-driven checks cover it).
    organization_id uuid NOT NULL GENERATED ALWAYS AS (id) STORED,
    name            text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    active          boolean NOT NULL DEFAULT true,
    settings        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organizations_org_key UNIQUE (organization_id)
);

CREATE TABLE public.agents (
    organization_id uuid NOT NULL REFERENCES public.organizations (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    name            text NOT NULL,
    email           text,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id)
);

CREATE TABLE public.tickets (
    organization_id   uuid NOT NULL REFERENCES public.organizations (id) ON DELETE CASCADE,
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    subject           text NOT NULL,
    body              text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'new'
                      CHECK (status IN ('new', 'open', 'pending', 'resolved', 'closed')),
    priority          text NOT NULL DEFAULT 'normal'
                      CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    category          text,
    requester_email   text,
    assigned_to       uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    first_response_at timestamptz,
    resolved_at       timestamptz,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, assigned_to)
        REFERENCES public.agents (organization_id, id) ON DELETE SET NULL (assigned_to)
);
CREATE INDEX tickets_org_status_idx ON public.tickets (organization_id, status);
CREATE INDEX tickets_org_created_idx ON public.tickets (organization_id, created_at);
CREATE INDEX tickets_org_assigned_idx ON public.tickets (organization_id, assigned_to)
    WHERE assigned_to IS NOT NULL;

CREATE TABLE public.metrics_snapshots (
    organization_id     uuid NOT NULL REFERENCES public.organizations (id) ON DELETE CASCADE,
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    snapshot_ts         timestamptz NOT NULL DEFAULT now(),
    -- {"new": n, "open": n, ...}: every status, zero included.
    tickets_by_status   jsonb NOT NULL,
    -- {"low": n, "normal": n, "high": n, "urgent": n}.
    tickets_by_priority jsonb NOT NULL,
    -- Seconds from creation to first response / to resolution; NULL when no
    -- ticket has one yet.
    frt_p50             double precision,
    frt_p95             double precision,
    mttr_p50            double precision,
    mttr_p95            double precision,
    sla_compliance_pct  double precision,
    -- {"<agent id>": open tickets assigned}, every active agent.
    agent_load          jsonb NOT NULL,
    PRIMARY KEY (organization_id, id)
);
CREATE INDEX metrics_snapshots_org_ts_idx ON public.metrics_snapshots (organization_id, snapshot_ts DESC);

ALTER TABLE public.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.organizations FORCE ROW LEVEL SECURITY;
ALTER TABLE public.agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.agents FORCE ROW LEVEL SECURITY;
ALTER TABLE public.tickets ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.tickets FORCE ROW LEVEL SECURITY;
ALTER TABLE public.metrics_snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.metrics_snapshots FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON public.organizations FOR ALL
    USING (organization_id = orgjobs.current_org())
    WITH CHECK (organization_id = orgjobs.current_org());
CREATE POLICY tenant_isolation ON public.agents FOR ALL
    USING (organization_id = orgjobs.current_org())
    WITH CHECK (organization_id = orgjobs.current_org());
CREATE POLICY tenant_isolation ON public.tickets FOR ALL
    USING (organization_id = orgjobs.current_org())
    WITH CHECK (organization_id = orgjobs.current_org());
CREATE POLICY tenant_isolation ON public.metrics_snapshots FOR ALL
    USING (organization_id = orgjobs.current_org())
    WITH CHECK (organization_id = orgjobs.current_org());

-- Global work may list organizations (to fan out one job per active
-- organization) and nothing else of tenant data: an explicit policy, by name.
CREATE POLICY global_list_organizations ON public.organizations FOR SELECT TO orgjobs_global
    USING (true);

GRANT SELECT, INSERT, UPDATE ON public.organizations TO orgjobs_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.agents, public.tickets, public.metrics_snapshots
    TO orgjobs_tenant;
GRANT SELECT (id, name, active) ON public.organizations TO orgjobs_global;
