//! The organization's own jobs: list, get (with every attempt's error),
//! retry, cancel — through `orgjobs.org_*` functions, which see only the
//! jobs of the transaction's organization.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use orgjobs_queue::TenantTx;

use crate::auth::OrgAuth;
use crate::problem::{ApiError, ApiPath, ApiQuery, Problem};
use crate::state::ApiState;

/// A job as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobSummary {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) state: String,
    pub(crate) attempt: i32,
    pub(crate) max_attempts: i32,
    pub(crate) priority: i16,
    pub(crate) run_at: DateTime<Utc>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) attempted_at: Option<DateTime<Utc>>,
    pub(crate) finalized_at: Option<DateTime<Utc>>,
    pub(crate) last_error: Option<String>,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    pub(crate) jobs: Vec<JobSummary>,
    /// Pass as `before` for the next page; absent on the last.
    pub(crate) next: Option<i64>,
}

/// A job with its payload and error history.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDetail {
    #[serde(flatten)]
    pub(crate) summary: JobSummary,
    #[schema(value_type = Object)]
    pub(crate) payload: Value,
    /// One object per failed attempt: attempt, at, worker, error.
    #[schema(value_type = Vec<Object>)]
    pub(crate) errors: Value,
    pub(crate) cancel_requested_at: Option<DateTime<Utc>>,
}

/// What a retry or cancel did.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobAction {
    id: i64,
    /// `retried`, `cancelled` or `requested` (a running job was asked to stop).
    outcome: String,
}

/// Filters and page of `GET /api/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// available, scheduled, running, retryable, completed, discarded or cancelled.
    state: Option<String>,
    /// A job kind, e.g. TRIAGE_TICKET.
    kind: Option<String>,
    /// Jobs older than this id (the `next` of the previous page).
    before: Option<i64>,
    /// Page size, 1 to 100 (default 50).
    limit: Option<i32>,
}

fn summary(r: &orgjobs_queue::tokio_postgres::Row) -> JobSummary {
    JobSummary {
        id: r.get(0),
        kind: r.get(1),
        state: r.get(2),
        attempt: r.get(3),
        max_attempts: r.get(4),
        priority: r.get(5),
        run_at: r.get(6),
        created_at: r.get(7),
        attempted_at: r.get(8),
        finalized_at: r.get(9),
        last_error: r.get(10),
    }
}

/// List the organization's jobs, newest first.
#[utoipa::path(get, path = "/api/jobs", params(JobQuery), security(("bearer" = [])),
    responses((status = 200, body = JobPage), (status = 400, body = Problem)))]
pub async fn list_jobs(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> Result<Json<JobPage>, ApiError> {
    if let Some(s) = &q.state {
        if !orgjobs_queue::STATES.contains(&s.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "state {s:?} is not one of {}",
                orgjobs_queue::STATES.join(", ")
            )));
        }
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to 100, got {limit}"
        )));
    }
    let tx = auth.begin(&state).await?;
    let page = job_page(&tx, q.state.as_deref(), q.kind.as_deref(), q.before, limit).await?;
    drop(tx.commit().await?);
    Ok(Json(page))
}

/// A page of the transaction's organization's jobs, newest first, before
/// job `before`.
pub(crate) async fn job_page(
    tx: &TenantTx,
    state: Option<&str>,
    kind: Option<&str>,
    before: Option<i64>,
    limit: i32,
) -> Result<JobPage, ApiError> {
    // $1 state, $2 kind, $3 keyset, $4 one more than the page.
    let rows = tx
        .query(
            "SELECT * FROM orgjobs.org_jobs($1, $2, $3, $4)",
            &[&state, &kind, &before, &(limit + 1)],
        )
        .await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(50);
    let jobs: Vec<JobSummary> = rows
        .iter()
        .take(usize::try_from(limit).unwrap_or(50))
        .map(summary)
        .collect();
    let next = if more {
        jobs.last().map(|j| j.id)
    } else {
        None
    };
    Ok(JobPage { jobs, next })
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no job {id} in this organization"))
}

/// Get one of the organization's jobs, with its payload and errors.
#[utoipa::path(get, path = "/api/jobs/{id}", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = JobDetail), (status = 404, body = Problem)))]
pub async fn get_job(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobDetail>, ApiError> {
    let tx = auth.begin(&state).await?;
    let job = job_detail(&tx, id).await?;
    drop(tx.commit().await?);
    job.map(Json).ok_or_else(|| not_found(id))
}

/// One of the transaction's organization's jobs, if it has one with this
/// id.
pub(crate) async fn job_detail(tx: &TenantTx, id: i64) -> Result<Option<JobDetail>, ApiError> {
    // $1 the job, in this organization only.
    let row = tx
        .query_opt("SELECT * FROM orgjobs.org_job($1)", &[&id])
        .await?;
    Ok(row.map(|r| JobDetail {
        summary: summary(&r),
        payload: r.get(11),
        errors: r.get(12),
        cancel_requested_at: r.get(13),
    }))
}

async fn act(
    state: &ApiState,
    auth: OrgAuth,
    id: i64,
    function: &'static str,
) -> Result<Json<JobAction>, ApiError> {
    auth.require_admin()?;
    let tx = auth.begin(state).await?;
    let outcome = org_job_action(&tx, id, function == "retry").await?;
    drop(tx.commit().await?);
    Ok(Json(JobAction { id, outcome }))
}

/// Retries (or cancels) one of the transaction's organization's jobs
/// through `orgjobs.org_retry_job`/`org_cancel_job`; the outcome
/// (`retried`, `cancelled`, `requested`), or why not. The caller commits.
pub(crate) async fn org_job_action(
    tx: &TenantTx,
    id: i64,
    retry: bool,
) -> Result<String, ApiError> {
    let function = if retry { "retry" } else { "cancel" };
    // $1 the job; the function acts on this organization's jobs only.
    let sql = if retry {
        "SELECT orgjobs.org_retry_job($1)"
    } else {
        "SELECT orgjobs.org_cancel_job($1)"
    };
    let outcome: String = tx.query_one(sql, &[&id]).await?.get(0);
    match outcome.as_str() {
        "retried" | "cancelled" | "requested" => Ok(outcome),
        "not_found" => Err(not_found(id)),
        "unique_key_taken" => Err(ApiError::Conflict(format!(
            "job {id} cannot be retried: another waiting job holds its unique key"
        ))),
        state if function == "retry" => Err(ApiError::Conflict(format!(
            "job {id} is {state}; only discarded, cancelled or retryable jobs can be retried"
        ))),
        state => Err(ApiError::Conflict(format!(
            "job {id} is {state}; only waiting or running jobs can be cancelled"
        ))),
    }
}

/// Run a discarded, cancelled or retryable job again now (admin).
#[utoipa::path(post, path = "/api/jobs/{id}/retry", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = JobAction), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn retry_job(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobAction>, ApiError> {
    act(&state, auth, id, "retry").await
}

/// Cancel a waiting job, or ask a running one to stop (admin).
#[utoipa::path(post, path = "/api/jobs/{id}/cancel", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = JobAction), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel_job(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobAction>, ApiError> {
    act(&state, auth, id, "cancel").await
}
