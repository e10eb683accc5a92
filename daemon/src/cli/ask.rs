use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hearken::llm::{ChatModel, Chunker, History, LlmError, OpenAiChat};
use hearken::models::ModelStore;
use hearken::tts::{PiperVoice, Synthesizer};
use tokio_util::sync::CancellationToken;

use super::speaker::Speaker;
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

#[derive(Default)]
struct Chunk {
    text: String,
    ready_ms: f64,
    first_audio_ms: Option<f64>,
    fallback: bool,
}

#[derive(Default)]
struct Spoken {
    chunks: Vec<Chunk>,
    samples: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let cfg = &ctx.config;
    let mut voice = PiperVoice::new(&cfg.tts, &ModelStore::new(&cfg.models))?;
    let rate = voice.sample_rate();
    let chat = OpenAiChat::new(&cfg.llm)?;
    let history = History::new(cfg.llm.history_tokens as usize);
    let messages = history.messages(&cfg.llm.system_prompt, &args.question);

    let cancel = CancellationToken::new();
    let spoken = Arc::new(Mutex::new(Spoken::default()));
    let start = Instant::now();

    // TTS runs on its own thread so that synthesis never blocks reading the stream.
    let (tx, rx) = mpsc::channel::<Chunk>();
    let mut speaker = Speaker::open(args.out.as_deref(), &cfg.audio, rate)?;
    let tts = {
        let spoken = spoken.clone();
        let cancel = cancel.clone();
        let cancel_after = args.cancel_after_chunks;
        std::thread::spawn(move || -> anyhow::Result<()> {
            for chunk in rx {
                if cancel.is_cancelled() && !chunk.fallback {
                    continue;
                }
                let index = {
                    let mut s = spoken.lock().unwrap();
                    s.chunks.push(chunk);
                    s.chunks.len() - 1
                };
                let text = spoken.lock().unwrap().chunks[index].text.clone();
                voice.synthesize(&text, &mut |piece| {
                    if cancel.is_cancelled() {
                        return false;
                    }
                    let mut s = spoken.lock().unwrap();
                    if s.chunks[index].first_audio_ms.is_none() {
                        s.chunks[index].first_audio_ms = Some(ms(start.elapsed()));
                        if cancel_after == Some(index + 1) {
                            cancel.cancel();
                        }
                    }
                    s.samples += piece.len();
                    drop(s);
                    speaker.play(piece);
                    true
                })?;
            }
            speaker.finish()
        })
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut reply = String::new();
    let mut first_token_ms = None;
    let mut deltas_after_cancel = 0usize;
    let mut error: Option<LlmError> = None;
    runtime.block_on(async {
        let mut stream = chat.stream(messages, cancel.clone());
        let mut chunker = Chunker::new();
        let send = |text: String, fallback: bool| {
            let _ = tx.send(Chunk {
                text,
                ready_ms: ms(start.elapsed()),
                fallback,
                ..Chunk::default()
            });
        };
        while let Some(item) = stream.next().await {
            match item {
                Ok(delta) => {
                    if cancel.is_cancelled() {
                        deltas_after_cancel += 1;
                    }
                    first_token_ms.get_or_insert_with(|| ms(start.elapsed()));
                    reply.push_str(&delta);
                    for chunk in chunker.push(&delta) {
                        send(chunk, false);
                    }
                }
                Err(e) => {
                    log::warn!("{e}");
                    error = Some(e);
                    break;
                }
            }
        }
        match &error {
            // An unfinished sentence is dropped: the apology follows what was said.
            Some(e) => send(e.spoken().to_string(), true),
            None if !cancel.is_cancelled() => {
                if let Some(rest) = chunker.finish() {
                    send(rest, false);
                }
            }
            None => {}
        }
    });
    let llm_done_ms = ms(start.elapsed());
    drop(tx);
    tts.join().expect("TTS thread")?;

    let spoken = Arc::try_unwrap(spoken)
        .ok()
        .expect("TTS thread done")
        .into_inner()
        .unwrap();
    let audio_s = spoken.samples as f64 / f64::from(rate);
    let first_audio_ms = spoken.chunks.iter().find_map(|c| c.first_audio_ms);
    if args.json {
        let chunks: Vec<_> = spoken
            .chunks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "text": c.text,
                    "ready_ms": c.ready_ms,
                    "first_audio_ms": c.first_audio_ms,
                    "fallback": c.fallback,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "reply": reply,
                "first_token_ms": first_token_ms,
                "first_audio_ms": first_audio_ms,
                "llm_done_ms": llm_done_ms,
                "audio_s": audio_s,
                "chunks": chunks,
                "cancelled": cancel.is_cancelled(),
                "deltas_after_cancel": deltas_after_cancel,
                "error": error.as_ref().map(|e| serde_json::json!({
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
        if let Some(e) = &error {
            eprintln!("hearken: {e}");
        }
    }
    Ok(if error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
