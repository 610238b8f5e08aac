//! Maintenance run by one worker at a time (the leader): rescuing jobs whose
//! lease expired and enqueueing periodic jobs. Leadership is a row in
//! `orgjobs.leaders` with an expiry, renewed on every tick, so that it works
//! through transaction-pooling PgBouncer and passes on when a leader dies.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio_postgres::types::Type;
use tracing::{info, warn};

use crate::error::DbError;
use crate::periodic::Periodic;
use crate::statements::{self, StatementMode};

const LEADER_SQL: &str = include_str!("../sql/leader.sql");
const RESCUE_SQL: &str = include_str!("../sql/rescue.sql");

/// The leadership name of the maintenance services.
pub(crate) const LEADER_NAME: &str = "maintenance";

/// Rescued jobs per statement.
const RESCUE_BATCH: i64 = 1000;

pub(crate) struct Maintenance {
    pub(crate) pool: Pool,
    pub(crate) mode: StatementMode,
    pub(crate) worker_id: String,
    pub(crate) leader_ttl: Duration,
    pub(crate) periodic: Vec<Periodic>,
}

impl Maintenance {
    /// One round: take or keep leadership; if leader, rescue and enqueue.
    pub(crate) async fn tick(&self) -> Result<bool, DbError> {
        if !self.lead().await? {
            return Ok(false);
        }
        self.rescue().await?;
        for p in &self.periodic {
            if let Err(e) = self.enqueue_due(p).await {
                warn!(event = "periodic_failed", kind = %p.kind, error = %e);
            }
        }
        Ok(true)
    }

    async fn conn(&self, what: &'static str) -> Result<deadpool_postgres::Object, DbError> {
        crate::db::checkout(&self.pool, what).await
    }

    async fn lead(&self) -> Result<bool, DbError> {
        let conn = self.conn("electing a leader").await?;
        let ttl = self.leader_ttl.as_secs_f64();
        let rows = statements::query(
            &conn,
            self.mode,
            LEADER_SQL,
            &[
                (&LEADER_NAME, Type::TEXT),
                (&self.worker_id, Type::TEXT),
                (&ttl, Type::FLOAT8),
            ],
        )
        .await
        .map_err(|e| DbError::query("electing a leader", e))?;
        Ok(!rows.is_empty())
    }

    /// Gives up leadership at shutdown so that another worker takes over at
    /// once rather than after the expiry.
    pub(crate) async fn resign(&self) {
        let Ok(conn) = self.conn("resigning leadership").await else {
            return;
        };
        let _ = statements::query(
            &conn,
            self.mode,
            "DELETE FROM orgjobs.leaders WHERE name = $1 AND leader_id = $2",
            &[(&LEADER_NAME, Type::TEXT), (&self.worker_id, Type::TEXT)],
        )
        .await;
    }

    async fn rescue(&self) -> Result<(), DbError> {
        let conn = self.conn("rescuing jobs").await?;
        loop {
            let rows =
                statements::query(&conn, self.mode, RESCUE_SQL, &[(&RESCUE_BATCH, Type::INT8)])
                    .await
                    .map_err(|e| DbError::query("rescuing jobs with expired leases", e))?;
            for r in &rows {
                let (id, state): (i64, String) = (r.get(0), r.get(1));
                warn!(event = "job_rescued", job_id = id, state = %state, "lease expired; the job runs again");
            }
            if (rows.len() as i64) < RESCUE_BATCH {
                return Ok(());
            }
        }
    }

    async fn enqueue_due(&self, p: &Periodic) -> Result<(), DbError> {
        // If this task is stopped mid-transaction, the guard closes the
        // connection (the server rolls back and frees the row lock) rather
        // than returning it to the pool inside the transaction.
        let guard = crate::db::Unfinished::new(self.conn("enqueueing periodic jobs").await?);
        let conn = guard.conn();
        let q = |e: tokio_postgres::Error| DbError::query("enqueueing a periodic job", e);
        conn.batch_execute("BEGIN").await.map_err(q)?;
        let result = async {
            let name = p.name();
            let now = Utc::now();
            let rows = statements::query(
                conn,
                self.mode,
                "SELECT last_occurrence FROM orgjobs.periodic WHERE name = $1 FOR UPDATE NOWAIT",
                &[(&name, Type::TEXT)],
            )
            .await?;
            let Some(row) = rows.first() else {
                // First sight of this schedule: start from its latest past
                // occurrence without enqueueing it.
                let start = p.latest_before(now).unwrap_or(now);
                statements::query(
                    conn,
                    self.mode,
                    "INSERT INTO orgjobs.periodic (name, last_occurrence) VALUES ($1, $2)
                     ON CONFLICT (name) DO NOTHING",
                    &[(&name, Type::TEXT), (&start, Type::TIMESTAMPTZ)],
                )
                .await?;
                return Ok(None);
            };
            let last: DateTime<Utc> = row.get(0);
            let Some(due) = p.latest_due(last, now) else {
                return Ok(None);
            };
            statements::query(
                conn,
                self.mode,
                "UPDATE orgjobs.periodic SET last_occurrence = $2 WHERE name = $1",
                &[(&name, Type::TEXT), (&due, Type::TIMESTAMPTZ)],
            )
            .await?;
            // The occurrence is the job's unique key: visible to operators,
            // and a second job for it could not wait beside the first.
            let key = format!("periodic:{}:{}", p.kind, due.to_rfc3339());
            let rows = statements::query(
                conn,
                self.mode,
                "SELECT orgjobs.add_job($1, NULL, $2, unique_key => $3)",
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
                if let Some((due, id)) = enqueued {
                    info!(event = "periodic_enqueued", kind = %p.kind, occurrence = %due, job_id = id);
                }
                Ok(())
            }
            Err(e) => {
                if conn.batch_execute("ROLLBACK").await.is_ok() {
                    drop(guard.finish());
                }
                Err(DbError::query("enqueueing a periodic job", e))
            }
        }
    }
}
