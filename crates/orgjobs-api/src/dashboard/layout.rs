//! The page shell, the error page, and the formatting every page shares.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use orgjobs_queue::{AdminError, DbError, TokenRole, TxError};

use super::session::{Viewer, csrf_field};
use crate::problem::{ApiError, request_id};

/// Why a page could not be shown: rendered as an HTML page with the
/// status, what was wrong and the request id (never a stack or SQL).
#[derive(Debug)]
pub(crate) enum PageError {
    /// No session: go to the login page.
    Login,
    /// 400.
    BadRequest(String),
    /// 403.
    Forbidden(String),
    /// 404 (also for another organization's ids).
    NotFound(String),
    /// 409.
    Conflict(String),
    /// 429.
    TooMany(u64),
    /// 503.
    Unavailable(String),
    /// 500: logged, not shown.
    Internal(String),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::BadRequest(m) | ApiError::TooLarge(m) => PageError::BadRequest(m),
            ApiError::Unauthorized(_) => PageError::Login,
            ApiError::Forbidden(m) => PageError::Forbidden(m),
            ApiError::NotFound(m) => PageError::NotFound(m),
            ApiError::Conflict(m) => PageError::Conflict(m),
            ApiError::TooManyRequests { retry_after_secs } => PageError::TooMany(retry_after_secs),
            ApiError::Unavailable(m) => PageError::Unavailable(m),
            ApiError::Internal(m) => PageError::Internal(m),
        }
    }
}

impl From<DbError> for PageError {
    fn from(e: DbError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<TxError> for PageError {
    fn from(e: TxError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<AdminError> for PageError {
    fn from(e: AdminError) -> Self {
        crate::operator::admin(e).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PageError::Login => return Redirect::to("/login").into_response(),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            PageError::Conflict(m) => (StatusCode::CONFLICT, m),
            PageError::TooMany(s) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests for this session's token; retry in {s} s"),
            ),
            PageError::Unavailable(m) => {
                tracing::warn!(event = "database_unavailable", request_id = %request_id(), error = %m);
                (StatusCode::SERVICE_UNAVAILABLE, m)
            }
            PageError::Internal(m) => {
                tracing::error!(event = "page_failed", request_id = %request_id(), error = %m);
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the server's log has it under this request id".to_owned(),
                )
            }
        };
        let title = status.canonical_reason().unwrap_or("Error");
        let body = bare_page(
            title,
            html! {
                main.error-page {
                    h1 { (status.as_u16()) " " (title) }
                    p.error role="alert" { (message) }
                    p.hint { "Request id " code { (request_id()) } }
                    p { a href="/" { "Back to the dashboard" } }
                }
            },
        );
        (status, body).into_response()
    }
}

/// A page without navigation (login, errors).
pub(crate) fn bare_page(title: &str, body: Markup) -> Markup {
    shell(title, None, body)
}

fn shell(title: &str, refresh_secs: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(s) = refresh_secs { meta http-equiv="refresh" content=(s); }
                title { (title) " · orgjobs" }
                link rel="stylesheet" href="/assets/dashboard.css";
            }
            body { (body) }
        }
    }
}

const OPERATOR_NAV: [(&str, &str); 4] = [
    ("/ops", "Overview"),
    ("/ops/organizations", "Organizations"),
    ("/ops/jobs", "Jobs"),
    ("/ops/dead-letters", "Dead letters"),
];

const ORG_NAV: [(&str, &str); 4] = [
    ("/org", "Tickets"),
    ("/org/at-risk", "At risk"),
    ("/org/metrics", "Metrics"),
    ("/org/jobs", "Jobs"),
];

/// A page with the navigation of the viewer's side, the viewer's name and
/// the logout button.
pub(crate) fn page(viewer: &Viewer, active: &str, title: &str, body: Markup) -> Markup {
    page_with(viewer, active, title, None, body)
}

