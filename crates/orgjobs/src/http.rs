//! HTTP for operators: `/metrics` (Prometheus text format) and `/healthz`.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use orgjobs_queue::Metrics;

/// The router, shared by `serve` and tests.
pub fn app(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(metrics)
}

async fn render(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// Binds `addr` and serves in the background; returns the bound address
/// (useful with port 0).
pub async fn serve(addr: SocketAddr, metrics: Metrics) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for /metrics"))?;
    let bound = listener.local_addr()?;
    tracing::info!(event = "metrics_listening", addr = %bound);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app(metrics)).await {
            tracing::error!(event = "metrics_server_failed", error = %e);
        }
    });
    Ok(bound)
}
