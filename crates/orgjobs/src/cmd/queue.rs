//! `orgjobs queue ...`: queue-wide information.

use std::process::ExitCode;

use clap::Subcommand;
use orgjobs_queue::{DbUrl, queue_stats};

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

/// Runs a `queue` subcommand.
pub async fn run(url: &str, cmd: &QueueCommand) -> anyhow::Result<ExitCode> {
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
                for p in &stats.paused {
                    let what = match (&p.organization_id, &p.kind) {
                        (Some(o), Some(k)) => format!("kind {k} of organization {o}"),
                        (Some(o), None) => format!("organization {o}"),
                        (None, Some(k)) => format!("kind {k}"),
                        (None, None) => "nothing".to_owned(),
                    };
                    println!(
                        "paused: {what} since {} by {}{}",
                        p.paused_at.to_rfc3339(),
                        p.paused_by,
                        if p.reason.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", p.reason)
                        }
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
