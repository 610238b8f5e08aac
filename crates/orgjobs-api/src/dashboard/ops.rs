//! The operator's pages: the queue overview, the organizations (the
//! fairness view, with pausing), jobs with filters and bulk actions, one
//! job, and the dead letters.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Redirect;
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{Markup, html};
use orgjobs_queue::{BulkAction, GlobalRole, GlobalTx, JobFilter, STATES};
use serde::Deserialize;
use uuid::Uuid;

use super::chart::{Series, line_chart, share_bar};
use super::layout::{
    PageError, ago, at, count, failed_attempts, first_line, given, job_buttons, notice, num, page,
    page_with, secs, state_badge,
};
use super::session::{CsrfOnly, Operator, OperatorAction, csrf_field};
use crate::problem::ApiPath;
use crate::state::ApiState;

/// Organization names, by id (through the global role's policy on
/// organizations, in a read-only transaction).
async fn org_names(
    op: Operator,
    state: &ApiState,
) -> Result<(Operator, HashMap<Uuid, String>), PageError> {
    let Operator { viewer, conn } = op;
    let tx = GlobalTx::begin(conn, GlobalRole::Global, state.session()).await?;
    let orgs = orgjobs_helpdesk::list_organizations(&tx).await?;
    let conn = tx.rollback().await?;
    Ok((
        Operator { viewer, conn },
        orgs.into_iter().map(|o| (o.id, o.name)).collect(),
    ))
}

fn org_label(names: &HashMap<Uuid, String>, org: Option<Uuid>) -> Markup {
    match org {
        None => html! { span.muted { "global" } },
        Some(id) => html! {
            a href={ "/ops/jobs?org=" (id) } title=(id) {
                (names.get(&id).map_or_else(|| id.to_string(), Clone::clone))
            }
        },
    }
}

/// `GET /ops`.
pub(crate) async fn overview(
    State(_state): State<ApiState>,
    op: Operator,
) -> Result<Markup, PageError> {
    let c = &**op.conn;
    let ov = orgjobs_queue::overview(c).await?;
    let hist = orgjobs_queue::history(c, 60).await?;
    let workers = orgjobs_queue::workers(c).await?;
    let actions = orgjobs_queue::recent_actions(c, 12).await?;
    let pauses = orgjobs_queue::list_pauses(c).await?;
    let shown = orgjobs_queue::EXACT_STATES;
    let labels: Vec<String> = hist
        .iter()
        .map(|p| p.minute.format("%H:%M").to_string())
        .collect();
    let per_min = |v: f64| format!("{v:.0}/min");
    let body = html! {
        section.cards {
            @for (state, c) in &ov.totals {
                a.card href={ "/ops/jobs?state=" (state) } {
                    span.label { (state) }
                    span.value #{ "total-" (state) } { (count(*c)) }
                }
            }
            div.card {
                span.label { "oldest waiting" }
                span.value #oldest-wait {
                    @match (ov.oldest_waiting_secs, ov.oldest_waiting_id) {
                        (Some(s), Some(id)) => { a href={ "/ops/jobs/" (id) } { (secs(s)) } }
                        (Some(s), None) => { (secs(s)) }
                        _ => { "none" }
                    }
                }
            }
        }
        @if !pauses.is_empty() {
            p.warning { (pauses.len()) " pause(s) in force: " a href="/ops/organizations" { "see Organizations" } "." }
        }
        section.charts {
            (line_chart("throughput", "Attempts ended per minute (last hour)", &labels, &[
                Series { name: "completed", class: "s1", values: hist.iter().map(|p| p.completed as f64).collect() },
                Series { name: "failed", class: "s2", values: hist.iter().map(|p| p.failed as f64).collect() },
            ], per_min))
            (line_chart("latency", "Latency per minute (last hour)", &labels, &[
                Series { name: "mean wait to start", class: "s1", values: hist.iter().map(|p| p.wait_mean_secs).collect() },
                Series { name: "longest wait", class: "s3", values: hist.iter().map(|p| p.wait_max_secs).collect() },
                Series { name: "mean run time", class: "s2", values: hist.iter().map(|p| p.run_mean_secs).collect() },
            ], secs))
        }
        h2 { "Jobs by kind and state" }
        table #by-kind {
            thead { tr {
                th { "kind" }
                @for s in shown { th.num { (s) } }
                th.num { "completed (1 h)" } th.num { "failed (1 h)" }
            } }
            tbody {
                @for k in &ov.kinds {
                    tr {
                        td { a href={ "/ops/jobs?kind=" (k.kind) } { (k.kind) } }
                        @for s in shown {
                            td.num {
                                @let n = k.states.iter().find(|(st, _)| st == s).map_or(0, |(_, n)| *n);
                                @if n > 0 { a href={ "/ops/jobs?kind=" (k.kind) "&state=" (s) } { (num(n)) } } @else { span.muted { "0" } }
                            }
                        }
                        td.num { (num(k.completed_last_hour)) }
                        td.num { (num(k.failed_last_hour)) }
                    }
                }
            }
        }
        p.hint { "This page reloads every 15 s. Waiting, running, discarded and cancelled jobs are counted exactly; completed jobs exactly up to "
            (num(orgjobs_queue::EXACT_UP_TO)) ", estimated past that. The last hour comes from the workers' reports." }
        h2 { "Workers" }
        table #workers {
            thead { tr { th { "id" } th { "host" } th { "pid" } th { "started" } th { "last heartbeat" } th.num { "running" } th.num { "slots" } th { "role" } } }
            tbody {
                @for w in &workers {
                    @let stale = w.stopped_at.is_none() && (Utc::now() - w.heartbeat_at).num_seconds() > 30;
                    tr class=[stale.then_some("stale")] {
                        td { code { (w.id) } }
                        td { (w.host) }
                        td.num { (w.pid) }
                        td title=(at(w.started_at)) { (ago(w.started_at)) }
                        td title=(at(w.heartbeat_at)) {
                            @if let Some(s) = w.stopped_at { "stopped " (ago(s)) }
                            @else if stale { "silent for " (ago(w.heartbeat_at)) }
                            @else { (ago(w.heartbeat_at)) }
                        }
                        td.num { (w.running) }
                        td.num { (w.concurrency) }
                        td { @if w.leader { span.badge.leader { "leader" } } }
                    }
                }
                @if workers.is_empty() { tr { td colspan="8" .muted { "No worker has reported in the last hour." } } }
            }
        }
        h2 { "Recent actions" }
        (actions_table(&actions))
    };
    Ok(page_with(&op.viewer, "/ops", "Overview", Some(15), body))
}

