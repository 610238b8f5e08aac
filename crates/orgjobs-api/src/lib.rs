//! orgjobs' HTTP API (`orgjobs serve`): the request side of the same tenant
//! context the worker's jobs run in.
//!
//! Every organization route authenticates a bearer token through a narrow
//! lookup (`orgjobs.api_token`), then runs as one [`TenantTx`] of the
//! token's organization — the worker's own type: the tenant role and the
//! organization context are set in the transaction's first flight and end
//! with it, so row-level security limits every statement the route runs,
//! whatever bug it has. Errors are `application/problem+json` with the
//! request's id; the OpenAPI document is generated from the routes.
//!
//! [`TenantTx`]: orgjobs_queue::TenantTx

mod auth;
mod dashboard;
mod import;
mod jobs;
mod kb;
mod metrics;
mod operator;
mod problem;
mod reports;
mod state;
mod tickets;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{OrgAuth, TokenRate};
pub use problem::{ApiError, Problem};
pub use state::ApiState;

/// Largest request body accepted (JSON routes), in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "orgjobs API", description = "Each organization's helpdesk data and jobs, every request in its organization's tenant transaction."),
    modifiers(&BearerAuth),
    components(schemas(Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes and the OpenAPI document they generate (one source: a route
/// cannot be served without being documented).
fn api_routes() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(tickets::list_tickets, tickets::create_ticket))
        .routes(routes!(tickets::get_ticket, tickets::update_ticket))
        .routes(routes!(tickets::request_reply_draft))
        .routes(routes!(reports::at_risk))
        .routes(routes!(reports::list_snapshots))
        .routes(routes!(kb::create_article))
        .routes(routes!(
            kb::get_article,
            kb::update_article,
            kb::delete_article
        ))
        .routes(routes!(kb::search_kb))
        .routes(routes!(import::import_lines))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::get_job))
        .routes(routes!(jobs::retry_job))
        .routes(routes!(jobs::cancel_job))
        .routes(routes!(operator::list_jobs))
        .routes(routes!(operator::bulk_retry))
        .routes(routes!(operator::bulk_cancel))
        .routes(routes!(operator::load))
        .routes(routes!(
            operator::list_pauses,
            operator::pause,
            operator::resume
        ))
        .routes(routes!(
            operator::list_organizations,
            operator::create_organization
        ))
        .routes(routes!(operator::deactivate_organization))
        .routes(routes!(operator::get_job))
        .routes(routes!(operator::retry_job))
        .routes(routes!(operator::cancel_job))
        .routes(routes!(operator::queue))
        .split_for_parts()
}

/// The OpenAPI 3.1 document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().1
}

/// The whole application: `/api/...`, `/api/openapi.json`, `/healthz`,
/// `/metrics`.
pub fn app(state: ApiState) -> Router {
    let (routes, doc) = api_routes();
    let doc = doc.to_json().unwrap_or_else(|_| "{}".into());
    routes
        .merge(dashboard::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .route(
            "/api/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], doc) }),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!("no route {} {}", req.method(), req.uri().path()))
}

/// Gives each request an id (the caller's `x-request-id` when it is a
/// short visible-ASCII string, a new UUID otherwise), available to error
/// bodies and logs, and returned in the `x-request-id` header.
async fn request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let mut resp = problem::REQUEST_ID.scope(id.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

async fn healthz(State(state): State<ApiState>) -> Response {
    match state.ping().await {
        Ok(()) => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"ok"}"#,
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"status": "database_unreachable", "error": e}).to_string(),
        )
            .into_response(),
    }
}

async fn render_metrics(State(state): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(),
    )
        .into_response()
}

/// Binds `addr`, serves until `shutdown` resolves, and writes token uses
/// every 10 s (and once at the end). Returns the bound address through
/// `bound` as soon as it listens.
pub async fn serve(
    addr: SocketAddr,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    bound(listener.local_addr()?);
    let flusher = tokio::spawn(
        state
            .clone()
            .record_token_uses_every(Duration::from_secs(10)),
    );
    let result = axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    flusher.abort();
    state.flush_token_uses().await;
    result
}
