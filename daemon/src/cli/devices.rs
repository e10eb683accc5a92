//! `hearken devices`: ALSA PCMs, each tested for the configured capture/playback format.

use std::process::ExitCode;

use hearken::audio::devices::{self, DeviceReport, Probe};
use hearken::audio::AudioError;

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// Test only this device (any name ALSA accepts) instead of listing them all
    #[arg(long, short)]
    device: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let mut cfg = ctx.config.audio.clone();
    if let Some(d) = &args.device {
        cfg.capture_device = d.clone();
        cfg.playback_device = d.clone();
    }
    let reports = devices::list(&cfg);
    let reports: Vec<&DeviceReport> = match &args.device {
        Some(d) => reports.iter().filter(|r| &r.name == d).collect(),
        None => reports.iter().collect(),
    };
    println!(
        "Tested for capture {} Hz, {} ch; playback {} Hz mono; {} ms periods x {}.",
        cfg.sample_rate,
        cfg.channels,
        if cfg.playback_rate == 0 {
            22_050
        } else {
            cfg.playback_rate
        },
        cfg.period_ms,
        cfg.periods
    );
    let mut usable = 0;
    for r in &reports {
        println!("{}  {}", r.name, r.description);
        for (label, result) in [("capture ", &r.capture), ("playback", &r.playback)] {
            if let Some(result) = result {
                usable += result.is_ok() as usize;
                println!("    {label}  {}", describe(result));
            }
        }
    }
    if usable == 0 {
        eprintln!("hearken: no device accepts the configured format");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(result: &Result<Probe, AudioError>) -> String {
    match result {
        Ok(p) => format!(
            "ok    {} Hz, {} ch, period {} frames, buffer {} frames",
            p.rate, p.channels, p.period_frames, p.buffer_frames
        ),
        Err(e) => format!("no    {}", reason(e)),
    }
}

/// Why a device failed, short enough for a listing (the full errors name the device and
/// the config key, which the listing already shows).
fn reason(e: &AudioError) -> String {
    match e {
        AudioError::Busy { .. } => {
            "busy: another program holds it (share it through dsnoop/dmix, see hardware-notes.md)"
                .into()
        }
        AudioError::NotFound { source, .. } => format!("cannot open ({source})"),
        AudioError::Unsupported { what, .. } => format!("cannot do {what}"),
        other => other.to_string(),
    }
}
