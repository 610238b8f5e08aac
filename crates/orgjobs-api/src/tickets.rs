//! Tickets: create (idempotent on `external_id` or `Idempotency-Key`), list
//! with filters and keyset pagination, get with the jobs' results, update,
//! and request a reply draft. Each request is one tenant transaction; RLS
//! limits every statement to the token's organization, and another
//! organization's ticket id is "not found".

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use orgjobs_helpdesk::import::{Record, TicketRecord, check_record};
use orgjobs_helpdesk::{Priority, Status};
use orgjobs_queue::TenantTx;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::OrgAuth;
use crate::problem::{ApiError, ApiJson, ApiPath, ApiQuery, Problem};
use crate::state::ApiState;

/// The detail statement (`sql/ticket_detail.sql`), shared with the benchmark.
const TICKET_DETAIL_SQL: &str = include_str!("../sql/ticket_detail.sql");

/// Longest category and external id accepted (as `orgjobs import`).
const MAX_CATEGORY: usize = 100;
const MAX_EXTERNAL_ID: usize = 200;

/// A ticket as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketSummary {
    pub(crate) id: Uuid,
    pub(crate) subject: String,
    pub(crate) status: String,
    pub(crate) priority: String,
    pub(crate) category: Option<String>,
    pub(crate) requester_email: Option<String>,
    pub(crate) external_id: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    /// The SLA prediction's risk level, once predicted.
    pub(crate) risk_level: Option<String>,
    /// The triage's confidence, once triaged.
    pub(crate) triage_confidence: Option<f64>,
    /// The model that triaged it.
    pub(crate) triage_model: Option<String>,
}

/// A page of tickets, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPage {
    pub(crate) tickets: Vec<TicketSummary>,
    /// Pass as `after` for the next page; absent on the last.
    pub(crate) next: Option<String>,
}

/// A ticket with what its jobs found.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetail {
    pub(crate) id: Uuid,
    pub(crate) subject: String,
    pub(crate) body: String,
    pub(crate) status: String,
    pub(crate) priority: String,
    pub(crate) category: Option<String>,
    pub(crate) requester_email: Option<String>,
    pub(crate) external_id: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) first_response_at: Option<DateTime<Utc>>,
    pub(crate) resolved_at: Option<DateTime<Utc>>,
    /// TRIAGE_TICKET's result.
    pub(crate) triage: Option<Triage>,
    /// KB_SUGGEST's articles.
    #[schema(value_type = Option<Object>)]
    pub(crate) suggestions: Option<Value>,
    /// SLA_PREDICT's prediction.
    pub(crate) sla: Option<SlaPrediction>,
    /// SMART_REPLY's latest draft.
    #[schema(value_type = Option<Object>)]
    pub(crate) reply_draft: Option<Value>,
}

/// A ticket's triage.
#[derive(Debug, Serialize, ToSchema)]
pub struct Triage {
    pub(crate) category: Option<String>,
    pub(crate) priority: String,
    pub(crate) confidence: f64,
    pub(crate) model: String,
    #[schema(value_type = Object)]
    pub(crate) details: Value,
    pub(crate) created_at: DateTime<Utc>,
}

/// A ticket's SLA prediction.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaPrediction {
    pub(crate) predicted_first_response_at: DateTime<Utc>,
    pub(crate) predicted_resolution_at: DateTime<Utc>,
    pub(crate) breach_probability: f64,
    pub(crate) risk_level: String,
    pub(crate) created_at: DateTime<Utc>,
}

/// Filters and page of `GET /api/tickets`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// new, open, pending, resolved or closed.
    status: Option<String>,
    /// low, normal, high or urgent.
    priority: Option<String>,
    /// Exact category.
    category: Option<String>,
    /// ok, at_risk_75, at_risk_90 or breached.
    risk: Option<String>,
    /// Page size, 1 to 100 (default 50).
    limit: Option<i64>,
    /// The `next` of the previous page.
    after: Option<String>,
}

/// `POST /api/tickets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    subject: String,
    #[serde(default)]
    body: String,
    /// low, normal (default), high or urgent.
    #[schema(value_type = Option<String>)]
    priority: Option<Priority>,
    requester_email: Option<String>,
    /// Your id for it: creating again with the same returns the first.
    external_id: Option<String>,
}

