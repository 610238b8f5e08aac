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
    CheckStatus, DbUrl, Metrics, NewJob, Roles, Worker, WorkerConfig, default_worker_id, enqueue,
    migrate, run_proof, validate,
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
    Migrate,
    /// Run jobs.
    Worker(WorkerArgs),
    /// Enqueue one job and print its id.
    Enqueue(EnqueueArgs),
    /// Check tenant isolation on the live database; exit 0 only if every check passes.
    Proof(ProofArgs),
    /// Create a demo database with a few organizations, run their jobs, show what each saw.
    Demo(DemoArgs),
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
    /// Milliseconds between polls when no notification arrives.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub poll_interval_ms: u64,
    /// Session (not transaction-pooled) URL for LISTEN; defaults to DATABASE_URL.
    #[arg(long, env = "ORGJOBS_LISTEN_URL", hide_env_values = true)]
    pub listen_url: Option<String>,
    /// Do not LISTEN; poll only.
    #[arg(long)]
    pub no_listen: bool,
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
    /// Attempts before the job is discarded (default 5).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub max_attempts: Option<i32>,
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
    /// Organizations to create.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=50))]
    pub orgs: u16,
}

fn parse_org(s: &str) -> Result<Uuid, String> {
    Uuid::parse_str(s).map_err(|_| {
        format!("{s:?} is not an organization id: expected a UUID such as 3f2b8c1e-6d0a-4c5e-9f1a-2b3c4d5e6f70")
    })
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
        Command::Migrate => cmd_migrate(&cli.database_url).await,
        Command::Worker(ref args) => cmd_worker(&cli.database_url, args).await,
        Command::Enqueue(ref args) => cmd_enqueue(&cli.database_url, args).await,
        Command::Proof(ref args) => cmd_proof(&cli.database_url, args).await,
        Command::Demo(ref args) => crate::demo::run(&cli.database_url, args).await,
    }
}

async fn cmd_migrate(url: &str) -> anyhow::Result<ExitCode> {
    let url = DbUrl::parse(url)?;
    let mut client = url.connect().await?;
    let applied = migrate(&mut client, &orgjobs_helpdesk::migrations()).await?;
    orgjobs_helpdesk::registry(&Metrics::new())
        .register_kinds(&client)
        .await?;
    if applied.is_empty() {
        println!("database {} is up to date", url.redacted());
    } else {
        for name in applied {
            println!("applied {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn cmd_worker(url: &str, args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    let db = DbUrl::parse(url)?;
    let concurrency = usize::from(args.concurrency);
    let pool = db.pool(concurrency + 2).await?;
    let metrics = Metrics::new();
    let registry = Arc::new(orgjobs_helpdesk::registry(&metrics));
    if let Some(addr) = args.metrics_addr {
        crate::http::serve(addr, metrics.clone()).await?;
    }
    let config = WorkerConfig {
        concurrency,
        batch_size: concurrency,
        poll_interval: Duration::from_millis(args.poll_interval_ms),
        drain: args.drain,
        roles: Roles {
            tenant: args.tenant_role.clone(),
            ..Roles::default()
        },
        worker_id: default_worker_id(),
        ..WorkerConfig::default()
    };
    let mut worker = Worker::new(pool, registry, metrics, config);
    if !args.no_listen {
        let listen = match &args.listen_url {
            Some(u) => DbUrl::parse(u).context("ORGJOBS_LISTEN_URL")?,
            None => db.clone(),
        };
        worker = worker.listen_on(listen);
    }
    worker.run(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!(event = "shutdown_requested");
}

async fn cmd_enqueue(url: &str, args: &EnqueueArgs) -> anyhow::Result<ExitCode> {
    let text = match args.payload.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the payload file {path}"))?,
        None => args.payload.clone(),
    };
    let payload: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("--payload is not valid JSON ({e}); expected a JSON object such as '{{\"ticket_id\": \"...\"}}'"))?;
    let registry = orgjobs_helpdesk::registry(&Metrics::new());
    let job = NewJob {
        kind: args.kind.clone(),
        organization_id: args.org,
        payload,
        run_at: args.run_at,
        priority: args.priority,
        max_attempts: args.max_attempts,
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
    let roles = Roles {
        tenant: args.tenant_role.clone(),
        ..Roles::default()
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
