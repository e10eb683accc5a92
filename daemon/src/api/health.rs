//! `GET /health`: ok, degraded (answers may fail: the LLM is unreachable, a device is
//! being reopened) or failing (the microphone or the speaker is gone), per component.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::Api;
use crate::audio::{CaptureState, PlaybackState};

/// How long the LLM server gets to answer the reachability probe.
const LLM_PROBE: Duration = Duration::from_millis(1500);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Degraded,
    Failing,
}

pub async fn get(State(api): State<Api>) -> (StatusCode, Json<Value>) {
    let (capture, playback) = match api.handle.devices() {
        Some(devices) => {
            let c = devices.capture.stats();
            let p = devices.playback.stats();
            let capture_status = match c.state {
                CaptureState::Running => Status::Ok,
                CaptureState::Starting | CaptureState::Reopening => Status::Degraded,
                CaptureState::Ended | CaptureState::Stopped => Status::Failing,
            };
            let playback_status = match p.state {
                PlaybackState::Running | PlaybackState::Starting => Status::Ok,
                PlaybackState::Reopening => Status::Degraded,
                PlaybackState::Stopped => Status::Failing,
            };
            (
                json!({"status": capture_status, "state": format!("{:?}", c.state).to_lowercase(),
                       "reopens": c.reopens, "xruns": c.xruns, "dropped": c.dropped}),
                json!({"status": playback_status, "state": format!("{:?}", p.state).to_lowercase(),
                       "reopens": p.reopens, "underruns": p.underruns}),
            )
        }
        None => (
            json!({"status": Status::Degraded, "state": "not started"}),
            json!({"status": Status::Degraded, "state": "not started"}),
        ),
    };
    let llm = match probe_llm(&api.llm_base_url).await {
        Ok(()) => json!({"status": Status::Ok, "url": api.llm_base_url}),
        Err(why) => json!({"status": Status::Failing, "url": api.llm_base_url, "error": why}),
    };
    // The loop starts its devices once the models are loaded.
    let models = if api.handle.devices().is_some() {
        json!({"status": Status::Ok, "loaded": api.models})
    } else {
        json!({"status": Status::Degraded, "loading": api.models})
    };
    let last_error = {
        let seen = api.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.last_error
            .as_ref()
            .map(|(at, message)| json!({"message": message, "age_s": at.elapsed().as_secs()}))
    };
    let of = |v: &Value| -> Status {
        serde_json::from_value(v["status"].clone()).unwrap_or(Status::Failing)
    };
    // Without the microphone or the speaker hearken is no use; without the LLM it still
    // listens and apologises.
    let overall = [of(&capture), of(&playback), of(&models)]
        .into_iter()
        .chain([of(&llm).min(Status::Degraded)])
        .max()
        .unwrap_or(Status::Ok);
    let code = if overall == Status::Failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        code,
        Json(json!({
            "status": overall,
            "components": {"capture": capture, "playback": playback, "models": models, "llm": llm},
            "last_error": last_error,
        })),
    )
}

/// Any HTTP answer from `{base_url}/models` counts as reachable (a cloud server may want
/// a key the probe does not send).
async fn probe_llm(base_url: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(LLM_PROBE)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/models", base_url.trim_end_matches('/'));
    match client.get(&url).send().await {
        Ok(response) if response.status().is_server_error() => {
            Err(format!("{url} answered {}", response.status()))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{url}: {}", without_url(&e))),
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut why = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why = s.to_string();
        source = s.source();
    }
    why
}
