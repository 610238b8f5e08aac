//! `orgjobs pause` / `orgjobs resume`: an organization's jobs, a kind's, or
//! one kind of one organization wait while everyone else's run.

use std::process::ExitCode;

use clap::Args;
use orgjobs_queue::{DbUrl, pause, resume};
use uuid::Uuid;

/// What to pause or resume.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The organization (all its kinds, unless --kind).
    #[arg(long)]
    pub org: Option<Uuid>,
    /// The kind (in every organization, unless --org).
    #[arg(long)]
    pub kind: Option<String>,
    /// Why (shown by `queue stats`; pause only).
    #[arg(long, default_value = "")]
    pub reason: String,
}

fn what(args: &PauseArgs) -> String {
    match (&args.org, &args.kind) {
        (Some(o), Some(k)) => format!("kind {k} of organization {o}"),
        (Some(o), None) => format!("organization {o}"),
        (None, Some(k)) => format!("kind {k}"),
        (None, None) => String::new(),
    }
}

/// Runs `orgjobs pause` (or `resume`).
pub async fn run(url: &str, args: &PauseArgs, paused: bool) -> anyhow::Result<ExitCode> {
    if args.org.is_none() && args.kind.is_none() {
        anyhow::bail!("give --org, --kind, or both");
    }
    let client = DbUrl::parse(url)?.connect().await?;
    let by = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    if paused {
        let new = pause(&client, args.org, args.kind.as_deref(), &args.reason, &by).await?;
        println!(
            "{} {}: its jobs wait from every worker's next claim on",
            what(args),
            if new { "paused" } else { "was already paused" }
        );
    } else if resume(&client, args.org, args.kind.as_deref()).await? {
        println!("{} resumed", what(args));
    } else {
        anyhow::bail!("{} is not paused", what(args));
    }
    Ok(ExitCode::SUCCESS)
}
