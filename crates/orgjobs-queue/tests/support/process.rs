//! Worker processes for crash and shutdown tests, without a binary of the
//! application: the test binary runs itself again with `ORGJOBS_TEST_WORKER`
//! set, and its ignored test `worker_process_entry` (each test file that
//! starts processes declares it with [`worker_process_entry!`]) becomes a
//! worker — JSON logs on stderr, SIGTERM for a graceful shutdown, exit 0, or
//! 3 when a draining worker lost attempts.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orgjobs_queue::{
    DbUrl, Metrics, Periodic, SessionConfig, StatementMode, Worker, WorkerConfig, default_worker_id,
};
use serde::{Deserialize, Serialize};

/// Environment variable carrying a worker process's [`Spec`] as JSON.
const SPEC_VAR: &str = "ORGJOBS_TEST_WORKER";

/// How a worker process runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Spec {
    pub url: String,
    pub concurrency: usize,
    pub lease_ms: u64,
    pub leader_ttl_ms: u64,
    pub shutdown_timeout_ms: u64,
    pub periodic: Vec<(String, String)>,
    pub drain: bool,
    pub transaction_pooling: bool,
}

impl Spec {
    /// Defaults for crash tests: short leases, no schedules.
    pub fn new(url: &str) -> Spec {
        Spec {
            url: url.to_owned(),
            concurrency: 8,
            lease_ms: 1500,
            leader_ttl_ms: 1000,
            shutdown_timeout_ms: 30_000,
            periodic: Vec::new(),
            drain: false,
            transaction_pooling: false,
        }
    }
}

/// Declares the test that a worker process runs (the test binary, run
/// again by [`WorkerProcess::start`]).
#[macro_export]
macro_rules! worker_process_entry {
    () => {
        #[test]
        #[ignore = "the entry point of the worker processes the tests start"]
        fn worker_process_entry() {
            support::process::entry();
        }
    };
}

/// The worker process's main: runs when [`SPEC_VAR`] is set, then exits.
pub fn entry() {
    let Ok(spec) = std::env::var(SPEC_VAR) else {
        return;
    };
    let spec: Spec = serde_json::from_str(&spec).expect("worker spec");
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = runtime.block_on(run(spec));
    std::process::exit(code);
}

async fn run(spec: Spec) -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let url = DbUrl::parse(&spec.url).expect("url");
    let pool = url.pool(spec.concurrency + 2).await.expect("pool");
    let metrics = Metrics::new();
    let registry = Arc::new(super::probe_registry(&metrics));
    let config = WorkerConfig {
        concurrency: spec.concurrency,
        batch_size: spec.concurrency,
        poll_interval: Duration::from_millis(100),
        lease: Duration::from_millis(spec.lease_ms),
        leader_ttl: Duration::from_millis(spec.leader_ttl_ms),
        shutdown_timeout: Duration::from_millis(spec.shutdown_timeout_ms),
        periodic: spec
            .periodic
            .iter()
            .map(|(k, cron)| Periodic::new(k, cron).expect("schedule"))
            .collect(),
        drain: spec.drain,
        session: SessionConfig {
            statements: if spec.transaction_pooling {
                StatementMode::Unnamed
            } else {
                StatementMode::Cached
            },
            ..SessionConfig::default()
        },
        worker_id: default_worker_id(),
        cancel: url.cancel_route(),
        ..WorkerConfig::default()
    };
    let mut worker = Worker::new(pool, registry, metrics, config);
    if !spec.transaction_pooling {
        worker = worker.listen_on(url);
    }
    let summary = worker
        .run(async move {
            term.recv().await;
        })
        .await
        .expect("worker ran");
    if spec.drain && summary.lost > 0 { 3 } else { 0 }
}

/// A worker process started by a test. Killed on drop.
pub struct WorkerProcess(orgjobs_testdb::LoggedChild);

impl std::ops::Deref for WorkerProcess {
    type Target = orgjobs_testdb::LoggedChild;
    fn deref(&self) -> &orgjobs_testdb::LoggedChild {
        &self.0
    }
}

impl std::ops::DerefMut for WorkerProcess {
    fn deref_mut(&mut self) -> &mut orgjobs_testdb::LoggedChild {
        &mut self.0
    }
}

impl WorkerProcess {
    /// Starts a worker process per `spec` and waits until it runs.
    pub fn start(spec: &Spec) -> WorkerProcess {
        let exe = std::env::current_exe().expect("the test binary");
        let mut cmd = Command::new(exe);
        cmd.args([
            "worker_process_entry",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(SPEC_VAR, serde_json::to_string(spec).expect("spec"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null());
        WorkerProcess(orgjobs_testdb::LoggedChild::spawn(cmd, "worker_started").0)
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.0.terminate()
    }
}
