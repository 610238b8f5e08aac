//! `orgjobs org create|list` and `orgjobs import`: the operator's way to
//! add an organization and load its tickets and articles. Tenant writes go
//! through a tenant transaction of the organization concerned, so RLS
//! checks them like any job's.

use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use orgjobs_helpdesk::import::{ImportReport, import, parse};
use orgjobs_helpdesk::{create_organization, default_sla_policies, set_sla_policies};
use orgjobs_queue::{DbUrl, GlobalRole, GlobalTx, SessionConfig, TenantTx};
use uuid::Uuid;

/// Creates an organization with the default SLA policies; returns its id.
pub async fn create_org(db: &DbUrl, name: &str) -> anyhow::Result<Uuid> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        anyhow::bail!(
            "an organization name must be 1 to 200 characters, got {}",
            name.chars().count()
        );
    }
    let pool = db.pool(1).await?;
    let id = Uuid::new_v4();
    let conn = pool.get().await.context("connecting to the database")?;
    let tx = TenantTx::begin(conn, id, &SessionConfig::default()).await?;
    create_organization(&tx, name)
        .await
        .context("creating the organization (has `orgjobs migrate` run?)")?;
    set_sla_policies(&tx, &default_sla_policies())
        .await
        .context("setting the default SLA policies")?;
    drop(tx.commit().await?);
    Ok(id)
}

/// `orgjobs org create NAME`: prints the new organization's id alone, so
/// that scripts can capture it.
pub async fn cmd_org_create(url: &str, name: &str) -> anyhow::Result<ExitCode> {
    let id = create_org(&DbUrl::parse(url)?, name).await?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// `orgjobs org list`: id, active flag and name of every organization, read
/// through the global role's one policy on organizations.
pub async fn cmd_org_list(url: &str) -> anyhow::Result<ExitCode> {
    let pool = DbUrl::parse(url)?.pool(1).await?;
    let conn = pool.get().await.context("connecting to the database")?;
    let s = GlobalTx::begin(conn, GlobalRole::Global, &SessionConfig::default()).await?;
    let rows = s
        .query(
            "SELECT id, active, name FROM public.organizations ORDER BY name, id",
            &[],
        )
        .await?;
    drop(s.rollback().await?);
    for r in rows {
        let (id, active, name): (Uuid, bool, String) = (r.get(0), r.get(1), r.get(2));
        println!(
            "{id}  {}  {name}",
            if active { "active  " } else { "inactive" }
        );
    }
    Ok(ExitCode::SUCCESS)
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
    let tx = TenantTx::begin(conn, org, &SessionConfig::default()).await?;
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
