//! What a worker tells operators: that it is alive (`orgjobs.workers`), and
//! the queue's short history (`orgjobs.worker_minutes`: per minute,
//! organization and kind, the attempts that ended, their handler time and
//! how long they waited to start).
//!
//! Jobs are tallied in memory as they end (a map insert under a mutex, no
//! database work per job) and written every [`REPORT_EVERY`] in one
//! statement, which also renews the worker's row and deletes history older
//! than two hours. A report that fails is logged and its tallies are kept
//! for the next one; history is for people, so at worst a worker that dies
//! loses its last few seconds of it.
//!
//! The same statement counts the other workers that have gone silent (not
//! stopped, no report for [`SILENT_AFTER`]): every worker sets
//! `orgjobs_workers_without_heartbeat` from it, so the gauge is fresh on
//! each of them, and a worker that hangs or dies is seen by its peers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::config::Outcome;
use crate::error::DbError;

/// How often a worker reports.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(5);

/// A worker that has not reported for this long (six reports missed) is
/// counted as without heartbeat.
pub(crate) const SILENT_AFTER: Duration = Duration::from_secs(30);

const REPORT_SQL: &str = include_str!("../../sql/worker/report.sql");
const STOPPED_SQL: &str =
    "UPDATE orgjobs.workers SET stopped_at = now(), heartbeat_at = now() WHERE id = $1";

/// Tallies by (minute, organization), then by kind: looked up by `&str`, so
/// a job that ends allocates nothing unless its kind is new in the minute.
type Tallies = HashMap<(DateTime<Utc>, Option<Uuid>), HashMap<String, Tally>>;

/// One tally's key, flat: minute, organization, kind.
type Key = (DateTime<Utc>, Option<Uuid>, String);

#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    completed: i32,
    failed: i32,
    run_secs: f64,
    wait_secs: f64,
    wait_max_secs: f64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.completed += other.completed;
        self.failed += other.failed;
        self.run_secs += other.run_secs;
        self.wait_secs += other.wait_secs;
        self.wait_max_secs = self.wait_max_secs.max(other.wait_max_secs);
    }
}

/// The tallies not yet written, and what the worker says of itself.
#[derive(Debug)]
pub(crate) struct Reports {
    tallies: Mutex<Tallies>,
    host: String,
    started_at: DateTime<Utc>,
}

fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    let secs = at.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(60), 0).unwrap_or(at)
}

