//! Claiming jobs: strict `(priority, run_at, id)` order, or fair —
//! round-robin over organizations from a cursor the worker keeps (see
//! `sql/worker/claim_fair.sql` and ARCHITECTURE.md).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde_json::Value;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::slots::Slot;
use crate::clock::Clock;
use crate::db::{Unfinished, checkout};
use crate::error::DbError;
use crate::statements::{self, StatementMode};

/// The strict-order claim statement ($1 limit, $2 worker, $3 lease seconds,
/// $4 the time or NULL), public for benchmarks and `EXPLAIN`.
pub const CLAIM_SQL: &str = include_str!("../../sql/worker/claim.sql");
/// The fair claim statement ($1 limit, $2 worker, $3 lease seconds, $4
/// organization cursor, $5 per-organization running limit or NULL, $6 the
/// time or NULL, $7 [`CLAIM_LOCK_CLASS`]), public for benchmarks and
/// `EXPLAIN`.
pub const CLAIM_FAIR_SQL: &str = include_str!("../../sql/worker/claim_fair.sql");

/// The first key of the advisory locks that per-organization limits take
/// (`pg_advisory_xact_lock(CLAIM_LOCK_CLASS, 0)` serializes limited claims;
/// `(CLAIM_LOCK_CLASS, hashtext(org))` guards one organization's slots).
pub const CLAIM_LOCK_CLASS: i32 = 28522;

/// Key of global jobs in the fair claim's organization order (the largest).
const GLOBAL_KEY: Uuid = Uuid::max();

/// A claimed job, about to run.
pub(crate) struct ClaimedJob {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) org: Option<Uuid>,
    pub(crate) payload: Value,
    pub(crate) attempt: i32,
    /// Set when an operator asks the running job to stop.
    pub(crate) cancel: Arc<AtomicBool>,
    /// The handler slot it runs in (given by the claim loop).
    pub(crate) slot: Slot,
    /// The worker time charged to its organization at claim (seconds).
    pub(crate) charged: f64,
    /// When it was claimed.
    pub(crate) claimed_at: std::time::Instant,
    /// Seconds from when it could run (`run_at`) to its claim.
    pub(crate) waited_secs: f64,
    /// Whether its handler time has been counted in its organization's
    /// share (once: when the handler returns, or when the job ends).
    pub(crate) accounted: AtomicBool,
}

/// Where the next fair claim starts its walk over organizations: after the
/// last organization the previous claim served, or from the first when the
/// walk reached the end.
#[derive(Debug, Default)]
pub(crate) struct FairCursor(Mutex<Uuid>);

impl FairCursor {
    fn position(&self) -> Uuid {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves past `last` (the largest organization key just served), or
    /// back to the start.
    fn advance(&self, last: Option<Uuid>, reached_end: bool) {
        let next = match last {
            Some(org) if !reached_end => org,
            _ => Uuid::nil(),
        };
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = next;
    }
}

/// The claim's transaction: see [`Claimer::claim`] for why its commit need
/// not wait for the disk.
const CLAIM_BEGIN: &str = "BEGIN; SET LOCAL synchronous_commit TO off";

/// How this worker claims.
pub(crate) struct Claimer {
    pub(crate) pool: Pool,
    pub(crate) mode: StatementMode,
    pub(crate) worker_id: String,
    pub(crate) lease_secs: f64,
    pub(crate) fair: bool,
    pub(crate) org_concurrency: Option<i32>,
    pub(crate) cursor: FairCursor,
    pub(crate) clock: Clock,
}

impl Claimer {
    /// Claims up to `limit` jobs, in claim order. A fair claim passes over
    /// the organizations in `ahead` (of their share of worker time) unless
    /// nothing else fills the claim.
    pub(crate) async fn claim(
        &self,
        limit: usize,
        ahead: &[Uuid],
    ) -> Result<Vec<ClaimedJob>, DbError> {
        // An early return (an error) closes the connection rather than
        // handing it back, possibly inside the claim transaction.
        let guard = Unfinished::new(checkout(&self.pool, "claiming jobs").await?);
        let conn = guard.conn();
        // The claim commits without waiting for its WAL to reach disk: a
        // claim lost in a server crash only makes the job claimable again,
        // and the lost attempt can no longer complete it (its transaction
        // died with the server; every later write is fenced).
        conn.batch_execute(CLAIM_BEGIN)
            .await
            .map_err(|e| DbError::query("beginning the claim", e))?;
        let mut jobs = if self.fair {
            self.claim_fair(conn, limit, ahead).await?
        } else {
            self.claim_fifo(conn, limit).await?
        };
        conn.batch_execute("COMMIT")
            .await
            .map_err(|e| DbError::query("committing the claim", e))?;
        drop(guard.finish());
        // UPDATE ... RETURNING has no order; start jobs in claim order.
        jobs.sort_by_key(|(prio, j)| (*prio, j.id));
        Ok(jobs.into_iter().map(|(_, j)| j).collect())
    }

