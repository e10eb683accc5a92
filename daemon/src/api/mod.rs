//! The local API: health, metrics, state and control over HTTP, the event stream over a
//! WebSocket, and the talk page; on a unix socket (no token) and optionally on TCP for the
//! LAN (token required). It runs on the daemon's tokio runtime and only talks to the loop
//! through its [`Handle`]: commands go down an unbounded channel, notices come back on a
//! broadcast, so a slow or stuck client can never hold up audio or inference.

mod auth;
pub mod client;
mod config;
mod control;
mod error;
mod events;
mod health;
mod listen;
mod metrics;
mod page;
mod tls;
mod voice;

use std::sync::{Arc, Mutex};

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;

pub use config::ApiConfig;
pub use error::ApiError;
pub use listen::Server;

use crate::config::Config;
use crate::pipeline::{Handle, Notice, TurnReport};

/// What every request handler shares.
#[derive(Clone)]
struct Api {
    handle: Handle,
    seen: Arc<Mutex<Seen>>,
    llm_base_url: String,
    models: Vec<String>,
    clients: Arc<Semaphore>,
    max_frame_bytes: usize,
    config: Arc<Config>,
    /// Remote voice sessions running (one at a time).
    voice: Arc<Semaphore>,
}

/// What the API remembers of the notices (for health, metrics and `/v1/state`).
#[derive(Default)]
struct Seen {
    metrics: metrics::Counts,
    last_turn: Option<TurnReport>,
    last_error: Option<(std::time::Instant, String)>,
}

impl Seen {
    fn take(&mut self, notice: &Notice) {
        self.metrics.count(notice);
        match notice {
            Notice::Turn { report } => {
                if let Some(why) = &report.error {
                    self.last_error = Some((std::time::Instant::now(), why.clone()));
                }
                self.last_turn = Some((**report).clone());
            }
            Notice::Error { message, .. } => {
                self.last_error = Some((std::time::Instant::now(), message.clone()));
            }
            Notice::LlmError { kind, .. } => {
                self.last_error = Some((std::time::Instant::now(), format!("LLM: {kind}")));
            }
            _ => {}
        }
    }
}

/// Binds the configured listeners and serves them on the current tokio runtime until the
/// returned [`Server`] is dropped. Fails (and the daemon does not start) when a listener
/// cannot be bound or the TCP listener has no token.
pub async fn start(config: &Config, handle: Handle) -> Result<Server, ApiError> {
    let api = Api {
        handle: handle.clone(),
        seen: Arc::default(),
        llm_base_url: config.llm.base_url.clone(),
        models: config.model_refs().iter().map(|m| m.to_string()).collect(),
        clients: Arc::new(Semaphore::new(config.api.max_clients as usize)),
        max_frame_bytes: config.api.max_frame_bytes as usize,
        config: Arc::new(config.clone()),
        voice: Arc::new(Semaphore::new(1)),
    };
    // Observed before the loop runs and before any client sees a notice, so `/v1/state` and
    // the metrics already count the turn whose report a client has just read.
    let seen = api.seen.clone();
    handle.observe(move |n| seen.lock().unwrap_or_else(|e| e.into_inner()).take(n));
    listen::bind(&config.api, router(api), &handle).await
}

fn router(api: Api) -> Router {
    let limit = api.max_frame_bytes;
    Router::new()
        .route("/", get(page::index))
        .route("/health", get(health::get))
        .route("/metrics", get(metrics::get))
        .route("/v1/state", get(control::state))
        .route("/v1/talk", post(control::talk))
        .route("/v1/stop", post(control::stop))
        .route("/v1/mute", post(control::mute))
        .route("/v1/say", post(control::say))
        .route("/v1/events", get(events::upgrade))
        .route("/v1/voice", get(voice::upgrade))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            api.clients.clone(),
            listen::client_slot,
        ))
        .with_state(api)
}
