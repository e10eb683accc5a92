use std::path::PathBuf;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::config::{checked, Secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmConfig {
    /// OpenAI-compatible API root, e.g. `http://127.0.0.1:8080/v1` (llama.cpp),
    /// `http://127.0.0.1:11434/v1` (Ollama), or a cloud provider's.
    pub base_url: String,
    pub model: String,
    pub system_prompt: String,
    /// Sampling temperature, as OpenAI's API allows it.
    #[serde(deserialize_with = "temperature")]
    pub temperature: f32,
    /// Longest answer, in tokens.
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 32_768>")]
    pub max_tokens: u32,
    /// Environment variable holding the API key (checked first).
    pub api_key_env: String,
    /// File holding the API key (one line), used when the variable is unset.
    pub api_key_file: PathBuf,
    /// Seconds to establish the TCP/TLS connection.
    #[serde(deserialize_with = "checked::seconds")]
    pub connect_timeout_s: f32,
    /// Seconds from sending the question to the first token of the answer.
    #[serde(deserialize_with = "checked::seconds")]
    pub first_token_timeout_s: f32,
    /// Seconds for the whole answer, from sending the question.
    #[serde(deserialize_with = "checked::seconds")]
    pub answer_timeout_s: f32,
    /// Extra attempts when the server cannot be reached or is busy (refused connection,
    /// HTTP 429/5xx) before any token arrived; never once an answer has started.
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 10>")]
    pub retries: u32,
    /// Past turns sent along with a question, newest first, within this many tokens
    /// (estimated at four characters a token; trimmed to half of it when outgrown).
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 100_000>")]
    pub history_tokens: u32,
    /// Refused: keys never live in the config in clear text.
    #[serde(skip_serializing)]
    pub api_key: Option<IgnoredAny>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: "http://127.0.0.1:8080/v1".into(),
            model: "smollm2".into(),
            system_prompt: "You are hearken, a voice assistant on a small speaker. Always answer in English, in one to three short spoken sentences, without lists or markdown.".into(),
            temperature: 0.7,
            max_tokens: 200,
            api_key_env: "HEARKEN_LLM_API_KEY".into(),
            api_key_file: PathBuf::new(),
            connect_timeout_s: 3.0,
            first_token_timeout_s: 10.0,
            answer_timeout_s: 30.0,
            retries: 1,
            history_tokens: 1000,
            api_key: None,
        }
    }
}

fn temperature<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    checked::f32_in(d, 0.0, 2.0)
}

impl LlmConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.api_key.is_some() {
            return Err((
                "llm.api_key",
                format!(
                    "API keys are not read from the config file; put the key in ${} or in a file named by llm.api_key_file",
                    self.api_key_env
                ),
            ));
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err((
                "llm.base_url",
                format!(
                    "\"{}\" is not a URL starting with http:// or https://",
                    self.base_url
                ),
            ));
        }
        Ok(())
    }

    /// The API key from the environment or the key file; empty when neither is set
    /// (local servers need none).
    pub fn api_key(&self) -> std::io::Result<Secret> {
        Secret::from_env_or_file(&self.api_key_env, &self.api_key_file)
    }
}
