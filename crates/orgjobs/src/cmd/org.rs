//! `orgjobs org create|list`: the operator's way to add an organization.
//! Its rows are written through a tenant transaction of the organization
//! itself, so RLS checks them like any job's.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use orgjobs_helpdesk::{
    create_organization, default_sla_policies, list_organizations, set_sla_policies,
};
use orgjobs_queue::{DbUrl, GlobalRole, GlobalTx, SessionConfig, TenantTx};
use uuid::Uuid;

/// `orgjobs org ...`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (with default SLA policies) and print its id.
    Create {
        /// Its name.
        name: String,
    },
    /// List organizations: id, active, name.
    List,
}

/// Runs an `org` subcommand.
pub async fn run(url: &str, cmd: &OrgCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        OrgCommand::Create { name } => cmd_org_create(url, name).await,
        OrgCommand::List => cmd_org_list(url).await,
    }
}

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
    let session = SessionConfig::default().detected(&conn).await?;
    let tx = TenantTx::begin(conn, id, &session).await?;
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
    let orgs = list_organizations(&s).await?;
    drop(s.rollback().await?);
    for o in orgs {
        println!(
            "{}  {}  {}",
            o.id,
            if o.active { "active  " } else { "inactive" },
            o.name
        );
    }
    Ok(ExitCode::SUCCESS)
}
