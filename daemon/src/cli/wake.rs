use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hearken::audio::wav;
use hearken::models::ModelStore;
use hearken::wake::{OpenWakeWord, WakeEngine, WakeWordName, FRAME_SAMPLES};

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// WAV files (any sample rate and channel count; resampled to 16 kHz mono)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Comma-separated words or model paths [default: the config's wake.words]
    #[arg(long, value_delimiter = ',')]
    words: Vec<String>,
    /// One JSON object per file and line: {"file", "detections": [{"word", "time_s",
    /// "score"}], "max_scores": {word: score}}
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let mut cfg = ctx.config.wake.clone();
    if !args.words.is_empty() {
        cfg.words = args.words;
    }
    let store = ModelStore::new(&ctx.config.models);
    let mut engine = OpenWakeWord::with_vad(&cfg, &ctx.config.vad, &store)?;
    for file in &args.files {
        let samples = wav::read_16k_i16(file)?;
        engine.reset();
        let mut detections = Vec::new();
        let mut max_scores: BTreeMap<String, f32> =
            engine.words().into_iter().map(|w| (w, 0.0)).collect();
        // A trailing partial frame is dropped, as openWakeWord's streaming path does.
        for (i, frame) in samples.chunks_exact(FRAME_SAMPLES).enumerate() {
            let found = engine
                .process(frame)
                .with_context(|| format!("wake-word detection over {}", file.display()))?;
            for (word, score) in engine.scores() {
                let max = max_scores.entry(word.clone()).or_default();
                *max = max.max(*score);
            }
            let time_s = ((i + 1) * FRAME_SAMPLES) as f64 / 16000.0;
            detections.extend(found.into_iter().map(|d| (d.word, time_s, d.score)));
        }
        if args.json {
            let detections: Vec<_> = detections
                .iter()
                .map(|(word, time_s, score)| {
                    serde_json::json!({"word": word, "time_s": time_s, "score": score})
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "file": file.display().to_string(),
                    "detections": detections,
                    "max_scores": max_scores,
                })
            );
        } else {
            println!("{}:", file.display());
            for (word, time_s, score) in &detections {
                let word = WakeWordName::from_config(word);
                println!("  \"{word}\" at {time_s:.2} s (score {score:.3})");
            }
            let maxes: Vec<String> = max_scores
                .iter()
                .map(|(w, s)| format!("{w} {s:.3}"))
                .collect();
            println!("  max scores: {}", maxes.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
