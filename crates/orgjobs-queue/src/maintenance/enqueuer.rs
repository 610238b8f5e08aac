//! The periodic enqueuer: each due occurrence of each schedule is enqueued
//! exactly once, however many workers try — the occurrence is claimed in
//! `orgjobs.periodic` and the job enqueued in the same transaction, and the
//! job's unique key names the occurrence. Missed occurrences are not
//! backfilled.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tracing::{info, warn};

use crate::db::{ServiceDb, Unfinished, checkout};
use crate::error::DbError;
use crate::periodic::Periodic;
use crate::statements;

const LAST_SQL: &str = include_str!("../../sql/maintenance/periodic_last.sql");
const FIRST_SQL: &str = include_str!("../../sql/maintenance/periodic_first.sql");
const ADVANCE_SQL: &str = include_str!("../../sql/maintenance/periodic_advance.sql");
const ENQUEUE_SQL: &str = include_str!("../../sql/maintenance/periodic_enqueue.sql");

/// What one round of the enqueuer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeriodicReport {
    /// Jobs enqueued: kind, occurrence, job id.
    pub enqueued: Vec<(String, DateTime<Utc>, i64)>,
    /// Schedules whose enqueue failed (logged; tried again next round).
    pub failed: usize,
}

/// Enqueues due periodic jobs.
#[derive(Clone, Debug)]
pub struct PeriodicEnqueuer {
    db: ServiceDb,
    schedules: Vec<Periodic>,
}

impl PeriodicEnqueuer {
    /// An enqueuer for `schedules`.
    pub fn new(db: ServiceDb, schedules: Vec<Periodic>) -> Self {
        PeriodicEnqueuer { db, schedules }
    }

    /// Enqueues the latest due occurrence of every schedule (one each).
    pub async fn run_once(&self) -> Result<PeriodicReport, DbError> {
        let mut report = PeriodicReport::default();
        for p in &self.schedules {
            match self.enqueue_due(p).await {
                Ok(Some((due, id))) => {
                    info!(event = "periodic_enqueued", kind = %p.kind, occurrence = %due, job_id = id);
                    report.enqueued.push((p.kind.clone(), due, id));
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(event = "periodic_failed", kind = %p.kind, error = %e);
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    async fn enqueue_due(&self, p: &Periodic) -> Result<Option<(DateTime<Utc>, i64)>, DbError> {
        const WHAT: &str = "enqueueing a periodic job";
        // If this task is stopped mid-transaction, the guard closes the
        // connection (the server rolls back and frees the row lock) rather
        // than returning it to the pool inside the transaction.
        let guard = Unfinished::new(checkout(&self.db.pool, WHAT).await?);
        let conn = guard.conn();
        let q = |e| DbError::query(WHAT, e);
        conn.batch_execute("BEGIN").await.map_err(q)?;
        let mode = self.db.statements;
        let result = async {
            let name = p.name();
            let now = self.db.clock.now();
            let rows = statements::query(conn, mode, LAST_SQL, &[(&name, Type::TEXT)]).await?;
            let Some(row) = rows.first() else {
                // First sight of this schedule: start from its latest past
                // occurrence without enqueueing it.
                let start = p.latest_before(now).unwrap_or(now);
                let params = [(&name as _, Type::TEXT), (&start as _, Type::TIMESTAMPTZ)];
                statements::query(conn, mode, FIRST_SQL, &params).await?;
                return Ok(None);
            };
            let last: DateTime<Utc> = row.get(0);
            let Some(due) = p.latest_due(last, now) else {
                return Ok(None);
            };
            let params = [(&name as _, Type::TEXT), (&due as _, Type::TIMESTAMPTZ)];
            statements::query(conn, mode, ADVANCE_SQL, &params).await?;
            // The occurrence is the job's unique key: visible to operators,
            // and a second job for it could not wait beside the first.
            let key = format!("periodic:{}:{}", p.kind, due.to_rfc3339());
            let rows = statements::query(
                conn,
                mode,
                ENQUEUE_SQL,
                &[
                    (&p.kind, Type::TEXT),
                    (&p.payload, Type::JSONB),
                    (&key, Type::TEXT),
                ],
            )
            .await?;
            Ok::<_, tokio_postgres::Error>(rows.first().map(|r| (due, r.get::<_, i64>(0))))
        }
        .await;
        match result {
            Ok(enqueued) => {
                conn.batch_execute("COMMIT").await.map_err(q)?;
                drop(guard.finish());
                Ok(enqueued)
            }
            Err(e) => {
                if conn.batch_execute("ROLLBACK").await.is_ok() {
                    drop(guard.finish());
                }
                Err(q(e))
            }
        }
    }
}
