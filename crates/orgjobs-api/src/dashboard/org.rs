//! An organization's pages: its tickets with their triage, one ticket with
//! everything its jobs found (and a button to ask for a reply draft), the
//! tickets at risk, its metrics snapshots, its jobs. Every page reads in
//! one tenant transaction of the session's organization: another
//! organization's ticket or job id is "not found", whatever URL is typed.

use axum::extract::{Query, State};
use axum::response::Redirect;
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::chart::{Series, line_chart};
use super::layout::{
    PageError, ago, at, failed_attempts, first_line, given, job_buttons, notice, page, state_badge,
};
use super::session::{Member, MemberAction, csrf_field};
use crate::problem::ApiPath;
use crate::state::ApiState;
use crate::tickets::{TicketFilter, load_detail, parse_cursor, ticket_page};

/// `?status=&risk=&after=&done=`.
#[derive(Deserialize, Default)]
pub(crate) struct TicketQuery {
    status: Option<String>,
    risk: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

fn pct(p: f64) -> String {
    format!("{:.0} %", p * 100.0)
}

fn risk_badge(r: Option<&str>) -> Markup {
    match r {
        None => html! { span.muted { "–" } },
        Some(r) => html! { span class={ "badge risk-" (r) } { (r) } },
    }
}

/// `GET /org`: the organization's tickets, newest first, 50 a page.
pub(crate) async fn tickets(
    State(state): State<ApiState>,
    mut m: Member,
    Query(q): Query<TicketQuery>,
) -> Result<Markup, PageError> {
    let status = crate::tickets::parse_enum(given(&q.status))?;
    let risk = given(&q.risk).map(str::to_owned);
    let cursor = given(&q.after).map(parse_cursor).transpose()?;
    let tx = m.begin(&state).await?;
    let page_ = ticket_page(
        &tx,
        &TicketFilter {
            status,
            risk: risk.clone(),
            ..TicketFilter::default()
        },
        cursor,
        50,
    )
    .await?;
    drop(tx.commit().await?);
    let body = html! {
        (notice(q.done.as_deref(), None))
        form.filters method="get" action="/org" {
            label { "status " select name="status" {
                option value="" { "any" }
                @for s in ["new", "open", "pending", "resolved", "closed"] {
                    option value=(s) selected[given(&q.status) == Some(s)] { (s) }
                }
            } }
            label { "SLA risk " select name="risk" {
                option value="" { "any" }
                @for r in ["ok", "at_risk_75", "at_risk_90", "breached"] {
                    option value=(r) selected[risk.as_deref() == Some(r)] { (r) }
                }
            } }
            button type="submit" { "Filter" }
        }
        table #tickets {
            thead { tr { th { "subject" } th { "status" } th { "priority" } th { "category" } th.num { "confidence" } th { "model" } th { "SLA risk" } th { "created" } } }
            tbody {
                @for t in &page_.tickets {
                    tr data-ticket=(t.id) {
                        td { a href={ "/org/tickets/" (t.id) } { (t.subject) } }
                        td { (t.status) }
                        td { (t.priority) }
                        td.category { (t.category.as_deref().unwrap_or("–")) }
                        td.num { (t.triage_confidence.map(pct).unwrap_or_else(|| "–".into())) }
                        td { (t.triage_model.as_deref().unwrap_or("–")) }
                        td { (risk_badge(t.risk_level.as_deref())) }
                        td title=(at(t.created_at)) { (ago(t.created_at)) }
                    }
                }
                @if page_.tickets.is_empty() { tr { td colspan="8" .muted { "No tickets." } } }
            }
        }
        @if let Some(next) = &page_.next {
            @let qs = serde_urlencoded::to_string([("status", given(&q.status).unwrap_or("")), ("risk", risk.as_deref().unwrap_or("")), ("after", next.as_str())]).unwrap_or_default();
            p { a #next-page href={ "/org?" (qs) } { "Older tickets →" } }
        }
    };
    Ok(page(&m.viewer, "/org", "Tickets", body))
}

#[derive(Deserialize, Default)]
pub(crate) struct Done {
    done: Option<String>,
}

fn text_of(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| v.get(*k)).map(|x| match x {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// `GET /org/tickets/{id}`.
pub(crate) async fn ticket(
    State(state): State<ApiState>,
    mut m: Member,
    ApiPath(id): ApiPath<Uuid>,
    Query(d): Query<Done>,
) -> Result<Markup, PageError> {
    let tx = m.begin(&state).await?;
    let t = load_detail(&tx, id).await?;
    drop(tx.commit().await?);
    let t = t.ok_or_else(|| PageError::NotFound(format!("no ticket {id} in this organization")))?;
    let articles: Vec<Value> = t
        .suggestions
        .as_ref()
        .and_then(|s| s.get("suggestions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let body = html! {
        (notice(d.done.as_deref(), None))
        dl.facts #ticket-facts {
            dt { "status" } dd { (t.status) }
            dt { "priority" } dd { (t.priority) }
            dt { "category" } dd #ticket-category { (t.category.as_deref().unwrap_or("–")) }
            dt { "requester" } dd { (t.requester_email.as_deref().unwrap_or("–")) }
            dt { "created" } dd { (at(t.created_at)) }
        }
        pre.body { (t.body) }
        h2 { "Triage" }
        @match &t.triage {
            Some(tr) => {
                dl.facts #triage {
                    dt { "category" } dd { (tr.category.as_deref().unwrap_or("–")) }
                    dt { "priority" } dd { (tr.priority) }
                    dt { "confidence" } dd { (pct(tr.confidence)) }
                    dt { "model" } dd { (tr.model) }
                    dt { "when" } dd { (at(tr.created_at)) }
                }
            }
            None => { p.muted #triage { "Not triaged yet." } }
        }
        h2 { "SLA" }
        @match &t.sla {
            Some(s) => {
                dl.facts #sla {
                    dt { "risk" } dd { (risk_badge(Some(&s.risk_level))) }
                    dt { "breach probability" } dd { (pct(s.breach_probability)) }
                    dt { "first response by" } dd { (at(s.predicted_first_response_at)) }
                    dt { "resolution by" } dd { (at(s.predicted_resolution_at)) }
                }
            }
            None => { p.muted { "No prediction yet." } }
        }
        h2 { "Suggested articles" }
        @if articles.is_empty() { p.muted { "None yet." } }
        @else {
            ol #suggestions {
                @for a in &articles {
                    li {
                        strong { (text_of(a, &["title"]).unwrap_or_default()) }
                        @if let Some(s) = a.get("score").and_then(Value::as_f64) { span.muted { " score " (format!("{s:.2}")) } }
                        @if let Some(snippet) = text_of(a, &["snippet"]) { br; span.snippet { (snippet.replace("**", "")) } }
                    }
                }
            }
        }
        h2 { "Reply draft" }
        @match &t.reply_draft {
            Some(r) => {
                pre.draft #reply-draft { (text_of(r, &["draft"]).unwrap_or_default()) }
                p.hint {
                    "Written by " (text_of(r, &["composer"]).unwrap_or_else(|| "?".into()))
                    @if let Some(m) = r.get("model").and_then(Value::as_str) { " (" (m) ")" }
                    @if let Some(f) = r.get("fallback_reason").and_then(Value::as_str) { "; fallback: " (f) }
                }
            }
            None => { p.muted #reply-draft { "No draft yet." } }
        }
        @if m.can_act() {
            form.inline method="post" action={ "/org/tickets/" (id) "/reply-draft" } {
                (csrf_field(&m.viewer))
                button #request-draft type="submit" { "Request a reply draft" }
            }
        }
    };
    Ok(page(&m.viewer, "/org", &t.subject, body))
}

/// `POST /org/tickets/{id}/reply-draft`: enqueues SMART_REPLY (agents and
/// admins).
pub(crate) async fn reply_draft(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<Uuid>,
    MemberAction(mut m): MemberAction,
) -> Result<Redirect, PageError> {
    if !m.can_act() {
        return Err(PageError::Forbidden(
            "a viewer cannot ask for drafts; this needs an agent or admin token".into(),
        ));
    }
    let tx = m.begin(&state).await?;
    // $1 the ticket, $2 this organization (the only one RLS shows).
    if tx
        .query_opt(
            "SELECT 1 FROM public.tickets WHERE id = $1 AND organization_id = $2",
            &[&id, &tx.org_id()],
        )
        .await?
        .is_none()
    {
        return Err(PageError::NotFound(format!(
            "no ticket {id} in this organization"
        )));
    }
    let job = tx
        .enqueue("SMART_REPLY", &serde_json::json!({ "ticket_id": id }))
        .await?;
    let conn = tx.commit().await?;
    orgjobs_queue::record_action(
        &**conn,
        &m.viewer.actor(),
        Some(m.org),
        "request_reply_draft",
        &format!("ticket {id}, job {job}"),
    )
    .await?;
    Ok(Redirect::to(&format!("/org/tickets/{id}?done=draft")))
}

/// `GET /org/at-risk`.
pub(crate) async fn at_risk(
    State(state): State<ApiState>,
    mut m: Member,
) -> Result<Markup, PageError> {
    let tx = m.begin(&state).await?;
    let rows = crate::reports::at_risk_rows(&tx, 200).await?;
    drop(tx.commit().await?);
    let body = html! {
        p.hint { "Open tickets predicted to miss their SLA, most likely first." }
        table #at-risk {
            thead { tr { th { "subject" } th { "priority" } th { "risk" } th.num { "breach probability" } th { "first response by" } th { "resolution by" } } }
            tbody {
                @for r in &rows {
                    tr {
                        td { a href={ "/org/tickets/" (r.id) } { (r.subject) } }
                        td { (r.priority) }
                        td { (risk_badge(Some(&r.risk_level))) }
                        td.num { (pct(r.breach_probability)) }
                        td { (at(r.predicted_first_response_at)) }
                        td { (at(r.predicted_resolution_at)) }
                    }
                }
                @if rows.is_empty() { tr { td colspan="6" .muted { "No open ticket is at risk." } } }
            }
        }
    };
    Ok(page(&m.viewer, "/org/at-risk", "Tickets at risk", body))
}

/// `GET /org/metrics`: the snapshots as charts (oldest to newest).
pub(crate) async fn metrics(
    State(state): State<ApiState>,
    mut m: Member,
) -> Result<Markup, PageError> {
    let tx = m.begin(&state).await?;
    let mut snaps = crate::reports::snapshots(&tx, 96).await?;
    drop(tx.commit().await?);
    snaps.reverse();
    let ts: Vec<String> = snaps
        .iter()
        .map(|s| {
            s.get("snapshot_ts")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc).format("%m-%d %H:%M").to_string())
                .unwrap_or_default()
        })
        .collect();
    let num_of = |s: &Value, k: &str| s.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let status = |k: &'static str| {
        snaps
            .iter()
            .map(|s| s.get("tickets_by_status").map_or(0.0, |b| num_of(b, k)))
            .collect::<Vec<f64>>()
    };
    let body = html! {
        @if snaps.is_empty() {
            p.muted #no-snapshots { "No snapshots yet: METRICS_SNAPSHOT writes one every period." }
        } @else {
            section.charts {
                (line_chart("tickets-chart", "Tickets by status", &ts, &[
                    Series { name: "new", class: "s1", values: status("new") },
                    Series { name: "open", class: "s2", values: status("open") },
                    Series { name: "pending", class: "s3", values: status("pending") },
                ], |v| format!("{v:.0}")))
                (line_chart("response-chart", "First response and resolution, median", &ts, &[
                    Series { name: "first response p50", class: "s1", values: snaps.iter().map(|s| num_of(s, "frt_p50")).collect() },
                    Series { name: "resolution p50", class: "s2", values: snaps.iter().map(|s| num_of(s, "mttr_p50")).collect() },
                ], super::layout::secs))
                (line_chart("sla-chart", "SLA compliance", &ts, &[
                    Series { name: "compliance %", class: "s1", values: snaps.iter().map(|s| num_of(s, "sla_compliance_pct")).collect() },
                ], |v| format!("{v:.0} %")))
            }
            p.hint { (snaps.len()) " snapshots, the latest " (ts.last().map(String::as_str).unwrap_or("")) " UTC." }
        }
    };
    Ok(page(&m.viewer, "/org/metrics", "Metrics", body))
}

