use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use hearken::llm::Chunker;
use hearken::models::ModelStore;
use hearken::tts::{PiperVoice, Synthesizer};

use super::speaker::Speaker;
use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// The text to speak
    text: String,
    /// Write the speech to this WAV file instead of playing it on audio.playback_device
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print timings as JSON: audio_s, first_audio_ms, synth_s
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let cfg = &ctx.config;
    let mut voice = PiperVoice::new(&cfg.tts, &ModelStore::new(&cfg.models))?;
    let rate = voice.sample_rate();

    let mut speaker = Speaker::open(args.out.as_deref(), &cfg.audio, rate)?;
    let start = Instant::now();
    let mut chunker = Chunker::new();
    let mut chunks = chunker.push(&args.text);
    chunks.extend(chunker.finish());
    let mut samples = 0usize;
    let mut first_audio = None;
    for chunk in &chunks {
        voice.synthesize(chunk, &mut |piece| {
            first_audio.get_or_insert_with(|| start.elapsed());
            samples += piece.len();
            speaker.play(piece);
            true
        })?;
    }
    let synth_s = start.elapsed().as_secs_f64();
    let audio_s = samples as f64 / f64::from(rate);
    speaker.finish()?;
    let first_audio_ms = first_audio.map(|d| d.as_secs_f64() * 1000.0);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "audio_s": audio_s,
                "first_audio_ms": first_audio_ms,
                "synth_s": synth_s,
            })
        );
    } else {
        println!(
            "{audio_s:.2} s of speech in {synth_s:.2} s (real-time factor {:.2}), first audio after {:.0} ms",
            synth_s / audio_s.max(1e-9),
            first_audio_ms.unwrap_or(f64::NAN)
        );
    }
    Ok(ExitCode::SUCCESS)
}
