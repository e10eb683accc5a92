//! `hearken status`: asks the running daemon over its socket.

use std::process::ExitCode;

use anyhow::Context;
use hearken::api::client;
use serde_json::Value;

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Print {"state", "health", "last_turn"} as one JSON object
    #[arg(long)]
    json: bool,
}

/// Exits 0 when the daemon is healthy or degraded, 1 when failing or unreachable.
pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let socket = &ctx.config.api.socket;
    anyhow::ensure!(
        !socket.as_os_str().is_empty(),
        "api.socket is empty: the daemon has no socket to ask"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (state, health) = runtime.block_on(async {
        let state = client::get(socket, "/v1/state").await?;
        let health = client::get(socket, "/health").await?;
        anyhow::Ok((state, health))
    })?;
    let state = state
        .json()
        .map_err(anyhow::Error::msg)
        .context("/v1/state")?;
    let health = health
        .json()
        .map_err(anyhow::Error::msg)
        .context("/health")?;
    let failing = health["status"] == "failing";
    if args.json {
        let all = serde_json::json!({
            "state": state["state"],
            "turns": state["turns"],
            "health": health,
            "last_turn": state["last_turn"],
        });
        println!("{all}");
    } else {
        print!("{}", table(&state, &health));
    }
    Ok(if failing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn table(state: &Value, health: &Value) -> String {
    let mut out = format!(
        "state   {}\nturns   {}\nhealth  {}\n",
        text(&state["state"]),
        text(&state["turns"]),
        text(&health["status"])
    );
    if let Some(components) = health["components"].as_object() {
        for (name, c) in components {
            let detail = c["error"]
                .as_str()
                .or(c["state"].as_str())
                .unwrap_or_default();
            out += &format!("  {name:<10}{:<10}{detail}\n", text(&c["status"]));
        }
    }
    if let Some(error) = health["last_error"].as_object() {
        out += &format!(
            "last error ({} s ago): {}\n",
            text(&error["age_s"]),
            text(&error["message"])
        );
    }
    let turn = &state["last_turn"];
    if turn.is_null() {
        out += "no turn yet\n";
        return out;
    }
    out += &format!(
        "last turn {} ({}, {})\n  heard:   {}\n  replied: {}\n",
        text(&turn["turn"]),
        text(&turn["trigger"]),
        turn_outcome(turn),
        text(&turn["transcript"]),
        text(&turn["reply"]),
    );
    out += "  stage                     ms\n";
    let t = &turn["timeline"];
    for (name, key) in [
        ("speech end", "speech_end_ms"),
        ("endpoint", "endpoint_ms"),
        ("ASR final", "asr_final_ms"),
        ("LLM request", "llm_request_ms"),
        ("LLM first token", "llm_first_token_ms"),
        ("first sentence", "first_chunk_ms"),
        ("first TTS audio", "first_tts_audio_ms"),
        ("first sample to ALSA", "first_sample_written_ms"),
        ("playback end", "playback_end_ms"),
        ("= response", "response_ms"),
    ] {
        if let Some(ms) = t[key].as_f64() {
            out += &format!("  {name:<22}{ms:>8.1}\n");
        }
    }
    out
}

fn turn_outcome(turn: &Value) -> &'static str {
    if turn["no_speech"] == true {
        "no speech"
    } else if !turn["error"].is_null() {
        "error"
    } else if turn["interrupted"] == true {
        "interrupted"
    } else if turn["fallback"] == true {
        "fallback"
    } else {
        "answered"
    }
}