/// `?state=&kind=&before=`.
#[derive(Deserialize, Default)]
pub(crate) struct JobQuery {
    state: Option<String>,
    kind: Option<String>,
    before: Option<i64>,
}

/// `GET /org/jobs`: the organization's jobs and their errors.
pub(crate) async fn jobs(
    State(state): State<ApiState>,
    mut m: Member,
    Query(q): Query<JobQuery>,
) -> Result<Markup, PageError> {
    let st = given(&q.state);
    if let Some(s) = st {
        if !orgjobs_queue::STATES.contains(&s) {
            return Err(PageError::BadRequest(format!(
                "state {s:?} is not one of {}",
                orgjobs_queue::STATES.join(", ")
            )));
        }
    }
    let tx = m.begin(&state).await?;
    let p = crate::jobs::job_page(&tx, st, given(&q.kind), q.before, 50).await?;
    drop(tx.commit().await?);
    let body = html! {
        form.filters method="get" action="/org/jobs" {
            label { "state " select name="state" {
                option value="" { "any" }
                @for s in orgjobs_queue::STATES { option value=(s) selected[st == Some(*s)] { (s) } }
            } }
            label { "kind " input type="text" name="kind" value=(given(&q.kind).unwrap_or("")) size="16"; }
            button type="submit" { "Filter" }
        }
        table #jobs {
            thead { tr { th.num { "id" } th { "kind" } th { "state" } th.num { "attempt" } th { "created" } th { "last error" } } }
            tbody {
                @for j in &p.jobs {
                    tr data-job=(j.id) {
                        td.num { a href={ "/org/jobs/" (j.id) } { (j.id) } }
                        td { (j.kind) }
                        td { (state_badge(&j.state)) }
                        td.num { (j.attempt) "/" (j.max_attempts) }
                        td title=(at(j.created_at)) { (ago(j.created_at)) }
                        td.error-text { (j.last_error.as_deref().map(first_line).unwrap_or_default()) }
                    }
                }
                @if p.jobs.is_empty() { tr { td colspan="6" .muted { "No jobs." } } }
            }
        }
        @if let Some(next) = p.next {
            @let before = next.to_string();
            @let qs = serde_urlencoded::to_string([("state", st.unwrap_or("")), ("kind", given(&q.kind).unwrap_or("")), ("before", before.as_str())]).unwrap_or_default();
            p { a #next-page href={ "/org/jobs?" (qs) } { "Older jobs →" } }
        }
    };
    Ok(page(&m.viewer, "/org/jobs", "Jobs", body))
}

