//! The orgjobs runtime: command line, configuration, HTTP and logging over
//! the queue and helpdesk libraries. `main.rs` is one call into
//! [`main_with`]; the fault-injection worker adds its probe kind through the
//! same call.

pub mod cli;
mod demo;
pub mod http;
mod ops;
pub mod probe;
pub mod scratch;
mod telemetry;

use std::process::ExitCode;
use std::sync::OnceLock;

use clap::Parser;
use orgjobs_queue::{Metrics, Registry};

/// Adds kinds to the helpdesk registry (identity for the `orgjobs` binary).
pub type Extend = fn(Registry) -> Registry;

static EXTEND: OnceLock<Extend> = OnceLock::new();

/// Every kind this process runs: the helpdesk's, plus any extension.
pub fn registry(metrics: &Metrics) -> Registry {
    let base = orgjobs_helpdesk::registry(metrics);
    match EXTEND.get() {
        Some(extend) => extend(base),
        None => base,
    }
}

/// Parses the command line and runs it, with `extend` adding kinds to the
/// registry. Errors are printed on one line (passwords hidden) and turn into
/// a failure exit code.
pub fn main_with(extend: Extend) -> ExitCode {
    let _ = EXTEND.set(extend);
    let cli = cli::Cli::parse();
    telemetry::init(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
