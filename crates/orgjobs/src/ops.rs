//! `orgjobs jobs ...` and `orgjobs queue ...`: operator commands over the
//! queue library's admin functions.

use std::process::ExitCode;

use orgjobs_queue::{
    CancelOutcome, DbUrl, JobFilter, cancel_job, list_jobs, queue_stats, retry_discarded,
    retry_job, show_job,
};

use crate::cli::{JobsCommand, QueueCommand};

/// Runs a `jobs` subcommand.
pub async fn jobs(url: &str, cmd: &JobsCommand) -> anyhow::Result<ExitCode> {
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

/// Runs a `queue` subcommand.
pub async fn queue(url: &str, cmd: &QueueCommand) -> anyhow::Result<ExitCode> {
    let client = DbUrl::parse(url)?.connect().await?;
    match cmd {
        QueueCommand::Stats { json } => {
            let stats = queue_stats(&client).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                println!("{:<24} {:<10} {:>10}", "kind", "state", "jobs");
                for (kind, state, n) in &stats.counts {
                    println!("{kind:<24} {state:<10} {n:>10}");
                }
                match stats.oldest_waiting_secs {
                    Some(s) => println!("oldest runnable job has waited {s:.1} s"),
                    None => println!("no runnable job is waiting"),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