/// `PATCH /api/tickets/{id}`: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    /// new, open, pending, resolved or closed.
    #[schema(value_type = Option<String>)]
    status: Option<Status>,
    /// low, normal, high or urgent.
    #[schema(value_type = Option<String>)]
    priority: Option<Priority>,
    /// The agent's category: the label triage learns from.
    category: Option<String>,
}

/// A job enqueued for the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enqueued {
    job_id: i64,
    kind: String,
}

fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::BadRequest(format!(
            "{field} must be {min} to {max} characters, got {n}"
        )));
    }
    Ok(())
}

/// PostgreSQL text cannot hold NUL.
pub(crate) fn no_nul(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::BadRequest(format!(
            "{field} contains a NUL character (\\u0000), which cannot be stored"
        )));
    }
    Ok(())
}

pub(crate) fn parse_enum<T: std::str::FromStr>(value: Option<&str>) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    value
        .map(|v| {
            v.parse::<T>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))
        })
        .transpose()
}

const RISK_LEVELS: [&str; 4] = ["ok", "at_risk_75", "at_risk_90", "breached"];

/// The cursor: the last ticket's creation time and id.
pub(crate) fn parse_cursor(after: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "after {after:?} is not a cursor: pass the `next` of the previous page"
        ))
    };
    let (t, id) = after.rsplit_once('_').ok_or_else(bad)?;
    let t = DateTime::parse_from_rfc3339(t).map_err(|_| bad())?;
    let id = Uuid::try_parse(id).map_err(|_| bad())?;
    Ok((t.with_timezone(&Utc), id))
}

/// List the organization's tickets, newest first.
#[utoipa::path(get, path = "/api/tickets", params(TicketQuery), security(("bearer" = [])),
    responses((status = 200, body = TicketPage), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_tickets(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiQuery(q): ApiQuery<TicketQuery>,
) -> Result<Json<TicketPage>, ApiError> {
    let status: Option<Status> = parse_enum(q.status.as_deref())?;
    let priority: Option<Priority> = parse_enum(q.priority.as_deref())?;
    if let Some(r) = &q.risk {
        if !RISK_LEVELS.contains(&r.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "risk {r:?} is not one of {}",
                RISK_LEVELS.join(", ")
            )));
        }
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to 100, got {limit}"
        )));
    }
    let cursor = q.after.as_deref().map(parse_cursor).transpose()?;
    let tx = auth.begin(&state).await?;
    let page = ticket_page(
        &tx,
        &TicketFilter {
            status,
            priority,
            category: q.category,
            risk: q.risk,
        },
        cursor,
        limit,
    )
    .await?;
    drop(tx.commit().await?);
    Ok(Json(page))
}

/// Which tickets a listing shows.
#[derive(Debug, Default)]
pub(crate) struct TicketFilter {
    pub(crate) status: Option<Status>,
    pub(crate) priority: Option<Priority>,
    pub(crate) category: Option<String>,
    pub(crate) risk: Option<String>,
}

