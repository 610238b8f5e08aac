//! `orgjobs proof`: the isolation proof against the live database.

use anyhow::Context;
use std::process::ExitCode;

use clap::Args;
use orgjobs_queue::{CheckStatus, DbUrl, SessionConfig, run_proof};

/// Options of `orgjobs proof`.
#[derive(Debug, Args)]
pub struct ProofArgs {
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
    /// Tenant role name (tests only).
    #[arg(long, hide = true, default_value = "orgjobs_tenant")]
    pub tenant_role: String,
}

/// Runs `orgjobs proof`.
pub async fn run(url: &str, args: &ProofArgs) -> anyhow::Result<ExitCode> {
    let db = DbUrl::parse(url)?;
    let pool = db.pool(1).await?;
    let roles = {
        let conn = pool.get().await.context("connecting to the database")?;
        SessionConfig {
            tenant_role: args.tenant_role.clone(),
            ..SessionConfig::default()
        }
        .detected(&conn)
        .await?
    };
    let checks = run_proof(&pool, &roles).await?;
    let failed = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .count();
    if args.json {
        let out = serde_json::json!({
            "database": db.redacted(),
            "passed": failed == 0,
            "checks": checks,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_checks(&checks);
        println!(
            "proof {}: {} checks, {} failed",
            if failed == 0 { "passed" } else { "FAILED" },
            checks.len(),
            failed
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints one line per check.
pub fn print_checks(checks: &[orgjobs_queue::Check]) {
    for c in checks {
        let tag = match c.status {
            CheckStatus::Pass => "PASS",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Warn => "WARN",
        };
        println!("{tag}  {}: {}", c.name, c.detail);
    }
}
