//! Maintenance, run by one worker at a time (the leader): the rescuer and
//! the periodic enqueuer. Each service has the same shape — built from a
//! [`ServiceDb`], one `run_once` that does one round and returns what it did
//! — which the worker's loop calls on a ticker and tests call directly,
//! with a stubbed [`crate::Clock`] instead of waiting.

mod enqueuer;
mod leader;
mod rescuer;

use std::time::Duration;

use tracing::{info, warn};

pub use enqueuer::{PeriodicEnqueuer, PeriodicReport};
pub use leader::{Leader, MAINTENANCE};
pub use rescuer::{RescueReport, Rescuer};

use crate::db::ServiceDb;
use crate::metrics::Metrics;
use crate::periodic::Periodic;

/// The maintenance a worker takes part in: leadership, and while it leads,
/// the rescuer and the periodic enqueuer.
pub(crate) struct Maintenance {
    pub(crate) leader: Leader,
    rescuer: Rescuer,
    enqueuer: PeriodicEnqueuer,
    /// `jobs_rescued_total{outcome}` counts what the rescuer reports.
    metrics: Metrics,
}

impl Maintenance {
    pub(crate) fn new(
        db: ServiceDb,
        worker_id: &str,
        leader_ttl: Duration,
        periodic: Vec<Periodic>,
        metrics: Metrics,
    ) -> Self {
        Maintenance {
            leader: Leader::new(db.clone(), MAINTENANCE, worker_id, leader_ttl),
            rescuer: Rescuer::new(db.clone()),
            enqueuer: PeriodicEnqueuer::new(db, periodic),
            metrics,
        }
    }

    /// Ticks every third of the leadership's lifetime until aborted.
    pub(crate) async fn run(&self) {
        let mut was_leader = false;
        loop {
            match self.tick().await {
                Ok(leader) => {
                    if leader != was_leader {
                        info!(event = "leadership", leader, worker_id = %self.leader.worker_id());
                    }
                    was_leader = leader;
                }
                Err(e) => warn!(event = "maintenance_failed", error = %e),
            }
            tokio::time::sleep(self.leader.interval()).await;
        }
    }

    /// One round: take or keep leadership; if leader, rescue and enqueue.
    async fn tick(&self) -> Result<bool, crate::error::DbError> {
        if !self.leader.run_once().await? {
            return Ok(false);
        }
        let rescued = self.rescuer.run_once().await?;
        // Counted by the leader that rescued them: summed over workers, the
        // counter is the cluster's rescue count.
        for (outcome, n) in [
            ("retried", rescued.retried),
            ("discarded", rescued.discarded),
            ("cancelled", rescued.cancelled),
        ] {
            self.metrics
                .jobs_rescued
                .with_label_values(&[outcome])
                .inc_by(n as u64);
        }
        if rescued.total() > 0 {
            info!(
                event = "rescue",
                retried = rescued.retried,
                discarded = rescued.discarded,
                cancelled = rescued.cancelled
            );
        }
        self.enqueuer.run_once().await?;
        Ok(true)
    }
}
