//! orgjobs-helpdesk: the helpdesk schema (organizations, agents, tickets,
//! metrics snapshots) and its tenant job handlers, on top of orgjobs-queue.
//!
//! Every table here is a tenant table (see the migration); every handler
//! runs in a [`TenantTx`](orgjobs_queue::TenantTx) and so sees one
//! organization's rows only.

pub mod classify;
mod fanout;
pub mod llm;
mod organizations;
pub mod sla_model;
mod snapshot;

use orgjobs_queue::{
    Cleanup, Metrics, Migration, MigrationJob, QUEUE_MIGRATIONS, Registry, SystemMetrics,
};

pub use fanout::MetricsSnapshotAll;
pub use organizations::{NewTicket, create_organization, insert_agent, insert_ticket};
pub use snapshot::{METRICS_SNAPSHOT, MetricsSnapshot, Snapshot, SnapshotPayload, latest_snapshot};

/// The helpdesk's own migrations (applied after the queue's).
pub const HELPDESK_MIGRATIONS: &[Migration] = &[Migration {
    name: "helpdesk/0001_helpdesk",
    sql: include_str!("../migrations/0001_helpdesk.sql"),
}];

/// Every migration of the application, in order: the queue's, then the
/// helpdesk's.
pub fn migrations() -> Vec<Migration> {
    QUEUE_MIGRATIONS
        .iter()
        .chain(HELPDESK_MIGRATIONS)
        .copied()
        .collect()
}

/// Every job kind the helpdesk worker runs: the tenant kinds of this crate
/// and the queue's global kinds.
pub fn registry(metrics: &Metrics) -> Registry {
    let base = Registry::new()
        .tenant(MetricsSnapshot)
        .global(MetricsSnapshotAll)
        .global(Cleanup::default())
        .global(MigrationJob::new(migrations()));
    let system = SystemMetrics::new(metrics.clone(), &base);
    base.global(system)
}
