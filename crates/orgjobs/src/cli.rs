//! The command line: the top-level parser and the dispatch to each
//! subcommand's module (`crate::cmd`, `crate::demo`, `crate::eval`), which
//! owns its arguments and returns its exit code; `main` prints errors.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd;

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
    Migrate(cmd::migrate::MigrateArgs),
    /// Run jobs.
    Worker(cmd::worker::WorkerArgs),
    /// Enqueue one job and print its id.
    Enqueue(cmd::enqueue::EnqueueArgs),
    /// Check tenant isolation on the live database; exit 0 only if every check passes.
    Proof(cmd::proof::ProofArgs),
    /// Create a demo database with a few organizations, run their jobs, show what each saw.
    Demo(crate::demo::DemoArgs),
    /// Inspect and act on jobs (list, show, retry, cancel).
    #[command(subcommand)]
    Jobs(cmd::jobs::JobsCommand),
    /// Queue-wide information.
    #[command(subcommand)]
    Queue(cmd::queue::QueueCommand),
    /// Create or list organizations.
    #[command(subcommand)]
    Org(cmd::org::OrgCommand),
    /// Limit how many jobs an organization may start per period (set, list, remove).
    #[command(subcommand)]
    RateLimit(cmd::rate_limit::RateLimitCommand),
    /// Pause an organization, a kind, or one kind of one organization: its jobs wait, everyone else's run.
    Pause(cmd::pause::PauseArgs),
    /// End a pause.
    Resume(cmd::pause::PauseArgs),
    /// Serve the HTTP API (organization routes with organization tokens).
    Serve(cmd::serve::ServeArgs),
    /// API tokens for `orgjobs serve` (create, list, revoke).
    #[command(subcommand)]
    Token(cmd::token::TokenCommand),
    /// Load tickets and knowledge-base articles from a JSON Lines file into
    /// one organization (idempotent on external_id); enqueues their jobs.
    Import(cmd::import::ImportArgs),
    /// Measure triage, knowledge-base suggestions and SLA prediction on the
    /// labelled organizations bundled with orgjobs (a scratch database).
    Eval(crate::eval::EvalArgs),
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let url = cli.database_url.as_str();
    match &cli.command {
        Command::Migrate(args) => cmd::migrate::run(url, args).await,
        Command::Worker(args) => cmd::worker::run(url, args).await,
        Command::Enqueue(args) => cmd::enqueue::run(url, args).await,
        Command::Proof(args) => cmd::proof::run(url, args).await,
        Command::Demo(args) => crate::demo::run(url, args).await,
        Command::Jobs(cmd) => cmd::jobs::run(url, cmd).await,
        Command::Queue(cmd) => cmd::queue::run(url, cmd).await,
        Command::Org(cmd) => cmd::org::run(url, cmd).await,
        Command::RateLimit(cmd) => cmd::rate_limit::run(url, cmd).await,
        Command::Token(cmd) => cmd::token::run(url, cmd).await,
        Command::Serve(args) => cmd::serve::run(url, args).await,
        Command::Pause(args) => cmd::pause::run(url, args, true).await,
        Command::Resume(args) => cmd::pause::run(url, args, false).await,
        Command::Import(args) => cmd::import::run(url, args).await,
        Command::Eval(args) => crate::eval::run(url, args).await,
    }
}
