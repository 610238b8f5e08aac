//! Operator routes (operator tokens only): every organization's jobs, the
//! queue's counts, retry and cancel — the CLI's `jobs` and `queue` actions,
//! run on the server's login outside any organization context.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use orgjobs_queue::deadpool_postgres::Object;
use orgjobs_queue::{AdminError, JobFilter, TokenRole, authenticate};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::problem::{ApiError, ApiPath, ApiQuery, Problem};
use crate::state::ApiState;

/// An operator's authenticated request and a connection.
pub struct OperatorAuth {
    conn: Object,
}

impl FromRequestParts<ApiState> for OperatorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let token = crate::auth::bearer(parts)?;
        let conn = state
            .pool()
            .get()
            .await
            .map_err(|e| ApiError::Unavailable(format!("no database connection: {e}")))?;
        let principal = match authenticate(&**conn, token).await {
            Ok(p) => p,
            Err(orgjobs_queue::AuthError::Db(e)) => return Err(e.into()),
            Err(e) => return Err(ApiError::Unauthorized(e.to_string())),
        };
        if principal.role != TokenRole::Operator {
            return Err(ApiError::Forbidden(
                "operator routes need an operator token (`orgjobs token create` without --org)"
                    .into(),
            ));
        }
        crate::auth::rate_limit(state, principal.token_id)?;
        state.token_used(principal.token_id);
        Ok(OperatorAuth { conn })
    }
}

fn admin(e: AdminError) -> ApiError {
    match e {
        AdminError::NotFound(id) => ApiError::NotFound(format!("no job with id {id}")),
        AdminError::WrongState { .. } | AdminError::UniqueKeyTaken { .. } => {
            ApiError::Conflict(e.to_string())
        }
        AdminError::InvalidFilter(_) | AdminError::Invalid(_) => {
            ApiError::BadRequest(e.to_string())
        }
        AdminError::Db(e) => ApiError::Internal(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}

/// Filters of `GET /api/operator/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OperatorJobQuery {
    /// Only this organization's jobs.
    org: Option<Uuid>,
    /// Only this kind.
    kind: Option<String>,
    /// Only this state.
    state: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    limit: Option<i64>,
}

/// Jobs of every organization, newest first.
#[utoipa::path(get, path = "/api/operator/jobs", params(OperatorJobQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Object>), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn list_jobs(
    State(_state): State<ApiState>,
    auth: OperatorAuth,
    ApiQuery(q): ApiQuery<OperatorJobQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to 500, got {limit}"
        )));
    }
    let filter = JobFilter {
        organization_id: q.org,
        kind: q.kind,
        state: q.state,
        ..JobFilter::default()
    };
    let jobs = orgjobs_queue::list_jobs(&auth.conn, &filter, limit)
        .await
        .map_err(admin)?;
    Ok(Json(serde_json::to_value(jobs).unwrap_or_default()))
}

/// One job of any organization, with its payload and errors.
#[utoipa::path(get, path = "/api/operator/jobs/{id}", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
pub async fn get_job(
    auth: OperatorAuth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let job = orgjobs_queue::show_job(&auth.conn, id)
        .await
        .map_err(admin)?;
    Ok(Json(serde_json::to_value(job).unwrap_or_default()))
}

/// What an operator action did.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorAction {
    id: i64,
    outcome: String,
}

/// Run a dead letter again now.
#[utoipa::path(post, path = "/api/operator/jobs/{id}/retry", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = OperatorAction), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn retry_job(
    auth: OperatorAuth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<OperatorAction>, ApiError> {
    orgjobs_queue::retry_job(&auth.conn, id)
        .await
        .map_err(admin)?;
    Ok(Json(OperatorAction {
        id,
        outcome: "retried".into(),
    }))
}

/// Cancel a waiting job, or ask a running one to stop.
#[utoipa::path(post, path = "/api/operator/jobs/{id}/cancel", params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = OperatorAction), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel_job(
    auth: OperatorAuth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<OperatorAction>, ApiError> {
    let outcome = orgjobs_queue::cancel_job(&auth.conn, id)
        .await
        .map_err(admin)?;
    Ok(Json(OperatorAction {
        id,
        outcome: match outcome {
            orgjobs_queue::CancelOutcome::Cancelled => "cancelled".into(),
            orgjobs_queue::CancelOutcome::Requested => "requested".into(),
        },
    }))
}

/// Counts by kind and state, and the oldest waiting job's age.
#[utoipa::path(get, path = "/api/operator/queue", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 403, body = Problem)))]
pub async fn queue(auth: OperatorAuth) -> Result<Json<Value>, ApiError> {
    let stats = orgjobs_queue::queue_stats(&auth.conn)
        .await
        .map_err(admin)?;
    Ok(Json(serde_json::to_value(stats).unwrap_or_default()))
}
