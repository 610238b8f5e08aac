//! `orgjobs worker`: runs jobs until SIGINT/SIGTERM (or, with `--drain`,
//! until none is left), with `/metrics` and `/healthz` when asked.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use orgjobs_queue::{
    DbUrl, Metrics, Periodic, PoolOptions, SessionConfig, StatementMode, Worker, WorkerConfig,
    default_worker_id,
};
use uuid::Uuid;

/// Options of `orgjobs worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The sentence-embedding model.
    #[command(flatten)]
    pub embedding: crate::EmbeddingArgs,
    /// Handlers running at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Serve /metrics and /healthz on this address (e.g. 127.0.0.1:9187).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Exit 0 once no runnable job is left.
    #[arg(long)]
    pub drain: bool,
    /// Jobs claimed per statement (default: --concurrency).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=5000))]
    pub batch_size: Option<u16>,
    /// Database connections (default: --concurrency + 2, at most 34). Jobs
    /// that never touch the database hold none, so --concurrency can be much
    /// larger than this.
    #[arg(long, value_parser = clap::value_parser!(u16).range(3..=1000))]
    pub max_connections: Option<u16>,
    /// Milliseconds between polls when no notification arrives.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub poll_interval_ms: u64,
    /// Session (not transaction-pooled) URL for LISTEN; defaults to DATABASE_URL.
    #[arg(long, env = "ORGJOBS_LISTEN_URL", hide_env_values = true)]
    pub listen_url: Option<String>,
    /// Do not LISTEN; poll only.
    #[arg(long)]
    pub no_listen: bool,
    /// DATABASE_URL goes through a transaction-pooling PgBouncer: send no
    /// statement that outlives its transaction, and LISTEN only through
    /// --listen-url (poll otherwise).
    #[arg(long, env = "ORGJOBS_TRANSACTION_POOLING")]
    pub transaction_pooling: bool,
    /// Seconds a job waits for a free pooled connection before its attempt
    /// fails (and is retried).
    #[arg(long, default_value_t = 30.0)]
    pub pool_wait_secs: f64,
    /// Seconds a claimed job is leased; renewed while it runs, rescued by
    /// another worker once it expires unrenewed.
    #[arg(long, default_value_t = 30.0)]
    pub lease_secs: f64,
    /// Seconds running jobs may take to finish after SIGINT/SIGTERM before
    /// they are interrupted and given back to the queue.
    #[arg(long, default_value_t = 30.0)]
    pub shutdown_timeout: f64,
    /// Seconds maintenance leadership lasts without renewal.
    #[arg(long, default_value_t = 15.0, hide = true)]
    pub leader_ttl_secs: f64,
    /// Periodic schedule KIND=CRON (UTC; 5 fields, or 6 with seconds first);
    /// repeat for several. Default: METRICS_SNAPSHOT_ALL hourly, CLEANUP
    /// daily at 03:00, SYSTEM_METRICS every 30 s.
    #[arg(long = "periodic", env = "ORGJOBS_PERIODIC", value_delimiter = ';', value_parser = parse_periodic)]
    pub periodic: Vec<Periodic>,
    /// Run no periodic schedules.
    #[arg(long, conflicts_with = "periodic")]
    pub no_periodic: bool,
    /// Claim in strict (priority, run_at, id) order across organizations
    /// instead of round-robin over organizations (the default).
    #[arg(long)]
    pub fifo: bool,
    /// Round-robin over organizations by job count alone, instead of by
    /// their share of this worker's handler time (the default).
    #[arg(long, conflicts_with = "fifo")]
    pub fair_by_jobs: bool,
    /// An organization's weight in the share of worker time
    /// (`UUID=WEIGHT`, repeatable; default 1).
    #[arg(long = "org-weight", value_parser = parse_org_weight, conflicts_with_all = ["fifo", "fair_by_jobs"])]
    pub org_weights: Vec<(Uuid, f64)>,
    /// At most this many jobs of one organization running at once, across
    /// all workers.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..), conflicts_with = "fifo")]
    pub org_concurrency: Option<i32>,
    /// Refuse to start unless strict tenant mode is on.
    #[arg(long, env = "ORGJOBS_REQUIRE_STRICT")]
    pub require_strict: bool,
    /// Tenant role name (tests only; the migrations grant to orgjobs_tenant).
    #[arg(long, hide = true, default_value = "orgjobs_tenant")]
    pub tenant_role: String,
}

fn parse_periodic(s: &str) -> Result<Periodic, String> {
    Periodic::parse(s).map_err(|e| e.to_string())
}

/// The schedules a worker runs when none are configured.
pub fn default_periodic() -> Vec<Periodic> {
    [
        ("METRICS_SNAPSHOT_ALL", "0 * * * *"),
        ("CLEANUP", "0 3 * * *"),
        ("SYSTEM_METRICS", "*/30 * * * * *"),
    ]
    .iter()
    .filter_map(|(k, e)| Periodic::new(k, e).ok())
    .collect()
}

