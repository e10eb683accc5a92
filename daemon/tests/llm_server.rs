//! The LLM client and `hearken ask` against the real llama.cpp server (scripts/local-llm),
//! and against servers that are down, stalled or cut off mid-answer.

mod common;
mod speak;

use std::path::Path;

use futures::StreamExt;
use hearken::llm::{ChatModel, History, LlmConfig, OpenAiChat, Role};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// One llama.cpp server on a shared two-core machine: its tests take turns, with generous
/// timeouts (limits, not measurements).
static SERVER: std::sync::Mutex<()> = std::sync::Mutex::new(());
const PATIENT: &str = "first_token_timeout_s = 60.0\nanswer_timeout_s = 180.0";

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERVER.lock().unwrap_or_else(|e| e.into_inner())
}

fn ask(dir: &Path, llm: &str, question: &str, extra: &[&str]) -> (Value, std::process::ExitStatus) {
    let config = common::write_config(dir, &format!("[llm]\n{llm}\n"));
    let wav = dir.join("answer.wav");
    let mut args = vec![
        "-c",
        config.to_str().unwrap(),
        "ask",
        question,
        "--json",
        "--out",
        wav.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = common::run_hearken(&args);
    assert_ne!(
        out.status.code(),
        Some(101),
        "panicked: {}",
        common::text(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            common::text(&out.stdout),
            common::text(&out.stderr)
        )
    });
    (json, out.status)
}

