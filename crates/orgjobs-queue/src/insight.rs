//! What the operator dashboard reads, each chosen to stay fast on a big
//! queue (a million finished jobs, a hundred thousand waiting):
//!
//! - waiting and running jobs are counted exactly, through their partial
//!   indexes (the cost grows with the backlog, not with history);
//! - discarded and cancelled jobs exactly, through `jobs_failed_idx`;
//! - completed jobs are counted up to [`EXACT_UP_TO`]; past that the
//!   number is an estimate from the table's statistics, and says so;
//! - throughput, latency, completions and each organization's share of
//!   worker time come from the workers' per-minute history
//!   (`orgjobs.worker_minutes`), never from a scan of finished jobs.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Client;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::admin::{AdminError, ERROR_GROUP, db};
use crate::states::waiting_states_sql;

/// Counts above this are estimates.
pub const EXACT_UP_TO: i64 = 10_000;

/// The states the overview counts exactly, in its order (completed comes
/// last, counted up to [`EXACT_UP_TO`]).
pub const EXACT_STATES: [&str; 6] = [
    "available",
    "scheduled",
    "retryable",
    "running",
    "discarded",
    "cancelled",
];

/// A count, exact or estimated.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct Count {
    /// The number.
    pub value: i64,
    /// Whether it is an estimate (from table statistics), not a count.
    pub estimate: bool,
}

/// Jobs by kind and state.
#[derive(Clone, Debug, Serialize)]
pub struct KindCounts {
    /// The kind.
    pub kind: String,
    /// (state, count) for every state but completed, exact.
    pub states: Vec<(String, i64)>,
    /// Attempts completed in the last hour (history).
    pub completed_last_hour: i64,
    /// Attempts failed in the last hour (history).
    pub failed_last_hour: i64,
}

/// The overview's numbers.
#[derive(Clone, Debug, Serialize)]
pub struct Overview {
    /// Per kind.
    pub kinds: Vec<KindCounts>,
    /// Jobs per state over every kind (completed may be an estimate).
    pub totals: Vec<(String, Count)>,
    /// Seconds the oldest runnable job has waited.
    pub oldest_waiting_secs: Option<f64>,
    /// The oldest runnable job.
    pub oldest_waiting_id: Option<i64>,
}

/// One minute of history over every worker.
#[derive(Clone, Debug, Serialize)]
pub struct MinutePoint {
    /// The minute's start.
    pub minute: DateTime<Utc>,
    /// Attempts completed.
    pub completed: i64,
    /// Attempts failed (retried or discarded).
    pub failed: i64,
    /// Mean wait from runnable to started, seconds.
    pub wait_mean_secs: f64,
    /// Longest wait, seconds.
    pub wait_max_secs: f64,
    /// Mean handler time, seconds.
    pub run_mean_secs: f64,
}

/// A worker as it reported itself.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerInfo {
    /// Its id.
    pub id: String,
    /// Its host.
    pub host: String,
    /// Its process id.
    pub pid: i32,
    /// Its handler slots.
    pub concurrency: i32,
    /// The kinds it runs.
    pub kinds: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last report.
    pub heartbeat_at: DateTime<Utc>,
    /// When it stopped (cleanly).
    pub stopped_at: Option<DateTime<Utc>>,
    /// Jobs it holds now.
    pub running: i64,
    /// Whether it leads the maintenance services.
    pub leader: bool,
}

/// One organization's row of the fairness view.
#[derive(Clone, Debug, Serialize)]
pub struct OrgActivity {
    /// The organization (`None`: global jobs).
    pub organization_id: Option<Uuid>,
    /// Waiting jobs (available, scheduled, retryable).
    pub waiting: i64,
    /// Running jobs.
    pub running: i64,
    /// Seconds its oldest runnable job has waited.
    pub oldest_wait_secs: Option<f64>,
    /// Attempts completed in the last hour.
    pub completed_last_hour: i64,
    /// Attempts failed in the last hour.
    pub failed_last_hour: i64,
    /// Handler seconds it used in the last hour.
    pub worker_secs: f64,
    /// Its share of all handler time in the last hour (0 to 1).
    pub share: f64,
}