/// A page of the organization's tickets (in `tx`), newest first, after
/// `cursor`.
pub(crate) async fn ticket_page(
    tx: &TenantTx,
    f: &TicketFilter,
    cursor: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<TicketPage, ApiError> {
    let (after_t, after_id) = (cursor.map(|c| c.0), cursor.map(|c| c.1));
    // $1 organization (RLS limits to it anyway; named for the index),
    // $2..$5 filters, $6/$7 the cursor, $8 one more than the page.
    let rows = tx
        .query(
            "SELECT t.id, t.subject, t.status, t.priority, t.category, t.requester_email,
                    t.external_id, t.created_at, p.risk_level, tr.confidence, tr.model
             FROM public.tickets t
             LEFT JOIN public.sla_predictions p
               ON p.organization_id = t.organization_id AND p.ticket_id = t.id
             LEFT JOIN public.ticket_ai_triage tr
               ON tr.organization_id = t.organization_id AND tr.ticket_id = t.id
             WHERE t.organization_id = $1
               AND ($2::text IS NULL OR t.status = $2)
               AND ($3::text IS NULL OR t.priority = $3)
               AND ($4::text IS NULL OR t.category = $4)
               AND ($5::text IS NULL OR p.risk_level = $5)
               AND ($6::timestamptz IS NULL OR (t.created_at, t.id) < ($6, $7))
             ORDER BY t.created_at DESC, t.id DESC
             LIMIT $8",
            &[
                &tx.org_id(),
                &f.status.map(Status::as_str),
                &f.priority.map(Priority::as_str),
                &f.category,
                &f.risk,
                &after_t,
                &after_id,
                &(limit + 1),
            ],
        )
        .await?;
    let more = rows.len() as i64 > limit;
    let tickets: Vec<TicketSummary> = rows
        .iter()
        .take(usize::try_from(limit).unwrap_or(50))
        .map(|r| TicketSummary {
            id: r.get(0),
            subject: r.get(1),
            status: r.get(2),
            priority: r.get(3),
            category: r.get(4),
            requester_email: r.get(5),
            external_id: r.get(6),
            created_at: r.get(7),
            risk_level: r.get(8),
            triage_confidence: r.get(9),
            triage_model: r.get(10),
        })
        .collect();
    let next = if more {
        tickets
            .last()
            .map(|t| format!("{}_{}", t.created_at.to_rfc3339(), t.id))
    } else {
        None
    };
    Ok(TicketPage { tickets, next })
}

pub(crate) async fn load_detail(tx: &TenantTx, id: Uuid) -> Result<Option<TicketDetail>, ApiError> {
    // $1 the ticket, $2 this transaction's organization.
    let Some(t) = tx
        .query_opt(TICKET_DETAIL_SQL, &[&id, &tx.org_id()])
        .await?
    else {
        return Ok(None);
    };
    let triage = t.get::<_, Option<String>>(12).map(|priority| Triage {
        category: t.get(11),
        priority,
        confidence: t.get(13),
        model: t.get(14),
        details: t.get(15),
        created_at: t.get(16),
    });
    let sla = t
        .get::<_, Option<DateTime<Utc>>>(17)
        .map(|first| SlaPrediction {
            predicted_first_response_at: first,
            predicted_resolution_at: t.get(18),
            breach_probability: t.get(19),
            risk_level: t.get(20),
            created_at: t.get(21),
        });
    Ok(Some(TicketDetail {
        id: t.get(0),
        subject: t.get(1),
        body: t.get(2),
        status: t.get(3),
        priority: t.get(4),
        category: t.get(5),
        requester_email: t.get(6),
        external_id: t.get(7),
        created_at: t.get(8),
        first_response_at: t.get(9),
        resolved_at: t.get(10),
        triage,
        suggestions: t.get(22),
        sla,
        reply_draft: t.get(23),
    }))
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no ticket {id} in this organization"))
}

/// Get a ticket with its triage, suggestions, SLA prediction and latest
/// reply draft.
#[utoipa::path(get, path = "/api/tickets/{id}", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = TicketDetail), (status = 404, body = Problem)))]
pub async fn get_ticket(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TicketDetail>, ApiError> {
    let tx = auth.begin(&state).await?;
    let detail = load_detail(&tx, id).await?;
    drop(tx.commit().await?);
    detail.map(Json).ok_or_else(|| not_found(id))
}

/// Create a ticket (its jobs are enqueued in the same transaction: by the
/// database trigger, or on Citus by `orgjobs_helpdesk::enqueue`). With
/// an `external_id` or an `Idempotency-Key` header, creating again returns
/// the first ticket (200) instead of a new one (201).
#[utoipa::path(post, path = "/api/tickets", request_body = CreateTicket, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried create return the first ticket")),
    responses((status = 201, body = TicketDetail), (status = 200, body = TicketDetail, description = "The ticket created before with this key"),
              (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn create_ticket(
    State(state): State<ApiState>,
    auth: OrgAuth,
    headers: HeaderMap,
    ApiJson(t): ApiJson<CreateTicket>,
) -> Result<Response, ApiError> {
    auth.require_agent()?;
    // The import's checks, so that the API and `orgjobs import` accept the
    // same tickets.
    let record = Record::Ticket(TicketRecord {
        external_id: t.external_id.clone(),
        subject: t.subject.clone(),
        body: t.body.clone(),
        requester_email: t.requester_email.clone(),
        status: None,
        priority: t.priority.map(|p| p.as_str().to_owned()),
        category: None,
        created_at: None,
        first_response_at: None,
        resolved_at: None,
    });
    check_record(&record).map_err(ApiError::BadRequest)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))?
                .to_owned(),
        ),
        None => None,
    };
    let external_id = match (t.external_id, key) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::BadRequest(
                "external_id and Idempotency-Key differ: send one, or the same value".into(),
            ));
        }
        (a, b) => a.or(b),
    };
    if let Some(x) = &external_id {
        check_len("external_id", x, 1, MAX_EXTERNAL_ID)?;
    }
    let tx = auth.begin(&state).await?;
    // $1 organization, $2..$6 the ticket; a repeated external_id inserts
    // nothing and the first ticket is returned.
    let created = tx
        .query_opt(
            "INSERT INTO public.tickets (organization_id, subject, body, priority, requester_email, external_id)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT ON CONSTRAINT tickets_org_external_id_key DO NOTHING
             RETURNING id",
            &[
                &tx.org_id(),
                &t.subject.trim(),
                &t.body,
                &t.priority.unwrap_or_default(),
                &t.requester_email,
                &external_id,
            ],
        )
        .await?;
    let (id, status) = match created {
        Some(r) => {
            let id = r.get::<_, Uuid>(0);
            orgjobs_helpdesk::enqueue::new_tickets(&tx, &[id]).await?;
            (id, StatusCode::CREATED)
        }
        None => {
            // $1 the external id that conflicted.
            let r = tx
                .query_one(
                    "SELECT id FROM public.tickets WHERE external_id = $1 AND organization_id = $2",
                    &[&external_id, &tx.org_id()],
                )
                .await?;
            (r.get::<_, Uuid>(0), StatusCode::OK)
        }
    };
    let detail = load_detail(&tx, id).await?.ok_or_else(|| not_found(id))?;
    drop(tx.commit().await?);
    Ok((
        status,
        [(header::LOCATION, format!("/api/tickets/{id}"))],
        Json(detail),
    )
        .into_response())
}

