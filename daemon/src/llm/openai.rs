//! Streamed chat completions from any OpenAI-compatible server, with timeouts, cancellation
//! and retries only while nothing has been said yet.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{ChatCompletionResponseStream, CreateChatCompletionRequest};
use async_openai::Client;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ChatMessage, ChatModel, LlmConfig, LlmError, Role};

/// Pause before a retry; short, since someone is waiting for an answer.
const RETRY_PAUSE: Duration = Duration::from_millis(300);

#[derive(Clone)]
pub struct OpenAiChat {
    client: Client<OpenAIConfig>,
    cfg: LlmConfig,
}

impl OpenAiChat {
    pub fn new(cfg: &LlmConfig) -> Result<OpenAiChat, LlmError> {
        let key = cfg.api_key().map_err(|e| {
            LlmError::Auth(format!(
                "cannot read the API key file {}: {e}",
                cfg.api_key_file.display()
            ))
        })?;
        let mut api = OpenAIConfig::new().with_api_base(cfg.base_url.trim_end_matches('/'));
        // Local servers take no key; an empty bearer header confuses some proxies.
        api = api.with_api_key(if key.is_empty() { "none" } else { key.expose() });
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs_f32(cfg.connect_timeout_s))
            .build()
            .map_err(|e| LlmError::Unreachable(format!("HTTP client: {e}")))?;
        // The plain service, without async-openai's own retry layer: hearken decides what is
        // safe to retry, within its first-token deadline.
        let service = async_openai::middleware::ReqwestService::new(http);
        Ok(OpenAiChat {
            client: Client::with_config(api).with_http_service(service),
            cfg: cfg.clone(),
        })
    }

    fn request(&self, messages: &[ChatMessage]) -> Result<CreateChatCompletionRequest, LlmError> {
        let messages: Vec<_> = messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                serde_json::json!({ "role": role, "content": m.content })
            })
            .collect();
        // Built from JSON so that only the fields every compatible server knows are sent.
        serde_json::from_value(serde_json::json!({
            "model": self.cfg.model,
            "messages": messages,
            "temperature": self.cfg.temperature,
            "max_tokens": self.cfg.max_tokens,
            "stream": true,
        }))
        .map_err(|e| LlmError::Malformed(format!("building the request: {e}")))
    }
}

impl ChatModel for OpenAiChat {
    fn stream(
        &self,
        messages: Vec<ChatMessage>,
        cancel: CancellationToken,
    ) -> BoxStream<'static, Result<String, LlmError>> {
        let turn = Turn {
            chat: self.clone(),
            request: self.request(&messages),
            cancel,
            started: Instant::now(),
            inner: None,
            got_token: false,
            finished: false,
            done: false,
        };
        futures::stream::unfold(turn, |mut turn| async move {
            if turn.done {
                return None;
            }
            let item = turn.next().await;
            if !matches!(item, Some(Ok(_))) {
                turn.done = true;
            }
            item.map(|i| (i, turn))
        })
        .boxed()
    }
}

struct Turn {
    chat: OpenAiChat,
    request: Result<CreateChatCompletionRequest, LlmError>,
    cancel: CancellationToken,
    started: Instant,
    inner: Option<ChatCompletionResponseStream>,
    got_token: bool,
    finished: bool,
    done: bool,
}

impl Turn {
    fn deadline(&self) -> Instant {
        let cfg = &self.chat.cfg;
        let answer = self.started + Duration::from_secs_f32(cfg.answer_timeout_s);
        if self.got_token {
            answer
        } else {
            answer.min(self.started + Duration::from_secs_f32(cfg.first_token_timeout_s))
        }
    }

    fn timeout(&self) -> LlmError {
        let cfg = &self.chat.cfg;
        if self.got_token {
            LlmError::Timeout(format!(
                "the answer took longer than llm.answer_timeout_s = {} s",
                cfg.answer_timeout_s
            ))
        } else {
            LlmError::Timeout(format!(
                "no first token within llm.first_token_timeout_s = {} s from {}",
                cfg.first_token_timeout_s, cfg.base_url
            ))
        }
    }

