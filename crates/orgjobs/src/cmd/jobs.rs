//! `orgjobs jobs ...`: operator commands over the queue library's admin
//! functions (list, show, retry one or every matching dead letter, cancel).

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use orgjobs_queue::{
    CancelOutcome, DbUrl, JobFilter, cancel_job, list_jobs, retry_discarded, retry_job, show_job,
};
use uuid::Uuid;

/// `orgjobs jobs ...`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only this organization's jobs.
        #[arg(long, value_parser = crate::args::organization)]
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
        #[arg(long, value_parser = crate::args::organization, requires = "discarded")]
        org: Option<Uuid>,
        /// Only this kind.
        #[arg(long, requires = "discarded")]
        kind: Option<String>,
        /// Discarded at or after this time (RFC 3339).
        #[arg(long, value_parser = crate::args::time, requires = "discarded")]
        since: Option<DateTime<Utc>>,
        /// Discarded before this time (RFC 3339).
        #[arg(long, value_parser = crate::args::time, requires = "discarded")]
        until: Option<DateTime<Utc>>,
    },
    /// Cancel a waiting job, or ask a running one to stop.
    Cancel {
        /// Job id.
        id: i64,
    },
}

/// Runs a `jobs` subcommand.
pub async fn run(url: &str, cmd: &JobsCommand) -> anyhow::Result<ExitCode> {
    let client = DbUrl::parse(url)?.connect().await?;
    match cmd {
        JobsCommand::List {
            org,
            kind,
            state,
            limit,
            json,
        } => {
            let filter = JobFilter {
                organization_id: *org,
                kind: kind.clone(),
                state: state.clone(),
                ..JobFilter::default()
            };
            let jobs = list_jobs(&client, &filter, *limit).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
            } else {
                println!(
                    "{:>10}  {:<22} {:<36}  {:<10} {:>7}  {:<20}  last error",
                    "id", "kind", "organization", "state", "attempt", "run_at"
                );
                for j in jobs {
                    println!(
                        "{:>10}  {:<22} {:<36}  {:<10} {:>3}/{:<3}  {:<20}  {}",
                        j.id,
                        j.kind,
                        j.organization_id
                            .map(|o| o.to_string())
                            .unwrap_or_else(|| "-".into()),
                        j.state,
                        j.attempt,
                        j.max_attempts,
                        j.run_at.format("%Y-%m-%d %H:%M:%S"),
                        j.last_error.as_deref().map(first_line).unwrap_or("")
                    );
                }
            }
        }
        JobsCommand::Show { id } => {
            let job = show_job(&client, *id).await?;
            println!("{}", serde_json::to_string_pretty(&job)?);
        }
        JobsCommand::Retry { id: Some(id), .. } => {
            retry_job(&client, *id).await?;
            println!("job {id} will run again now");
        }
        JobsCommand::Retry {
            id: None,
            org,
            kind,
            since,
            until,
            ..
        } => {
            let filter = JobFilter {
                organization_id: *org,
                kind: kind.clone(),
                state: Some("discarded".into()),
                since: *since,
                until: *until,
                ..JobFilter::default()
            };
            let n = retry_discarded(&client, &filter).await?;
            println!("{n} discarded jobs will run again now");
        }
        JobsCommand::Cancel { id } => match cancel_job(&client, *id).await? {
            CancelOutcome::Cancelled => println!("job {id} cancelled"),
            CancelOutcome::Requested => {
                println!(
                    "job {id} is running; cancellation requested (its handler sees it at the next lease renewal)"
                )
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn first_line(s: &str) -> &str {
    let line = s.lines().next().unwrap_or("");
    match line.char_indices().nth(100) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}
