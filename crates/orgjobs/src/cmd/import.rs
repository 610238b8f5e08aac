//! `orgjobs import`: loads tickets and articles from JSON Lines into one
//! organization, through its own tenant transaction.

use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use orgjobs_helpdesk::import::{ImportReport, import, parse};
use orgjobs_queue::{DbUrl, SessionConfig, TenantTx};
use uuid::Uuid;

/// Options of `orgjobs import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The organization to load into (see `orgjobs org create`).
    #[arg(long, value_parser = crate::args::organization)]
    pub org: Uuid,
    /// JSON Lines file: one {"type":"ticket",...} or {"type":"article",...} per line.
    pub file: std::path::PathBuf,
}

/// Runs `orgjobs import`.
pub async fn run(url: &str, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    cmd_import(url, args.org, &args.file).await
}

/// `orgjobs import --org UUID FILE`: every bad line reported on stderr
/// (`FILE:LINE: reason`), the good ones imported in one transaction. Exit
/// code 0 when every line was good, 1 when some were rejected (the rest
/// are imported), 2 when nothing could be imported (no good line, or the
/// organization does not exist).
pub async fn cmd_import(url: &str, org: Uuid, file: &Path) -> anyhow::Result<ExitCode> {
    match import_file(url, org, file).await {
        Ok(code) => Ok(code),
        Err(e) => {
            // Nothing was imported: exit 2, not the "some lines rejected" 1.
            eprintln!("error: {e:#}; nothing was imported");
            Ok(ExitCode::from(2))
        }
    }
}

async fn import_file(url: &str, org: Uuid, file: &Path) -> anyhow::Result<ExitCode> {
    let f = std::fs::File::open(file)
        .with_context(|| format!("cannot open the import file {}", file.display()))?;
    let parsed = parse(BufReader::new(f)).with_context(|| format!("reading {}", file.display()))?;
    for e in &parsed.errors {
        eprintln!("{}:{}: {}", file.display(), e.line, e.reason);
    }
    let pool = DbUrl::parse(url)?.pool(1).await?;
    let conn = pool.get().await.context("connecting to the database")?;
    let session = SessionConfig::default().detected(&conn).await?;
    let tx = TenantTx::begin(conn, org, &session).await?;
    let report = match import(&tx, &parsed.records, chrono::Duration::zero()).await {
        Ok(r) => r,
        Err(e) => {
            drop(tx.rollback().await);
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    drop(tx.commit().await?);
    print_report(org, &report, parsed.errors.len());
    Ok(if parsed.errors.is_empty() {
        ExitCode::SUCCESS
    } else if parsed.records.is_empty() {
        // Every line was bad: nothing was imported.
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(org: Uuid, r: &ImportReport, rejected: usize) {
    println!(
        "imported into {org}: tickets {} new, {} updated, {} unchanged; articles {} new, {} updated, {} unchanged; {rejected} line(s) rejected",
        r.tickets_inserted,
        r.tickets_updated,
        r.tickets_unchanged,
        r.articles_inserted,
        r.articles_updated,
        r.articles_unchanged
    );
}
