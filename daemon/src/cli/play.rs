//! `hearken play`: a WAV through the daemon's playback ring and thread.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use hearken::audio::{self, Playback, PlaybackSettings};

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Playback device [default: audio.playback_device]
    #[arg(long, short)]
    device: Option<String>,
    /// Device rate [default: audio.playback_rate; 0 = the file's rate]; resampled to it
    #[arg(long)]
    rate: Option<u32>,
    /// Device channels; the (mono) audio is copied to each
    #[arg(long, default_value_t = 1)]
    channels: u32,
    /// WAV file (channels are averaged to mono)
    file: PathBuf,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let wav = audio::wav::read(&args.file)?;
    let samples: Vec<i16> = wav
        .to_mono()
        .iter()
        .map(|&s| audio::wav::f32_to_i16(s))
        .collect();
    let mut settings = PlaybackSettings::from_config(&ctx.config.audio);
    if let Some(d) = args.device {
        settings.device = d;
    }
    if let Some(r) = args.rate {
        settings.rate = r;
    }
    settings.channels = args.channels;
    settings.retry_open = false;
    let mut playback = Playback::start(&settings, wav.sample_rate)?;
    playback.arm();
    let queued = playback.write_blocking(&samples, &AtomicBool::new(false));
    let first = playback.first_write();
    let ended = playback.drain();
    let stats = playback.finish();
    let took = match (first, ended) {
        (Some(a), Some(b)) => format!(", {:.2} s from first write to end", (b - a).as_secs_f64()),
        _ => String::new(),
    };
    eprintln!(
        "played {:.2} s of {} on `{}` ({} Hz, {} ch, {} frames); underruns {}{took}",
        queued as f64 / wav.sample_rate as f64,
        args.file.display(),
        settings.device,
        stats.device_rate,
        stats.device_channels,
        stats.device_frames,
        stats.underruns
    );
    Ok(ExitCode::SUCCESS)
}
