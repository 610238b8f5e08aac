//! orgjobs-helpdesk: the helpdesk schema (organizations, agents, tickets,
//! metrics snapshots) and its tenant job handlers, on top of orgjobs-queue.
//!
//! Every table here is a tenant table (see the migration); every handler
//! runs in a [`TenantTx`](orgjobs_queue::TenantTx) and so sees one
//! organization's rows only.

pub mod classify;
pub mod embedding;
pub mod enqueue;
mod fanout;
mod fields;
pub mod import;
pub mod kb;
pub mod llm;
mod organizations;
pub mod reply;
pub mod sla;
pub mod sla_model;
mod snapshot;
pub mod tickets;
pub mod triage;
pub mod work_clock;

use orgjobs_queue::{
    Cleanup, Metrics, Migration, MigrationJob, QUEUE_MIGRATIONS, Registry, SystemMetrics,
};

pub use fanout::MetricsSnapshotAll;
pub use fields::{Priority, Status, UnknownValue};
pub use kb::{KbSuggest, RagIndex};
pub use organizations::{
    DEFAULT_SLA_TARGETS, NewTicket, OrganizationSummary, SlaPolicy, create_organization,
    default_sla_policies, insert_agent, insert_ticket, list_organizations, merge_settings,
    set_sla_policies,
};
pub use reply::SmartReply;
pub use sla::SlaPredict;
pub use snapshot::{METRICS_SNAPSHOT, MetricsSnapshot, Snapshot, SnapshotPayload, latest_snapshot};
pub use triage::TriageTicket;

/// The helpdesk's own migrations (applied after the queue's).
pub const HELPDESK_MIGRATIONS: &[Migration] = &[
    Migration {
        name: "helpdesk/0001_helpdesk",
        sql: include_str!("../migrations/0001_helpdesk.sql"),
    },
    Migration {
        name: "helpdesk/0002_knowledge_sla_ai",
        sql: include_str!("../migrations/0002_knowledge_sla_ai.sql"),
    },
    Migration {
        name: "helpdesk/0003_reviewed_functions",
        sql: include_str!("../migrations/0003_reviewed_functions.sql"),
    },
    Migration {
        name: "helpdesk/0004_passage_embeddings",
        sql: include_str!("../migrations/0004_passage_embeddings.sql"),
    },
];

/// Every migration of the application, in order: the queue's, then the
/// helpdesk's.
pub fn migrations() -> Vec<Migration> {
    QUEUE_MIGRATIONS
        .iter()
        .chain(HELPDESK_MIGRATIONS)
        .copied()
        .collect()
}

/// The helpdesk's layout on a Citus cluster, applied by `orgjobs migrate
/// --citus` after [`migrations`] (recorded the same way): every tenant table
/// distributed by its organization and co-located; the enqueuing triggers
/// replaced by [`enqueue`].
pub const CITUS_MIGRATIONS: &[Migration] = &[Migration {
    name: "helpdesk/citus/0001_distribute",
    sql: include_str!("../citus/0001_distribute.sql"),
}];

/// How the helpdesk's handlers are set up.
#[derive(Clone, Debug, Default)]
pub struct HelpdeskOptions {
    /// The OpenAI-compatible endpoint `SMART_REPLY` drafts with; `None`:
    /// the offline composer.
    pub llm: Option<llm::LlmClient>,
    /// The sentence-embedding model `RAG_INDEX`, `KB_SUGGEST` and
    /// `TRIAGE_TICKET` use (see [`embedding::load`]); `None`: their
    /// fallback methods (BM25 alone, TF-IDF alone).
    pub embedder: Option<std::sync::Arc<embedding::Embedder>>,
}

/// Every job kind the helpdesk worker runs: the tenant kinds of this crate
/// and the queue's global kinds, with the offline reply composer.
pub fn registry(metrics: &Metrics) -> Registry {
    registry_with(metrics, &HelpdeskOptions::default())
}

/// [`registry`], with `options`.
pub fn registry_with(metrics: &Metrics, options: &HelpdeskOptions) -> Registry {
    let reply = match &options.llm {
        Some(client) => SmartReply::with_llm(client.clone()),
        None => SmartReply::offline(),
    };
    let embeddings = embedding::Embeddings::new(options.embedder.clone(), metrics);
    let base = Registry::new()
        .tenant(MetricsSnapshot)
        .tenant(TriageTicket::with_embeddings(embeddings.clone()))
        .tenant(KbSuggest::new(embeddings.clone()))
        .tenant(reply)
        .tenant(SlaPredict)
        .tenant(RagIndex::new(embeddings))
        .global(MetricsSnapshotAll)
        .global(Cleanup::default())
        .global(MigrationJob::new(migrations()));
    let system = SystemMetrics::new(metrics.clone(), &base);
    base.global(system)
}
