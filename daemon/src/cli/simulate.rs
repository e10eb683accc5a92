//! `hearken simulate`: the daemon's own loop over file-backed ALSA devices.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hearken::audio::{self, filedev::FileDevices, Pacing};
use hearken::pipeline::{self, Options};

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// The conversation: a recording (any WAV; converted to 16 kHz mono)
    #[arg(long)]
    input: PathBuf,
    /// Where everything played (answers and earcons) is written
    #[arg(long, default_value = "reply.wav")]
    out: PathBuf,
    /// Feed the input and play the answers at real-time speed, overlapping as with a live
    /// microphone (barge-in, latency). Without it the input goes as fast as the engines
    /// take it and is held while hearken answers, as if the user waited.
    #[arg(long)]
    realtime: bool,
    /// One JSON object per turn on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = &ctx.config;
    let input = audio::wav::read_16k_i16(&args.input)?;
    let work = WorkDir::create()?;
    let input_raw = work.path().join("input.raw");
    let output_raw = work.path().join("output.raw");
    audio::filedev::write_raw(&input_raw, &input)
        .with_context(|| format!("cannot write {}", input_raw.display()))?;
    let devices = FileDevices::create(work.path(), Some(&input_raw), &output_raw)?;
    // Before any thread exists: alsa-lib reads ALSA_CONFIG_PATH once.
    devices.activate();

    let engines = pipeline::build_engines(config)?;
    let source_rate = engines.tts.sample_rate();
    let mut capture = devices.capture_settings(&config.audio);
    capture.retry_open = false;
    capture.pacing = if args.realtime {
        Pacing::Realtime
    } else {
        Pacing::Unpaced
    };
    let mut playback = devices.playback_settings(&config.audio);
    playback.retry_open = false;
    // A file-backed speaker plays instantly; at real time, flushes and timings are a
    // speaker's.
    playback.paced = args.realtime;
    let options = Options {
        hold_while_busy: !args.realtime,
        stop_at_end_of_input: true,
        ..pipeline::options(config)
    };
    let json = args.json;
    let on_turn = move |report: &pipeline::TurnReport| {
        let mut out = std::io::stdout().lock();
        if json {
            let mut value = serde_json::to_value(report).expect("reports serialize");
            value["process"] = serde_json::to_value(pipeline::process_stats()).unwrap();
            let _ = writeln!(out, "{value}");
        } else {
            let _ = write!(out, "{}", report.pretty());
        }
        let _ = out.flush();
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let played = runtime.block_on(pipeline::run_on_devices(
        pipeline::Pipeline::new(),
        engines,
        &capture,
        &playback,
        false,
        source_rate,
        options,
        on_turn,
    ));
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    let played = played?;
    let samples = audio::filedev::read_raw(&output_raw)
        .with_context(|| format!("cannot read {}", output_raw.display()))?;
    let rate = if played.device_rate > 0 {
        played.device_rate
    } else {
        source_rate
    };
    let channels = played.device_channels.max(1);
    audio::wav::write_i16(&args.out, rate, channels as u16, &samples)?;
    log::info!(
        "{} turn(s); everything played is in {} ({:.1} s)",
        played.summary.turns.len(),
        args.out.display(),
        samples.len() as f64 / rate as f64 / channels as f64
    );
    if !json {
        println!("reply audio: {}", args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The file-backed devices' directory, removed when done.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> anyhow::Result<WorkDir> {
        let dir = std::env::temp_dir().join(format!("hearken-simulate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| {
            format!(
                "cannot create {} for the file-backed devices",
                dir.display()
            )
        })?;
        Ok(WorkDir(dir))
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