fn actions_table(actions: &[orgjobs_queue::Action]) -> Markup {
    html! {
        table #actions {
            thead { tr { th { "when" } th { "who" } th { "action" } th { "detail" } } }
            tbody {
                @for a in actions {
                    tr { td title=(at(a.at)) { (ago(a.at)) } td { (a.actor) } td { (a.action) } td { (a.detail) } }
                }
                @if actions.is_empty() { tr { td colspan="4" .muted { "Nothing yet." } } }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct Done {
    done: Option<String>,
    n: Option<u64>,
}

/// `GET /ops/organizations`: each organization's load and share of worker
/// time, its pauses, and the forms to pause and resume.
pub(crate) async fn organizations(
    State(state): State<ApiState>,
    op: Operator,
    Query(d): Query<Done>,
) -> Result<Markup, PageError> {
    let (op, names) = org_names(op, &state).await?;
    let c = &**op.conn;
    let activity = orgjobs_queue::org_activity(c).await?;
    let pauses = orgjobs_queue::list_pauses(c).await?;
    let ov_kinds = orgjobs_queue::kinds(c).await?;
    // Every known organization appears, busy or not; busiest first.
    let mut rows: Vec<(Option<Uuid>, Option<&orgjobs_queue::OrgActivity>)> = activity
        .iter()
        .map(|a| (a.organization_id, Some(a)))
        .collect();
    let mut idle: Vec<(&Uuid, &String)> = names
        .iter()
        .filter(|(id, _)| !activity.iter().any(|a| a.organization_id == Some(**id)))
        .collect();
    idle.sort_by(|a, b| a.1.cmp(b.1));
    rows.extend(idle.into_iter().map(|(id, _)| (Some(*id), None)));
    let org_pause = |org: Uuid| {
        pauses
            .iter()
            .find(|p| p.organization_id == Some(org) && p.kind.is_none())
    };
    let body = html! {
        (notice(d.done.as_deref(), d.n))
        p.hint { "Share of worker time: each organization's part of all handler time in the last hour, from the workers' reports. \
                  The fair claim aims to keep busy organizations' shares equal (weights aside)." }
        table #organizations {
            thead { tr {
                th { "organization" } th.num { "waiting" } th.num { "running" } th.num { "oldest wait" }
                th.num { "completed (1 h)" } th.num { "failed (1 h)" } th { "share of worker time" } th { "status" } th {}
            } }
            tbody {
                @for (org, a) in &rows {
                    @let paused = org.and_then(org_pause);
                    tr data-org=[org.map(|o| o.to_string())] {
                        td { (org_label(&names, *org)) }
                        td.num { (num(a.map_or(0, |a| a.waiting))) }
                        td.num { (num(a.map_or(0, |a| a.running))) }
                        td.num { (a.and_then(|a| a.oldest_wait_secs).map_or_else(|| "–".to_owned(), secs)) }
                        td.num { (num(a.map_or(0, |a| a.completed_last_hour))) }
                        td.num { (num(a.map_or(0, |a| a.failed_last_hour))) }
                        td { (share_bar(a.map_or(0.0, |a| a.share))) }
                        td {
                            @if let Some(p) = paused {
                                span.badge.paused title={ "by " (p.paused_by) ", " (at(p.paused_at)) } { "paused" }
                                @if !p.reason.is_empty() { " " span.muted { (p.reason) } }
                            } @else { span.muted { "running" } }
                        }
                        td {
                            @if let Some(id) = org {
                                @if paused.is_some() {
                                    form.inline method="post" action="/ops/pauses/end" {
                                        (csrf_field(&op.viewer))
                                        input type="hidden" name="org" value=(id);
                                        button.resume type="submit" { "Resume" }
                                    }
                                } @else {
                                    form.inline method="post" action="/ops/pauses" {
                                        (csrf_field(&op.viewer))
                                        input type="hidden" name="org" value=(id);
                                        input type="text" name="reason" placeholder="reason" maxlength="500";
                                        button.pause type="submit" { "Pause" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Pauses" }
        table #pauses {
            thead { tr { th { "organization" } th { "kind" } th { "reason" } th { "by" } th { "since" } th {} } }
            tbody {
                @for p in &pauses {
                    tr {
                        td { @if p.organization_id.is_some() { (org_label(&names, p.organization_id)) } @else { span.muted { "every organization" } } }
                        td { (p.kind.as_deref().unwrap_or("every kind")) }
                        td { (p.reason) } td { (p.paused_by) } td title=(at(p.paused_at)) { (ago(p.paused_at)) }
                        td {
                            form.inline method="post" action="/ops/pauses/end" {
                                (csrf_field(&op.viewer))
                                @if let Some(o) = p.organization_id { input type="hidden" name="org" value=(o); }
                                @if let Some(k) = &p.kind { input type="hidden" name="kind" value=(k); }
                                button type="submit" { "Resume" }
                            }
                        }
                    }
                }
                @if pauses.is_empty() { tr { td colspan="6" .muted { "Nothing is paused." } } }
            }
        }
        h3 { "Pause a kind" }
        form.row #pause-kind method="post" action="/ops/pauses" {
            (csrf_field(&op.viewer))
            label { "kind " select name="kind" required { @for k in &ov_kinds { option value=(k) { (k) } } } }
            label { "organization " select name="org" {
                option value="" { "every organization" }
                @for (id, name) in sorted(&names) { option value=(id) { (name) } }
            } }
            input type="text" name="reason" placeholder="reason" maxlength="500";
            button type="submit" { "Pause" }
        }
    };
    Ok(page(
        &op.viewer,
        "/ops/organizations",
        "Organizations",
        body,
    ))
}

fn sorted(names: &HashMap<Uuid, String>) -> Vec<(Uuid, &String)> {
    let mut v: Vec<(Uuid, &String)> = names.iter().map(|(k, v)| (*k, v)).collect();
    v.sort_by(|a, b| a.1.cmp(b.1));
    v
}

/// The jobs page's filter (query string; empty fields mean "any").
#[derive(Deserialize, Default, Clone)]
pub(crate) struct FilterForm {
    org: Option<String>,
    kind: Option<String>,
    state: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// A dead-letter group: present (even empty, the group of jobs
    /// without an error) means "only this group".
    error: Option<String>,
    before: Option<i64>,
    done: Option<String>,
    n: Option<u64>,
}

fn parse_time(field: &str, v: &str) -> Result<DateTime<Utc>, PageError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, f) {
            return Ok(t.and_utc());
        }
    }
    Err(PageError::BadRequest(format!(
        "{field} {v:?} is not a time: expected YYYY-MM-DDTHH:MM (UTC) or RFC 3339"
    )))
}

impl FilterForm {
    fn filter(&self) -> Result<JobFilter, PageError> {
        let organization_id = given(&self.org)
            .map(|o| {
                Uuid::try_parse(o).map_err(|_| {
                    PageError::BadRequest(format!(
                        "organization {o:?} is not an id: expected a UUID"
                    ))
                })
            })
            .transpose()?;
        let state = given(&self.state).map(str::to_owned);
        if let Some(s) = &state {
            if !STATES.contains(&s.as_str()) {
                return Err(PageError::BadRequest(format!(
                    "state {s:?} is not one of {}",
                    STATES.join(", ")
                )));
            }
        }
        Ok(JobFilter {
            organization_id,
            kind: given(&self.kind).map(str::to_owned),
            state,
            since: given(&self.since)
                .map(|v| parse_time("since", v))
                .transpose()?,
            until: given(&self.until)
                .map(|v| parse_time("until", v))
                .transpose()?,
            error: self.error.clone(),
            before_id: self.before,
        })
    }

    /// The filter as a query string (without paging or notices).
    fn query(&self) -> String {
        self.query_with(&[])
    }

    /// The filter and `extra` pairs as a query string.
    fn query_with(&self, extra: &[(&str, String)]) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("org", given(&self.org)),
            ("kind", given(&self.kind)),
            ("state", given(&self.state)),
            ("since", given(&self.since)),
            ("until", given(&self.until)),
            ("error", self.error.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .chain(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

const PAGE: i64 = 50;

/// `GET /ops/jobs`: jobs matching the filter, newest first, 50 a page,
/// with the bulk actions for everything matching.
pub(crate) async fn jobs(
    State(state): State<ApiState>,
    op: Operator,
    Query(f): Query<FilterForm>,
) -> Result<Markup, PageError> {
    let filter = f.filter()?;
    let (op, names) = org_names(op, &state).await?;
    let c = &**op.conn;
    let mut jobs = orgjobs_queue::list_jobs(c, &filter, PAGE + 1).await?;
    let more = jobs.len() as i64 > PAGE;
    jobs.truncate(PAGE as usize);
    let q = f.query();
    let body = html! {
        (notice(f.done.as_deref(), f.n))
        form.filters #job-filter method="get" action="/ops/jobs" {
            label { "organization " select name="org" {
                option value="" { "any" }
                @for (id, name) in sorted(&names) {
                    option value=(id) selected[filter.organization_id == Some(id)] { (name) }
                }
            } }
            label { "kind " input type="text" name="kind" value=(given(&f.kind).unwrap_or("")) size="16"; }
            label { "state " select name="state" {
                option value="" { "any" }
                @for s in STATES { option value=(s) selected[filter.state.as_deref() == Some(*s)] { (s) } }
            } }
            label title="UTC; a bulk retry applies the window to when jobs were discarded" {
                "created from " input type="datetime-local" name="since" value=(given(&f.since).unwrap_or(""));
            }
            label { "to " input type="datetime-local" name="until" value=(given(&f.until).unwrap_or("")); }
            @if let Some(e) = f.error.as_deref() {
                input type="hidden" name="error" value=(e);
                span.muted { "error: " @if e.is_empty() { "(none)" } @else { (e) } }
            }
            button type="submit" { "Filter" }
            a href="/ops/jobs" { "clear" }
        }
        p.bulk {
            "Everything matching this filter: "
            a.button #bulk-retry href={ "/ops/bulk?action=retry&" (q) } { "Retry discarded…" }
            " "
            a.button #bulk-cancel href={ "/ops/bulk?action=cancel&" (q) } { "Cancel waiting…" }
            span.muted { " (the next page shows how many, and asks)" }
        }
        (jobs_table(&jobs, &names))
        @if more {
            @if let Some(last) = jobs.last() {
                p { a #next-page href={ "/ops/jobs?" (f.query_with(&[("before", last.id.to_string())])) } { "Older jobs →" } }
            }
        }
    };
    Ok(page(&op.viewer, "/ops/jobs", "Jobs", body))
}

fn jobs_table(jobs: &[orgjobs_queue::JobSummary], names: &HashMap<Uuid, String>) -> Markup {
    html! {
        table #jobs {
            thead { tr { th.num { "id" } th { "kind" } th { "organization" } th { "state" } th.num { "attempt" } th { "created" } th { "last error" } } }
            tbody {
                @for j in jobs {
                    tr data-job=(j.id) {
                        td.num { a href={ "/ops/jobs/" (j.id) } { (j.id) } }
                        td { (j.kind) }
                        td { (org_label(names, j.organization_id)) }
                        td { (state_badge(&j.state)) }
                        td.num { (j.attempt) "/" (j.max_attempts) }
                        td title=(at(j.created_at)) { (ago(j.created_at)) }
                        td.error-text { (j.last_error.as_deref().map(first_line).unwrap_or_default()) }
                    }
                }
                @if jobs.is_empty() { tr { td colspan="7" .muted { "No job matches." } } }
            }
        }
    }
}

/// `GET /ops/jobs/{id}`: payload, attempt timeline, every error, actions.
pub(crate) async fn job(
    State(state): State<ApiState>,
    op: Operator,
    ApiPath(id): ApiPath<i64>,
    Query(d): Query<Done>,
) -> Result<Markup, PageError> {
    let (op, names) = org_names(op, &state).await?;
    let j = orgjobs_queue::show_job(&op.conn, id).await?;
    let s = &j.summary;
    let payload = serde_json::to_string_pretty(&j.payload).unwrap_or_default();
    let body = html! {
        (notice(d.done.as_deref(), d.n))
        dl.facts #job-facts {
            dt { "state" } dd #job-state { (state_badge(&s.state)) }
            dt { "kind" } dd { (s.kind) }
            dt { "organization" } dd { (org_label(&names, s.organization_id)) }
            dt { "attempt" } dd { (s.attempt) " of " (s.max_attempts) }
            dt { "priority" } dd { (s.priority) }
            @if let Some(k) = &j.unique_key { dt { "unique key" } dd { code { (k) } } }
            @if let Some(w) = &j.locked_by { dt { "held by" } dd { code { (w) } } }
        }
        (job_buttons(&op.viewer, &format!("/ops/jobs/{id}"), &s.state))
        h2 { "Timeline" }
        ol.timeline #timeline {
            li { span.when { (at(s.created_at)) } " enqueued" }
            @if s.run_at != s.created_at { li { span.when { (at(s.run_at)) } " runnable from" } }
            (failed_attempts(&j.errors, true))
            @if let Some(t) = j.attempted_at { li { span.when { (at(t)) } " last attempt started" } }
            @if let Some(t) = j.cancel_requested_at { li { span.when { (at(t)) } " cancel requested" } }
            @if let Some(t) = j.finalized_at { li { span.when { (at(t)) } " " (s.state) } }
        }
        h2 { "Payload" }
        pre.payload #payload { (payload) }
    };
    Ok(page(&op.viewer, "/ops/jobs", &format!("Job {id}"), body))
}

async fn log(
    op: &Operator,
    org: Option<Uuid>,
    action: &str,
    detail: &str,
) -> Result<(), PageError> {
    let viewer = &op.viewer;
    tracing::info!(event = "operator_action", token = %viewer.session.principal.token_id, action, detail, via = "dashboard");
    orgjobs_queue::record_action(&**op.conn, &viewer.actor(), org, action, detail).await?;
    Ok(())
}

/// `POST /ops/jobs/{id}/retry`.
pub(crate) async fn retry(
    ApiPath(id): ApiPath<i64>,
    OperatorAction { op, .. }: OperatorAction<CsrfOnly>,
) -> Result<Redirect, PageError> {
    orgjobs_queue::retry_job(&op.conn, id).await?;
    let org = orgjobs_queue::show_job(&op.conn, id)
        .await?
        .summary
        .organization_id;
    log(&op, org, "retry", &format!("job {id}")).await?;
    Ok(Redirect::to(&format!("/ops/jobs/{id}?done=retried")))
}

/// `POST /ops/jobs/{id}/cancel`.
pub(crate) async fn cancel(
    ApiPath(id): ApiPath<i64>,
    OperatorAction { op, .. }: OperatorAction<CsrfOnly>,
) -> Result<Redirect, PageError> {
    let outcome = orgjobs_queue::cancel_job(&op.conn, id).await?;
    let org = orgjobs_queue::show_job(&op.conn, id)
        .await?
        .summary
        .organization_id;
    log(&op, org, "cancel", &format!("job {id}")).await?;
    let done = match outcome {
        orgjobs_queue::CancelOutcome::Cancelled => "cancelled",
        orgjobs_queue::CancelOutcome::Requested => "requested",
    };
    Ok(Redirect::to(&format!("/ops/jobs/{id}?done={done}")))
}

fn bulk_action(a: Option<&str>) -> Result<BulkAction, PageError> {
    match a {
        Some("retry") => Ok(BulkAction::Retry),
        Some("cancel") => Ok(BulkAction::Cancel),
        other => Err(PageError::BadRequest(format!(
            "action {:?} is not retry or cancel",
            other.unwrap_or("")
        ))),
    }
}

/// A bulk action's query or form: the action and the jobs filter.
#[derive(Deserialize)]
pub(crate) struct BulkForm {
    action: Option<String>,
    #[serde(flatten)]
    filter: FilterForm,
}

fn describe(f: &JobFilter, names: &HashMap<Uuid, String>, action: BulkAction) -> String {
    // A retry's time window is when jobs were discarded; a cancel's, when
    // they were created (as orgjobs_queue::retry_discarded/cancel_waiting).
    let when = match action {
        BulkAction::Retry => "discarded",
        BulkAction::Cancel => "created",
    };
    let mut parts = Vec::new();
    if let Some(o) = f.organization_id {
        parts.push(format!(
            "organization {}",
            names.get(&o).cloned().unwrap_or_else(|| o.to_string())
        ));
    }
    if let Some(k) = &f.kind {
        parts.push(format!("kind {k}"));
    }
    if let Some(s) = &f.state {
        parts.push(format!("state {s}"));
    }
    if let Some(t) = f.since {
        parts.push(format!("{when} from {}", at(t)));
    }
    if let Some(t) = f.until {
        parts.push(format!("{when} before {}", at(t)));
    }
    if let Some(e) = &f.error {
        if e.is_empty() {
            parts.push("no error recorded".to_owned());
        } else {
            parts.push(format!("error \"{e}\""));
        }
    }
    if parts.is_empty() {
        "no filter: every job".into()
    } else {
        parts.join(", ")
    }
}

/// `GET /ops/bulk`: how many jobs the action would take, and a form to
/// confirm it.
pub(crate) async fn bulk_confirm(
    State(state): State<ApiState>,
    op: Operator,
    Query(b): Query<BulkForm>,
) -> Result<Markup, PageError> {
    let action = bulk_action(b.action.as_deref())?;
    let mut filter = b.filter.filter()?;
    filter.before_id = None;
    let (op, names) = org_names(op, &state).await?;
    let n = orgjobs_queue::count_matching(&op.conn, &filter, action).await?;
    let (verb, what) = match action {
        BulkAction::Retry => ("Retry", "discarded"),
        BulkAction::Cancel => ("Cancel", "waiting"),
    };
    let q = b.filter.query();
    let body = html! {
        p.confirm #bulk-count {
            (verb) " " strong #bulk-n { (num(n as i64)) } " " (what) " jobs matching " em { (describe(&filter, &names, action)) } "?"
        }
        @if action == BulkAction::Cancel && filter.organization_id.is_none() && filter.kind.is_none() && filter.state.is_none() {
            p.error { "Refused: cancelling every waiting job needs an organization, a kind or a state in the filter." }
        } @else if n > 0 {
            form.inline method="post" action="/ops/bulk" {
                (csrf_field(&op.viewer))
                input type="hidden" name="action" value=(b.action.as_deref().unwrap_or(""));
                @for (k, v) in url_pairs(&q) { input type="hidden" name=(k) value=(v); }
                button.danger #bulk-confirm type="submit" { (verb) " " (num(n as i64)) " jobs" }
            }
        } @else {
            p.muted { "Nothing to do." }
        }
        " " a href={ "/ops/jobs?" (q) } { "Back" }
    };
    Ok(page(
        &op.viewer,
        "/ops/jobs",
        &format!("{verb} matching jobs"),
        body,
    ))
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(q).unwrap_or_default()
}

/// `POST /ops/bulk`: does it.
pub(crate) async fn bulk(
    OperatorAction { op, form }: OperatorAction<BulkForm>,
) -> Result<Redirect, PageError> {
    let action = bulk_action(form.action.as_deref())?;
    let mut filter = form.filter.filter()?;
    filter.before_id = None;
    let n = match action {
        BulkAction::Retry => orgjobs_queue::retry_discarded(&op.conn, &filter).await?,
        BulkAction::Cancel => {
            if filter.organization_id.is_none() && filter.kind.is_none() && filter.state.is_none() {
                return Err(PageError::BadRequest(
                    "refusing to cancel every waiting job: give an organization, a kind or a state"
                        .into(),
                ));
            }
            orgjobs_queue::cancel_waiting(&op.conn, &filter).await?
        }
    };
    let (name, done) = match action {
        BulkAction::Retry => ("bulk_retry", "bulk-retry"),
        BulkAction::Cancel => ("bulk_cancel", "bulk-cancel"),
    };
    log(
        &op,
        filter.organization_id,
        name,
        &format!("{n} jobs; {filter:?}"),
    )
    .await?;
    let q = form
        .filter
        .query_with(&[("done", done.to_owned()), ("n", n.to_string())]);
    Ok(Redirect::to(&format!("/ops/jobs?{q}")))
}

/// `GET /ops/dead-letters`: discarded jobs by kind and error.
pub(crate) async fn dead_letters(op: Operator, Query(d): Query<Done>) -> Result<Markup, PageError> {
    let groups = orgjobs_queue::dead_letters(&op.conn, 200).await?;
    let body = html! {
        (notice(d.done.as_deref(), d.n))
        p.hint { "Discarded jobs (out of attempts, or failed for good), grouped by kind and the first line of their last error." }
        table #dead-letters {
            thead { tr { th { "kind" } th { "error" } th.num { "jobs" } th.num { "organizations" } th { "latest" } th {} } }
            tbody {
                @for g in &groups {
                    @let q = serde_urlencoded::to_string([("state", "discarded"), ("kind", g.kind.as_str()), ("error", g.error.as_str())]).unwrap_or_default();
                    tr {
                        td { (g.kind) }
                        td.error-text { (g.error) }
                        td.num { a href={ "/ops/jobs?" (q) } { (num(g.count)) } }
                        td.num { (g.organizations) }
                        td { (g.last_at.map(ago).unwrap_or_default()) }
                        td { a.button href={ "/ops/bulk?action=retry&" (q) } { "Retry all…" } }
                    }
                }
                @if groups.is_empty() { tr { td colspan="6" .muted { "No dead letters." } } }
            }
        }
    };
    Ok(page(&op.viewer, "/ops/dead-letters", "Dead letters", body))
}

/// A pause's form: an organization, a kind, or both.
#[derive(Deserialize)]
pub(crate) struct PauseForm {
    org: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    reason: String,
}

impl PauseForm {
    fn key(&self) -> Result<(Option<Uuid>, Option<String>), PageError> {
        let org = given(&self.org)
            .map(|o| {
                Uuid::try_parse(o).map_err(|_| {
                    PageError::BadRequest(format!(
                        "organization {o:?} is not an id: expected a UUID"
                    ))
                })
            })
            .transpose()?;
        let kind = given(&self.kind).map(str::to_owned);
        if org.is_none() && kind.is_none() {
            return Err(PageError::BadRequest(
                "give an organization, a kind, or both".into(),
            ));
        }
        Ok((org, kind))
    }
}

/// `POST /ops/pauses`.
pub(crate) async fn pause(
    OperatorAction { op, form }: OperatorAction<PauseForm>,
) -> Result<Redirect, PageError> {
    let (org, kind) = form.key()?;
    orgjobs_queue::pause(
        &op.conn,
        org,
        kind.as_deref(),
        form.reason.trim(),
        &op.viewer.actor(),
    )
    .await?;
    log(
        &op,
        org,
        "pause",
        &format!(
            "organization {org:?}, kind {kind:?}: {}",
            form.reason.trim()
        ),
    )
    .await?;
    Ok(Redirect::to("/ops/organizations?done=paused"))
}

/// `POST /ops/pauses/end`.
pub(crate) async fn resume(
    OperatorAction { op, form }: OperatorAction<PauseForm>,
) -> Result<Redirect, PageError> {
    let (org, kind) = form.key()?;
    if !orgjobs_queue::resume(&op.conn, org, kind.as_deref()).await? {
        return Err(PageError::NotFound(
            "no such pause (already resumed?)".into(),
        ));
    }
    log(
        &op,
        org,
        "resume",
        &format!("organization {org:?}, kind {kind:?}"),
    )
    .await?;
    Ok(Redirect::to("/ops/organizations?done=resumed"))
}
