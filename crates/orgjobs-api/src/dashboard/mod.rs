//! The web dashboard, served by `orgjobs serve` at `/`: an operator view
//! (the whole queue, every organization) and an organization view (its own
//! helpdesk data and jobs).
//!
//! - Pages are rendered on the server (maud: HTML escaped by construction)
//!   from the same functions the JSON API's routes use: an organization's
//!   pages read only through its [`TenantTx`](orgjobs_queue::TenantTx), so
//!   row-level security limits them whatever URL is typed; operator pages
//!   use the operator functions of `orgjobs_queue`.
//! - No JavaScript at all: charts are SVG drawn on the server, confirmations
//!   are pages. The content security policy allows nothing but the
//!   embedded stylesheet (`default-src 'none'; style-src 'self'`), so an
//!   injected script could not run even if escaping failed.
//! - A browser logs in with an API token; the session id lives in an
//!   `HttpOnly`, `SameSite=Strict` cookie (`Secure` with `--secure-cookies`)
//!   and every form carries the session's CSRF token ([`session::Action`]).
//!   Every action is written to `orgjobs.actions` with the token that did it.

mod chart;
mod layout;
mod ops;
mod org;
mod session;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::state::ApiState;

/// The dashboard's stylesheet, embedded in the binary.
const CSS: &str = include_str!("../../assets/dashboard.css");

/// What the browser may load: the stylesheet, nothing else; forms post
/// only to this origin; no framing.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/ops", get(ops::overview))
        .route("/ops/organizations", get(ops::organizations))
        .route("/ops/jobs", get(ops::jobs))
        .route("/ops/jobs/{id}", get(ops::job))
        .route("/ops/jobs/{id}/retry", post(ops::retry))
        .route("/ops/jobs/{id}/cancel", post(ops::cancel))
        .route("/ops/bulk", get(ops::bulk_confirm).post(ops::bulk))
        .route("/ops/dead-letters", get(ops::dead_letters))
        .route("/ops/pauses", post(ops::pause))
        .route("/ops/pauses/end", post(ops::resume))
        .route("/org", get(org::tickets))
        .route("/org/tickets/{id}", get(org::ticket))
        .route("/org/tickets/{id}/reply-draft", post(org::reply_draft))
        .route("/org/at-risk", get(org::at_risk))
        .route("/org/metrics", get(org::metrics))
        .route("/org/jobs", get(org::jobs))
        .route("/org/jobs/{id}", get(org::job))
        .route("/org/jobs/{id}/retry", post(org::retry_job))
        .route("/org/jobs/{id}/cancel", post(org::cancel_job))
        .layer(middleware::from_fn(no_store))
        .route("/assets/dashboard.css", get(css))
        .layer(middleware::from_fn(security_headers))
}

/// `/`: the viewer's home, or the login page.
async fn home(viewer: Option<session::Viewer>) -> Redirect {
    match viewer {
        Some(v) if v.session.principal.organization_id.is_none() => Redirect::to("/ops"),
        Some(_) => Redirect::to("/org"),
        None => Redirect::to("/login"),
    }
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// Pages hold tenant data: no cache keeps them.
async fn no_store(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