/// [`page`] that reloads itself every `refresh_secs` (a meta refresh: no
/// script).
pub(crate) fn page_with(
    viewer: &Viewer,
    active: &str,
    title: &str,
    refresh_secs: Option<u32>,
    body: Markup,
) -> Markup {
    let p = &viewer.session.principal;
    let (nav, who) = match p.organization_id {
        None => (&OPERATOR_NAV, "Operator".to_owned()),
        Some(org) => (
            &ORG_NAV,
            viewer
                .org_name
                .clone()
                .unwrap_or_else(|| format!("Organization {org}")),
        ),
    };
    let role = match p.role {
        TokenRole::Operator => String::new(),
        r => format!(" · {r}"),
    };
    shell(
        title,
        refresh_secs,
        html! {
            header.top {
                span.brand { "orgjobs" }
                nav {
                    @for (href, label) in nav.iter() {
                        a href=(href) class=[(*href == active).then_some("active")] { (label) }
                    }
                }
                span.who {
                    span #who { (who) (role) }
                    " · " (viewer.session.token_name)
                    form.inline method="post" action="/logout" {
                        (csrf_field(viewer))
                        button.link #logout type="submit" { "Log out" }
                    }
                }
            }
            main { h1 { (title) } (body) }
        },
    )
}

/// A notice from a `done=` query parameter, from a fixed list (never the
/// parameter's text itself).
pub(crate) fn notice(done: Option<&str>, n: Option<u64>) -> Markup {
    let text = match (done, n) {
        (Some("retried"), None) => "The job will run again now.".to_owned(),
        (Some("cancelled"), None) => "The job is cancelled.".to_owned(),
        (Some("requested"), None) => "The job is running; it has been asked to stop.".to_owned(),
        (Some("bulk-retry"), Some(n)) => format!("{} jobs will run again now.", num(n as i64)),
        (Some("bulk-cancel"), Some(n)) => format!("{} jobs are cancelled.", num(n as i64)),
        (Some("paused"), None) => "Paused: its jobs wait until resumed.".to_owned(),
        (Some("resumed"), None) => "Resumed: its jobs run again.".to_owned(),
        (Some("draft"), None) => {
            "A reply draft was requested; it appears here when written.".to_owned()
        }
        _ => return html! {},
    };
    html! { p.notice role="status" { (text) } }
}

/// 1234567 → "1,234,567".
pub(crate) fn num(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A count, marked when it is an estimate.
pub(crate) fn count(c: orgjobs_queue::Count) -> Markup {
    html! {
        @if c.estimate {
            span.estimate title="An estimate from the table's statistics: counting exactly would scan every finished job." {
                "≈ " (num(c.value)) " (estimate)"
            }
        } @else { (num(c.value)) }
    }
}

/// A duration in seconds, short: "850 ms", "12.5 s", "4 min", "3.2 h".
pub(crate) fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86400.0)
    }
}

/// A time, in UTC, to the second.
pub(crate) fn at(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// How long ago.
pub(crate) fn ago(t: DateTime<Utc>) -> String {
    let s = (Utc::now() - t).num_milliseconds() as f64 / 1000.0;
    if s < 0.0 {
        format!("in {}", secs(-s))
    } else {
        format!("{} ago", secs(s))
    }
}

/// An optional query value: empty means none.
pub(crate) fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The state's badge.
pub(crate) fn state_badge(state: &str) -> Markup {
    html! { span class={ "badge state-" (state) } { (state) } }
}

/// A job's Retry and Cancel buttons, those its state allows (`path`: the
/// job's page, whose `/retry` and `/cancel` take the forms).
pub(crate) fn job_buttons(viewer: &Viewer, path: &str, state: &str) -> Markup {
    let retryable = matches!(state, "discarded" | "cancelled" | "retryable");
    let cancellable = matches!(state, "available" | "scheduled" | "retryable" | "running");
    html! {
        div.actions {
            @if retryable {
                form.inline method="post" action={ (path) "/retry" } {
                    (csrf_field(viewer)) button #retry type="submit" { "Retry now" }
                }
            }
            @if cancellable {
                form.inline method="post" action={ (path) "/cancel" } {
                    (csrf_field(viewer)) button.danger #cancel type="submit" { "Cancel" }
                }
            }
        }
    }
}

/// One timeline entry per failed attempt of a job (its `errors` array:
/// `{attempt, at, worker, error}`), naming the worker when `workers`.
pub(crate) fn failed_attempts(errors: &serde_json::Value, workers: bool) -> Markup {
    let text = |e: &serde_json::Value, k: &str| {
        e.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    html! {
        @for e in errors.as_array().map(Vec::as_slice).unwrap_or_default() {
            li.failed {
                span.when { (text(e, "at")) }
                " attempt " (e.get("attempt").map(|v| v.to_string()).unwrap_or_default())
                @if workers { " failed on " code { (text(e, "worker")) } }
                pre.error-text { (text(e, "error")) }
            }
        }
    }
}

/// The first line of an error, cut to 160 characters, for listings.
pub(crate) fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line.to_owned()
    }
}