/// Change a ticket's status, priority or category.
#[utoipa::path(patch, path = "/api/tickets/{id}", params(("id" = Uuid, Path)), request_body = UpdateTicket,
    security(("bearer" = [])),
    responses((status = 200, body = TicketDetail), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn update_ticket(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(u): ApiJson<UpdateTicket>,
) -> Result<Json<TicketDetail>, ApiError> {
    auth.require_agent()?;
    if u.status.is_none() && u.priority.is_none() && u.category.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: give status, priority or category".into(),
        ));
    }
    if let Some(c) = &u.category {
        check_len("category", c.trim(), 1, MAX_CATEGORY)?;
        no_nul("category", c)?;
    }
    let tx = auth.begin(&state).await?;
    // $1 the ticket; $2..$4 the new values, NULL keeping the old; $5 the
    // organization (on Citus, a single-shard statement). Returns whether a
    // field the SLA prediction reads changed.
    let row = tx
        .query_opt(
            "UPDATE public.tickets t
             SET status = coalesce($2, old.status), priority = coalesce($3, old.priority),
                 category = coalesce($4, old.category)
             FROM public.tickets old
             WHERE t.id = $1 AND t.organization_id = $5
               AND old.id = t.id AND old.organization_id = $5
             RETURNING (old.status, old.priority) IS DISTINCT FROM (t.status, t.priority)",
            &[
                &id,
                &u.status.map(Status::as_str),
                &u.priority.map(Priority::as_str),
                &u.category.as_deref().map(str::trim),
                &tx.org_id(),
            ],
        )
        .await?;
    match row {
        None => return Err(not_found(id)),
        Some(r) if r.get::<_, bool>(0) => {
            orgjobs_helpdesk::enqueue::changed_tickets(&tx, &[id]).await?;
        }
        Some(_) => {}
    }
    let detail = load_detail(&tx, id).await?.ok_or_else(|| not_found(id))?;
    drop(tx.commit().await?);
    Ok(Json(detail))
}

/// Ask for a reply draft: enqueues SMART_REPLY for the ticket.
#[utoipa::path(post, path = "/api/tickets/{id}/reply-drafts", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 202, body = Enqueued), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn request_reply_draft(
    State(state): State<ApiState>,
    auth: OrgAuth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<Enqueued>), ApiError> {
    auth.require_agent()?;
    let tx = auth.begin(&state).await?;
    // $1 the ticket, $2 this organization (the only one RLS shows).
    if tx
        .query_opt(
            "SELECT 1 FROM public.tickets WHERE id = $1 AND organization_id = $2",
            &[&id, &tx.org_id()],
        )
        .await?
        .is_none()
    {
        return Err(not_found(id));
    }
    let job_id = tx
        .enqueue("SMART_REPLY", &serde_json::json!({ "ticket_id": id }))
        .await?;
    drop(tx.commit().await?);
    Ok((
        StatusCode::ACCEPTED,
        Json(Enqueued {
            job_id,
            kind: "SMART_REPLY".into(),
        }),
    ))
}
