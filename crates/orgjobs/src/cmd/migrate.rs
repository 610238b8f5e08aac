//! `orgjobs migrate`: roles, pending migrations, strict tenant mode.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use orgjobs_queue::{DbUrl, Metrics, migrate, set_strict, strict_status};

/// Options of `orgjobs migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Turn strict tenant mode on: SQL running as the tenant role can no
    /// longer call set_config, run DO blocks or create temporary or other
    /// functions, so it cannot re-scope its transaction (needs a superuser;
    /// see the README for what it costs other roles).
    #[arg(long, conflicts_with = "no_strict")]
    pub strict: bool,
    /// Turn strict tenant mode off (PostgreSQL's defaults again).
    #[arg(long)]
    pub no_strict: bool,
}

/// Runs `orgjobs migrate`.
pub async fn run(url: &str, args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let url = DbUrl::parse(url)?;
    let mut client = url.connect().await?;
    let applied = migrate(&mut client, &orgjobs_helpdesk::migrations()).await?;
    crate::registry(&Metrics::new())
        .register_kinds(&client)
        .await?;
    if applied.is_empty() {
        println!("database {} is up to date", url.redacted());
    } else {
        for name in applied {
            println!("applied {name}");
        }
    }
    if args.strict || args.no_strict {
        set_strict(&client, args.strict).await.context(
            "strict tenant mode revokes privileges on objects the bootstrap superuser owns: run `orgjobs migrate --strict` as a superuser",
        )?;
    }
    let status = strict_status(&client, "orgjobs_tenant").await?;
    if status.is_strict() {
        println!("strict tenant mode: on");
    } else {
        println!(
            "strict tenant mode: off (tenant SQL can re-scope through {}; `orgjobs migrate --strict` closes it)",
            status.open_paths().join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
