//! `hearken transcribe FILE.wav...`: runs the configured recognizer over files as the daemon
//! would (80 ms frames; streaming partials or VAD segments), one result per file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use hearken::asr::transcript::{self, Final, Partial};
use hearken::asr::{self, ModelFiles, Recognizer};
use hearken::audio::{wav, SAMPLE_RATE};
use hearken::models::ModelStore;
use serde::Serialize;

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// WAV files (any rate or channel count; resampled to 16 kHz mono)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON object per file: {"file","text","partials":[{"t_ms","text"}],
    /// "finals":[{"t_ms","text","lag_ms"}],"audio_s","decode_s"}
    #[arg(long)]
    json: bool,
    /// Model bundle instead of asr.model
    #[arg(long)]
    model: Option<String>,
    /// Inference threads instead of asr.threads (1..64, as the config allows)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: Option<u32>,
    /// Offline models: decode each file whole, without VAD segments (no partials)
    #[arg(long)]
    whole: bool,
}

#[derive(Serialize)]
struct Transcript {
    file: String,
    text: String,
    partials: Vec<Partial>,
    finals: Vec<Final>,
    audio_s: f64,
    decode_s: f64,
}

enum Engine {
    Live(Box<dyn Recognizer>),
    Whole(asr::OfflineEngine),
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let mut cfg = ctx.config.asr.clone();
    if let Some(model) = args.model {
        cfg.model = model;
    }
    if let Some(threads) = args.threads {
        cfg.threads = threads;
    }
    let store = ModelStore::new(&ctx.config.models);
    let mut engine = if args.whole {
        let files = ModelFiles::resolve(&cfg.model_ref(), &store)?;
        Engine::Whole(asr::OfflineEngine::new(&cfg, &files)?)
    } else {
        Engine::Live(asr::build(&cfg, &ctx.config.vad, &store)?)
    };
    for file in &args.files {
        let samples = wav::read_mono(file, SAMPLE_RATE)
            .with_context(|| format!("reading {}", file.display()))?;
        let t = Instant::now();
        let (text, partials, finals) = match &mut engine {
            Engine::Whole(e) => {
                let text = e.decode(&samples);
                let lag_ms = t.elapsed().as_secs_f64() * 1e3;
                let t_ms = samples.len() as u64 * 1000 / SAMPLE_RATE as u64;
                let finals = vec![Final {
                    t_ms,
                    text: text.clone(),
                    lag_ms,
                }];
                (text, Vec::new(), finals)
            }
            Engine::Live(r) => {
                let t = transcript::transcribe(r.as_mut(), &samples)?;
                (t.text, t.partials, t.finals)
            }
        };
        let out = Transcript {
            file: file.display().to_string(),
            text,
            partials,
            finals,
            audio_s: samples.len() as f64 / SAMPLE_RATE as f64,
            decode_s: t.elapsed().as_secs_f64(),
        };
        if args.json {
            println!("{}", serde_json::to_string(&out)?);
        } else {
            println!("{}: {}", out.file, out.text);
        }
    }
    Ok(ExitCode::SUCCESS)
}
