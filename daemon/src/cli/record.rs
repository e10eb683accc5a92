//! `hearken record`: capture through the daemon's capture thread and ring into a WAV.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hearken::audio::{self, Capture, CaptureSettings, Pacing, SAMPLE_RATE};

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Capture device [default: audio.capture_device]
    #[arg(long, short)]
    device: Option<String>,
    /// Stop after this many seconds (or earlier, when a file-backed input ends)
    #[arg(long, short, default_value_t = 5.0)]
    seconds: f64,
    /// WAV file to write (16 kHz mono, 16-bit)
    #[arg(long, short)]
    out: PathBuf,
    /// Rate to ask of the device [default: audio.sample_rate]; converted to 16 kHz
    #[arg(long)]
    rate: Option<u32>,
    /// Channels to ask of the device [default: audio.channels]; the first is kept
    #[arg(long)]
    channels: Option<u32>,
    /// The capture device is file-backed and this is its raw input: end with the file
    /// (alsa's file plugin reads silence past its end)
    #[arg(long)]
    input_raw: Option<PathBuf>,
    /// device | realtime | unpaced [default: audio.capture_pacing]
    #[arg(long, value_parser = parse_pacing)]
    pacing: Option<Pacing>,
}

fn parse_pacing(s: &str) -> Result<Pacing, String> {
    match s {
        "device" => Ok(Pacing::Device),
        "realtime" => Ok(Pacing::Realtime),
        "unpaced" => Ok(Pacing::Unpaced),
        _ => Err(format!("`{s}`: expected device, realtime or unpaced")),
    }
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let mut settings = CaptureSettings::from_config(&ctx.config.audio);
    if let Some(d) = args.device {
        settings.device = d;
    }
    if let Some(r) = args.rate {
        settings.rate = r;
    }
    if let Some(c) = args.channels {
        settings.channels = c;
    }
    if let Some(p) = args.pacing {
        settings.pacing = p;
    }
    if let Some(raw) = &args.input_raw {
        let bytes = std::fs::metadata(raw)
            .with_context(|| format!("--input-raw {}", raw.display()))?
            .len();
        settings.end_after_frames = Some(bytes / (2 * settings.channels.max(1) as u64));
    }
    settings.retry_open = false;
    let wanted = (args.seconds.max(0.0) * SAMPLE_RATE as f64).round() as usize;
    let mut capture = Capture::start(&settings)?;
    let mut samples = vec![0i16; wanted];
    let got = capture.read_blocking(&mut samples);
    samples.truncate(got);
    let stats = capture.stop();
    audio::wav::write_i16(&args.out, SAMPLE_RATE, 1, &samples)
        .with_context(|| format!("saving the recording from `{}`", settings.device))?;
    eprintln!(
        "recorded {:.2} s from `{}` ({} Hz, {} ch) into {}; overruns {}, dropped {}, \
         capture thread CPU {:.3} ms",
        got as f64 / SAMPLE_RATE as f64,
        settings.device,
        stats.device_rate,
        stats.device_channels,
        args.out.display(),
        stats.xruns,
        stats.dropped,
        stats.thread_cpu.as_secs_f64() * 1000.0
    );
    Ok(ExitCode::SUCCESS)
}