impl Reports {
    pub(crate) fn new() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        Reports {
            tallies: Mutex::new(HashMap::new()),
            host,
            started_at: Utc::now(),
        }
    }

    fn tallies(&self) -> std::sync::MutexGuard<'_, Tallies> {
        // A poisoned lock means a panic elsewhere while holding it; the map
        // stays consistent (single inserts and updates).
        self.tallies.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one attempt that ended (a lost attempt is not counted: the
    /// worker that took the job over counts it).
    pub(crate) fn ended(
        &self,
        org: Option<Uuid>,
        kind: &str,
        outcome: Outcome,
        took: Duration,
        waited_secs: f64,
    ) {
        let (completed, failed) = match outcome {
            Outcome::Completed => (1, 0),
            Outcome::Retried | Outcome::Discarded => (0, 1),
            Outcome::Lost => return,
        };
        let waited = waited_secs.max(0.0);
        let one = Tally {
            completed,
            failed,
            run_secs: took.as_secs_f64(),
            wait_secs: waited,
            wait_max_secs: waited,
        };
        let minute = minute_of(Utc::now());
        let mut tallies = self.tallies();
        let kinds = tallies.entry((minute, org)).or_default();
        match kinds.get_mut(kind) {
            Some(t) => t.add(&one),
            None => {
                kinds.insert(kind.to_owned(), one);
            }
        }
    }

    /// Every tally, taken out of the map.
    fn drain(&self) -> Vec<(Key, Tally)> {
        self.tallies()
            .drain()
            .flat_map(|((minute, org), kinds)| {
                kinds
                    .into_iter()
                    .map(move |(kind, t)| ((minute, org, kind), t))
            })
            .collect()
    }

    /// Writes the tallies and renews the worker's row (one statement);
    /// returns how many other workers are without heartbeat (see
    /// [`SILENT_AFTER`]). On failure the tallies are put back for the next
    /// report.
    pub(crate) async fn report(
        &self,
        client: &tokio_postgres::Client,
        worker_id: &str,
        concurrency: usize,
        kinds: &str,
    ) -> Result<i64, DbError> {
        let drained = self.drain();
        let mut minutes = Vec::with_capacity(drained.len());
        let mut orgs = Vec::with_capacity(drained.len());
        let mut kind_names = Vec::with_capacity(drained.len());
        let mut completed = Vec::with_capacity(drained.len());
        let mut failed = Vec::with_capacity(drained.len());
        let mut run = Vec::with_capacity(drained.len());
        let mut wait = Vec::with_capacity(drained.len());
        let mut wait_max = Vec::with_capacity(drained.len());
        for ((minute, org, kind), t) in &drained {
            minutes.push(*minute);
            orgs.push(*org);
            kind_names.push(kind.clone());
            completed.push(t.completed);
            failed.push(t.failed);
            run.push(t.run_secs);
            wait.push(t.wait_secs);
            wait_max.push(t.wait_max_secs);
        }
        let pid = i32::try_from(std::process::id()).unwrap_or(0);
        let concurrency = i32::try_from(concurrency).unwrap_or(i32::MAX);
        let silent_after = SILENT_AFTER.as_secs_f64();
        let result = client
            .query_typed(
                REPORT_SQL,
                &[
                    (&worker_id, Type::TEXT),
                    (&self.host, Type::TEXT),
                    (&pid, Type::INT4),
                    (&concurrency, Type::INT4),
                    (&kinds, Type::TEXT),
                    (&self.started_at, Type::TIMESTAMPTZ),
                    (&minutes, Type::TIMESTAMPTZ_ARRAY),
                    (&orgs, Type::UUID_ARRAY),
                    (&kind_names, Type::TEXT_ARRAY),
                    (&completed, Type::INT4_ARRAY),
                    (&failed, Type::INT4_ARRAY),
                    (&run, Type::FLOAT8_ARRAY),
                    (&wait, Type::FLOAT8_ARRAY),
                    (&wait_max, Type::FLOAT8_ARRAY),
                    (&silent_after, Type::FLOAT8),
                ],
            )
            .await;
        match result {
            Ok(rows) => Ok(rows.first().map_or(0, |r| r.get(0))),
            Err(e) => {
                // Kept for the next report, except what the history would
                // delete anyway (so that a database down for hours does not
                // grow them without bound).
                let oldest = Utc::now() - chrono::Duration::hours(2);
                let mut tallies = self.tallies();
                for ((minute, org, kind), t) in
                    drained.into_iter().filter(|((m, _, _), _)| *m >= oldest)
                {
                    tallies
                        .entry((minute, org))
                        .or_default()
                        .entry(kind)
                        .or_default()
                        .add(&t);
                }
                Err(DbError::query("reporting the worker", e))
            }
        }
    }

    /// Marks the worker stopped.
    pub(crate) async fn stopped(
        client: &tokio_postgres::Client,
        worker_id: &str,
    ) -> Result<(), DbError> {
        client
            .query_typed(STOPPED_SQL, &[(&worker_id, Type::TEXT)])
            .await
            .map_err(|e| DbError::query("marking the worker stopped", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_start_on_the_minute() {
        let at = DateTime::from_timestamp(1_700_000_059, 5).unwrap_or_default();
        assert_eq!(minute_of(at).timestamp(), 1_700_000_040);
    }

    #[test]
    fn attempts_are_tallied_by_minute_organization_and_kind() {
        let r = Reports::new();
        let org = Some(Uuid::from_u128(7));
        r.ended(org, "A", Outcome::Completed, Duration::from_millis(20), 1.0);
        r.ended(org, "A", Outcome::Retried, Duration::from_millis(30), 3.0);
        r.ended(org, "B", Outcome::Discarded, Duration::from_millis(5), -1.0);
        r.ended(None, "A", Outcome::Lost, Duration::from_millis(5), 0.0);
        let t = r.drain();
        assert_eq!(t.len(), 2, "{t:?}");
        let a = t.iter().find(|(k, _)| k.2 == "A").map(|(_, v)| *v);
        let a = a.unwrap_or_default();
        assert_eq!((a.completed, a.failed), (1, 1));
        assert!((a.run_secs - 0.05).abs() < 1e-9);
        assert!((a.wait_secs - 4.0).abs() < 1e-9 && (a.wait_max_secs - 3.0).abs() < 1e-9);
        let b = t.iter().find(|(k, _)| k.2 == "B").map(|(_, v)| *v);
        assert_eq!(b.map(|b| (b.failed, b.wait_secs)), Some((1, 0.0)));
    }
}
