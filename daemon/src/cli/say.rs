use std::path::PathBuf;
use std::process::ExitCode;

use hearken::pipeline::{Outcome, Speech};

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

/// Speaks the text as the daemon speaks an answer: the same chunker, TTS thread and
/// output thread.
pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let cfg = &ctx.config;
    let (spoken, rate) =
        super::speaker::speak(cfg, args.out.as_deref(), Speech::Text(args.text), None)?;
    if let Outcome::Failed(why) = &spoken.outcome {
        anyhow::bail!("{why}");
    }
    let ms = |at: Option<std::time::Instant>| at.map(|t| (t - spoken.start).as_secs_f64() * 1000.0);
    // Synthesis time: until the last chunk was synthesized (a device plays on after that).
    let synth_s = spoken
        .chunks
        .iter()
        .filter_map(|c| c.synthesized)
        .max()
        .map_or(0.0, |t| (t - spoken.start).as_secs_f64());
    let audio_s = spoken.samples as f64 / f64::from(rate);
    let first_audio_ms = ms(spoken.first_tts_audio);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "audio_s": audio_s,
                "first_audio_ms": first_audio_ms,
                "first_sample_ms": ms(spoken.first_sample_written),
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
