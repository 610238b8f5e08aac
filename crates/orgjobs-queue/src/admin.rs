//! Operator actions on jobs: list, show (with the error history), retry one
//! or many dead letters, cancel, and queue statistics. Every statement is
//! sent unnamed with typed parameters (safe behind any pooler).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio_postgres::Client;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::error::DbError;

pub use crate::states::STATES;
use crate::states::waiting_states_sql;

/// Why an operator action did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No job has this id.
    #[error("no job with id {0}")]
    NotFound(i64),
    /// The job is in a state the action does not apply to.
    #[error("job {id} is {state}; {hint}")]
    WrongState {
        /// The job.
        id: i64,
        /// Its state.
        state: String,
        /// What the action needs.
        hint: &'static str,
    },
    /// A retry would make two waiting jobs share a unique key.
    #[error("job {id} cannot be retried: job {other} with the same unique key is already waiting")]
    UniqueKeyTaken {
        /// The job.
        id: i64,
        /// The waiting job with its key.
        other: i64,
    },
    /// A filter value is not valid.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// A setting's value is not valid (says what was expected).
    #[error("invalid value: {0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Which jobs an action or listing covers; every field optional.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    /// Only this organization's jobs.
    pub organization_id: Option<Uuid>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// From this time on (creation for listings, discarding for retries).
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only jobs whose last error's first line (cut to 200 characters) is
    /// this: one group of the dashboard's dead letters.
    pub error: Option<String>,
    /// Listings: only jobs with a smaller id (the next page).
    pub before_id: Option<i64>,
}

