//! `hearken check`: one line per item, non-zero exit if anything is wrong. The config was
//! already checked when it loaded (a bad value never gets here); this runs what `run` runs
//! next: the models, the engines, the devices and the LLM.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use alsa::Direction;
use hearken::audio::devices;
use hearken::audio::AudioConfig;
use hearken::config::Config;
use hearken::models::{ModelRef, ModelStore};
use hearken::native;
use hearken::pipeline::{self, Earcons};
use hearken::turn::{SmartTurn, TurnDetector, TurnMode};

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
}

struct Report {
    failures: usize,
}

impl Report {
    fn line(&mut self, status: Status, item: &str, detail: impl std::fmt::Display) {
        let tag = match status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        if status == Status::Fail {
            self.failures += 1;
        }
        println!("{tag}  {item:<40} {detail}");
    }
}

pub fn run(_args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = &ctx.config;
    let mut report = Report { failures: 0 };
    let source = ctx
        .path
        .as_ref()
        .map_or("built-in defaults".to_string(), |p| p.display().to_string());
    let status = if ctx.warnings.is_empty() {
        Status::Ok
    } else {
        Status::Warn
    };
    report.line(
        status,
        "config",
        format!("{source} ({} warning(s))", ctx.warnings.len()),
    );

    match native::onnxruntime() {
        Ok(rt) => report.line(
            Status::Ok,
            "native: sherpa-onnx + onnxruntime",
            format!(
                "sherpa-onnx {} with ONNX Runtime {}, loaded once from {}",
                native::sherpa_version(),
                native::sherpa_onnxruntime_version(),
                rt.path.display()
            ),
        ),
        Err(err) => report.line(Status::Fail, "native: onnxruntime", err),
    }

    let store = ModelStore::new(&config.models);
    let mut models_ok = true;
    for model in config.model_refs() {
        let item = format!("model: {model}");
        match (store.verify(&model), &model) {
            (Ok(dir), ModelRef::Bundle(_)) => {
                report.line(Status::Ok, &item, format!("{} (sha256 ok)", dir.display()))
            }
            (Ok(_), ModelRef::Path(_)) => {
                report.line(Status::Ok, &item, "own model, not in the manifest")
            }
            (Err(err), _) => {
                models_ok = false;
                report.line(Status::Fail, &item, err);
            }
        }
    }
    fetch_command(&mut report, &config.models.fetch_command);

    // What `run` does next: load every engine, then open the devices.
    let voice_rate = if models_ok {
        engines(&mut report, config)
    } else {
        report.line(
            Status::Warn,
            "engines",
            "not loaded: fix the models above first",
        );
        None
    };
    open_devices(&mut report, &config.audio, voice_rate);

    match config.llm.api_key() {
        Ok(key) => {
            let how = if key.is_empty() {
                "no API key (fine for local servers)"
            } else {
                "API key set"
            };
            let (status, detail) = probe(&config.llm.base_url);
            report.line(
                status,
                "llm",
                format!(
                    "{} at {}: {detail}; {how}",
                    config.llm.model, config.llm.base_url
                ),
            );
        }
        Err(err) => report.line(
            Status::Fail,
            "llm: api key file",
            format!("{}: {err}", config.llm.api_key_file.display()),
        ),
    }

    if report.failures == 0 {
        println!("all checks passed");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} check(s) failed", report.failures);
        Ok(ExitCode::FAILURE)
    }
}

/// Loads the engines exactly as `run` does (and the earcons at the voice's rate, as the
/// loop does); returns the voice's sample rate.
fn engines(report: &mut Report, config: &Config) -> Option<u32> {
    let started = Instant::now();
    let engines = match pipeline::build_engines(config) {
        Ok(engines) => engines,
        Err(err) => {
            report.line(Status::Fail, "engines", err);
            return None;
        }
    };
    let rate = engines.tts.sample_rate();
    report.line(
        Status::Ok,
        "engines",
        format!(
            "wake word, VAD, ASR, voice and LLM client loaded in {:.1} s",
            started.elapsed().as_secs_f32()
        ),
    );
    turn_detector(report, config);
    match Earcons::load(&config.pipeline.earcons, rate) {
        Ok(_) => report.line(Status::Ok, "earcons", "loaded"),
        Err(err) => report.line(Status::Fail, "earcons", err),
    }
    Some(rate)
}