/// A group of dead letters: discarded jobs of one kind with the same error.
#[derive(Clone, Debug, Serialize)]
pub struct DeadLetterGroup {
    /// The kind.
    pub kind: String,
    /// The first line of the error, cut to 200 characters.
    pub error: String,
    /// How many.
    pub count: i64,
    /// How many organizations they belong to.
    pub organizations: i64,
    /// The latest discarding.
    pub last_at: Option<DateTime<Utc>>,
}

/// Reads the [`Overview`].
pub async fn overview(client: &Client) -> Result<Overview, AdminError> {
    // Waiting and running jobs through their partial indexes; discarded
    // and cancelled through jobs_failed_idx.
    let rows = client
        .query_typed(
            concat!(
                "SELECT kind, state, count(*),
                        min(run_at) FILTER (WHERE run_at <= now() AND state IN ",
                waiting_states_sql!(),
                ")
                 FROM (SELECT kind, state, run_at FROM orgjobs.jobs WHERE state IN ",
                waiting_states_sql!(),
                "      UNION ALL
                       SELECT kind, state, run_at FROM orgjobs.jobs WHERE state = 'running'
                       UNION ALL
                       -- No run_at: an index-only scan of jobs_failed_idx
                       -- where the visibility map allows.
                       SELECT kind, state, NULL::timestamptz FROM orgjobs.jobs
                       WHERE state IN ('discarded', 'cancelled')) j
                 GROUP BY kind, state ORDER BY kind, state"
            ),
            &[],
        )
        .await
        .map_err(db("counting jobs"))?;
    let mut kinds: Vec<KindCounts> = Vec::new();
    let mut totals: Vec<(String, Count)> = EXACT_STATES
        .iter()
        .map(|s| {
            (
                (*s).to_owned(),
                Count {
                    value: 0,
                    estimate: false,
                },
            )
        })
        .collect();
    let mut oldest: Option<DateTime<Utc>> = None;
    for r in &rows {
        let kind: String = r.get(0);
        let state: String = r.get(1);
        let n: i64 = r.get(2);
        if let Some(at) = r.get::<_, Option<DateTime<Utc>>>(3) {
            oldest = Some(oldest.map_or(at, |o| o.min(at)));
        }
        match kinds.last_mut() {
            Some(k) if k.kind == kind => k.states.push((state.clone(), n)),
            _ => kinds.push(KindCounts {
                kind,
                states: vec![(state.clone(), n)],
                completed_last_hour: 0,
                failed_last_hour: 0,
            }),
        }
        match totals.iter_mut().find(|(s, _)| *s == state) {
            Some((_, c)) => c.value += n,
            None => totals.push((
                state,
                Count {
                    value: n,
                    estimate: false,
                },
            )),
        }
    }
    let recent = client
        .query_typed(
            "SELECT kind, sum(completed)::int8, sum(failed)::int8 FROM orgjobs.worker_minutes
             WHERE minute > now() - interval '1 hour' GROUP BY kind",
            &[],
        )
        .await
        .map_err(db("reading the last hour"))?;
    for r in &recent {
        let kind: String = r.get(0);
        let (c, f): (i64, i64) = (r.get(1), r.get(2));
        let i = match kinds.iter().position(|k| k.kind == kind) {
            Some(i) => i,
            None => {
                kinds.push(KindCounts {
                    kind,
                    states: Vec::new(),
                    completed_last_hour: 0,
                    failed_last_hour: 0,
                });
                kinds.len() - 1
            }
        };
        kinds[i].completed_last_hour = c;
        kinds[i].failed_last_hour = f;
    }
    kinds.sort_by(|a, b| a.kind.cmp(&b.kind));
    let others: i64 = totals.iter().map(|(_, c)| c.value).sum();
    totals.push(("completed".into(), completed(client, others).await?));
    let (oldest_waiting_secs, oldest_waiting_id) = match oldest {
        None => (None, None),
        Some(at) => {
            let secs = (Utc::now() - at).num_milliseconds() as f64 / 1000.0;
            let rows = client
                .query_typed(
                    concat!(
                        "SELECT id FROM orgjobs.jobs WHERE state IN ",
                        waiting_states_sql!(),
                        " AND run_at = $1 ORDER BY id LIMIT 1"
                    ),
                    &[(&at, Type::TIMESTAMPTZ)],
                )
                .await
                .map_err(db("finding the oldest waiting job"))?;
            (Some(secs.max(0.0)), rows.first().map(|r| r.get(0)))
        }
    };
    Ok(Overview {
        kinds,
        totals,
        oldest_waiting_secs,
        oldest_waiting_id,
    })
}

/// Completed jobs: counted up to [`EXACT_UP_TO`], estimated past it from
/// the table's row estimate (`pg_class.reltuples`, kept by ANALYZE and
/// autovacuum) less the `others` counted exactly.
async fn completed(client: &Client, others: i64) -> Result<Count, AdminError> {
    let rows = client
        .query_typed(
            "SELECT count(*) FROM (SELECT 1 FROM orgjobs.jobs WHERE state = 'completed' LIMIT $1) c",
            &[(&(EXACT_UP_TO + 1), Type::INT8)],
        )
        .await
        .map_err(db("counting completed jobs"))?;
    let n: i64 = rows.first().map_or(0, |r| r.get(0));
    if n <= EXACT_UP_TO {
        return Ok(Count {
            value: n,
            estimate: false,
        });
    }
    let rows = client
        .query_typed(
            "SELECT reltuples::int8 FROM pg_class WHERE oid = 'orgjobs.jobs'::regclass",
            &[],
        )
        .await
        .map_err(db("estimating completed jobs"))?;
    let total: i64 = rows.first().map_or(-1, |r| r.get(0));
    Ok(Count {
        value: (total - others).max(n),
        estimate: true,
    })
}

/// The last `minutes` of history, one point per minute (zeros where nothing
/// ended).
pub async fn history(client: &Client, minutes: i32) -> Result<Vec<MinutePoint>, AdminError> {
    let rows = client
        .query_typed(
            "SELECT g.minute, coalesce(sum(m.completed), 0)::int8, coalesce(sum(m.failed), 0)::int8,
                    coalesce(sum(m.wait_secs) / greatest(sum(m.completed + m.failed), 1), 0),
                    coalesce(max(m.wait_max_secs), 0),
                    coalesce(sum(m.run_secs) / greatest(sum(m.completed + m.failed), 1), 0)
             FROM generate_series(date_trunc('minute', now()) - make_interval(mins => $1 - 1),
                                  date_trunc('minute', now()), interval '1 minute') AS g (minute)
             LEFT JOIN orgjobs.worker_minutes m ON m.minute = g.minute
             GROUP BY g.minute ORDER BY g.minute",
            &[(&minutes, Type::INT4)],
        )
        .await
        .map_err(db("reading the history"))?;
    Ok(rows
        .iter()
        .map(|r| MinutePoint {
            minute: r.get(0),
            completed: r.get(1),
            failed: r.get(2),
            wait_mean_secs: r.get(3),
            wait_max_secs: r.get(4),
            run_mean_secs: r.get(5),
        })
        .collect())
}

/// Workers heard from in the last hour, with the jobs each holds and which
/// one leads the maintenance services.
pub async fn workers(client: &Client) -> Result<Vec<WorkerInfo>, AdminError> {
    let rows = client
        .query_typed(
            "SELECT w.id, w.host, w.pid, w.concurrency, w.kinds, w.started_at, w.heartbeat_at,
                    w.stopped_at, coalesce(r.n, 0),
                    EXISTS (SELECT 1 FROM orgjobs.leaders l
                            WHERE l.leader_id = w.id AND l.expires_at > now())
             FROM orgjobs.workers w
             LEFT JOIN (SELECT locked_by, count(*) AS n FROM orgjobs.jobs
                        WHERE state = 'running' GROUP BY locked_by) r ON r.locked_by = w.id
             WHERE w.heartbeat_at > now() - interval '1 hour'
             ORDER BY w.stopped_at IS NOT NULL, w.started_at",
            &[],
        )
        .await
        .map_err(db("listing workers"))?;
    Ok(rows
        .iter()
        .map(|r| WorkerInfo {
            id: r.get(0),
            host: r.get(1),
            pid: r.get(2),
            concurrency: r.get(3),
            kinds: r.get(4),
            started_at: r.get(5),
            heartbeat_at: r.get(6),
            stopped_at: r.get(7),
            running: r.get(8),
            leader: r.get(9),
        })
        .collect())
}

/// Every organization with waiting or running jobs or activity in the last
/// hour: its load and its share of worker time.
pub async fn org_activity(client: &Client) -> Result<Vec<OrgActivity>, AdminError> {
    let rows = client
        .query_typed(
            concat!(
                "WITH live AS (
                     SELECT coalesce(organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) AS k,
                            count(*) FILTER (WHERE state <> 'running') AS waiting,
                            count(*) FILTER (WHERE state = 'running') AS running,
                            min(run_at) FILTER (WHERE state <> 'running' AND run_at <= now()) AS oldest
                     FROM (SELECT organization_id, state, run_at FROM orgjobs.jobs WHERE state IN ",
                waiting_states_sql!(),
                "          UNION ALL
                           SELECT organization_id, state, run_at FROM orgjobs.jobs
                           WHERE state = 'running') j
                     GROUP BY 1),
                 hour AS (
                     SELECT coalesce(organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) AS k, sum(completed)::int8 AS completed,
                            sum(failed)::int8 AS failed, sum(run_secs) AS secs
                     FROM orgjobs.worker_minutes WHERE minute > now() - interval '1 hour'
                     GROUP BY 1)
                 SELECT nullif(coalesce(l.k, h.k), 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid),
                        coalesce(l.waiting, 0), coalesce(l.running, 0),
                        extract(epoch FROM now() - l.oldest)::float8,
                        coalesce(h.completed, 0), coalesce(h.failed, 0), coalesce(h.secs, 0),
                        coalesce(h.secs / nullif(sum(h.secs) OVER (), 0), 0)
                 FROM live l FULL JOIN hour h ON l.k = h.k
                 ORDER BY 2 DESC, 7 DESC"
            ),
            &[],
        )
        .await
        .map_err(db("reading each organization's activity"))?;
    Ok(rows
        .iter()
        .map(|r| OrgActivity {
            organization_id: r.get(0),
            waiting: r.get(1),
            running: r.get(2),
            oldest_wait_secs: r.get(3),
            completed_last_hour: r.get(4),
            failed_last_hour: r.get(5),
            worker_secs: r.get(6),
            share: r.get(7),
        })
        .collect())
}

/// Discarded jobs grouped by kind and error, largest groups first (at most
/// `limit` groups).
pub async fn dead_letters(client: &Client, limit: i64) -> Result<Vec<DeadLetterGroup>, AdminError> {
    let sql = format!(
        "SELECT kind, {ERROR_GROUP} AS error, count(*), count(DISTINCT organization_id),
                max(finalized_at)
         FROM orgjobs.jobs WHERE state = 'discarded'
         GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT $1"
    );
    let rows = client
        .query_typed(&sql, &[(&limit, Type::INT8)])
        .await
        .map_err(db("grouping dead letters"))?;
    Ok(rows
        .iter()
        .map(|r| DeadLetterGroup {
            kind: r.get(0),
            error: r.get(1),
            count: r.get(2),
            organizations: r.get(3),
            last_at: r.get(4),
        })
        .collect())
}

/// Every registered kind, sorted.
pub async fn kinds(client: &Client) -> Result<Vec<String>, AdminError> {
    let rows = client
        .query_typed("SELECT kind FROM orgjobs.kinds ORDER BY kind", &[])
        .await
        .map_err(db("listing kinds"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
