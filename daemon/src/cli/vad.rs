use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hearken::audio::wav;
use hearken::models::ModelStore;
use hearken::vad::{self, SileroVad};

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// WAV files (any sample rate and channel count; resampled to 16 kHz mono)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON object per file and line: {"file", "segments": [{"start_s", "end_s"}]}
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let store = ModelStore::new(&ctx.config.models);
    let mut detector = SileroVad::new(&ctx.config.vad, &store)?;
    for file in &args.files {
        let samples = wav::read_16k_i16(file)?;
        let segments = vad::segments(&mut detector, &samples)
            .with_context(|| format!("VAD over {}", file.display()))?;
        let secs = |s: u64| s as f64 / 16000.0;
        if args.json {
            let segments: Vec<_> = segments
                .iter()
                .map(|&(s, e)| serde_json::json!({"start_s": secs(s), "end_s": secs(e)}))
                .collect();
            println!(
                "{}",
                serde_json::json!({"file": file.display().to_string(), "segments": segments})
            );
        } else {
            println!("{}:", file.display());
            for (s, e) in segments {
                println!("  speech {:8.3} s - {:8.3} s", secs(s), secs(e));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