impl JobFilter {
    fn check(&self) -> Result<(), AdminError> {
        if let Some(s) = &self.state {
            if !STATES.contains(&s.as_str()) {
                return Err(AdminError::InvalidFilter(format!(
                    "state {s:?} is not one of {}",
                    STATES.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// One line of a listing.
#[derive(Clone, Debug, Serialize)]
pub struct JobSummary {
    /// Job id.
    pub id: i64,
    /// Kind.
    pub kind: String,
    /// Organization (none for global jobs).
    pub organization_id: Option<Uuid>,
    /// State.
    pub state: String,
    /// Priority (lower first).
    pub priority: i16,
    /// Attempts started.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Earliest (next) start.
    pub run_at: DateTime<Utc>,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
    /// Latest error.
    pub last_error: Option<String>,
}

/// Everything about one job.
#[derive(Clone, Debug, Serialize)]
pub struct JobDetail {
    /// The listing fields.
    #[serde(flatten)]
    pub summary: JobSummary,
    /// Payload.
    pub payload: Value,
    /// One entry per failed attempt: attempt, at, worker, error.
    pub errors: Value,
    /// Worker holding it (running jobs).
    pub locked_by: Option<String>,
    /// Lease end (running jobs).
    pub locked_until: Option<DateTime<Utc>>,
    /// Last attempt's start.
    pub attempted_at: Option<DateTime<Utc>>,
    /// Completion, discarding or cancellation time.
    pub finalized_at: Option<DateTime<Utc>>,
    /// Unique key.
    pub unique_key: Option<String>,
    /// When cancellation was requested.
    pub cancel_requested_at: Option<DateTime<Utc>>,
}

const SUMMARY_COLUMNS: &str = "id, kind, organization_id, state, priority, attempt, max_attempts, run_at, created_at, last_error";

fn summary(r: &tokio_postgres::Row) -> JobSummary {
    JobSummary {
        id: r.get(0),
        kind: r.get(1),
        organization_id: r.get(2),
        state: r.get(3),
        priority: r.get(4),
        attempt: r.get(5),
        max_attempts: r.get(6),
        run_at: r.get(7),
        created_at: r.get(8),
        last_error: r.get(9),
    }
}

/// Wraps a query error with what was being done (shared by the operator
/// modules: admin, rate limits, pauses).
pub(crate) fn db(what: &'static str) -> impl Fn(tokio_postgres::Error) -> AdminError {
    move |e| AdminError::Db(DbError::query(what, e))
}

/// Jobs matching `filter`, newest first, at most `limit`.
pub async fn list_jobs(
    client: &Client,
    filter: &JobFilter,
    limit: i64,
) -> Result<Vec<JobSummary>, AdminError> {
    filter.check()?;
    // $1 organization, $2 kind, $3 state, $4/$5 creation window, $6 limit;
    // a NULL filter matches everything.
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM orgjobs.jobs
         WHERE ($1::uuid IS NULL OR organization_id = $1)
           AND ($2::text IS NULL OR kind = $2)
           AND ($3::text IS NULL OR state = $3)
           AND ($4::timestamptz IS NULL OR created_at >= $4)
           AND ($5::timestamptz IS NULL OR created_at < $5)
           AND ($7::text IS NULL OR {ERROR_GROUP} = $7)
           AND ($8::int8 IS NULL OR id < $8)
         ORDER BY id DESC LIMIT $6"
    );
    let rows = client
        .query_typed(
            &sql,
            &[
                (&filter.organization_id, Type::UUID),
                (&filter.kind, Type::TEXT),
                (&filter.state, Type::TEXT),
                (&filter.since, Type::TIMESTAMPTZ),
                (&filter.until, Type::TIMESTAMPTZ),
                (&limit, Type::INT8),
                (&filter.error, Type::TEXT),
                (&filter.before_id, Type::INT8),
            ],
        )
        .await
        .map_err(db("listing jobs"))?;
    Ok(rows.iter().map(summary).collect())
}

/// A job's error group: the first line of its last error, cut to 200
/// characters (SQL over a row of `orgjobs.jobs`).
pub(crate) const ERROR_GROUP: &str = "left(split_part(coalesce(last_error, ''), E'\\n', 1), 200)";

/// One job with its error history.
pub async fn show_job(client: &Client, id: i64) -> Result<JobDetail, AdminError> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, payload, errors, locked_by, locked_until, attempted_at,
                finalized_at, unique_key, cancel_requested_at
         FROM orgjobs.jobs WHERE id = $1"
    );
    let rows = client
        .query_typed(&sql, &[(&id, Type::INT8)])
        .await
        .map_err(db("reading the job"))?;
    let r = rows.first().ok_or(AdminError::NotFound(id))?;
    Ok(JobDetail {
        summary: summary(r),
        payload: r.get(10),
        errors: r.get(11),
        locked_by: r.get(12),
        locked_until: r.get(13),
        attempted_at: r.get(14),
        finalized_at: r.get(15),
        unique_key: r.get(16),
        cancel_requested_at: r.get(17),
    })
}

/// The retry transition: runnable now, with at least one attempt left.
const RETRY_SET: &str = "state = 'available', run_at = now(), finalized_at = NULL,
    cancel_requested_at = NULL, locked_by = NULL, locked_until = NULL,
    max_attempts = greatest(max_attempts, attempt + 1)";

/// No other job with the same unique key is waiting (`j` is the job).
const NO_WAITING_TWIN: &str = concat!(
    "NOT EXISTS (
    SELECT 1 FROM orgjobs.jobs w
    WHERE j.unique_key IS NOT NULL AND w.unique_key = j.unique_key
      AND w.organization_id IS NOT DISTINCT FROM j.organization_id
      AND w.state IN ",
    waiting_states_sql!(),
    " AND w.id <> j.id)"
);

/// Makes a discarded, cancelled or retryable job runnable at once.
pub async fn retry_job(client: &Client, id: i64) -> Result<(), AdminError> {
    let sql = format!(
        "UPDATE orgjobs.jobs j SET {RETRY_SET}
         WHERE id = $1 AND state IN ('discarded', 'cancelled', 'retryable') AND {NO_WAITING_TWIN}
         RETURNING id"
    );
    let rows = client
        .query_typed(&sql, &[(&id, Type::INT8)])
        .await
        .map_err(db("retrying the job"))?;
    if !rows.is_empty() {
        return Ok(());
    }
    let job = show_job(client, id).await?;
    if matches!(
        job.summary.state.as_str(),
        "discarded" | "cancelled" | "retryable"
    ) {
        let rows = client
            .query_typed(
                concat!(
                    "SELECT w.id FROM orgjobs.jobs w, orgjobs.jobs j
                 WHERE j.id = $1 AND w.unique_key = j.unique_key
                   AND w.organization_id IS NOT DISTINCT FROM j.organization_id
                   AND w.state IN ",
                    waiting_states_sql!(),
                    " AND w.id <> j.id"
                ),
                &[(&id, Type::INT8)],
            )
            .await
            .map_err(db("checking unique keys"))?;
        if let Some(r) = rows.first() {
            return Err(AdminError::UniqueKeyTaken {
                id,
                other: r.get(0),
            });
        }
    }
    Err(AdminError::WrongState {
        id,
        state: job.summary.state,
        hint: "only discarded, cancelled or retryable jobs can be retried",
    })
}

/// The discarded jobs a bulk retry takes. $1 organization, $2 kind,
/// $3/$4 discarding window, $5 error group (jobs_failed_idx serves it).
const DISCARDED_MATCH: &str = "state = 'discarded'
    AND ($1::uuid IS NULL OR organization_id = $1)
    AND ($2::text IS NULL OR kind = $2)
    AND ($3::timestamptz IS NULL OR finalized_at >= $3)
    AND ($4::timestamptz IS NULL OR finalized_at < $4)
    AND ($5::text IS NULL OR left(split_part(coalesce(last_error, ''), E'\\n', 1), 200) = $5)";

/// The discarded jobs a bulk retry takes, as `SELECT id`: those matching,
/// without a waiting twin (same organization and unique key), and of
/// several matching twins only the newest — retrying two would make the
/// second collide with the first on `jobs_unique_waiting_idx`. The count
/// and the retry both use it, so the confirmation shows what is taken.
fn retry_candidates() -> String {
    format!(
        "SELECT DISTINCT ON (j.organization_id, coalesce(j.unique_key, j.id::text)) j.id
         FROM orgjobs.jobs j
         WHERE {DISCARDED_MATCH} AND {NO_WAITING_TWIN}
         ORDER BY j.organization_id, coalesce(j.unique_key, j.id::text), j.id DESC"
    )
}

/// The waiting jobs a bulk cancel takes. $1 organization, $2 kind,
/// $3/$4 creation window, $5 error group, $6 state.
const WAITING_MATCH: &str = concat!(
    "state IN ",
    waiting_states_sql!(),
    " AND ($1::uuid IS NULL OR organization_id = $1)
    AND ($2::text IS NULL OR kind = $2)
    AND ($3::timestamptz IS NULL OR created_at >= $3)
    AND ($4::timestamptz IS NULL OR created_at < $4)
    AND ($5::text IS NULL OR left(split_part(coalesce(last_error, ''), E'\\n', 1), 200) = $5)
    AND ($6::text IS NULL OR state = $6)"
);

type Param<'a> = (&'a (dyn tokio_postgres::types::ToSql + Sync), Type);

fn bulk_params(filter: &JobFilter) -> [Param<'_>; 6] {
    [
        (&filter.organization_id, Type::UUID),
        (&filter.kind, Type::TEXT),
        (&filter.since, Type::TIMESTAMPTZ),
        (&filter.until, Type::TIMESTAMPTZ),
        (&filter.error, Type::TEXT),
        (&filter.state, Type::TEXT),
    ]
}

/// What a bulk action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkAction {
    /// [`retry_discarded`].
    Retry,
    /// [`cancel_waiting`].
    Cancel,
}

/// How many jobs `action` would take with `filter` now (what the
/// dashboard's confirmation shows; the action itself may take a few more
/// or fewer if jobs change state in between).
pub async fn count_matching(
    client: &Client,
    filter: &JobFilter,
    action: BulkAction,
) -> Result<u64, AdminError> {
    check_bulk(filter, action)?;
    let sql = match action {
        BulkAction::Retry => format!("SELECT count(*) FROM ({}) c", retry_candidates()),
        BulkAction::Cancel => format!("SELECT count(*) FROM orgjobs.jobs WHERE {WAITING_MATCH}"),
    };
    let rows = client
        .query_typed(&sql, &bulk_params(filter))
        .await
        .map_err(db("counting matching jobs"))?;
    Ok(count(&rows))
}

fn check_bulk(filter: &JobFilter, action: BulkAction) -> Result<(), AdminError> {
    filter.check()?;
    match action {
        BulkAction::Retry => {
            if filter.state.as_deref().is_some_and(|s| s != "discarded") {
                return Err(AdminError::InvalidFilter(
                    "bulk retry applies to discarded jobs only".to_owned(),
                ));
            }
        }
        BulkAction::Cancel => {
            if let Some(s) = &filter.state {
                if !crate::states::WAITING_STATES.contains(&s.as_str()) {
                    return Err(AdminError::InvalidFilter(format!(
                        "bulk cancel applies to waiting jobs only ({}), not {s}",
                        crate::states::WAITING_STATES.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Retries every discarded job matching `filter` (its time window applies
/// to when the job was discarded). Returns how many were retried; jobs whose
/// unique key another waiting job holds are left discarded, and of several
/// discarded jobs with one unique key only the newest is retried.
pub async fn retry_discarded(client: &Client, filter: &JobFilter) -> Result<u64, AdminError> {
    check_bulk(filter, BulkAction::Retry)?;
    let sql = format!(
        "WITH candidates AS ({}),
         retried AS (
             UPDATE orgjobs.jobs j SET {RETRY_SET}
             WHERE j.id IN (SELECT id FROM candidates)
             RETURNING 1)
         SELECT count(*) FROM retried",
        retry_candidates()
    );
    let rows = client
        .query_typed(&sql, &bulk_params(filter))
        .await
        .map_err(db("retrying discarded jobs"))?;
    Ok(count(&rows))
}

/// Cancels every waiting job matching `filter` (its state, when given,
/// must be a waiting state; its time window applies to creation). Running
/// jobs are left alone (cancel them one by one: their handlers decide).
/// Returns how many were cancelled.
pub async fn cancel_waiting(client: &Client, filter: &JobFilter) -> Result<u64, AdminError> {
    check_bulk(filter, BulkAction::Cancel)?;
    let sql = format!(
        "WITH cancelled AS (
             UPDATE orgjobs.jobs SET state = 'cancelled', finalized_at = now()
             WHERE {WAITING_MATCH}
             RETURNING 1)
         SELECT count(*) FROM cancelled"
    );
    let rows = client
        .query_typed(&sql, &bulk_params(filter))
        .await
        .map_err(db("cancelling waiting jobs"))?;
    Ok(count(&rows))
}

/// One organization's load: what waits, what runs, how long the oldest
/// runnable job has waited, what completed recently.
#[derive(Clone, Debug, Serialize)]
pub struct OrgLoad {
    /// The organization (`None`: global jobs).
    pub organization_id: Option<Uuid>,
    /// Jobs waiting (available, scheduled or retryable).
    pub waiting: i64,
    /// Jobs running.
    pub running: i64,
    /// Seconds the oldest runnable job has waited.
    pub oldest_wait_secs: Option<f64>,
    /// Jobs completed in the last `minutes`.
    pub completed_recently: i64,
}

/// Every organization's load (those with waiting, running or recently
/// completed jobs), most waiting first. `minutes`: what "recently" means.
pub async fn org_load(client: &Client, minutes: i32) -> Result<Vec<OrgLoad>, AdminError> {
    // $1 minutes. Waiting and running jobs come from their partial
    // indexes, recent completions from jobs_finalized_idx.
    let rows = client
        .query_typed(
            concat!(
                "SELECT organization_id,
                    count(*) FILTER (WHERE state IN ",
                waiting_states_sql!(),
                "),
                    count(*) FILTER (WHERE state = 'running'),
                    extract(epoch FROM now() - min(run_at) FILTER (WHERE state IN ",
                waiting_states_sql!(),
                " AND run_at <= now()))::float8,
                    count(*) FILTER (WHERE state = 'completed')
             FROM (
                 SELECT organization_id, state, run_at FROM orgjobs.jobs WHERE state IN ",
                waiting_states_sql!(),
                "   UNION ALL
                 SELECT organization_id, state, run_at FROM orgjobs.jobs WHERE state = 'running'
                 UNION ALL
                 SELECT organization_id, state, run_at FROM orgjobs.jobs
                 WHERE state IN ('completed', 'discarded', 'cancelled')
                   AND finalized_at >= now() - make_interval(mins => $1) AND state = 'completed'
             ) j
             GROUP BY organization_id
             ORDER BY 2 DESC, 3 DESC, organization_id"
            ),
            &[(&minutes, Type::INT4)],
        )
        .await
        .map_err(db("reading each organization's load"))?;
    Ok(rows
        .iter()
        .map(|r| OrgLoad {
            organization_id: r.get(0),
            waiting: r.get(1),
            running: r.get(2),
            oldest_wait_secs: r.get(3),
            completed_recently: r.get(4),
        })
        .collect())
}

/// The `count(*)` of a one-row result.
fn count(rows: &[tokio_postgres::Row]) -> u64 {
    rows.first()
        .map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0))
        .unwrap_or(0)
}

/// What a cancel did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelOutcome {
    /// The job was waiting and is now cancelled.
    Cancelled,
    /// The job is running; its handler can see the request, and if it
    /// fails or is interrupted the job ends cancelled.
    Requested,
}

/// Cancels a waiting job, or asks a running one to stop.
pub async fn cancel_job(client: &Client, id: i64) -> Result<CancelOutcome, AdminError> {
    let rows = client
        .query_typed(
            concat!(
                "UPDATE orgjobs.jobs SET state = 'cancelled', finalized_at = now()
             WHERE id = $1 AND state IN ",
                waiting_states_sql!(),
                " RETURNING id"
            ),
            &[(&id, Type::INT8)],
        )
        .await
        .map_err(db("cancelling the job"))?;
    if !rows.is_empty() {
        return Ok(CancelOutcome::Cancelled);
    }
    let rows = client
        .query_typed(
            "UPDATE orgjobs.jobs SET cancel_requested_at = coalesce(cancel_requested_at, now())
             WHERE id = $1 AND (state || '') = 'running' RETURNING id",
            &[(&id, Type::INT8)],
        )
        .await
        .map_err(db("requesting cancellation"))?;
    if !rows.is_empty() {
        return Ok(CancelOutcome::Requested);
    }
    let job = show_job(client, id).await?;
    Err(AdminError::WrongState {
        id,
        state: job.summary.state,
        hint: "only waiting or running jobs can be cancelled",
    })
}

/// Counts by kind and state, and how long the oldest runnable job has
/// waited.
#[derive(Clone, Debug, Serialize)]
pub struct QueueStats {
    /// (kind, state, count), sorted.
    pub counts: Vec<(String, String, i64)>,
    /// Seconds since the oldest runnable job became runnable.
    pub oldest_waiting_secs: Option<f64>,
    /// Pauses in force (their jobs wait).
    pub paused: Vec<crate::pause::Pause>,
}

/// Reads [`QueueStats`].
pub async fn queue_stats(client: &Client) -> Result<QueueStats, AdminError> {
    let rows = client
        .query_typed(
            "SELECT kind, state, count(*) FROM orgjobs.jobs GROUP BY kind, state ORDER BY kind, state",
            &[],
        )
        .await
        .map_err(db("counting jobs"))?;
    let counts = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let rows = client
        .query_typed(
            concat!(
                "SELECT extract(epoch FROM now() - min(run_at))::float8 FROM orgjobs.jobs
             WHERE state IN ",
                waiting_states_sql!(),
                " AND run_at <= now()"
            ),
            &[],
        )
        .await
        .map_err(db("finding the oldest waiting job"))?;
    Ok(QueueStats {
        counts,
        oldest_waiting_secs: rows.first().and_then(|r| r.get(0)),
        paused: crate::pause::list_pauses(client).await?,
    })
}
