//! The orgjobs runtime: command line, configuration, HTTP and logging over
//! the queue and helpdesk libraries. `main.rs` is one call into
//! [`main_with`]; the fault-injection worker adds its probe kind through the
//! same call.

mod args;
pub mod cli;
mod cmd;
mod dataset;
mod demo;
mod eval;
pub mod http;
pub mod probe;
mod telemetry;

use std::process::ExitCode;
use std::sync::OnceLock;

use clap::Parser;
use orgjobs_queue::{Metrics, Registry};

/// Adds kinds to the helpdesk registry (identity for the `orgjobs` binary).
pub type Extend = fn(Registry) -> Registry;

static EXTEND: OnceLock<Extend> = OnceLock::new();

/// Every kind this process runs: the helpdesk's (replies by the offline
/// composer), plus any extension.
pub fn registry(metrics: &Metrics) -> Registry {
    extended(orgjobs_helpdesk::registry(metrics))
}

/// [`registry`] for a process that runs jobs: `SMART_REPLY` drafts with
/// the OpenAI-compatible endpoint `ORGJOBS_LLM_URL` names, if any
/// (`ORGJOBS_LLM_MODEL`, `ORGJOBS_LLM_API_KEY`, `ORGJOBS_LLM_TIMEOUT_SECS`),
/// and the helpdesk's jobs use the sentence-embedding model as `embeddings`
/// says.
pub fn worker_registry(metrics: &Metrics, embeddings: &EmbeddingArgs) -> anyhow::Result<Registry> {
    let llm = match orgjobs_helpdesk::llm::LlmConfig::from_env()? {
        Some(config) => {
            let client = orgjobs_helpdesk::llm::LlmClient::new(config)?;
            tracing::info!(event = "llm_configured", model = client.model());
            Some(client)
        }
        None => None,
    };
    let embedder = embeddings.load()?;
    let options = orgjobs_helpdesk::HelpdeskOptions { llm, embedder };
    Ok(extended(orgjobs_helpdesk::registry_with(metrics, &options)))
}

/// Where the sentence-embedding model is, and whether it must be there.
#[derive(Clone, Debug, clap::Args)]
pub struct EmbeddingArgs {
    /// The sentence-embedding model's folder, as scripts/fetch-model fills
    /// it [default: ~/.cache/orgjobs/models/all-MiniLM-L6-v2].
    #[arg(long, env = "ORGJOBS_MODEL_DIR")]
    pub model_dir: Option<std::path::PathBuf>,
    /// auto: use the model if it is there, else warn and fall back to
    /// BM25 and TF-IDF alone; required: refuse to start without it; off:
    /// never load it.
    #[arg(long, env = "ORGJOBS_EMBEDDINGS", default_value = "auto",
          value_parser = parse_policy)]
    pub embeddings: orgjobs_helpdesk::embedding::ModelPolicy,
}

fn parse_policy(s: &str) -> Result<orgjobs_helpdesk::embedding::ModelPolicy, String> {
    s.parse()
}

impl EmbeddingArgs {
    /// Loads the model as these options say (once per call: call once per
    /// process).
    pub fn load(
        &self,
    ) -> anyhow::Result<Option<std::sync::Arc<orgjobs_helpdesk::embedding::Embedder>>> {
        let dir = self.model_dir.clone().or_else(orgjobs_embed::default_dir);
        orgjobs_helpdesk::embedding::load(dir.as_deref(), self.embeddings)
            .map_err(anyhow::Error::msg)
    }
}

fn extended(base: Registry) -> Registry {
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
