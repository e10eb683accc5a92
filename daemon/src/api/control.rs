//! `/v1/state` and the commands: talk, stop, mute, say.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::Refusal;
use super::Api;

pub async fn state(State(api): State<Api>) -> Json<Value> {
    let state = *api.handle.state().borrow();
    let seen = api.seen.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!({
        "state": state,
        "turns": seen.metrics.turns(),
        "last_turn": seen.last_turn,
    }))
}

/// Starts a turn as the button does.
pub async fn talk(State(api): State<Api>) -> Json<Value> {
    api.handle.push_to_talk();
    Json(json!({ "ok": true }))
}

/// Stops the answer or the turn being listened to, as the button does.
pub async fn stop(State(api): State<Api>) -> Json<Value> {
    api.handle.stop_answer();
    Json(json!({ "ok": true }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mute {
    muted: bool,
}

pub async fn mute(
    State(api): State<Api>,
    body: Result<Json<Mute>, JsonRejection>,
) -> Result<Json<Value>, Refusal> {
    let Json(Mute { muted }) = body?;
    api.handle.mute(muted);
    Ok(Json(json!({ "ok": true, "muted": muted })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Say {
    text: String,
    #[serde(default)]
    interrupt: bool,
}

pub async fn say(
    State(api): State<Api>,
    body: Result<Json<Say>, JsonRejection>,
) -> Result<Json<Value>, Refusal> {
    let Json(Say { text, interrupt }) = body?;
    let text = text.trim();
    if text.is_empty() {
        return Err(Refusal::bad_request("empty_text", "\"text\" is empty"));
    }
    let id = api.handle.say(text.to_string(), interrupt);
    Ok(Json(json!({ "ok": true, "id": id })))
}
