//! The organization's metrics snapshots (METRICS_SNAPSHOT's rows) and its
//! open tickets at risk of breaching their SLA (SLA_PREDICT's).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use orgjobs_queue::TenantTx;

use crate::auth::OrgAuth;
use crate::problem::{ApiError, ApiQuery, Problem};
use crate::state::ApiState;

/// `?limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Limit {
    /// 1 to 500 (default 48).
    limit: Option<i64>,
}

fn limit(l: &Limit, default: i64, max: i64) -> Result<i64, ApiError> {
    let n = l.limit.unwrap_or(default);
    if !(1..=max).contains(&n) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {max}, got {n}"
        )));
    }
    Ok(n)
}

/// The newest metrics snapshots, newest first (each row of
/// `metrics_snapshots` without its organization id).
#[utoipa::path(get, path = "/api/metrics-snapshots", params(Limit), security(("bearer" = [])),
    responses((status = 200, body = Vec<Object>), (status = 400, body = Problem)))]
pub async fn list_snapshots(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiQuery(l): ApiQuery<Limit>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let n = limit(&l, 48, 500)?;
    let tx = auth.begin(&state).await?;
    let rows = snapshots(&tx, n).await?;
    drop(tx.commit().await?);
    Ok(Json(rows))
}

/// The `n` newest snapshots of the transaction's organization, newest
/// first.
pub(crate) async fn snapshots(tx: &TenantTx, n: i64) -> Result<Vec<Value>, ApiError> {
    // $1 how many, $2 the organization (the only one RLS shows).
    let rows = tx
        .query(
            "SELECT to_jsonb(s) - 'organization_id' FROM public.metrics_snapshots s
             WHERE s.organization_id = $2
             ORDER BY s.snapshot_ts DESC, s.id DESC LIMIT $1",
            &[&n, &tx.org_id()],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// An open ticket predicted to breach (or breaching) its SLA.
#[derive(Debug, Serialize, ToSchema)]
pub struct AtRisk {
    pub(crate) id: Uuid,
    pub(crate) subject: String,
    pub(crate) status: String,
    pub(crate) priority: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) risk_level: String,
    pub(crate) breach_probability: f64,
    pub(crate) predicted_first_response_at: DateTime<Utc>,
    pub(crate) predicted_resolution_at: DateTime<Utc>,
}

/// Open tickets at risk, most likely to breach first.
#[utoipa::path(get, path = "/api/tickets-at-risk", params(Limit), security(("bearer" = [])),
    responses((status = 200, body = Vec<AtRisk>), (status = 400, body = Problem)))]
pub async fn at_risk(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiQuery(l): ApiQuery<Limit>,
) -> Result<Json<Vec<AtRisk>>, ApiError> {
    let n = limit(&l, 50, 500)?;
    let tx = auth.begin(&state).await?;
    let rows = at_risk_rows(&tx, n).await?;
    drop(tx.commit().await?);
    Ok(Json(rows))
}

/// The transaction's organization's open tickets at risk, most likely to
/// breach first, at most `n`.
pub(crate) async fn at_risk_rows(tx: &TenantTx, n: i64) -> Result<Vec<AtRisk>, ApiError> {
    // $1 how many, $2 the organization (the only one RLS shows).
    let rows = tx
        .query(
            "SELECT t.id, t.subject, t.status, t.priority, t.created_at, p.risk_level,
                    p.breach_probability, p.predicted_first_response_at, p.predicted_resolution_at
             FROM public.sla_predictions p
             JOIN public.tickets t ON t.organization_id = p.organization_id AND t.id = p.ticket_id
             WHERE p.organization_id = $2
               AND p.risk_level <> 'ok' AND t.status NOT IN ('resolved', 'closed')
             ORDER BY p.breach_probability DESC, t.created_at, t.id
             LIMIT $1",
            &[&n, &tx.org_id()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AtRisk {
            id: r.get(0),
            subject: r.get(1),
            status: r.get(2),
            priority: r.get(3),
            created_at: r.get(4),
            risk_level: r.get(5),
            breach_probability: r.get(6),
            predicted_first_response_at: r.get(7),
            predicted_resolution_at: r.get(8),
        })
        .collect())
}