/// Runs `orgjobs worker`.
pub async fn run(url: &str, args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    let shutdown = shutdown_signal();
    let db = DbUrl::parse(url)?;
    let concurrency = usize::from(args.concurrency);
    let connections = args
        .max_connections
        .map_or(concurrency.min(32) + 2, usize::from);
    let secs = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(anyhow::anyhow!(
                "--{name} must be a positive number of seconds, got {v}"
            ))
        }
    };
    let pool = db
        .pool_with(PoolOptions {
            wait_timeout: secs("pool-wait-secs", args.pool_wait_secs)?,
            ..PoolOptions::new(connections)
        })
        .await?;
    let session = {
        let conn = pool.get().await.context("connecting to the database")?;
        session_config(&args.tenant_role, args.transaction_pooling)
            .detected(&conn)
            .await?
    };
    let metrics = Metrics::new();
    let registry = Arc::new(crate::worker_registry(&metrics, &args.embedding)?);
    // A draining worker (scripts, the demo) runs no schedules: it would
    // never find the queue empty.
    let periodic = if args.no_periodic || args.drain {
        Vec::new()
    } else if args.periodic.is_empty() {
        default_periodic()
    } else {
        args.periodic.clone()
    };
    let config = WorkerConfig {
        concurrency,
        batch_size: args.batch_size.map_or(concurrency, usize::from),
        poll_interval: Duration::from_millis(args.poll_interval_ms),
        lease: secs("lease-secs", args.lease_secs)?,
        shutdown_timeout: Duration::from_secs_f64(args.shutdown_timeout.max(0.0)),
        leader_ttl: secs("leader-ttl-secs", args.leader_ttl_secs)?,
        periodic,
        drain: args.drain,
        fair: !args.fifo,
        fair_by_time: !args.fair_by_jobs,
        org_weights: args.org_weights.iter().copied().collect(),
        org_concurrency: args.org_concurrency,
        session,
        worker_id: default_worker_id(),
        cancel: db.cancel_route(),
        require_strict: args.require_strict,
        clock: orgjobs_queue::Clock::database(),
    };
    let mut worker = Worker::new(pool, registry, metrics.clone(), config);
    if let Some(addr) = args.metrics_addr {
        crate::http::serve(addr, metrics, worker.health()).await?;
    }
    // LISTEN needs a session: through a transaction pooler only with an
    // explicit direct URL.
    let listen = match (&args.listen_url, args.transaction_pooling) {
        (Some(u), _) => Some(DbUrl::parse(u).context("ORGJOBS_LISTEN_URL")?),
        (None, false) => Some(db.clone()),
        (None, true) => None,
    };
    if let (Some(url), false) = (listen, args.no_listen) {
        worker = worker.listen_on(url);
    }
    let summary = worker.run(shutdown).await?;
    if args.drain && summary.lost > 0 {
        // Lost attempts wrote nothing (their transactions rolled back) and
        // their jobs run again once their leases expire; but a script that
        // drains expects everything done, so say so and fail.
        eprintln!(
            "error: drained, but {} job attempt(s) were lost: their results could not be recorded; the jobs run again when their leases expire (see the job_lost and recording_failure_failed log events)",
            summary.lost
        );
        return Ok(ExitCode::from(EXIT_LOST));
    }
    Ok(ExitCode::SUCCESS)
}

/// The tenant session settings of a process that runs tenant transactions
/// (the worker, `orgjobs serve`): behind a transaction-pooling PgBouncer,
/// statements go unnamed.
pub fn session_config(tenant_role: &str, transaction_pooling: bool) -> SessionConfig {
    SessionConfig {
        tenant_role: tenant_role.to_owned(),
        statements: if transaction_pooling {
            StatementMode::Unnamed
        } else {
            StatementMode::Cached
        },
        ..SessionConfig::default()
    }
}

/// Exit status of `orgjobs worker --drain` when job attempts were lost.
pub const EXIT_LOST: u8 = 3;

/// Resolves on SIGINT or SIGTERM. The handlers are installed before this
/// returns, so a signal that arrives while the worker starts is not lost
/// (nor does it kill the process).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM/SIGINT");
                std::future::pending::<()>().await;
            }
        }
        tracing::info!(event = "shutdown_requested");
    }
}

/// `UUID=WEIGHT`, a positive weight.
fn parse_org_weight(s: &str) -> Result<(Uuid, f64), String> {
    let (org, weight) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected ORGANIZATION_UUID=WEIGHT"))?;
    let org = Uuid::parse_str(org.trim())
        .map_err(|e| format!("{org:?} is not an organization id (a UUID): {e}"))?;
    let weight: f64 = weight
        .trim()
        .parse()
        .map_err(|_| format!("{weight:?} is not a number; expected a positive weight"))?;
    if !(weight.is_finite() && weight > 0.0) {
        return Err(format!("weight {weight} must be a positive number"));
    }
    Ok((org, weight))
}
