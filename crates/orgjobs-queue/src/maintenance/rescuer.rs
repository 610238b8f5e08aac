//! The rescuer: jobs whose lease expired (their worker died or lost the
//! database) become runnable again at once, the lost attempt counted and
//! recorded as an error; out of attempts they are discarded, and with a
//! cancel request they end cancelled.

use tokio_postgres::types::Type;
use tracing::warn;

use crate::db::ServiceDb;
use crate::error::DbError;

const RESCUE_SQL: &str = include_str!("../../sql/maintenance/rescue.sql");

/// Rescued jobs per statement.
const RESCUE_BATCH: i64 = 1000;

/// What one rescue did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Made runnable again (`retryable`).
    pub retried: usize,
    /// Out of attempts (`discarded`).
    pub discarded: usize,
    /// Cancellation had been requested (`cancelled`).
    pub cancelled: usize,
}

impl RescueReport {
    /// Jobs rescued in all.
    pub fn total(&self) -> usize {
        self.retried + self.discarded + self.cancelled
    }
}

/// Rescues jobs with expired leases.
#[derive(Clone, Debug)]
pub struct Rescuer {
    db: ServiceDb,
}

impl Rescuer {
    /// A rescuer.
    pub fn new(db: ServiceDb) -> Self {
        Rescuer { db }
    }

    /// Rescues every job whose lease has expired, in batches.
    pub async fn run_once(&self) -> Result<RescueReport, DbError> {
        let mut report = RescueReport::default();
        loop {
            let now = self.db.clock.now_param();
            let rows = self
                .db
                .query(
                    "rescuing jobs with expired leases",
                    RESCUE_SQL,
                    &[(&RESCUE_BATCH, Type::INT8), (&now, Type::TIMESTAMPTZ)],
                )
                .await?;
            for r in &rows {
                let (id, state): (i64, String) = (r.get(0), r.get(1));
                warn!(event = "job_rescued", job_id = id, state = %state, "lease expired; the job runs again");
                match state.as_str() {
                    "discarded" => report.discarded += 1,
                    "cancelled" => report.cancelled += 1,
                    _ => report.retried += 1,
                }
            }
            if (rows.len() as i64) < RESCUE_BATCH {
                return Ok(report);
            }
        }
    }
}
