//! `hearken aec-test`: the echo canceller offline over a recording pair.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use hearken::aec::{self, room::RoomSettings, FRAME};
use hearken::audio::{wav, SAMPLE_RATE};

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// What the speaker played (any WAV; converted to 16 kHz mono)
    #[arg(long)]
    far: PathBuf,
    /// What the microphone captured, the echo up to --max-delay-ms behind --far
    #[arg(long, required_unless_present = "room")]
    mic: Option<PathBuf>,
    /// The clean near end (the user alone), if known: the report then separates far-end-only
    /// frames from double talk and measures the damage to the user's voice
    #[arg(long)]
    near: Option<PathBuf>,
    /// Instead of --mic: simulate it as --near (or silence) plus --far through a room
    /// (`delay_ms=100,rt60=0.3,gain_db=-6,noise_dbfs=-65,seed=1`, each optional)
    #[arg(long, conflicts_with = "mic")]
    room: Option<RoomSettings>,
    /// Where the simulated microphone signal is written (with --room)
    #[arg(long, requires = "room")]
    mic_out: Option<PathBuf>,
    /// The cancelled signal
    #[arg(long)]
    out: PathBuf,
    /// The echo's delay; estimated from the recordings (GCC-PHAT) when not given
    #[arg(long)]
    delay_ms: Option<u32>,
    /// The longest delay the estimate considers
    #[arg(long, default_value_t = 300)]
    max_delay_ms: u32,
    /// Seconds of convergence, from the first echo, left out of the numbers
    #[arg(long, default_value_t = 2.0)]
    skip_s: f64,
    /// One JSON object on stdout
    #[arg(long)]
    json: bool,
}

fn read(path: &std::path::Path) -> anyhow::Result<Vec<i16>> {
    Ok(wav::read_16k_i16(path)?)
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let far = read(&args.far)?;
    let near = args.near.as_deref().map(read).transpose()?;
    let mic = match (&args.mic, &args.room) {
        (Some(mic), _) => read(mic)?,
        (None, Some(room)) => {
            let len = near.as_ref().map_or(far.len(), |n| n.len().max(far.len()));
            let mut clean = near.clone().unwrap_or_default();
            clean.resize(len, 0);
            let mic = aec::room::mix(room, &far, &clean);
            if let Some(path) = &args.mic_out {
                wav::write_i16(path, SAMPLE_RATE, 1, &mic)?;
            }
            mic
        }
        (None, None) => unreachable!("clap requires --mic or --room"),
    };
    // The clean near end lined up with the microphone, silence past its end.
    let near = near.map(|mut n| {
        n.resize(mic.len(), 0);
        n
    });
    if mic.len() < FRAME {
        bail!(
            "{}: shorter than one 10 ms frame",
            args.mic.as_ref().unwrap_or(&args.far).display()
        );
    }
    let max_lag = (args.max_delay_ms * SAMPLE_RATE / 1000) as usize;
    let (delay, estimated) = match args.delay_ms {
        Some(ms) => ((ms * SAMPLE_RATE / 1000) as usize, false),
        None => (
            aec::delay::estimate(&far, &mic, max_lag)
                .with_context(|| format!("{} is silent: no echo to find", args.far.display()))?,
            true,
        ),
    };
    let mut canceller = aec::canceller(&ctx.config.aec);
    let (out, spent) = aec::cancel_recording(canceller.as_mut(), &far, &mic, delay);
    wav::write_i16(&args.out, SAMPLE_RATE, 1, &out)?;

    // The echo alone: what the microphone has beyond the clean near end.
    let echo: Vec<i16> = match &near {
        Some(n) => mic
            .iter()
            .enumerate()
            .map(|(i, &m)| m.saturating_sub(n.get(i).copied().unwrap_or(0)))
            .collect(),
        None => mic.clone(),
    };
    let report = aec::measure::report(&mic, &out, &echo, near.as_deref(), args.skip_s);
    let frames = (out.len() / FRAME).max(1);
    let us_per_frame = spent.as_secs_f64() * 1e6 / frames as f64;
    let realtime = us_per_frame / 10_000.0;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "engine": canceller.name(),
                "delay_ms": delay as f64 * 1000.0 / SAMPLE_RATE as f64,
                "delay_estimated": estimated,
                "report": report,
                "us_per_frame": us_per_frame,
                "cpu_realtime_ratio": realtime,
            })
        );
    } else {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} dB"));
        println!(
            "{}: delay {:.1} ms{}; ERLE (far end only, after {} s) {}; double talk: near kept {}, SDR {}; {:.0} µs per 10 ms frame ({:.2}% of real time); wrote {}",
            canceller.name(),
            delay as f64 * 1000.0 / SAMPLE_RATE as f64,
            if estimated { " (estimated)" } else { "" },
            args.skip_s,
            opt(report.erle_db),
            opt(report.near_kept_db),
            opt(report.near_sdr_db),
            us_per_frame,
            realtime * 100.0,
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
