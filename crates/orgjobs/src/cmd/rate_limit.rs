//! `orgjobs rate-limit set|list|remove`: per-organization limits on job
//! starts, enforced by every worker's claim (see README, "Rate limits").

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use orgjobs_queue::{DbUrl, RateLimit, list_rate_limits, remove_rate_limit, set_rate_limit};
use uuid::Uuid;

/// `orgjobs rate-limit ...`
#[derive(Debug, Subcommand)]
pub enum RateLimitCommand {
    /// Limit an organization's job starts (of one kind, or of all its kinds)
    /// to N per period, across all workers; replaces its limit if it has one.
    Set {
        /// The organization.
        #[arg(long)]
        org: Uuid,
        /// Only this kind (default: all the organization's kinds together).
        #[arg(long)]
        kind: Option<String>,
        /// Starts allowed per period.
        #[arg(long)]
        starts: u32,
        /// The period, e.g. `1s`, `500ms`, `1min`, `1h`.
        #[arg(long, value_parser = parse_period)]
        per: Duration,
        /// Starts allowed at once after a quiet time (default: `--starts`).
        #[arg(long)]
        burst: Option<u32>,
    },
    /// List the limits, with what each bucket holds now.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a limit.
    Remove {
        /// The organization.
        #[arg(long)]
        org: Uuid,
        /// The kind's limit (default: the organization-wide one).
        #[arg(long)]
        kind: Option<String>,
    },
}

fn parse_period(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{e}: expected a duration such as 1s, 500ms, 1min or 1h"))
}

/// Runs a `rate-limit` subcommand.
pub async fn run(url: &str, cmd: &RateLimitCommand) -> anyhow::Result<ExitCode> {
    let client = DbUrl::parse(url)?.connect().await?;
    match cmd {
        RateLimitCommand::Set {
            org,
            kind,
            starts,
            per,
            burst,
        } => {
            let limit = RateLimit {
                organization_id: *org,
                kind: kind.clone(),
                starts: *starts,
                period: *per,
                burst: burst.unwrap_or(*starts),
            };
            set_rate_limit(&client, &limit).await?;
            println!(
                "organization {org}{}: at most {} starts per {}, bursts of {}",
                kind.as_deref()
                    .map(|k| format!(" kind {k}"))
                    .unwrap_or_default(),
                limit.starts,
                humantime::format_duration(limit.period),
                limit.burst
            );
        }
        RateLimitCommand::List { json } => {
            let limits = list_rate_limits(&client).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&limits)?);
            } else {
                println!(
                    "{:<36} {:<20} {:>8} {:>10} {:>7} {:>8}",
                    "organization", "kind", "starts", "per", "burst", "tokens"
                );
                for l in &limits {
                    println!(
                        "{:<36} {:<20} {:>8} {:>10} {:>7} {:>8.2}",
                        l.limit.organization_id,
                        l.limit.kind.as_deref().unwrap_or("(all kinds)"),
                        l.limit.starts,
                        humantime::format_duration(l.limit.period).to_string(),
                        l.limit.burst,
                        l.tokens
                    );
                }
            }
        }
        RateLimitCommand::Remove { org, kind } => {
            if remove_rate_limit(&client, *org, kind.as_deref()).await? {
                println!("removed");
            } else {
                anyhow::bail!(
                    "organization {org} has no {} rate limit",
                    kind.as_deref()
                        .map(|k| format!("kind {k}"))
                        .unwrap_or_else(|| "organization-wide".into())
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