/// `GET /org/jobs/{id}`: one of the organization's jobs with every error
/// (and, for an admin, Retry and Cancel).
pub(crate) async fn job(
    State(state): State<ApiState>,
    mut m: Member,
    ApiPath(id): ApiPath<i64>,
    Query(d): Query<Done>,
) -> Result<Markup, PageError> {
    let tx = m.begin(&state).await?;
    let j = crate::jobs::job_detail(&tx, id).await?;
    drop(tx.commit().await?);
    let j = j.ok_or_else(|| PageError::NotFound(format!("no job {id} in this organization")))?;
    let s = &j.summary;
    let admin = m.viewer.session.principal.role == orgjobs_queue::TokenRole::Admin;
    let body = html! {
        (notice(d.done.as_deref(), None))
        @if admin { (job_buttons(&m.viewer, &format!("/org/jobs/{id}"), &s.state)) }
        dl.facts {
            dt { "state" } dd { (state_badge(&s.state)) }
            dt { "kind" } dd { (s.kind) }
            dt { "attempt" } dd { (s.attempt) " of " (s.max_attempts) }
            dt { "created" } dd { (at(s.created_at)) }
            @if let Some(t) = s.attempted_at { dt { "last attempt" } dd { (at(t)) } }
            @if let Some(t) = s.finalized_at { dt { "finished" } dd { (at(t)) } }
        }
        h2 { "Errors" }
        @if j.errors.as_array().is_none_or(Vec::is_empty) { p.muted { "None." } }
        ol.timeline { (failed_attempts(&j.errors, false)) }
        h2 { "Payload" }
        pre.payload { (serde_json::to_string_pretty(&j.payload).unwrap_or_default()) }
    };
    Ok(page(&m.viewer, "/org/jobs", &format!("Job {id}"), body))
}

