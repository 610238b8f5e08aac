//! Operator routes (operator tokens only): every organization's jobs, the
//! queue's counts, retry and cancel — the CLI's `jobs` and `queue` actions,
//! run on the server's login outside any organization context.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use orgjobs_queue::deadpool_postgres::Object;
use orgjobs_queue::{AdminError, JobFilter, TokenRole};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::problem::{ApiError, ApiPath, ApiQuery, Problem};
use crate::state::ApiState;

/// An operator's authenticated request and a connection.
pub struct OperatorAuth {
    conn: Object,
    token_id: Uuid,
}

impl OperatorAuth {
    /// Logs an operator action with the token that did it, and writes it
    /// to the actions log (`orgjobs.actions`), after it was done.
    async fn log(&self, action: &str, detail: &str) -> Result<(), ApiError> {
        record(&self.conn, self.token_id, action, detail).await
    }
}

impl FromRequestParts<ApiState> for OperatorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let (principal, conn) = crate::auth::authenticated(parts, state).await?;
        if principal.role != TokenRole::Operator {
            return Err(ApiError::Forbidden(
                "operator routes need an operator token (`orgjobs token create` without --org)"
                    .into(),
            ));
        }
        crate::auth::rate_limit(state, principal.token_id)?;
        state.token_used(principal.token_id);
        Ok(OperatorAuth {
            conn,
            token_id: principal.token_id,
        })
    }
}

/// Logs and records an operator action done with `token`.
async fn record(conn: &Object, token: Uuid, action: &str, detail: &str) -> Result<(), ApiError> {
    tracing::info!(event = "operator_action", token = %token, action, detail, via = "api");
    orgjobs_queue::record_action(
        &***conn,
        &format!("api: token {token}"),
        None,
        action,
        detail,
    )
    .await?;
    Ok(())
}

pub(crate) fn admin(e: AdminError) -> ApiError {
    match e {
        AdminError::NotFound(id) => ApiError::NotFound(format!("no job with id {id}")),
        AdminError::WrongState { .. } | AdminError::UniqueKeyTaken { .. } => {
            ApiError::Conflict(e.to_string())
        }
        AdminError::InvalidFilter(_) | AdminError::Invalid(_) => {
            ApiError::BadRequest(e.to_string())
        }
        AdminError::Db(e) => match e.code() {
            Some("22021" | "22P02" | "23514") => ApiError::BadRequest(e.to_string()),
            // A job with the same unique key started waiting meanwhile.
            Some("23505") => ApiError::Conflict(format!(
                "{e}: another job with the same unique key is waiting; nothing was changed, try again"
            )),
            _ => ApiError::Internal(e.to_string()),
        },
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
    auth.log("retry", &format!("job {id}")).await?;
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
    auth.log("cancel", &format!("job {id}")).await?;
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

/// The filter of a bulk action.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BulkFilter {
    /// Only this organization's jobs.
    org: Option<Uuid>,
    /// Only this kind.
    kind: Option<String>,
    /// Cancel: only this waiting state.
    state: Option<String>,
    /// From this time on (retry: when discarded; cancel: when created), RFC 3339.
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Before this time, RFC 3339.
    until: Option<chrono::DateTime<chrono::Utc>>,
}

impl BulkFilter {
    fn filter(self) -> JobFilter {
        JobFilter {
            organization_id: self.org,
            kind: self.kind,
            state: self.state,
            since: self.since,
            until: self.until,
            ..JobFilter::default()
        }
    }
}

/// How many jobs a bulk action took.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    /// Jobs retried or cancelled.
    count: u64,
}

