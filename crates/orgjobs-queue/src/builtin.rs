//! The queue's own global job kinds: `CLEANUP`, `SYSTEM_METRICS` and
//! `MIGRATION`. None of them reads a tenant table.

use std::time::Duration;

use serde::Deserialize;

use crate::handler::{GlobalHandler, JobError};
use crate::metrics::Metrics;
use crate::migrate::{Migration, apply_pending};
use crate::registry::Registry;
use crate::session::{GlobalRole, GlobalTx};

/// `CLEANUP`: deletes finished jobs older than their retention. Completed and
/// cancelled jobs go after `completed_retention`; discarded jobs (the dead
/// letters, kept for inspection) after `discarded_retention`.
#[derive(Clone, Debug)]
pub struct Cleanup {
    /// Default retention of completed and cancelled jobs.
    pub completed_retention: Duration,
    /// Default retention of discarded jobs.
    pub discarded_retention: Duration,
}

impl Default for Cleanup {
    fn default() -> Self {
        Cleanup {
            completed_retention: Duration::from_secs(24 * 3600),
            discarded_retention: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

/// Payload of `CLEANUP`; both fields optional, in seconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupPayload {
    /// Overrides the completed/cancelled retention.
    #[serde(default)]
    pub completed_retention_secs: Option<u64>,
    /// Overrides the discarded retention.
    #[serde(default)]
    pub discarded_retention_secs: Option<u64>,
}

impl GlobalHandler for Cleanup {
    const KIND: &'static str = "CLEANUP";
    type Payload = CleanupPayload;

    async fn run(&self, s: &mut GlobalTx, p: CleanupPayload) -> Result<(), JobError> {
        let done = p
            .completed_retention_secs
            .map_or(self.completed_retention, Duration::from_secs)
            .as_secs_f64();
        let dead = p
            .discarded_retention_secs
            .map_or(self.discarded_retention, Duration::from_secs)
            .as_secs_f64();
        // $1: seconds to keep completed/cancelled jobs, $2: discarded jobs.
        let deleted = s
            .execute(
                "DELETE FROM orgjobs.jobs
                 WHERE (state IN ('completed', 'cancelled')
                        AND finalized_at < now() - make_interval(secs => $1))
                    OR (state = 'discarded'
                        AND finalized_at < now() - make_interval(secs => $2))",
                &[&done, &dead],
            )
            .await?;
        tracing::info!(event = "cleanup", deleted);
        Ok(())
    }
}

/// `SYSTEM_METRICS`: sets the `queue_depth{kind,state}` gauge from the jobs
/// table, the paused gauges, when the oldest runnable job that no pause
/// holds became runnable (`queue_oldest_runnable_timestamp_seconds`), and
/// when it ran (`system_metrics_timestamp_seconds`). Kinds this worker does
/// not know are counted under `unknown`.
pub struct SystemMetrics {
    metrics: Metrics,
    known: Vec<String>,
}

impl SystemMetrics {
    /// Reports into `metrics`, labelling only the kinds of `registry`.
    pub fn new(metrics: Metrics, registry: &Registry) -> Self {
        let mut known: Vec<String> = registry.kinds().map(|(k, _)| k.to_owned()).collect();
        known.push(Self::KIND.to_owned());
        SystemMetrics { metrics, known }
    }
}

/// Payload of `SYSTEM_METRICS` (none).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoPayload {}

impl GlobalHandler for SystemMetrics {
    const KIND: &'static str = "SYSTEM_METRICS";
    type Payload = NoPayload;

    async fn run(&self, s: &mut GlobalTx, _: NoPayload) -> Result<(), JobError> {
        let rows = s
            .query(
                "SELECT kind, state, count(*) FROM orgjobs.jobs GROUP BY kind, state",
                &[],
            )
            .await?;
        let mut depth: std::collections::BTreeMap<(String, String), i64> = Default::default();
        for r in rows {
            let kind: String = r.get(0);
            let kind = if self.known.contains(&kind) {
                kind
            } else {
                "unknown".to_owned()
            };
            *depth.entry((kind, r.get(1))).or_default() += r.get::<_, i64>(2);
        }
        self.metrics.queue_depth.reset();
        for ((kind, state), n) in depth {
            self.metrics
                .queue_depth
                .with_label_values(&[&kind, &state])
                .set(n);
        }
        let paused = s
            .query(
                "SELECT count(DISTINCT organization_id)::int8,
                        coalesce(array_agg(kind) FILTER (WHERE organization_id IS NULL), '{}')
                 FROM orgjobs.pauses",
                &[],
            )
            .await?;
        if let Some(r) = paused.first() {
            self.metrics.paused_organizations.set(r.get(0));
            self.metrics.paused_kinds.reset();
            for kind in r.get::<_, Vec<String>>(1) {
                let kind = if self.known.contains(&kind) {
                    kind
                } else {
                    "unknown".to_owned()
                };
                self.metrics.paused_kinds.with_label_values(&[&kind]).set(1);
            }
        }
        let oldest = s.query(OLDEST_RUNNABLE_SQL, &[]).await?;
        if let Some(r) = oldest.first() {
            self.metrics.queue_oldest_runnable.set(r.get(0));
            self.metrics.system_metrics_at.set(r.get(1));
        }
        Ok(())
    }
}

/// When the oldest runnable job became runnable (its `run_at`), and the
/// time of the reading, both as Unix seconds; the reading's time when no
/// job is runnable. Jobs a pause holds wait by an operator's decision and
/// are left out (the paused gauges count those); rate-limited jobs are not.
/// Global jobs (no organization) are held only by a pause of their kind.
const OLDEST_RUNNABLE_SQL: &str = concat!(
    "SELECT extract(epoch FROM coalesce(min(j.run_at), now()))::float8,
            extract(epoch FROM now())::float8
     FROM orgjobs.jobs j
     WHERE j.state IN ",
    crate::states::waiting_states_sql!(),
    " AND j.run_at <= now()
       AND NOT EXISTS (SELECT 1 FROM orgjobs.pauses p
                       WHERE (p.organization_id IS NULL OR p.organization_id = j.organization_id)
                         AND (p.kind IS NULL OR p.kind = j.kind))"
);

/// `MIGRATION`: applies pending migrations through the queue, with the same
/// code as `orgjobs migrate`. Runs as the worker's login role, which must own
/// the schema; with the least-privilege `orgjobs_worker` login it fails with
/// a permission error and is discarded (run `orgjobs migrate` as the owner).
pub struct MigrationJob {
    migrations: Vec<Migration>,
}

impl MigrationJob {
    /// Applies `migrations` (the full, ordered list).
    pub fn new(migrations: Vec<Migration>) -> Self {
        MigrationJob { migrations }
    }
}

impl GlobalHandler for MigrationJob {
    const KIND: &'static str = "MIGRATION";
    const ROLE: GlobalRole = GlobalRole::Login;
    type Payload = NoPayload;

    async fn run(&self, s: &mut GlobalTx, _: NoPayload) -> Result<(), JobError> {
        let client = s.raw_client().await?;
        let applied = apply_pending(client, &self.migrations)
            .await
            .map_err(|e| match &e {
                crate::migrate::MigrateError::Failed { cause, .. }
                | crate::migrate::MigrateError::Db(cause) => {
                    let code = cause.code().map(str::to_owned);
                    match code.as_deref() {
                        Some(c) if c.starts_with("42") => JobError::discard(&e),
                        _ => JobError::retry(&e),
                    }
                }
                _ => JobError::discard(&e),
            })?;
        tracing::info!(event = "migrations_applied", applied = ?applied);
        Ok(())
    }
}
