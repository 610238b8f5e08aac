-- Helpdesk schema, version 2: the knowledge base and its indexed passages,
-- SLA policies, the outputs of the AI jobs (named as in the original system:
-- ticket_ai_triage, ai_suggestions, sla_predictions), the triage models'
-- bookkeeping, external ids for imports, and the triggers that enqueue each
-- ticket's and article's jobs in the transaction that writes the row.
-- Every table is a tenant table: organization_id NOT NULL, RLS enabled and
-- forced, the standard policy, keys and indexes leading with organization_id.

-- GIN indexes that lead with organization_id (btree_gin is a trusted
-- extension: the database owner may create it).
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- Imported rows keep the id they had in the system they came from; re-importing
-- matches on it. NULLs are distinct, so rows created here need none.
ALTER TABLE public.tickets ADD COLUMN external_id text
    CHECK (length(external_id) BETWEEN 1 AND 200);
ALTER TABLE public.tickets ADD CONSTRAINT tickets_org_external_id_key
    UNIQUE (organization_id, external_id);

CREATE TABLE public.kb_articles (
    organization_id uuid NOT NULL REFERENCES public.organizations (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    external_id     text CHECK (length(external_id) BETWEEN 1 AND 200),
    title           text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 500),
    body            text NOT NULL,
    tags            text[] NOT NULL DEFAULT '{}',
    -- Bumped by a trigger whenever title or body change; passages carry the
    -- version they were cut from.
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT kb_articles_org_external_id_key UNIQUE (organization_id, external_id)
);

CREATE TABLE public.kb_passages (
    organization_id uuid NOT NULL,
    article_id      uuid NOT NULL,
    article_version integer NOT NULL,
    ordinal         integer NOT NULL CHECK (ordinal >= 0),
    title           text NOT NULL,
    content         text NOT NULL,
    -- The article's title weighs more (A) than the passage's text (B).
    search          tsvector NOT NULL GENERATED ALWAYS AS (
                        setweight(to_tsvector('english'::regconfig, title), 'A')
                        || setweight(to_tsvector('english'::regconfig, content), 'B')) STORED,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, article_id, ordinal),
    FOREIGN KEY (organization_id, article_id)
        REFERENCES public.kb_articles (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX kb_passages_org_search_idx ON public.kb_passages USING gin (organization_id, search);

-- Targets per priority, in minutes from the ticket's creation.
CREATE TABLE public.sla_policies (
    organization_id          uuid NOT NULL REFERENCES public.organizations (id) ON DELETE CASCADE,
    priority                 text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    first_response_minutes   integer NOT NULL CHECK (first_response_minutes > 0),
    resolution_minutes       integer NOT NULL CHECK (resolution_minutes > 0),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, priority),
    CHECK (resolution_minutes >= first_response_minutes)
);

-- One row per ticket: the newest triage (a re-run replaces it).
CREATE TABLE public.ticket_ai_triage (
    organization_id uuid NOT NULL,
    ticket_id       uuid NOT NULL,
    category        text,
    priority        text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    -- Confidence of the category decision (of the priority when no category
    -- could be decided), 0..1.
    confidence      double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    -- Which model decided, e.g. 'linear-svm/2310' or 'rules'.
    model           text NOT NULL,
    -- Alternatives with their probabilities, the priority's own confidence,
    -- whether the result was applied to the ticket.
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, ticket_id),
    FOREIGN KEY (organization_id, ticket_id)
        REFERENCES public.tickets (organization_id, id) ON DELETE CASCADE
);

-- One row per ticket and type: the newest suggestion (a re-run replaces it).
CREATE TABLE public.ai_suggestions (
    organization_id uuid NOT NULL,
    ticket_id       uuid NOT NULL,
    suggestion_type text NOT NULL CHECK (suggestion_type IN ('kb', 'smart_reply')),
    content         jsonb NOT NULL CHECK (jsonb_typeof(content) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, ticket_id, suggestion_type),
    FOREIGN KEY (organization_id, ticket_id)
        REFERENCES public.tickets (organization_id, id) ON DELETE CASCADE
);

