//! Per-route request counts and latency histograms, labelled by the route
//! template (never by an id).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use orgjobs_queue::Metrics;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

use crate::state::ApiState;

/// `orgjobs_http_requests_total{route,method,status}` and
/// `orgjobs_http_request_duration_seconds{route,method}`.
#[derive(Clone)]
pub(crate) struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    pub(crate) fn new(metrics: &Metrics) -> Self {
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route template",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route", "method"],
        )
        .expect("valid metric");
        // Registered once per process; a second API state in the same
        // process (tests) keeps counting in its own, unregistered copy.
        let _ = metrics.register(Box::new(requests.clone()));
        let _ = metrics.register(Box::new(duration.clone()));
        HttpMetrics { requests, duration }
    }
}

/// Middleware (a route layer, so that the route template is known).
pub(crate) async fn track(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let m = state.http();
    m.duration
        .with_label_values(&[route.as_str(), method.as_str()])
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[route.as_str(), method.as_str(), resp.status().as_str()])
        .inc();
    resp
}
