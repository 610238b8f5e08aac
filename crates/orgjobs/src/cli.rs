//! Command-line parsing and the commands. Each command is a function that
//! returns its exit code; `main` prints errors.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use orgjobs_queue::{
    CheckStatus, DbUrl, Metrics, NewJob, Periodic, PoolOptions, SessionConfig, StatementMode,
    Worker, WorkerConfig, default_worker_id, enqueue, migrate, run_proof, set_strict,
    strict_status, validate,
};
use uuid::Uuid;

/// The database used when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/orgjobs";

/// orgjobs: background jobs for a multi-tenant helpdesk, each tenant job
/// isolated by PostgreSQL row-level security.
#[derive(Debug, Parser)]
#[command(name = "orgjobs", version)]
pub struct Cli {
    /// PostgreSQL URL (or keyword/value string) of the application database.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true, hide_env_values = true)]
    pub database_url: String,

    /// Log filter (tracing directives, e.g. `info` or `orgjobs_queue=debug`).
    #[arg(long, env = "ORGJOBS_LOG", global = true)]
    pub log: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the roles and apply pending migrations (idempotent).
    Migrate(MigrateArgs),
    /// Run jobs.
    Worker(WorkerArgs),
    /// Enqueue one job and print its id.
    Enqueue(EnqueueArgs),
    /// Check tenant isolation on the live database; exit 0 only if every check passes.
    Proof(ProofArgs),
    /// Create a demo database with a few organizations, run their jobs, show what each saw.
    Demo(DemoArgs),
    /// Inspect and act on jobs (list, show, retry, cancel).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Queue-wide information.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Create or list organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Load tickets and knowledge-base articles from a JSON Lines file into
    /// one organization (idempotent on external_id); enqueues their jobs.
    Import(ImportArgs),
    /// Measure triage, knowledge-base suggestions and SLA prediction on the
    /// labelled organizations bundled with orgjobs (a scratch database).
    Eval(EvalArgs),
}

/// Options of `orgjobs migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Turn strict tenant mode on: SQL running as the tenant role can no
    /// longer call set_config, run DO blocks or create temporary or other
    /// functions, so it cannot re-scope its transaction (needs a superuser;
    /// see the README for what it costs other roles).
    #[arg(long, conflicts_with = "no_strict")]
    pub strict: bool,
    /// Turn strict tenant mode off (PostgreSQL's defaults again).
    #[arg(long)]
    pub no_strict: bool,
}

/// `orgjobs org ...`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (with default SLA policies) and print its id.
    Create {
        /// Its name.
        name: String,
    },
    /// List organizations: id, active, name.
    List,
}

/// Options of `orgjobs import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The organization to load into (see `orgjobs org create`).
    #[arg(long, value_parser = parse_org)]
    pub org: Uuid,
    /// JSON Lines file: one {"type":"ticket",...} or {"type":"article",...} per line.
    pub file: std::path::PathBuf,
}

/// Options of `orgjobs eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
    /// Keep the scratch database (orgjobs_eval_<pid>) for inspection.
    #[arg(long)]
    pub keep_db: bool,
}

/// `orgjobs jobs ...`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only this organization's jobs.
        #[arg(long, value_parser = parse_org)]
        org: Option<Uuid>,
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Only this state (available, scheduled, running, retryable, completed, discarded, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one job with its error history.
    Show {
        /// Job id.
        id: i64,
    },
    /// Make a discarded, cancelled or retryable job run again now; or, with
    /// --discarded, every discarded job matching the filters.
    Retry {
        /// Job id (omit with --discarded).
        #[arg(required_unless_present = "discarded", conflicts_with = "discarded")]
        id: Option<i64>,
        /// Retry every discarded job matching --org, --kind, --since, --until.
        #[arg(long)]
        discarded: bool,
        /// Only this organization's jobs.
        #[arg(long, value_parser = parse_org, requires = "discarded")]
        org: Option<Uuid>,
        /// Only this kind.
        #[arg(long, requires = "discarded")]
        kind: Option<String>,
        /// Discarded at or after this time (RFC 3339).
        #[arg(long, value_parser = parse_run_at, requires = "discarded")]
        since: Option<DateTime<Utc>>,
        /// Discarded before this time (RFC 3339).
        #[arg(long, value_parser = parse_run_at, requires = "discarded")]
        until: Option<DateTime<Utc>>,
    },
    /// Cancel a waiting job, or ask a running one to stop.
    Cancel {
        /// Job id.
        id: i64,
    },
}

/// `orgjobs queue ...`
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Counts by kind and state, and the oldest waiting job's age.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options of `orgjobs worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
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

/// Options of `orgjobs enqueue`.
#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// Job kind, e.g. METRICS_SNAPSHOT.
    pub kind: String,
    /// Organization id (required for tenant kinds).
    #[arg(long, value_parser = parse_org)]
    pub org: Option<Uuid>,
    /// Payload: a JSON object, or `@FILE` to read it from a file.
    #[arg(long, default_value = "{}")]
    pub payload: String,
    /// Earliest start, RFC 3339 (e.g. 2026-12-01T09:00:00Z).
    #[arg(long, value_parser = parse_run_at)]
    pub run_at: Option<DateTime<Utc>>,
    /// Priority; lower runs first.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i16,
    /// Attempts before the job is discarded (default: the kind's, 5).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub max_attempts: Option<i32>,
    /// At most one waiting job of this organization has this key; a second
    /// enqueue prints the waiting job's id instead of adding one.
    #[arg(long)]
    pub unique_key: Option<String>,
}

