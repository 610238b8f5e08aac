//! The optional OpenAI-compatible chat endpoint `SMART_REPLY` can draft
//! with (a local Ollama, vLLM, llama.cpp's server, or a hosted service).
//!
//! Configured from the environment (see [`LlmConfig::from_env`]); without
//! `ORGJOBS_LLM_URL` nothing is called and the offline composer writes every
//! draft. Every failure is an [`LlmError`] whose message says what went wrong
//! where, since it is logged and stored as the draft's `fallback_reason`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The model asked for when `ORGJOBS_LLM_MODEL` is not set.
pub const DEFAULT_MODEL: &str = "llama3.2";

/// How long a call may take when `ORGJOBS_LLM_TIMEOUT_SECS` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// How much of an error response's body an [`LlmError::Status`] keeps.
const ERROR_BODY_CHARS: usize = 200;

/// Where and how to call the endpoint.
#[derive(Clone)]
pub struct LlmConfig {
    /// The API's base URL, up to and including `/v1`
    /// (e.g. `http://127.0.0.1:11434/v1`); requests go to
    /// `{base_url}/chat/completions`.
    pub base_url: String,
    /// The model name sent with each request.
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    /// The whole request's time limit (connecting, sending, the answer).
    pub timeout: Duration,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Checks that `base_url` (called `what` in messages) is an http(s) API
/// base URL without credentials, query or fragment.
fn check_base_url(base_url: &str, what: &str) -> Result<(), LlmError> {
    let url = reqwest::Url::parse(base_url).map_err(|e| {
        LlmError::Config(format!(
            "{what} {base_url:?} is not a URL ({e}); expected e.g. http://127.0.0.1:11434/v1"
        ))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(LlmError::Config(format!(
            "{what} carries credentials; put the key in ORGJOBS_LLM_API_KEY instead \
             (the URL appears in logs and in drafts' fallback_reason)"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(LlmError::Config(format!(
            "{what} {base_url:?} has a query or fragment; expected the API's base URL, \
             e.g. http://127.0.0.1:11434/v1"
        )));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(LlmError::Config(format!(
            "{what} {base_url:?} has scheme {:?}; expected http or https",
            url.scheme()
        )));
    }
    Ok(())
}

/// What an error status most likely means, for the operator.
fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => " (check ORGJOBS_LLM_API_KEY)",
        404 => " (check that ORGJOBS_LLM_URL is the API base, e.g. http://127.0.0.1:11434/v1)",
        _ => "",
    }
}

/// An error body as [`LlmError::Status`]'s message shows it.
fn shown_body(body: &str) -> &str {
    if body.trim().is_empty() {
        "(empty body)"
    } else {
        body
    }
}

impl LlmConfig {
    /// Reads `ORGJOBS_LLM_URL` (unset or empty: `Ok(None)`, no endpoint),
    /// `ORGJOBS_LLM_MODEL` (default [`DEFAULT_MODEL`]), `ORGJOBS_LLM_API_KEY`
    /// (optional) and `ORGJOBS_LLM_TIMEOUT_SECS` (default 20).
    pub fn from_env() -> Result<Option<LlmConfig>, LlmError> {
        LlmConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`LlmConfig::from_env`] with the variables read by `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<LlmConfig>, LlmError> {
        let set = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(base_url) = set("ORGJOBS_LLM_URL") else {
            return Ok(None);
        };
        check_base_url(&base_url, "ORGJOBS_LLM_URL")?;
        let timeout = match set("ORGJOBS_LLM_TIMEOUT_SECS") {
            None => DEFAULT_TIMEOUT,
            Some(v) => match v.parse::<u64>() {
                Ok(secs) if secs > 0 => Duration::from_secs(secs),
                _ => {
                    return Err(LlmError::Config(format!(
                        "ORGJOBS_LLM_TIMEOUT_SECS {v:?} is not a whole number of seconds above 0"
                    )));
                }
            },
        };
        Ok(Some(LlmConfig {
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: set("ORGJOBS_LLM_MODEL").unwrap_or_else(|| DEFAULT_MODEL.to_owned()),
            api_key: set("ORGJOBS_LLM_API_KEY"),
            timeout,
        }))
    }
}

/// Why the endpoint gave no draft.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The configuration is unusable.
    #[error("LLM endpoint configuration: {0}")]
    Config(String),
    /// No connection could be made, or it broke.
    #[error("LLM endpoint {url} unreachable: {reason}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// No complete answer within the time limit.
    #[error("LLM endpoint {url} gave no answer within {after:?}")]
    Timeout {
        /// The URL called.
        url: String,
        /// The time limit.
        after: Duration,
    },
    /// The endpoint answered with an error status.
    #[error(
        "LLM endpoint {url} answered HTTP {status}{}: {}",
        status_hint(*status),
        shown_body(body)
    )]
    Status {
        /// The URL called.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The answer was not an OpenAI-style chat completion.
    #[error("LLM endpoint's answer is not a chat completion: {0}")]
    Malformed(String),
    /// The completion held no text.
    #[error("LLM endpoint's answer has no text")]
    Empty,
}

impl LlmError {
    /// A short reason for the organization's eyes: no URL, no response body,
    /// no configuration hints (those go to the operator's log via
    /// `Display`). Stored as a draft's `fallback_reason`.
    pub fn summary(&self) -> String {
        match self {
            LlmError::Config(_) => "AI drafting is misconfigured".to_owned(),
            LlmError::Unreachable { .. } => "AI drafting endpoint unreachable".to_owned(),
            LlmError::Timeout { after, .. } => {
                format!("AI drafting endpoint gave no answer within {after:?}")
            }
            LlmError::Status { status, .. } => {
                format!("AI drafting endpoint answered HTTP {status}")
            }
            LlmError::Malformed(_) => "AI drafting endpoint's answer was malformed".to_owned(),
            LlmError::Empty => "AI drafting endpoint's answer was empty".to_owned(),
        }
    }
}

/// A client of one endpoint and model. Cheap to clone (the connection pool
/// is shared).
#[derive(Clone, Debug)]
pub struct LlmClient {
    config: LlmConfig,
    url: String,
    http: reqwest::Client,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [Message<'a>; 2],
    temperature: f32,
    stream: bool,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
}

impl LlmClient {
    /// A client for `config`: [`LlmError::Config`] when its base URL is not
    /// one [`LlmConfig::from_env`] would accept or its timeout is zero.
    pub fn new(config: LlmConfig) -> Result<LlmClient, LlmError> {
        check_base_url(&config.base_url, "the LLM base URL")?;
        if config.timeout.is_zero() {
            return Err(LlmError::Config(
                "the LLM timeout is zero; expected at least one second".to_owned(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| LlmError::Config(format!("building the HTTP client: {e}")))?;
        let url = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        Ok(LlmClient { config, url, http })
    }

    /// The model it asks for.
    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// One chat completion: the `system` and `user` messages in, the
    /// answer's text (trimmed) out.
    pub async fn chat(&self, system: &str, user: &str) -> Result<String, LlmError> {
        let request = ChatRequest {
            model: &self.config.model,
            messages: [
                Message {
                    role: "system",
                    content: system,
                },
                Message {
                    role: "user",
                    content: user,
                },
            ],
            temperature: 0.2,
            stream: false,
        };
        let mut builder = self.http.post(&self.url).json(&request);
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = builder.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(LlmError::Status {
                url: self.url.clone(),
                status: status.as_u16(),
                body: body.chars().take(ERROR_BODY_CHARS).collect(),
            });
        }
        let parsed: ChatResponse = serde_json::from_str(&body).map_err(|e| {
            LlmError::Malformed(format!(
                "{e}; body starts {:?}",
                body.chars().take(ERROR_BODY_CHARS).collect::<String>()
            ))
        })?;
        let text = parsed
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .map(|t| t.trim().to_owned())
            .unwrap_or_default();
        if text.is_empty() {
            return Err(LlmError::Empty);
        }
        Ok(text)
    }

    fn transport(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout {
                url: self.url.clone(),
                after: self.config.timeout,
            }
        } else {
            // The source chain says why (refused, reset, DNS…); the URL is
            // in the message already.
            let e = e.without_url();
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                reason.push_str(": ");
                reason.push_str(&s.to_string());
                source = s.source();
            }
            LlmError::Unreachable {
                url: self.url.clone(),
                reason,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> Result<Option<LlmConfig>, LlmError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LlmConfig::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn no_url_no_endpoint() {
        assert!(matches!(lookup(&[]), Ok(None)));
        assert!(matches!(lookup(&[("ORGJOBS_LLM_URL", "  ")]), Ok(None)));
    }

    #[test]
    fn defaults_and_settings() {
        let c = lookup(&[("ORGJOBS_LLM_URL", "http://127.0.0.1:11434/v1/")])
            .expect("valid")
            .expect("configured");
        assert_eq!(c.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(c.model, DEFAULT_MODEL);
        assert_eq!(c.api_key, None);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        let c = lookup(&[
            ("ORGJOBS_LLM_URL", "https://llm.example/v1"),
            ("ORGJOBS_LLM_MODEL", "qwen2.5:7b"),
            ("ORGJOBS_LLM_API_KEY", "sk-secret"),
            ("ORGJOBS_LLM_TIMEOUT_SECS", "5"),
        ])
        .expect("valid")
        .expect("configured");
        assert_eq!(c.model, "qwen2.5:7b");
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.api_key.as_deref(), Some("sk-secret"));
        let debug = format!("{c:?}");
        assert!(!debug.contains("sk-secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn client_debug_hides_the_api_key() {
        let client = LlmClient::new(LlmConfig {
            base_url: "http://127.0.0.1:11434/v1".to_owned(),
            model: "m".to_owned(),
            api_key: Some("sk-secret".to_owned()),
            timeout: DEFAULT_TIMEOUT,
        })
        .expect("client");
        let debug = format!("{client:?}");
        assert!(!debug.contains("sk-secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert_eq!(client.model(), "m");
    }

    #[test]
    fn a_hand_built_config_is_checked_too() {
        let config = |base_url: &str, timeout| LlmConfig {
            base_url: base_url.to_owned(),
            model: DEFAULT_MODEL.to_owned(),
            api_key: None,
            timeout,
        };
        for (c, expect) in [
            (
                config("ftp://x/v1", DEFAULT_TIMEOUT),
                "expected http or https",
            ),
            (config("", DEFAULT_TIMEOUT), "is not a URL"),
            (
                config("http://u:pw@x/v1", DEFAULT_TIMEOUT),
                "the LLM base URL carries credentials",
            ),
            (config("http://x/v1", Duration::ZERO), "timeout is zero"),
        ] {
            match LlmClient::new(c) {
                Err(LlmError::Config(m)) => assert!(m.contains(expect), "{m}"),
                other => panic!("expected {expect:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn status_messages_name_the_url_and_the_likely_cause() {
        let status = |status, body: &str| LlmError::Status {
            url: "http://h/v2/chat/completions".to_owned(),
            status,
            body: body.to_owned(),
        };
        assert_eq!(
            status(404, " ").to_string(),
            "LLM endpoint http://h/v2/chat/completions answered HTTP 404 (check that \
             ORGJOBS_LLM_URL is the API base, e.g. http://127.0.0.1:11434/v1): (empty body)"
        );
        assert!(
            status(401, "no key")
                .to_string()
                .contains("HTTP 401 (check ORGJOBS_LLM_API_KEY): no key")
        );
        assert_eq!(
            status(500, "overloaded").to_string(),
            "LLM endpoint http://h/v2/chat/completions answered HTTP 500: overloaded"
        );
    }

    #[test]
    fn bad_settings_say_what_was_expected() {
        for (vars, expect) in [
            (
                vec![("ORGJOBS_LLM_URL", "localhost:11434")],
                "has scheme \"localhost\"; expected http or https",
            ),
            (vec![("ORGJOBS_LLM_URL", "not a url")], "is not a URL"),
            (
                vec![("ORGJOBS_LLM_URL", "https://user:pw@llm.example/v1")],
                "carries credentials",
            ),
            (
                vec![("ORGJOBS_LLM_URL", "https://llm.example/v1?key=x")],
                "has a query or fragment",
            ),
            (
                vec![
                    ("ORGJOBS_LLM_URL", "http://x/v1"),
                    ("ORGJOBS_LLM_TIMEOUT_SECS", "soon"),
                ],
                "ORGJOBS_LLM_TIMEOUT_SECS \"soon\" is not a whole number",
            ),
            (
                vec![
                    ("ORGJOBS_LLM_URL", "http://x/v1"),
                    ("ORGJOBS_LLM_TIMEOUT_SECS", "0"),
                ],
                "above 0",
            ),
        ] {
            match lookup(&vars) {
                Err(LlmError::Config(m)) => assert!(m.contains(expect), "{m}"),
                other => panic!("{vars:?}: {other:?}"),
            }
        }
    }
}