/// `POST /org/jobs/{id}/retry` and `/cancel` (an organization's admin):
/// through the reviewed functions that act on its own jobs only.
async fn job_action(
    state: ApiState,
    mut m: Member,
    id: i64,
    retry: bool,
) -> Result<Redirect, PageError> {
    if m.viewer.session.principal.role != orgjobs_queue::TokenRole::Admin {
        return Err(PageError::Forbidden(
            "retrying and cancelling jobs needs an organization admin token".into(),
        ));
    }
    let tx = m.begin(&state).await?;
    let outcome = crate::jobs::org_job_action(&tx, id, retry).await?;
    let conn = tx.commit().await?;
    let action = if retry { "retry" } else { "cancel" };
    orgjobs_queue::record_action(
        &**conn,
        &m.viewer.actor(),
        Some(m.org),
        action,
        &format!("job {id}: {outcome}"),
    )
    .await?;
    Ok(Redirect::to(&format!("/org/jobs/{id}?done={outcome}")))
}

/// `POST /org/jobs/{id}/retry`.
pub(crate) async fn retry_job(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
    MemberAction(m): MemberAction,
) -> Result<Redirect, PageError> {
    job_action(state, m, id, true).await
}

/// `POST /org/jobs/{id}/cancel`.
pub(crate) async fn cancel_job(
    State(state): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
    MemberAction(m): MemberAction,
) -> Result<Redirect, PageError> {
    job_action(state, m, id, false).await
}
