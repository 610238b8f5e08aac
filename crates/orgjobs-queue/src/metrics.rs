//! Prometheus metrics of a worker process (prefix `orgjobs_`). Labels carry
//! kinds, outcomes, states and table names, never organization ids.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The worker's metrics and the registry that renders them.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `org_context_missing_total{endpoint}`: tenant work found without an
    /// organization.
    pub org_context_missing: IntCounterVec,
    /// `jobs_total{kind,outcome}`: finished attempts by outcome
    /// (`completed`, `retried`, `discarded`, `lost`).
    pub jobs: IntCounterVec,
    /// `job_duration_seconds{kind}`: handler time, from claim to outcome.
    pub job_duration: HistogramVec,
    /// `queue_depth{kind,state}`: jobs by kind and state, set by
    /// `SYSTEM_METRICS`.
    pub queue_depth: IntGaugeVec,
    /// `rls_denied_total{table}`: writes refused by a row-level security
    /// policy.
    pub rls_denied: IntCounterVec,
    /// `paused_organizations`: organizations paused whole or in part, set
    /// by `SYSTEM_METRICS` (a count: organization ids are never labels).
    pub paused_organizations: IntGauge,
    /// `paused_kinds{kind}`: 1 for each kind paused in every organization,
    /// set by `SYSTEM_METRICS`.
    pub paused_kinds: IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        // Names and labels are constants; registration can only fail on a
        // duplicate name, which a fresh registry cannot have.
        let registry = Registry::new_custom(Some("orgjobs".to_owned()), None)
            .unwrap_or_else(|_| Registry::new());
        let org_context_missing = IntCounterVec::new(
            Opts::new(
                "org_context_missing_total",
                "Tenant work found without an organization context",
            ),
            &["endpoint"],
        )
        .expect("valid metric");
        let jobs = IntCounterVec::new(
            Opts::new("jobs_total", "Finished job attempts by kind and outcome"),
            &["kind", "outcome"],
        )
        .expect("valid metric");
        let job_duration = HistogramVec::new(
            HistogramOpts::new("job_duration_seconds", "Time from claim to outcome").buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0,
            ]),
            &["kind"],
        )
        .expect("valid metric");
        let queue_depth = IntGaugeVec::new(
            Opts::new("queue_depth", "Jobs by kind and state"),
            &["kind", "state"],
        )
        .expect("valid metric");
        let rls_denied = IntCounterVec::new(
            Opts::new(
                "rls_denied_total",
                "Writes refused by a row-level security policy",
            ),
            &["table"],
        )
        .expect("valid metric");
        let paused_organizations = IntGauge::new(
            "paused_organizations",
            "Organizations with a pause in force (whole or for some kinds)",
        )
        .expect("valid metric");
        let paused_kinds = IntGaugeVec::new(
            Opts::new("paused_kinds", "Kinds paused in every organization"),
            &["kind"],
        )
        .expect("valid metric");
        for c in [
            Box::new(org_context_missing.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(jobs.clone()),
            Box::new(job_duration.clone()),
            Box::new(queue_depth.clone()),
            Box::new(rls_denied.clone()),
            Box::new(paused_organizations.clone()),
            Box::new(paused_kinds.clone()),
        ] {
            // A fresh registry with distinct names: cannot collide.
            let _ = registry.register(c);
        }
        // Expose the worker's counter at zero from the start, so that a
        // scrape shows it before the first incident.
        org_context_missing.with_label_values(&["worker"]);
        Metrics {
            registry,
            org_context_missing,
            jobs,
            job_duration,
            queue_depth,
            rls_denied,
            paused_organizations,
            paused_kinds,
        }
    }

    /// Adds a collector of another part of the process (the HTTP API's),
    /// rendered with the rest. Fails on a name already registered.
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
