//! `METRICS_SNAPSHOT_ALL`: the global fan-out behind the hourly schedule.
//! Lists active organizations through the global role's one explicit policy
//! (`global_list_organizations`) and enqueues one `METRICS_SNAPSHOT` per
//! organization in the same transaction, each with the unique key
//! `METRICS_SNAPSHOT`, so that an organization whose previous snapshot still
//! waits does not get a second one.

use orgjobs_queue::{GlobalHandler, GlobalTx, JobError, NoPayload};

use crate::snapshot::METRICS_SNAPSHOT;

/// The handler.
pub struct MetricsSnapshotAll;

impl GlobalHandler for MetricsSnapshotAll {
    const KIND: &'static str = "METRICS_SNAPSHOT_ALL";
    type Payload = NoPayload;

    async fn run(&self, s: &mut GlobalTx, _: NoPayload) -> Result<(), JobError> {
        // The active organizations are read first, then enqueued from the
        // list: on Citus a statement that reads organizations runs on the
        // worker nodes, where add_job cannot reach the queue.
        let orgs: Vec<uuid::Uuid> = s
            .query(
                "SELECT id FROM public.organizations WHERE active ORDER BY id",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // $1: the tenant kind, $2 the organizations; one add_job each.
        let n = s
            .execute(
                "SELECT orgjobs.add_job($1, o.id, '{}'::jsonb, unique_key => $1)
                 FROM unnest($2::uuid[]) WITH ORDINALITY AS o (id, ord) ORDER BY o.ord",
                &[&METRICS_SNAPSHOT, &orgs],
            )
            .await?;
        tracing::info!(event = "fanout", kind = METRICS_SNAPSHOT, organizations = n);
        Ok(())
    }
}
