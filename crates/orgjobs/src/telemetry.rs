//! Logging: JSON lines on stderr, filtered by `--log` / `ORGJOBS_LOG`.

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

/// Installs the JSON subscriber. The demo and the evaluation default to errors only, so that
/// its own report stays readable (it reports the warnings it provokes — the
/// orphan job, a login role that bypasses RLS — in its own words).
pub fn init(cli: &Cli) {
    let default = match cli.command {
        Command::Demo(_) | Command::Eval(_) => "error",
        _ => "info",
    };
    let directive = cli.log.clone().unwrap_or_else(|| default.to_owned());
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