fn rms(path: &Path) -> f64 {
    let audio = hearken::audio::wav::read(path).unwrap();
    let s = audio.to_mono();
    (s.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

fn assert_fallback(json: &Value, kind: &str) {
    let error = &json["error"];
    assert_eq!(error["kind"], kind, "{json:#}");
    let last = json["chunks"]
        .as_array()
        .unwrap()
        .last()
        .expect("a chunk")
        .clone();
    assert_eq!(last["fallback"], true, "{json:#}");
    assert_eq!(last["text"], error["spoken"], "{json:#}");
    assert!(
        last["first_audio_ms"].is_number(),
        "the fallback was not spoken: {json:#}"
    );
}

#[test]
fn streamed_answer_is_spoken_before_the_llm_finishes() {
    let _turn = serial();
    let url = common::llm_url();
    let dir = tempfile::tempdir().unwrap();
    let (json, status) = ask(
        dir.path(),
        &format!("base_url = \"{url}\"\nmax_tokens = 120\ntemperature = 0.0\n{PATIENT}"),
        "Tell me a story about a cat who wanted to fly.",
        &[],
    );
    assert!(status.success(), "{json:#}");
    assert!(json["error"].is_null(), "{json:#}");
    let chunks = json["chunks"].as_array().unwrap();
    assert!(chunks.len() >= 2, "{json:#}");
    let first_audio = json["first_audio_ms"].as_f64().unwrap();
    let llm_done = json["llm_done_ms"].as_f64().unwrap();
    assert!(json["first_token_ms"].as_f64().unwrap() < first_audio);
    assert!(
        first_audio < llm_done,
        "first audio at {first_audio} ms, LLM done at {llm_done} ms"
    );
    assert!(!json["reply"].as_str().unwrap().trim().is_empty());
    assert!(json["audio_s"].as_f64().unwrap() > 1.0, "{json:#}");
    assert!(rms(&dir.path().join("answer.wav")) > 0.03);
}

/// Collects one streamed answer from `chat`.
async fn answer(chat: &OpenAiChat, history: &History, question: &str) -> String {
    let mut stream = chat.stream(
        history.messages("Answer briefly.", question),
        CancellationToken::new(),
    );
    let mut text = String::new();
    while let Some(delta) = stream.next().await {
        text.push_str(&delta.expect("a delta"));
    }
    text
}

#[test]
fn second_turn_sends_the_history() {
    let _turn = serial();
    let proxy = speak::Proxy::start(&common::llm_url(), None);
    let cfg = LlmConfig {
        base_url: proxy.url.clone(),
        max_tokens: 40,
        temperature: 0.0,
        first_token_timeout_s: 60.0,
        answer_timeout_s: 180.0,
        ..LlmConfig::default()
    };
    let chat = OpenAiChat::new(&cfg).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut history = History::new(1000);
    let first = rt.block_on(answer(&chat, &history, "My name is Ada. Say hello to me."));
    assert!(!first.is_empty());
    // As after a barge-in: only the first sentence was heard.
    let heard = first.split_inclusive('.').next().unwrap().to_string();
    history.record("My name is Ada. Say hello to me.", &heard);
    rt.block_on(answer(&chat, &history, "What is my name?"));

    let sent = proxy.wait_for_exchanges(2);
    assert_eq!(sent.len(), 2);
    let body: Value = serde_json::from_str(&sent[1].request_body).unwrap();
    let messages: Vec<(String, String)> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().into(),
                m["content"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expect = |r: &str, c: &str| (r.to_string(), c.to_string());
    assert_eq!(
        messages,
        [
            expect("system", "Answer briefly."),
            expect("user", "My name is Ada. Say hello to me."),
            expect("assistant", heard.trim()),
            expect("user", "What is my name?"),
        ]
    );
    assert_eq!(body["stream"], true);
    let _ = Role::User;
}

#[test]
fn cancel_mid_stream_stops_llm_and_tts() {
    let _turn = serial();
    let proxy = speak::Proxy::start(&common::llm_url(), None);
    let dir = tempfile::tempdir().unwrap();
    let (json, status) = ask(
        dir.path(),
        &format!(
            "base_url = \"{}\"\nmax_tokens = 400\ntemperature = 0.0\n{PATIENT}",
            proxy.url
        ),
        "Tell me a long story about a dragon, a knight and a wizard.",
        &["--cancel-after-chunks", "1"],
    );
    assert!(status.success(), "{json:#}");
    assert!(json["error"].is_null(), "{json:#}");
    assert_eq!(json["cancelled"], true);
    assert_eq!(
        json["deltas_after_cancel"], 0,
        "the LLM stream went on: {json:#}"
    );
    let chunks = json["chunks"].as_array().unwrap();
    assert_eq!(chunks.len(), 1, "{json:#}");
    assert_eq!(json["outcome"], "interrupted", "{json:#}");
    // After the barge-in at most the piece in flight reaches the speaker (pieces are 2048
    // samples), and what played is no more than the first chunk.
    assert!(
        json["audio_after_cancel_s"].as_f64().unwrap() <= 2048.0 / 22050.0 + 1e-6,
        "{json:#}"
    );
    let first = chunks[0]["text"].as_str().unwrap();
    assert!(
        first.starts_with(json["played"].as_str().unwrap()),
        "{json:#}"
    );
    // The HTTP request was abandoned before the server finished its answer.
    let exchanges = proxy.wait_for_exchanges(1);
    assert_eq!(exchanges.len(), 1);
    assert!(exchanges[0].client_left_early, "client kept reading");
    assert!(!exchanges[0].response.contains("[DONE]"));
}

#[test]
fn server_down_speaks_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let (json, status) = ask(
        dir.path(),
        &format!("base_url = \"{}\"\nretries = 1", speak::dead_url()),
        "Hello?",
        &[],
    );
    assert!(!status.success());
    assert_fallback(&json, "unreachable");
    assert!(json["first_token_ms"].is_null());
}

#[test]
fn server_too_slow_speaks_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let (json, status) = ask(
        dir.path(),
        &format!(
            "base_url = \"{}\"\nfirst_token_timeout_s = 1.0",
            speak::stalling_server()
        ),
        "Hello?",
        &[],
    );
    assert!(!status.success());
    assert_fallback(&json, "timeout");
}

#[test]
fn server_killed_mid_stream_speaks_the_fallback() {
    let _turn = serial();
    let proxy = speak::Proxy::start(&common::llm_url(), Some(8));
    let dir = tempfile::tempdir().unwrap();
    let (json, status) = ask(
        dir.path(),
        &format!(
            "base_url = \"{}\"\nmax_tokens = 200\ntemperature = 0.0\n{PATIENT}",
            proxy.url
        ),
        "Tell me a story about a cat who wanted to fly.",
        &[],
    );
    assert!(!status.success());
    assert!(!json["reply"].as_str().unwrap().is_empty(), "{json:#}");
    let kind = json["error"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        ["unreachable", "malformed"].contains(&kind.as_str()),
        "{json:#}"
    );
    assert_fallback(&json, &kind);
}

#[test]
fn garbage_stream_speaks_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let (json, status) = ask(
        dir.path(),
        &format!(
            "base_url = \"{}\"\nretries = 2",
            speak::garbage_stream_server()
        ),
        "Hello?",
        &[],
    );
    assert!(!status.success());
    assert_fallback(&json, "malformed");
    assert!(json["first_token_ms"].is_null(), "{json:#}");
}

#[test]
fn refused_key_is_an_auth_error_and_not_retried() {
    let (url, requests) = speak::refusing_server(401);
    let dir = tempfile::tempdir().unwrap();
    let (json, status) = ask(
        dir.path(),
        &format!("base_url = \"{url}\"\nretries = 2"),
        "Hello?",
        &[],
    );
    assert!(!status.success());
    assert_fallback(&json, "auth");
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("HEARKEN_LLM_API_KEY"));
    assert_eq!(*requests.lock().unwrap(), 1);
}

#[test]
fn rate_limit_is_retried_then_spoken() {
    let (url, requests) = speak::refusing_server(429);
    let dir = tempfile::tempdir().unwrap();
    let (json, status) = ask(
        dir.path(),
        &format!("base_url = \"{url}\"\nretries = 2"),
        "Hello?",
        &[],
    );
    assert!(!status.success());
    assert_fallback(&json, "rate_limited");
    assert_eq!(*requests.lock().unwrap(), 3);
}
