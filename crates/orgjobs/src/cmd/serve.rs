//! `orgjobs serve`: the HTTP API (see the `orgjobs-api` crate), logged in
//! as the worker's least-privilege login, with the worker's startup check.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use orgjobs_api::{ApiState, TokenRate};
use orgjobs_queue::{DbUrl, Metrics, PoolOptions, check_tenancy};

use super::worker::{session_config, shutdown_signal};

/// `orgjobs serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ORGJOBS_API_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Database connections (each request holds one for its transaction).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(2..=1000))]
    pub max_connections: u16,
    /// Seconds a request waits for a free connection before a 503.
    #[arg(long, default_value_t = 5.0)]
    pub pool_wait_secs: f64,
    /// Behind a transaction-pooling PgBouncer: unnamed statements only.
    #[arg(long, env = "ORGJOBS_TRANSACTION_POOLING")]
    pub transaction_pooling: bool,
    /// Requests per second allowed per token (per server process).
    #[arg(long, default_value_t = NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN))]
    pub token_rate: NonZeroU32,
    /// Requests a token may send at once above its rate.
    #[arg(long, default_value_t = NonZeroU32::new(400).unwrap_or(NonZeroU32::MIN))]
    pub token_burst: NonZeroU32,
    /// Mark the dashboard's cookies Secure: set it when browsers reach the
    /// server over HTTPS (TLS ends at a proxy in front of it). Browsers drop
    /// Secure cookies on plain HTTP, so leave it off there.
    #[arg(long, env = "ORGJOBS_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Refuse to start unless strict tenant mode is on.
    #[arg(long, env = "ORGJOBS_REQUIRE_STRICT")]
    pub require_strict: bool,
    /// Tenant role name (tests only; the migrations grant to orgjobs_tenant).
    #[arg(long, hide = true, default_value = "orgjobs_tenant")]
    pub tenant_role: String,
}

/// Runs `orgjobs serve` until SIGINT or SIGTERM.
pub async fn run(url: &str, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let shutdown = shutdown_signal();
    let db = DbUrl::parse(url)?;
    if !(args.pool_wait_secs.is_finite() && args.pool_wait_secs > 0.0) {
        anyhow::bail!(
            "--pool-wait-secs must be a positive number of seconds, got {}",
            args.pool_wait_secs
        );
    }
    let pool = db
        .pool_with(PoolOptions {
            wait_timeout: Duration::from_secs_f64(args.pool_wait_secs),
            ..PoolOptions::new(usize::from(args.max_connections))
        })
        .await?;
    let session = {
        let conn = pool
            .get()
            .await
            .context("connecting to the database for the startup check")?;
        check_tenancy(&conn, &args.tenant_role, args.require_strict)
            .await
            .context("startup check")?;
        session_config(&args.tenant_role, args.transaction_pooling)
            .detected(&conn)
            .await?
    };
    let rate = TokenRate {
        per_second: args.token_rate,
        burst: args.token_burst,
    };
    let state =
        ApiState::new(pool, session, Metrics::new(), rate).with_secure_cookies(args.secure_cookies);
    orgjobs_api::serve(args.addr, state, shutdown, |bound| {
        tracing::info!(event = "api_listening", addr = %bound);
        eprintln!("orgjobs API listening on http://{bound} (dashboard at http://{bound}/)");
    })
    .await
    .with_context(|| format!("serving the API on {}", args.addr))?;
    Ok(ExitCode::SUCCESS)
}