/// Options of `orgjobs proof`.
#[derive(Debug, Args)]
pub struct ProofArgs {
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
    /// Tenant role name (tests only).
    #[arg(long, hide = true, default_value = "orgjobs_tenant")]
    pub tenant_role: String,
}

/// Options of `orgjobs demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Worker tasks.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

pub(crate) fn parse_org(s: &str) -> Result<Uuid, String> {
    Uuid::parse_str(s).map_err(|_| {
        format!("{s:?} is not an organization id: expected a UUID such as 3f2b8c1e-6d0a-4c5e-9f1a-2b3c4d5e6f70")
    })
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

fn parse_run_at(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("{s:?} is not an RFC 3339 time ({e}); expected e.g. 2026-12-01T09:00:00Z")
        })
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate(ref args) => cmd_migrate(&cli.database_url, args).await,
        Command::Worker(ref args) => cmd_worker(&cli.database_url, args).await,
        Command::Enqueue(ref args) => cmd_enqueue(&cli.database_url, args).await,
        Command::Proof(ref args) => cmd_proof(&cli.database_url, args).await,
        Command::Demo(ref args) => crate::demo::run(&cli.database_url, args).await,
        Command::Jobs(ref cmd) => crate::ops::jobs(&cli.database_url, cmd).await,
        Command::Queue(ref cmd) => crate::ops::queue(&cli.database_url, cmd).await,
        Command::Org(OrgCommand::Create { ref name }) => {
            crate::tenants::cmd_org_create(&cli.database_url, name).await
        }
        Command::Org(OrgCommand::List) => crate::tenants::cmd_org_list(&cli.database_url).await,
        Command::Import(ref args) => {
            crate::tenants::cmd_import(&cli.database_url, args.org, &args.file).await
        }
        Command::Eval(ref args) => crate::eval::run(&cli.database_url, args).await,
    }
}

async fn cmd_migrate(url: &str, args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let url = DbUrl::parse(url)?;
    let mut client = url.connect().await?;
    let applied = migrate(&mut client, &orgjobs_helpdesk::migrations()).await?;
    crate::registry(&Metrics::new())
        .register_kinds(&client)
        .await?;
    if applied.is_empty() {
        println!("database {} is up to date", url.redacted());
    } else {
        for name in applied {
            println!("applied {name}");
        }
    }
    if args.strict || args.no_strict {
        set_strict(&client, args.strict).await.context(
            "strict tenant mode revokes privileges on objects the bootstrap superuser owns: run `orgjobs migrate --strict` as a superuser",
        )?;
    }
    let status = strict_status(&client, "orgjobs_tenant").await?;
    if status.is_strict() {
        println!("strict tenant mode: on");
    } else {
        println!(
            "strict tenant mode: off (tenant SQL can re-scope through {}; `orgjobs migrate --strict` closes it)",
            status.open_paths().join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn cmd_worker(url: &str, args: &WorkerArgs) -> anyhow::Result<ExitCode> {
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
    let metrics = Metrics::new();
    let registry = Arc::new(crate::worker_registry(&metrics)?);
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
        org_concurrency: args.org_concurrency,
        session: SessionConfig {
            tenant_role: args.tenant_role.clone(),
            statements: if args.transaction_pooling {
                StatementMode::Unnamed
            } else {
                StatementMode::Cached
            },
            ..SessionConfig::default()
        },
        worker_id: default_worker_id(),
        tls: db.tls().clone(),
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

async fn cmd_enqueue(url: &str, args: &EnqueueArgs) -> anyhow::Result<ExitCode> {
    let text = match args.payload.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the payload file {path}"))?,
        None => args.payload.clone(),
    };
    let payload: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("--payload is not valid JSON ({e}); expected a JSON object such as '{{\"ticket_id\": \"...\"}}'"))?;
    let registry = crate::registry(&Metrics::new());
    let job = NewJob {
        kind: args.kind.clone(),
        organization_id: args.org,
        payload,
        run_at: args.run_at,
        priority: args.priority,
        max_attempts: args.max_attempts,
        unique_key: args.unique_key.clone(),
    };
    // Refuse bad input before touching the database.
    validate(&registry, &job)?;
    let db = DbUrl::parse(url)?;
    let client = db.connect().await?;
    // orgjobs.add_job accepts registered kinds only; make sure this binary's
    // are (a no-op write when they already are).
    registry.register_kinds(&client).await?;
    let id = enqueue(&client, &registry, &job).await?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

async fn cmd_proof(url: &str, args: &ProofArgs) -> anyhow::Result<ExitCode> {
    let db = DbUrl::parse(url)?;
    let pool = db.pool(1).await?;
    let roles = SessionConfig {
        tenant_role: args.tenant_role.clone(),
        ..SessionConfig::default()
    };
    let checks = run_proof(&pool, &roles).await?;
    let failed = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .count();
    if args.json {
        let out = serde_json::json!({
            "database": db.redacted(),
            "passed": failed == 0,
            "checks": checks,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_checks(&checks);
        println!(
            "proof {}: {} checks, {} failed",
            if failed == 0 { "passed" } else { "FAILED" },
            checks.len(),
            failed
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints one line per check.
pub fn print_checks(checks: &[orgjobs_queue::Check]) {
    for c in checks {
        let tag = match c.status {
            CheckStatus::Pass => "PASS",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Warn => "WARN",
        };
        println!("{tag}  {}: {}", c.name, c.detail);
    }
}