/// Retry every discarded job matching the filter.
#[utoipa::path(post, path = "/api/operator/jobs/retry", params(BulkFilter), security(("bearer" = [])),
    responses((status = 200, body = BulkResult), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn bulk_retry(
    auth: OperatorAuth,
    ApiQuery(f): ApiQuery<BulkFilter>,
) -> Result<Json<BulkResult>, ApiError> {
    let filter = f.filter();
    let count = orgjobs_queue::retry_discarded(&auth.conn, &filter)
        .await
        .map_err(admin)?;
    auth.log("bulk_retry", &format!("{count} jobs; {filter:?}"))
        .await?;
    Ok(Json(BulkResult { count }))
}

/// Cancel every waiting job matching the filter (running jobs are left
/// alone).
#[utoipa::path(post, path = "/api/operator/jobs/cancel", params(BulkFilter), security(("bearer" = [])),
    responses((status = 200, body = BulkResult), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn bulk_cancel(
    auth: OperatorAuth,
    ApiQuery(f): ApiQuery<BulkFilter>,
) -> Result<Json<BulkResult>, ApiError> {
    let filter = f.filter();
    if filter.organization_id.is_none() && filter.kind.is_none() && filter.state.is_none() {
        return Err(ApiError::BadRequest(
            "refusing to cancel every waiting job: give org, kind or state".into(),
        ));
    }
    let count = orgjobs_queue::cancel_waiting(&auth.conn, &filter)
        .await
        .map_err(admin)?;
    auth.log("bulk_cancel", &format!("{count} jobs; {filter:?}"))
        .await?;
    Ok(Json(BulkResult { count }))
}

/// `?minutes=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LoadQuery {
    /// What "recently completed" covers, 1 to 1440 minutes (default 5).
    minutes: Option<i32>,
}

/// Each organization's load: waiting, running, oldest wait, completed in
/// the last minutes.
#[utoipa::path(get, path = "/api/operator/load", params(LoadQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Object>), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn load(
    auth: OperatorAuth,
    ApiQuery(q): ApiQuery<LoadQuery>,
) -> Result<Json<Value>, ApiError> {
    let minutes = q.minutes.unwrap_or(5);
    if !(1..=1440).contains(&minutes) {
        return Err(ApiError::BadRequest(format!(
            "minutes must be 1 to 1440, got {minutes}"
        )));
    }
    let load = orgjobs_queue::org_load(&auth.conn, minutes)
        .await
        .map_err(admin)?;
    Ok(Json(serde_json::to_value(load).unwrap_or_default()))
}

/// A pause to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPause {
    /// The organization (all its kinds unless `kind`).
    organization_id: Option<Uuid>,
    /// The kind (in every organization unless `organization_id`).
    kind: Option<String>,
    #[serde(default)]
    reason: String,
}

/// Which pause to end.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PauseKey {
    /// The organization.
    org: Option<Uuid>,
    /// The kind.
    kind: Option<String>,
}

/// The pauses in force.
#[utoipa::path(get, path = "/api/operator/pauses", security(("bearer" = [])),
    responses((status = 200, body = Vec<Object>), (status = 403, body = Problem)))]
pub async fn list_pauses(auth: OperatorAuth) -> Result<Json<Value>, ApiError> {
    let pauses = orgjobs_queue::list_pauses(&auth.conn)
        .await
        .map_err(admin)?;
    Ok(Json(serde_json::to_value(pauses).unwrap_or_default()))
}

