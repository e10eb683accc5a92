//! The LLM client: any OpenAI-compatible chat-completions API, streamed.

mod config;

pub use config::LlmConfig;

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

/// Why an answer failed; each kind has its own short spoken apology.
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

pub trait ChatModel: Send + Sync {
    /// Streams the answer to `messages` as text deltas. Dropping the stream or cancelling
    /// `cancel` stops the request.
    fn stream(
        &self,
        messages: Vec<ChatMessage>,
        cancel: CancellationToken,
    ) -> BoxStream<'static, Result<String, LlmError>>;
}
