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
        // $1: the tenant kind; one add_job per active organization.
        let n = s
            .execute(
                "SELECT orgjobs.add_job($1, o.id, '{}'::jsonb, unique_key => $1)
                 FROM public.organizations o WHERE o.active",
                &[&METRICS_SNAPSHOT],
            )
            .await?;
        tracing::info!(event = "fanout", kind = METRICS_SNAPSHOT, organizations = n);
        Ok(())
    }
}