/// Pause an organization, a kind, or one kind of one organization: its jobs
/// wait, everyone else's run (201; 200 if it was already paused).
#[utoipa::path(post, path = "/api/operator/pauses", request_body = NewPause, security(("bearer" = [])),
    responses((status = 201, body = Object), (status = 200, body = Object), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn pause(
    auth: OperatorAuth,
    crate::problem::ApiJson(p): crate::problem::ApiJson<NewPause>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let by = format!("api:{}", auth.token_id);
    let new = orgjobs_queue::pause(
        &auth.conn,
        p.organization_id,
        p.kind.as_deref(),
        &p.reason,
        &by,
    )
    .await
    .map_err(admin)?;
    auth.log(
        "pause",
        &format!("organization {:?}, kind {:?}", p.organization_id, p.kind),
    )
    .await?;
    let status = if new {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    Ok((
        status,
        Json(
            serde_json::json!({"organization_id": p.organization_id, "kind": p.kind, "paused": true}),
        ),
    ))
}

/// End a pause.
#[utoipa::path(delete, path = "/api/operator/pauses", params(PauseKey), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem), (status = 403, body = Problem)))]
pub async fn resume(
    auth: OperatorAuth,
    ApiQuery(k): ApiQuery<PauseKey>,
) -> Result<axum::http::StatusCode, ApiError> {
    if !orgjobs_queue::resume(&auth.conn, k.org, k.kind.as_deref())
        .await
        .map_err(admin)?
    {
        return Err(ApiError::NotFound("no such pause".into()));
    }
    auth.log(
        "resume",
        &format!("organization {:?}, kind {:?}", k.org, k.kind),
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// An organization as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Organization {
    id: Uuid,
    name: String,
    active: bool,
}

/// Every organization (through the global role's policy on organizations).
#[utoipa::path(get, path = "/api/operator/organizations", security(("bearer" = [])),
    responses((status = 200, body = Vec<Organization>), (status = 403, body = Problem)))]
pub async fn list_organizations(
    State(state): State<ApiState>,
    auth: OperatorAuth,
) -> Result<Json<Vec<Organization>>, ApiError> {
    let s = orgjobs_queue::GlobalTx::begin(
        auth.conn,
        orgjobs_queue::GlobalRole::Global,
        state.session(),
    )
    .await?;
    let orgs = orgjobs_helpdesk::list_organizations(&s).await?;
    drop(s.rollback().await?);
    Ok(Json(
        orgs.into_iter()
            .map(|o| Organization {
                id: o.id,
                name: o.name,
                active: o.active,
            })
            .collect(),
    ))
}

/// `POST /api/operator/organizations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    name: String,
}

/// Create an organization with the default SLA policies (written in its
/// own tenant transaction, so RLS checks its rows like any other).
#[utoipa::path(post, path = "/api/operator/organizations", request_body = NewOrganization, security(("bearer" = [])),
    responses((status = 201, body = Organization), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn create_organization(
    State(state): State<ApiState>,
    auth: OperatorAuth,
    crate::problem::ApiJson(o): crate::problem::ApiJson<NewOrganization>,
) -> Result<(axum::http::StatusCode, Json<Organization>), ApiError> {
    let name = o.name.trim().to_owned();
    let n = name.chars().count();
    if n == 0 || n > 200 {
        return Err(ApiError::BadRequest(format!(
            "name must be 1 to 200 characters, got {n}"
        )));
    }
    let id = Uuid::new_v4();
    let token = auth.token_id;
    let tx = orgjobs_queue::TenantTx::begin(auth.conn, id, state.session()).await?;
    orgjobs_helpdesk::create_organization(&tx, &name).await?;
    orgjobs_helpdesk::set_sla_policies(&tx, &orgjobs_helpdesk::default_sla_policies()).await?;
    let conn = tx.commit().await?;
    record(
        &conn,
        token,
        "create_organization",
        &format!("{id} {name:?}"),
    )
    .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(Organization {
            id,
            name,
            active: true,
        }),
    ))
}

/// Deactivate an organization: marked inactive (no periodic snapshots) and
/// paused (its jobs wait); `DELETE /api/operator/pauses?org=` lets its jobs
/// run again.
#[utoipa::path(post, path = "/api/operator/organizations/{id}/deactivate", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Organization), (status = 404, body = Problem), (status = 403, body = Problem)))]
pub async fn deactivate_organization(
    State(state): State<ApiState>,
    auth: OperatorAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Organization>, ApiError> {
    let token = auth.token_id;
    let tx = orgjobs_queue::TenantTx::begin(auth.conn, id, state.session()).await?;
    let row = tx
        .query_opt(
            "UPDATE public.organizations SET active = false WHERE id = $1 RETURNING name",
            &[&id],
        )
        .await?;
    let conn = tx.commit().await?;
    let Some(row) = row else {
        return Err(ApiError::NotFound(format!("no organization {id}")));
    };
    orgjobs_queue::pause(
        &conn,
        Some(id),
        None,
        "deactivated",
        &format!("api:{token}"),
    )
    .await
    .map_err(admin)?;
    record(&conn, token, "deactivate_organization", &id.to_string()).await?;
    Ok(Json(Organization {
        id,
        name: row.get(0),
        active: false,
    }))
}