/// What ends a turn: in smart mode the Smart Turn model loads (as the listener will load it)
/// and answers once on a second of silence.
fn turn_detector(report: &mut Report, config: &Config) {
    let turn = &config.turn;
    if turn.mode == TurnMode::Silence {
        report.line(
            Status::Ok,
            "turn",
            format!(
                "silence mode: {} ms of silence ends a turn",
                config.vad.min_silence_ms
            ),
        );
        return;
    }
    let store = ModelStore::new(&config.models);
    let result = SmartTurn::new(turn, &store).and_then(|mut model| {
        let started = Instant::now();
        model.verdict(&[0; 16_000])?;
        Ok((model.path().to_owned(), started.elapsed()))
    });
    match result {
        Ok((path, took)) => report.line(
            Status::Ok,
            "turn: smart",
            format!(
                "{} loaded; asked at {} ms pauses, threshold {}, fallback {} ms; one verdict {:.0} ms",
                path.display(),
                turn.pause_ms,
                turn.threshold,
                turn.fallback_ms,
                took.as_secs_f64() * 1000.0
            ),
        ),
        Err(err) => report.line(Status::Fail, "turn: smart", err),
    }
}

/// Opens each configured device once with the configured format. A device that fails is a
/// warning, not a failure: `run` keeps retrying it (a USB microphone plugged in later, or a
/// device the running daemon holds).
fn open_devices(report: &mut Report, audio: &AudioConfig, voice_rate: Option<u32>) {
    let playback_rate = match audio.playback_rate {
        0 => voice_rate.unwrap_or(22_050),
        rate => rate,
    };
    for (item, device, direction, rate) in [
        (
            "capture device",
            &audio.capture_device,
            Direction::Capture,
            audio.sample_rate,
        ),
        (
            "playback device",
            &audio.playback_device,
            Direction::Playback,
            playback_rate,
        ),
    ] {
        match devices::probe(device, direction, audio, rate) {
            Ok(p) => report.line(
                Status::Ok,
                item,
                format!("{device}: {} Hz, {} channel(s)", p.rate, p.channels),
            ),
            Err(err) => report.line(Status::Warn, item, err),
        }
    }
}

/// The command quoted when a model is missing should be one the user can run.
fn fetch_command(report: &mut Report, command: &str) {
    let program = command.split_whitespace().next().unwrap_or("");
    let found = if program.contains('/') {
        Path::new(program).is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
    };
    if found {
        report.line(Status::Ok, "models: fetch command", command);
    } else {
        report.line(
            Status::Warn,
            "models: fetch command",
            format!(
                "`{program}` is not found from here: install the hearken package (hearken-fetch-models), or in the source tree set models.fetch_command = \"models/fetch\""
            ),
        );
    }
}

/// Is anything listening at the URL's host and port? A server that is down is a warning,
/// not a failure: the daemon keeps running and apologises until it comes back.
fn probe(url: &str) -> (Status, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let default_port = if url.starts_with("https") { 443 } else { 80 };
    let target = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let addrs = match target.to_socket_addrs() {
        Ok(addrs) => addrs.collect::<Vec<_>>(),
        Err(err) => return (Status::Warn, format!("cannot resolve {target}: {err}")),
    };
    for addr in &addrs {
        if TcpStream::connect_timeout(addr, Duration::from_secs(2)).is_ok() {
            return (Status::Ok, "reachable".into());
        }
    }
    (
        Status::Warn,
        "not reachable now (start it, e.g. scripts/local-llm start)".into(),
    )
}