    async fn claim_fifo(
        &self,
        conn: &deadpool_postgres::Object,
        limit: usize,
    ) -> Result<Vec<(i16, ClaimedJob)>, DbError> {
        let mut jobs = Vec::new();
        // Up to three passes, while rate limits refused some of the jobs a
        // pass picked: the next pass finds their buckets empty and passes
        // over them to the jobs behind.
        for _ in 0..3 {
            let want = i64::try_from(limit - jobs.len()).unwrap_or(i64::MAX);
            if want == 0 {
                break;
            }
            let now = self.clock.now_param();
            let rows = statements::query(
                conn,
                self.mode,
                CLAIM_SQL,
                &[
                    (&want, Type::INT8),
                    (&self.worker_id, Type::TEXT),
                    (&self.lease_secs, Type::FLOAT8),
                    (&now, Type::TIMESTAMPTZ),
                ],
            )
            .await
            .map_err(|e| DbError::query("claiming jobs", e))?;
            let picked = rows.first().map_or(0, |r| r.get::<_, i64>(7));
            jobs.extend(rows.iter().map(claimed));
            if rows.is_empty() || picked <= i64::try_from(rows.len()).unwrap_or(i64::MAX) {
                break;
            }
        }
        Ok(jobs)
    }

    async fn claim_fair(
        &self,
        conn: &deadpool_postgres::Object,
        limit: usize,
        ahead: &[Uuid],
    ) -> Result<Vec<(i16, ClaimedJob)>, DbError> {
        // With a per-organization limit, claims of all workers take turns
        // under one advisory lock, inside a transaction: the claim's
        // snapshot is then taken after the previous claim committed, so its
        // count of running jobs includes that claim's (a single statement's
        // snapshot would predate it and let two workers overfill a limit).
        let limited = self.org_concurrency.is_some();
        if limited {
            statements::query(
                conn,
                self.mode,
                "SELECT pg_advisory_xact_lock($1, 0)",
                &[(&CLAIM_LOCK_CLASS, Type::INT4)],
            )
            .await
            .map_err(|e| DbError::query("taking the claim lock", e))?;
        }
        let mut jobs = Vec::new();
        // Up to three passes: a pass that comes back short has reached the
        // last organization (the next starts over from the first) or the
        // end of the most urgent priority (the next takes the following).
        // Then, if the organizations passed over are all that is left, up
        // to three more that take them too.
        let none: Vec<Uuid> = Vec::new();
        let mut skipping = !ahead.is_empty();
        let mut passes_left = 3;
        loop {
            let skip: &[Uuid] = if skipping { ahead } else { &none };
            let want = limit - jobs.len();
            if want == 0 {
                break;
            }
            let cursor = self.cursor.position();
            let want_i = i64::try_from(want).unwrap_or(i64::MAX);
            let now = self.clock.now_param();
            let rows = statements::query(
                conn,
                self.mode,
                CLAIM_FAIR_SQL,
                &[
                    (&want_i, Type::INT8),
                    (&self.worker_id, Type::TEXT),
                    (&self.lease_secs, Type::FLOAT8),
                    (&cursor, Type::UUID),
                    (&self.org_concurrency, Type::INT4),
                    (&now, Type::TIMESTAMPTZ),
                    (&CLAIM_LOCK_CLASS, Type::INT4),
                    (&skip, Type::UUID_ARRAY),
                ],
            )
            .await;
            // All passes share the claim's transaction: a failed pass
            // aborts it, and none of the jobs of earlier passes is claimed
            // either (running them would run jobs nobody holds).
            let rows = rows.map_err(|e| DbError::query("claiming jobs", e))?;
            let got = rows.len();
            let reached_end = rows
                .first()
                .is_none_or(|r| r.get::<_, Option<bool>>(7).unwrap_or(true));
            let last = rows
                .iter()
                .map(|r| r.get::<_, Option<Uuid>>(2).unwrap_or(GLOBAL_KEY))
                .max();
            jobs.extend(rows.iter().map(claimed));
            self.cursor.advance(last, reached_end);
            let from_start = cursor == Uuid::nil();
            if got == want {
                break;
            }
            passes_left -= 1;
            // A round of passes ends when one has seen every organization,
            // or after three.
            if passes_left == 0 || (from_start && (got == 0 || reached_end)) {
                if !skipping {
                    break;
                }
                skipping = false;
                passes_left = 3;
            }
        }
        Ok(jobs)
    }
}

/// Seconds from the job's `run_at` to its claim (columns 8 and 9; computed
/// here rather than in SQL, where it would be numeric arithmetic per row).
fn waited(r: &tokio_postgres::Row) -> f64 {
    match (
        r.try_get::<_, DateTime<Utc>>(8),
        r.try_get::<_, DateTime<Utc>>(9),
    ) {
        (Ok(started), Ok(runnable)) => (started - runnable)
            .num_microseconds()
            .map_or(0.0, |us| us as f64 / 1e6),
        _ => 0.0,
    }
}

fn claimed(r: &tokio_postgres::Row) -> (i16, ClaimedJob) {
    (
        r.get::<_, i16>(6),
        ClaimedJob {
            id: r.get(0),
            kind: r.get(1),
            org: r.get(2),
            payload: r.get(3),
            attempt: r.get(4),
            cancel: Arc::new(AtomicBool::new(false)),
            slot: Slot::default(),
            charged: 0.0,
            claimed_at: std::time::Instant::now(),
            accounted: AtomicBool::new(false),
            waited_secs: waited(r),
        },
    )
}