    /// The next text delta; `None` at the end of the answer or on cancellation.
    async fn next(&mut self) -> Option<Result<String, LlmError>> {
        if self.inner.is_none() {
            match self.open().await? {
                Ok(stream) => self.inner = Some(stream),
                Err(e) => return Some(Err(e)),
            }
        }
        loop {
            let deadline = self.deadline();
            let inner = self.inner.as_mut().expect("opened");
            let event = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return None,
                r = tokio::time::timeout_at(deadline, inner.next()) => match r {
                    Err(_) => return Some(Err(self.timeout())),
                    Ok(event) => event,
                },
            };
            match event {
                None if self.finished => return None,
                None => {
                    return Some(Err(LlmError::Malformed(
                        "the stream ended before the answer finished (server stopped?)".into(),
                    )))
                }
                Some(Err(e)) => return Some(Err(classify(e, &self.chat.cfg, self.got_token))),
                Some(Ok(chunk)) => {
                    let mut text = String::new();
                    for choice in chunk.choices {
                        if let Some(t) = choice.delta.content {
                            text.push_str(&t);
                        }
                        if choice.finish_reason.is_some() {
                            self.finished = true;
                        }
                    }
                    if !text.is_empty() {
                        self.got_token = true;
                        return Some(Ok(text));
                    }
                }
            }
        }
    }

    /// Sends the request, retrying while it is safe; `None` when cancelled.
    async fn open(&mut self) -> Option<Result<ChatCompletionResponseStream, LlmError>> {
        let request = match &self.request {
            Ok(r) => r.clone(),
            Err(e) => return Some(Err(e.clone())),
        };
        let mut attempt = 0;
        loop {
            let deadline = self.deadline();
            let chat = self.chat.client.chat();
            let result = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return None,
                r = tokio::time::timeout_at(deadline, chat.create_stream(request.clone())) => r,
            };
            let err = match result {
                Err(_) => return Some(Err(self.timeout())),
                Ok(Ok(stream)) => return Some(Ok(stream)),
                Ok(Err(e)) => classify(e, &self.chat.cfg, false),
            };
            let retryable = matches!(err, LlmError::Unreachable(_) | LlmError::RateLimited(_));
            if !retryable || attempt >= self.chat.cfg.retries {
                return Some(Err(err));
            }
            attempt += 1;
            log::info!("{err}; retrying ({attempt} of {})", self.chat.cfg.retries);
            tokio::select! {
                _ = self.cancel.cancelled() => return None,
                _ = tokio::time::sleep(RETRY_PAUSE) => {}
            }
        }
    }
}

/// The innermost reason a request failed, in a few words: the I/O error at the bottom of
/// the chain ("connection refused", without "(os error 111)"), else the last error's text
/// (reqwest's own message names only the URL).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = e;
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            let text = io.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            let mut chars = text.chars();
            return chars.next().map_or(String::new(), |c| {
                c.to_lowercase().chain(chars).collect::<String>()
            });
        }
        innermost = err;
        source = err.source();
    }
    innermost.to_string()
}

/// `host:port` of a base URL (`http://127.0.0.1:8080/v1` → `127.0.0.1:8080`).
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

fn classify(e: OpenAIError, cfg: &LlmConfig, mid_answer: bool) -> LlmError {
    let url = &cfg.base_url;
    match e {
        OpenAIError::Reqwest(e) if e.is_timeout() => {
            LlmError::Timeout(format!("{url}: {e}"))
        }
        OpenAIError::Reqwest(e) if mid_answer => {
            LlmError::Unreachable(format!("connection to {url} lost mid-answer: {e}"))
        }
        OpenAIError::Reqwest(e) => LlmError::Unreachable(format!(
            "{} ({}); {url}: {e}; is the server running? (the embedded one starts with scripts/local-llm start)",
            root_cause(&e),
            authority(url)
        )),
        OpenAIError::ApiError(api) => {
            let status = api.status_code.as_u16();
            let msg = format!("{url}: HTTP {status}: {}", api.api_error.message);
            match status {
                401 | 403 => LlmError::Auth(format!(
                    "{msg}; set the key in ${} or llm.api_key_file",
                    cfg.api_key_env
                )),
                429 => LlmError::RateLimited(msg),
                500..=599 => LlmError::Unreachable(msg),
                404 => LlmError::Malformed(format!(
                    "{msg}; check llm.base_url (usually ends in /v1) and llm.model = {:?}",
                    cfg.model
                )),
                _ => LlmError::Malformed(msg),
            }
        }
        OpenAIError::StreamError(e) if mid_answer => {
            LlmError::Unreachable(format!("stream from {url} broke mid-answer: {e}"))
        }
        other => LlmError::Malformed(format!("{url}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port nobody listens on: the error says why in a few words and where, first.
    #[test]
    fn a_refused_connection_is_told_briefly_with_the_address() {
        let addr = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let cfg = LlmConfig {
            base_url: format!("http://{addr}/v1"),
            retries: 0,
            ..LlmConfig::default()
        };
        let chat = OpenAiChat::new(&cfg).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let first = runtime.block_on(async {
            let question = vec![ChatMessage::new(Role::User, "Hello?")];
            chat.stream(question, CancellationToken::new()).next().await
        });
        let err = match first {
            Some(Err(e)) => e,
            other => panic!("{other:?}"),
        };
        assert!(matches!(err, LlmError::Unreachable(_)), "{err}");
        assert_eq!(err.brief(), format!("connection refused ({addr})"));
        assert!(err.to_string().contains("is the server running?"), "{err}");
    }
}
