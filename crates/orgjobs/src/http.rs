//! HTTP for operators: `/metrics` (Prometheus text format) and `/healthz`
//! (whether the worker reaches its database, from its own statements).

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use orgjobs_queue::{Health, HealthState, Metrics};

#[derive(Clone)]
struct Ops {
    metrics: Metrics,
    health: Health,
}

/// The router, shared by `serve` and tests.
pub fn app(metrics: Metrics, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(healthz))
        .with_state(Ops { metrics, health })
}

async fn render(State(ops): State<Ops>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ops.metrics.render(),
    )
}

/// 200 while the database is reachable (or not yet tried), 503 with the
/// outage's start and latest error while it is not. JSON either way.
async fn healthz(State(ops): State<Ops>) -> impl IntoResponse {
    let state = ops.health.state();
    let status = match state {
        HealthState::DatabaseUnreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        HealthState::Ok | HealthState::Starting => StatusCode::OK,
    };
    let body = serde_json::to_string(&state).unwrap_or_else(|_| "{}".to_owned());
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

/// Binds `addr` and serves in the background; returns the bound address
/// (useful with port 0).
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    health: Health,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for /metrics"))?;
    let bound = listener.local_addr()?;
    tracing::info!(event = "metrics_listening", addr = %bound);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app(metrics, health)).await {
            tracing::error!(event = "metrics_server_failed", error = %e);
        }
    });
    Ok(bound)
}