-- One row per ticket: the newest prediction (a re-run replaces it).
CREATE TABLE public.sla_predictions (
    organization_id              uuid NOT NULL,
    ticket_id                    uuid NOT NULL,
    predicted_first_response_at  timestamptz NOT NULL,
    predicted_resolution_at      timestamptz NOT NULL,
    breach_probability           double precision NOT NULL CHECK (breach_probability BETWEEN 0 AND 1),
    risk_level                   text NOT NULL
                                 CHECK (risk_level IN ('ok', 'at_risk_75', 'at_risk_90', 'breached')),
    created_at                   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, ticket_id),
    FOREIGN KEY (organization_id, ticket_id)
        REFERENCES public.tickets (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX sla_predictions_org_risk_idx ON public.sla_predictions (organization_id, risk_level);

-- What each organization's triage models were last trained on (the models
-- live in the worker's memory; this row is for operators and staleness).
CREATE TABLE public.triage_models (
    organization_id uuid NOT NULL REFERENCES public.organizations (id) ON DELETE CASCADE,
    target          text NOT NULL CHECK (target IN ('category', 'priority')),
    model           text NOT NULL,
    examples        integer NOT NULL,
    labels          integer NOT NULL,
    trained_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, target)
);

ALTER TABLE public.kb_articles ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.kb_articles FORCE ROW LEVEL SECURITY;
ALTER TABLE public.kb_passages ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.kb_passages FORCE ROW LEVEL SECURITY;
ALTER TABLE public.sla_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.sla_policies FORCE ROW LEVEL SECURITY;
ALTER TABLE public.ticket_ai_triage ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.ticket_ai_triage FORCE ROW LEVEL SECURITY;
ALTER TABLE public.ai_suggestions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.ai_suggestions FORCE ROW LEVEL SECURITY;
ALTER TABLE public.sla_predictions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.sla_predictions FORCE ROW LEVEL SECURITY;
ALTER TABLE public.triage_models ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.triage_models FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON public.kb_articles FOR ALL
    USING (organization_id = orgjobs.current_org())
    WITH CHECK (organization_id = orgjobs.current_org());
CREATE POLICY tenant_isolation ON public.kb_passages FOR ALL
    USING (organization_id = orgjobs.current_org())
    WITH CHECK (organization_id = orgjobs.current_org());
CREATE POLICY tenant_isolation ON public.sla_policies FOR ALL
    USING (organization_id = orgjobs.current_org())
    WITH CHECK (organization_id = orgjobs.current_org());
CREATE POLICY tenant_isolation ON public.ticket_ai_triage FOR ALL
    USING (organization_id = orgjobs.current_org())
    WITH CHECK (organization_id = orgjobs.current_org());
CREATE POLICY tenant_isolation ON public.ai_suggestions FOR ALL
    USING (organization_id = orgjobs.current_org())
    WITH CHECK (organization_id = orgjobs.current_org());
CREATE POLICY tenant_isolation ON public.sla_predictions FOR ALL
    USING (organization_id = orgjobs.current_org())
    WITH CHECK (organization_id = orgjobs.current_org());
CREATE POLICY tenant_isolation ON public.triage_models FOR ALL
    USING (organization_id = orgjobs.current_org())
    WITH CHECK (organization_id = orgjobs.current_org());

GRANT SELECT, INSERT, UPDATE, DELETE ON public.kb_articles, public.kb_passages,
    public.sla_policies, public.ticket_ai_triage, public.ai_suggestions,
    public.sla_predictions, public.triage_models TO orgjobs_tenant;

