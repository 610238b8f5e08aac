//! `orgjobs enqueue`: one job, validated against the registry before
//! anything is sent.

use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use orgjobs_queue::{DbUrl, Metrics, NewJob, enqueue, validate};
use uuid::Uuid;

/// Options of `orgjobs enqueue`.
#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// Job kind, e.g. METRICS_SNAPSHOT.
    pub kind: String,
    /// Organization id (required for tenant kinds).
    #[arg(long, value_parser = crate::args::organization)]
    pub org: Option<Uuid>,
    /// Payload: a JSON object, or `@FILE` to read it from a file.
    #[arg(long, default_value = "{}")]
    pub payload: String,
    /// Earliest start, RFC 3339 (e.g. 2026-12-01T09:00:00Z).
    #[arg(long, value_parser = crate::args::time)]
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

/// Runs `orgjobs enqueue`.
pub async fn run(url: &str, args: &EnqueueArgs) -> anyhow::Result<ExitCode> {
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
