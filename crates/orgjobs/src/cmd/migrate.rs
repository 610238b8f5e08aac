//! `orgjobs migrate`: roles, pending migrations, strict tenant mode.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use orgjobs_queue::tokio_postgres::Client;
use orgjobs_queue::{ContextMode, DbUrl, Metrics, citus, migrate, set_strict, strict_status};

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
    /// Set up a Citus cluster (run on the coordinator, after its worker
    /// nodes are added): create the citus extension, distribute every tenant
    /// table by organization, co-located, and let the tenant and global roles
    /// log in on the worker nodes. Implied when the database already has the
    /// citus extension; run again after adding a node.
    #[arg(long)]
    pub citus: bool,
}

/// Runs `orgjobs migrate`.
pub async fn run(url: &str, args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let url = DbUrl::parse(url)?;
    let mut client = url.connect().await?;
    let (applied, on_citus) = migrate_app(&mut client, args.citus).await?;
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
    if on_citus {
        let workers = citus::worker_nodes(&client).await?;
        println!(
            "citus: tenant tables distributed by organization over {} worker nodes ({}); orgjobs_tenant and orgjobs_global may log in on them (admit them there only from the coordinator)",
            workers.len(),
            workers.join(", ")
        );
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

/// Applies the application's pending migrations and, on Citus (`citus`, or
/// a database that has the extension), its Citus layout and the worker
/// logins. Returns the names applied and whether this is a Citus
/// coordinator. `orgjobs migrate` and `orgjobs demo` run this.
pub async fn migrate_app(
    client: &mut Client,
    citus: bool,
) -> anyhow::Result<(Vec<&'static str>, bool)> {
    if citus {
        citus::enable(client).await?;
    }
    let on_citus = ContextMode::detect(client).await? == ContextMode::Propagated;
    let mut migrations = orgjobs_helpdesk::migrations();
    if on_citus {
        if citus::worker_nodes(client).await?.is_empty() {
            anyhow::bail!(
                "this Citus coordinator has no active worker nodes: add them first (SELECT citus_add_node(host, port) for each), then run `orgjobs migrate --citus`"
            );
        }
        migrations.extend_from_slice(orgjobs_queue::QUEUE_CITUS_MIGRATIONS);
        migrations.extend_from_slice(orgjobs_helpdesk::CITUS_MIGRATIONS);
    }
    let applied = migrate(client, &migrations).await?;
    if on_citus {
        citus::allow_worker_logins(client, &["orgjobs_tenant", "orgjobs_global"]).await?;
    }
    Ok((applied, on_citus))
}