-- The kinds the triggers below enqueue must exist before the first ticket
-- does (add_job refuses unknown kinds); the worker registers them again,
-- with its own settings, when it starts.
INSERT INTO orgjobs.kinds (kind, scope)
VALUES ('TRIAGE_TICKET', 'tenant'), ('KB_SUGGEST', 'tenant'), ('SLA_PREDICT', 'tenant'),
       ('SMART_REPLY', 'tenant'), ('RAG_INDEX', 'tenant')
ON CONFLICT (kind) DO NOTHING;

-- New tickets: triage, knowledge-base suggestions and an SLA prediction, in
-- the inserting transaction, however the rows were inserted (plain SQL,
-- import, application). SECURITY DEFINER so that any role allowed to insert
-- tickets can enqueue their jobs; it enqueues only for the inserted rows'
-- organizations, and add_job still refuses an organization other than the
-- transaction's context. Unique keys: one waiting job per ticket and kind.
CREATE FUNCTION public.enqueue_new_ticket_jobs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM orgjobs.add_job(k.kind, n.organization_id, jsonb_build_object('ticket_id', n.id),
                            unique_key => k.kind || ':' || n.id::text)
    FROM new_tickets n
    CROSS JOIN unnest(ARRAY['TRIAGE_TICKET', 'KB_SUGGEST', 'SLA_PREDICT']) WITH ORDINALITY AS k(kind, ord)
    ORDER BY n.id, k.ord;
    RETURN NULL;
END
$$;
CREATE TRIGGER tickets_enqueue_jobs AFTER INSERT ON public.tickets
    REFERENCING NEW TABLE AS new_tickets
    FOR EACH STATEMENT EXECUTE FUNCTION public.enqueue_new_ticket_jobs();

-- A ticket whose priority, status or timestamps change gets a new SLA
-- prediction.
CREATE FUNCTION public.enqueue_ticket_sla_job() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM orgjobs.add_job('SLA_PREDICT', NEW.organization_id,
                            jsonb_build_object('ticket_id', NEW.id),
                            unique_key => 'SLA_PREDICT:' || NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER tickets_enqueue_sla_job AFTER UPDATE ON public.tickets
    FOR EACH ROW
    WHEN ((OLD.priority, OLD.status, OLD.first_response_at, OLD.resolved_at, OLD.created_at)
          IS DISTINCT FROM
          (NEW.priority, NEW.status, NEW.first_response_at, NEW.resolved_at, NEW.created_at))
    EXECUTE FUNCTION public.enqueue_ticket_sla_job();

-- Articles: a new version whenever title or body change.
CREATE FUNCTION public.bump_article_version() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (NEW.title, NEW.body) IS DISTINCT FROM (OLD.title, OLD.body) THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER kb_articles_bump_version BEFORE UPDATE ON public.kb_articles
    FOR EACH ROW EXECUTE FUNCTION public.bump_article_version();

-- New or changed articles are (re)indexed.
CREATE FUNCTION public.enqueue_article_index_job() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Priority -1: indexing runs ahead of the suggestions that read the
    -- index (tickets and articles imported together, for instance).
    PERFORM orgjobs.add_job('RAG_INDEX', NEW.organization_id,
                            jsonb_build_object('article_id', NEW.id),
                            unique_key => 'RAG_INDEX:' || NEW.id::text, priority => -1);
    RETURN NULL;
END
$$;
CREATE TRIGGER kb_articles_enqueue_index_insert AFTER INSERT ON public.kb_articles
    FOR EACH ROW EXECUTE FUNCTION public.enqueue_article_index_job();
CREATE TRIGGER kb_articles_enqueue_index_update AFTER UPDATE ON public.kb_articles
    FOR EACH ROW WHEN (NEW.version <> OLD.version)
    EXECUTE FUNCTION public.enqueue_article_index_job();

REVOKE ALL ON FUNCTION public.enqueue_new_ticket_jobs(), public.enqueue_ticket_sla_job(),
    public.enqueue_article_index_job() FROM PUBLIC;
