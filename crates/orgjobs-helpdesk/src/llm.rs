//! (being written: skeleton so the crate compiles)
use std::time::Duration;

/// Endpoint settings.
#[derive(Clone, Debug)]
pub struct LlmConfig {
    /// base
    pub base_url: String,
    /// model
    pub model: String,
    /// key
    pub api_key: Option<String>,
    /// timeout
    pub timeout: Duration,
}
impl LlmConfig {
    /// From env.
    pub fn from_env() -> Result<Option<LlmConfig>, LlmError> {
        Ok(None)
    }
}
/// Errors.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// config
    #[error("config: {0}")]
    Config(String),
}
/// Client.
#[derive(Clone, Debug)]
pub struct LlmClient {
    config: LlmConfig,
}
impl LlmClient {
    /// New.
    pub fn new(config: LlmConfig) -> Result<LlmClient, LlmError> {
        Ok(LlmClient { config })
    }
    /// Model.
    pub fn model(&self) -> &str {
        &self.config.model
    }
    /// Chat.
    pub async fn chat(&self, _system: &str, _user: &str) -> Result<String, LlmError> {
        Err(LlmError::Config("not written".into()))
    }
}
