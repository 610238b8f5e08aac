//! Prometheus metrics of a worker process (prefix `orgjobs_`). Labels carry
//! kinds, outcomes, states and table names, never organization ids.
//!
//! [`Metrics::names`] lists every series name a scrape can contain, read
//! from the registered collectors themselves, so that what names metrics
//! elsewhere (the Grafana dashboard and the Prometheus rules under
//! `deploy/`) is checked against the code rather than against a scrape,
//! which shows a labelled metric only once it has a child.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use prometheus::core::Collector;
use prometheus::proto::MetricType;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The namespace every metric name starts with (`orgjobs_`), set on the
/// registry.
const NAMESPACE: &str = "orgjobs";

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
    /// `queue_oldest_runnable_timestamp_seconds`: when the oldest runnable
    /// job that no pause holds became runnable (its `run_at`, Unix time),
    /// set by `SYSTEM_METRICS`; the reading's own time when no such job
    /// waits. `time()` minus it is how long that job has waited, and it
    /// keeps growing if `SYSTEM_METRICS` itself stops being run.
    pub queue_oldest_runnable: Gauge,
    /// `system_metrics_timestamp_seconds`: when this process last ran
    /// `SYSTEM_METRICS` (Unix time; 0 before its first run). Each worker
    /// keeps the gauges of its own last run, so the freshest reading is
    /// the one of the process with the highest value.
    pub system_metrics_at: Gauge,
    /// `jobs_rescued_total{outcome}`: jobs whose lease expired, rescued by
    /// the maintenance leader (`retried`, `discarded` or `cancelled`).
    pub jobs_rescued: IntCounterVec,
    /// `workers_without_heartbeat`: workers not stopped whose last report
    /// is older than 30 s (six missed reports), as this worker saw them in
    /// its latest report.
    pub workers_without_heartbeat: IntGauge,
    /// Every series name a scrape can contain (see [`Metrics::names`]).
    names: Arc<Mutex<BTreeSet<String>>>,
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
        let registry = Registry::new_custom(Some(NAMESPACE.to_owned()), None)
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
        let queue_oldest_runnable = Gauge::new(
            "queue_oldest_runnable_timestamp_seconds",
            "When the oldest runnable job that no pause holds became runnable (Unix time), \
             as of this process's last SYSTEM_METRICS run; that run's time when none waits",
        )
        .expect("valid metric");
        let system_metrics_at = Gauge::new(
            "system_metrics_timestamp_seconds",
            "When this process last ran SYSTEM_METRICS (Unix time; 0 before its first run)",
        )
        .expect("valid metric");
        let jobs_rescued = IntCounterVec::new(
            Opts::new(
                "jobs_rescued_total",
                "Jobs whose lease expired, rescued by the maintenance leader, by outcome",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let workers_without_heartbeat = IntGauge::new(
            "workers_without_heartbeat",
            "Workers not stopped whose last report is older than 30 s, as of this worker's \
             latest report",
        )
        .expect("valid metric");
        let metrics = Metrics {
            registry,
            org_context_missing,
            jobs,
            job_duration,
            queue_depth,
            rls_denied,
            paused_organizations,
            paused_kinds,
            queue_oldest_runnable,
            system_metrics_at,
            jobs_rescued,
            workers_without_heartbeat,
            names: Arc::default(),
        };
        for c in [
            Box::new(metrics.org_context_missing.clone()) as Box<dyn Collector>,
            Box::new(metrics.jobs.clone()),
            Box::new(metrics.job_duration.clone()),
            Box::new(metrics.queue_depth.clone()),
            Box::new(metrics.rls_denied.clone()),
            Box::new(metrics.paused_organizations.clone()),
            Box::new(metrics.paused_kinds.clone()),
            Box::new(metrics.queue_oldest_runnable.clone()),
            Box::new(metrics.system_metrics_at.clone()),
            Box::new(metrics.jobs_rescued.clone()),
            Box::new(metrics.workers_without_heartbeat.clone()),
        ] {
            // A fresh registry with distinct names: cannot collide.
            let _ = metrics.register(c);
        }
        // Expose the worker's counters at zero from the start, so that a
        // scrape shows them before the first incident (and rate() sees the
        // first one).
        metrics.org_context_missing.with_label_values(&["worker"]);
        for outcome in ["retried", "discarded", "cancelled"] {
            metrics.jobs_rescued.with_label_values(&[outcome]);
        }
        metrics
    }

    /// Adds a collector of another part of the process (the HTTP API's),
    /// rendered with the rest. Fails on a name already registered.
    pub fn register(&self, collector: Box<dyn Collector>) -> Result<(), prometheus::Error> {
        let names = series_names(collector.as_ref());
        self.registry.register(collector)?;
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(names);
        Ok(())
    }

    /// Every series name a scrape of this process can contain, with the
    /// `orgjobs_` prefix: each registered metric's name from its
    /// collector's descriptors, and for a histogram its `_bucket`, `_sum`
    /// and `_count` series instead of the bare name (a summary: the name,
    /// `_sum` and `_count`). Labelled metrics are listed before they have a
    /// child, which a scrape would not show. Includes what was added with
    /// [`Metrics::register`] (the HTTP API's).
    pub fn names(&self) -> BTreeSet<String> {
        self.names.lock().unwrap_or_else(|p| p.into_inner()).clone()
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

/// The series names of one collector, prefixed. Names come from the
/// descriptors; the type from `collect()`, which (unlike the registry's
/// `gather()`) returns a labelled metric's family even without children.
fn series_names(collector: &dyn Collector) -> Vec<String> {
    let families = collector.collect();
    let mut out = Vec::new();
    for desc in collector.desc() {
        let name = format!("{NAMESPACE}_{}", desc.fq_name);
        let kind = families
            .iter()
            .find(|f| f.name() == desc.fq_name)
            .map(|f| f.get_field_type());
        match kind {
            Some(MetricType::HISTOGRAM) => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    out.push(format!("{name}{suffix}"));
                }
            }
            Some(MetricType::SUMMARY) => {
                for suffix in ["_sum", "_count"] {
                    out.push(format!("{name}{suffix}"));
                }
                out.push(name);
            }
            _ => out.push(name),
        }
    }
    out
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric is listed, labelled ones before any child exists, and a
    /// histogram by its three series.
    #[test]
    fn names_list_every_registered_series() {
        let m = Metrics::new();
        let names = m.names();
        for n in [
            "orgjobs_org_context_missing_total",
            "orgjobs_jobs_total",
            "orgjobs_job_duration_seconds_bucket",
            "orgjobs_job_duration_seconds_sum",
            "orgjobs_job_duration_seconds_count",
            "orgjobs_queue_depth",
            "orgjobs_rls_denied_total",
            "orgjobs_paused_organizations",
            "orgjobs_paused_kinds",
            "orgjobs_queue_oldest_runnable_timestamp_seconds",
            "orgjobs_system_metrics_timestamp_seconds",
            "orgjobs_jobs_rescued_total",
            "orgjobs_workers_without_heartbeat",
        ] {
            assert!(names.contains(n), "{n} missing from {names:?}");
        }
        assert!(!names.contains("orgjobs_job_duration_seconds"), "{names:?}");
        assert_eq!(names.len(), 13, "{names:?}");
        // A labelled metric without children is absent from a scrape: the
        // reason the names come from the collectors.
        assert!(!m.render().contains("orgjobs_queue_depth"));

        let extra = IntCounterVec::new(Opts::new("extra_total", "x"), &["l"]).expect("metric");
        m.register(Box::new(extra.clone())).expect("register");
        assert!(m.names().contains("orgjobs_extra_total"));
        assert!(m.register(Box::new(extra)).is_err(), "a duplicate fails");
        assert_eq!(m.clone().names().len(), 14, "clones share the list");
    }
}
