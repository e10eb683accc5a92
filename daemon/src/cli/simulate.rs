//! `hearken simulate`: the daemon's own loop over file-backed ALSA devices.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hearken::audio::{self, filedev::FileDevices, Pacing};
use hearken::hw::simulated::{RecordedLeds, Recording, ScriptedButton};
use hearken::hw::{self, Hw};
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
    /// One JSON object per turn on stdout, with the LED timeline ("leds") around it
    #[arg(long)]
    json: bool,
    /// Press the simulated button at these times of the input (seconds, comma-separated):
    /// a short press each (talk when idle, stop while busy)
    #[arg(long, value_delimiter = ',', value_name = "T", value_parser = seconds)]
    press: Vec<Duration>,
    /// Hold the simulated button down at T for D seconds (T:D, comma-separated); held
    /// past `hw.button.long_press_ms` it is a long press (mute / unmute)
    #[arg(long, value_delimiter = ',', value_name = "T:D", value_parser = hold)]
    hold: Vec<(Duration, Duration)>,
    /// Mix what hearken plays back into the microphone through a simulated room
    /// (comma-separated, each optional: delay_ms=100,rt60=0.3,gain_db=-6,noise_dbfs=-65,
    /// seed=1), so echo cancellation ([aec]) and barge-in by voice can be tried here
    #[arg(long, requires = "realtime", value_name = "ROOM")]
    echo: Option<hearken::aec::room::RoomSettings>,
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("`{text}` is not a time in seconds (e.g. 1.5)"))
}

fn hold(text: &str) -> Result<(Duration, Duration), String> {
    let (at, held) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not T:D (start and duration in seconds)"))?;
    Ok((seconds(at)?, seconds(held)?))
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
    let options = Options {
        echo: pipeline::EchoPath {
            room: args.echo.clone(),
            ..options.echo.clone()
        },
        ..options
    };
    // The simulated board: LEDs recorded, the button pressed at times of the input (the
    // frames the listener has taken), with the timings and patterns of [hw].
    let pipe = pipeline::Pipeline::new();
    let handle = pipe.handle();
    let leds = RecordedLeds::new(1);
    let recording = leds.recording();
    let progress = handle.progress();
    let frame_ms = (hearken::wake::FRAME_SAMPLES * 1000 / 16_000) as u64;
    let input_clock = Box::new(move || Duration::from_millis(progress.listener.get() * frame_ms));
    let edges = ScriptedButton::presses(&args.press, &args.hold);
    let button: Option<Box<dyn hw::Button>> = (!edges.is_empty())
        .then(|| Box::new(ScriptedButton::new(edges, input_clock)) as Box<dyn hw::Button>);
    let board = Hw::start(
        hw::Parts {
            leds: Some(Box::new(leds)),
            button,
        },
        &config.hw,
        &handle,
    )?;

    let json = args.json;
    let printer = Arc::new(Mutex::new(TurnPrinter::new(json, recording)));
    let on_turn = {
        let printer = printer.clone();
        move |report: &pipeline::TurnReport| {
            printer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .turn(report)
        }
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let played = runtime.block_on(pipeline::run_on_devices(
        pipe,
        engines,
        &capture,
        &playback,
        false,
        source_rate,
        options,
        on_turn,
    ));
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    // LEDs off, then the last turn with the LEDs up to the end.
    board.stop();
    printer.lock().unwrap_or_else(|e| e.into_inner()).finish();
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

/// Prints each turn; with `--json`, one object per turn with the LED changes of its window:
/// from the end of the previous turn's window (the start of the run for the first) to the
/// start of the next turn (the end of the run for the last, where the LEDs go off). Each
/// turn is printed once the next one's report (or the end) closes its window; `t_ms` counts
/// from the turn's start, as its timeline does.
struct TurnPrinter {
    json: bool,
    recording: Arc<Mutex<Recording>>,
    /// The LED changes already given to a turn.
    taken: usize,
    pending: Option<(serde_json::Value, Option<Instant>)>,
}

impl TurnPrinter {
    fn new(json: bool, recording: Arc<Mutex<Recording>>) -> Self {
        TurnPrinter {
            json,
            recording,
            taken: 0,
            pending: None,
        }
    }

    fn turn(&mut self, report: &pipeline::TurnReport) {
        if !self.json {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{}", report.pretty());
            let _ = out.flush();
            return;
        }
        let mut value = serde_json::to_value(report).expect("reports serialize");
        value["process"] = serde_json::to_value(pipeline::process_stats()).unwrap();
        if let Some(previous) = self.pending.take() {
            self.print(previous, report.started);
        }
        self.pending = Some((value, report.started));
    }

    fn finish(&mut self) {
        if let Some(last) = self.pending.take() {
            self.print(last, None);
        }
    }

    /// Prints a turn with the LED changes before `until` (all that are left when `None`).
    fn print(
        &mut self,
        (mut value, started): (serde_json::Value, Option<Instant>),
        until: Option<Instant>,
    ) {
        let recording = self.recording.lock().unwrap_or_else(|e| e.into_inner());
        let origin = started.unwrap_or_else(Instant::now);
        let t_ms = |at: Instant| {
            let ms = if at >= origin {
                (at - origin).as_secs_f64()
            } else {
                -(origin - at).as_secs_f64()
            } * 1000.0;
            (ms * 10.0).round() / 10.0
        };
        let mut leds = Vec::new();
        for change in &recording.changes[self.taken..] {
            if until.is_some_and(|u| change.at >= u) {
                break;
            }
            leds.push(serde_json::json!({
                "t_ms": t_ms(change.at),
                "state": change.look.state,
                "pattern": change.look.pattern,
            }));
            self.taken += 1;
        }
        if until.is_none() {
            if let Some(off) = recording.off_at {
                leds.push(serde_json::json!({"t_ms": t_ms(off), "state": null, "pattern": "off"}));
            }
        }
        value["leds"] = serde_json::Value::Array(leds);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }
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
