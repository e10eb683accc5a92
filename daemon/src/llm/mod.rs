//! The LLM client: any OpenAI-compatible chat-completions API, streamed.

mod chunker;
mod config;
mod history;
mod openai;

pub use chunker::{speakable, Chunker};
pub use config::LlmConfig;
pub use history::{estimate_tokens, History};
pub use openai::OpenAiChat;

use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
        }
    }
}

/// Why an answer failed; each kind has its own short spoken apology. Messages put what
/// happened first and any hint after a `; ` ([`LlmError::brief`] is the first part).
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("LLM server unreachable: {0}")]
    Unreachable(String),
    #[error("LLM server refused the API key: {0}")]
    Auth(String),
    #[error("LLM server is rate limiting: {0}")]
    RateLimited(String),
    #[error("LLM server timed out: {0}")]
    Timeout(String),
    #[error("LLM stream was malformed: {0}")]
    Malformed(String),
}

impl LlmError {
    /// What the speaker says instead of an answer.
    pub fn spoken(&self) -> &'static str {
        match self {
            LlmError::Unreachable(_) => "Sorry, I can't reach my language model right now.",
            LlmError::Auth(_) => "Sorry, my language model refused my credentials.",
            LlmError::RateLimited(_) => {
                "Sorry, my language model is busy. Please try again in a moment."
            }
            LlmError::Timeout(_) => "Sorry, my language model is taking too long to answer.",
            LlmError::Malformed(_) => "Sorry, something went wrong with my answer.",
        }
    }

    /// What happened, without the hints: for an unreachable server, the reason and the
    /// address (`connection refused (127.0.0.1:8080)`), as `systemctl status` shows it.
    pub fn brief(&self) -> &str {
        let (LlmError::Unreachable(m)
        | LlmError::Auth(m)
        | LlmError::RateLimited(m)
        | LlmError::Timeout(m)
        | LlmError::Malformed(m)) = self;
        m.split_once("; ").map_or(m.as_str(), |(what, _)| what)
    }

    /// A short name for logs and JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Unreachable(_) => "unreachable",
            LlmError::Auth(_) => "auth",
            LlmError::RateLimited(_) => "rate_limited",
            LlmError::Timeout(_) => "timeout",
            LlmError::Malformed(_) => "malformed",
        }
    }
}

pub trait ChatModel: Send + Sync {
    /// Streams the answer to `messages` as text deltas. Dropping the stream or cancelling
    /// `cancel` stops the request; after cancellation the stream simply ends.
    fn stream(
        &self,
        messages: Vec<ChatMessage>,
        cancel: CancellationToken,
    ) -> BoxStream<'static, Result<String, LlmError>>;
}
