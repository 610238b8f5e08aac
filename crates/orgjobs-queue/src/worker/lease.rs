//! Leases: a running job's claim on its worker, renewed by a heartbeat
//! every third of the lease (which also carries cancel requests to the
//! handlers), and given back at shutdown for jobs the worker will not
//! finish. Both are fenced by attempt and worker.

use std::time::Duration;

use tokio_postgres::types::Type;

use crate::db::ServiceDb;
use crate::error::DbError;

const HEARTBEAT_SQL: &str = include_str!("../../sql/worker/heartbeat.sql");
const RELEASE_SQL: &str = include_str!("../../sql/worker/release.sql");

/// What one renewal found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseReport {
    /// Jobs still held, their leases renewed.
    pub renewed: Vec<i64>,
    /// Of those, the ones an operator asked to cancel.
    pub cancel_requested: Vec<i64>,
    /// Jobs no longer held by this worker (rescued and claimed elsewhere):
    /// their results will not be kept.
    pub lost: Vec<i64>,
}

/// Renews and gives back the leases of one worker's running jobs.
#[derive(Clone, Debug)]
pub struct Leases {
    db: ServiceDb,
    worker_id: String,
    lease: Duration,
}

impl Leases {
    /// The leases of worker `worker_id`, each `lease` long.
    pub fn new(db: ServiceDb, worker_id: impl Into<String>, lease: Duration) -> Self {
        Leases {
            db,
            worker_id: worker_id.into(),
            lease,
        }
    }

    /// How often the heartbeat renews: a third of the lease.
    pub fn interval(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(50))
    }

    /// Renews the leases of `held` (job id, attempt) and reports which are
    /// still held, which have a cancel request, and which were lost.
    pub async fn run_once(&self, held: &[(i64, i32)]) -> Result<LeaseReport, DbError> {
        if held.is_empty() {
            return Ok(LeaseReport::default());
        }
        let (ids, attempts): (Vec<i64>, Vec<i32>) = held.iter().copied().unzip();
        let lease = self.lease.as_secs_f64();
        let now = self.db.clock.now_param();
        let rows = self
            .db
            .query(
                "renewing leases",
                HEARTBEAT_SQL,
                &[
                    (&ids, Type::INT8_ARRAY),
                    (&attempts, Type::INT4_ARRAY),
                    (&self.worker_id, Type::TEXT),
                    (&lease, Type::FLOAT8),
                    (&now, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        let mut report = LeaseReport::default();
        for r in rows {
            let (id, cancel): (i64, bool) = (r.get(0), r.get(1));
            report.renewed.push(id);
            if cancel {
                report.cancel_requested.push(id);
            }
        }
        report.lost = ids
            .into_iter()
            .filter(|id| !report.renewed.contains(id))
            .collect();
        Ok(report)
    }

    /// Gives back `held` (job id, attempt): runnable again at once, the
    /// interrupted attempt not counted (or cancelled, when that was asked).
    /// Returns how many were given back.
    pub async fn release(&self, held: &[(i64, i32)]) -> Result<usize, DbError> {
        if held.is_empty() {
            return Ok(0);
        }
        let (ids, attempts): (Vec<i64>, Vec<i32>) = held.iter().copied().unzip();
        let now = self.db.clock.now_param();
        let rows = self
            .db
            .query(
                "giving back unfinished jobs",
                RELEASE_SQL,
                &[
                    (&ids, Type::INT8_ARRAY),
                    (&attempts, Type::INT4_ARRAY),
                    (&self.worker_id, Type::TEXT),
                    (&now, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        Ok(rows.len())
    }
}
