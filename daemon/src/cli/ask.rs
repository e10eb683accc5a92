use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use hearken::llm::{History, OpenAiChat};
use hearken::pipeline::{Outcome, Speech};

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// The question for the LLM
    question: String,
    /// Write the spoken answer to this WAV file instead of playing it on audio.playback_device
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the answer, its timings and chunks as JSON
    #[arg(long)]
    json: bool,
    /// Cancel the answer, as a barge-in would, once this many chunks have started sounding
    #[arg(long, value_name = "N")]
    cancel_after_chunks: Option<usize>,
}

/// Asks and answers as the daemon does for one turn: its reply code (LLM stream, chunker,
/// fallback policy), TTS thread and output thread.
pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let cfg = &ctx.config;
    let chat = OpenAiChat::new(&cfg.llm)?;
    let history = History::new(cfg.llm.history_tokens as usize);
    let messages = history.messages(&cfg.llm.system_prompt, &args.question);
    let speech = Speech::Answer {
        messages,
        llm: Arc::new(chat),
    };
    let (spoken, rate) =
        super::speaker::speak(cfg, args.out.as_deref(), speech, args.cancel_after_chunks)?;

    let ms = |at: Instant| (at - spoken.start).as_secs_f64() * 1000.0;
    let answered = spoken.answered.as_ref();
    let error = answered.and_then(|a| a.error.as_ref());
    let seconds = |samples: u64| samples as f64 / f64::from(rate);
    if args.json {
        let chunks: Vec<_> = spoken
            .chunks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "text": c.text,
                    "ready_ms": ms(c.ready),
                    "first_audio_ms": ms(c.first_audio),
                    "fallback": c.fallback,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "reply": answered.map_or("", |a| a.text.as_str()),
                "first_token_ms": spoken.first_token.map(ms),
                "first_audio_ms": spoken.first_tts_audio.map(ms),
                "first_sample_ms": spoken.first_sample_written.map(ms),
                "llm_done_ms": spoken.llm_done.map(ms),
                "audio_s": seconds(spoken.samples),
                "chunks": chunks,
                "played": spoken.played,
                "outcome": match &spoken.outcome {
                    Outcome::Played => "played",
                    Outcome::Interrupted => "interrupted",
                    Outcome::Fallback => "fallback",
                    Outcome::Failed(_) => "failed",
                },
                "cancelled": spoken.cancelled_at.is_some(),
                "audio_after_cancel_s": seconds(spoken.samples_after_cancel),
                "deltas_after_cancel": answered.map_or(0, |a| a.deltas_after_cancel),
                "error": error.map(|e| serde_json::json!({
                    "kind": e.kind(),
                    "message": e.to_string(),
                    "spoken": e.spoken(),
                })),
            })
        );
    } else {
        for c in &spoken.chunks {
            println!("{}", c.text);
        }
        if let Some(e) = error {
            eprintln!("hearken: {e}");
        }
    }
    if let Outcome::Failed(why) = &spoken.outcome {
        eprintln!("hearken: {why}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(if error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
