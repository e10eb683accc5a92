//! The LLM client: any OpenAI-compatible chat-completions API, streamed.

mod config;

pub use config::LlmConfig;
