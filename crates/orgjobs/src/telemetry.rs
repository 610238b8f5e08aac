//! Logging: JSON lines on stderr, filtered by `--log` / `ORGJOBS_LOG`.

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

/// Installs the JSON subscriber. The demo defaults to warnings only, so that
/// its own report stays readable.
pub fn init(cli: &Cli) {
    let default = match cli.command {
        Command::Demo(_) => "warn",
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
