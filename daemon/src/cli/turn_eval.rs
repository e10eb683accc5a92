//! `hearken turn-eval DIR` (hidden): how each way of ending a turn does on a set of recorded
//! questions (scripts/turn-pause-fixtures makes them): how many turns it ends before the
//! last word, and how long after the last word it ends the others.
//!
//! For each `--pause-ms P` (default: `[turn] pause_ms`): smart mode asked at P with
//! `[turn] fallback_ms`, and silence mode ending at the same P; then silence mode at
//! `[vad] min_silence_ms`, today's endpoint.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use hearken::audio::wav;
use hearken::models::ModelStore;
use hearken::turn::eval::{self, Endpoint};
use hearken::turn::{SilenceOnly, SmartTurn, TurnDetector};
use hearken::vad::SileroVad;
use serde_json::json;

use super::Ctx;

#[derive(clap::Args)]
pub struct Args {
    /// A directory with fixtures.tsv (file, voice, question, pause ms, speech end s, words)
    dir: PathBuf,
    /// First-pause settings to compare at (ms); repeatable
    #[arg(long = "pause-ms")]
    pause_ms: Vec<u32>,
    /// One JSON object per setting and line instead of the table
    #[arg(long)]
    json: bool,
}

struct Clip {
    file: String,
    paused: bool,
    /// Sample after the last word.
    speech_end: u64,
    audio: Vec<i16>,
}

/// One group of clips (paused or said in one go) under one setting.
#[derive(Default)]
struct Tally {
    clips: usize,
    cut_early: Vec<String>,
    never_ended: Vec<String>,
    /// Last word -> turn ended, ms, for turns not cut early.
    decisions: Vec<f64>,
}

impl Tally {
    fn median(&self) -> Option<f64> {
        let mut d = self.decisions.clone();
        d.sort_by(f64::total_cmp);
        match d.len() {
            0 => None,
            n if n % 2 == 1 => Some(d[n / 2]),
            n => Some((d[n / 2 - 1] + d[n / 2]) / 2.0),
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "clips": self.clips,
            "cut_early": self.cut_early.len(),
            "cut_early_rate": self.cut_early.len() as f64 / self.clips.max(1) as f64,
            "never_ended": self.never_ended.len(),
            "median_decision_ms": self.median(),
            "max_decision_ms": self.decisions.iter().copied().fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d)))),
            "cut_early_clips": self.cut_early,
        })
    }
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let config = &ctx.config;
    let store = ModelStore::new(&config.models);
    let clips = load(&args.dir)?;
    let mut vad = SileroVad::new(&config.vad, &store)?;
    let mut smart = SmartTurn::new(&config.turn, &store)?;
    let pauses = if args.pause_ms.is_empty() {
        vec![config.turn.pause_ms]
    } else {
        args.pause_ms.clone()
    };
    let mut endpoints = Vec::new();
    for &pause_ms in &pauses {
        endpoints.push(Endpoint::Smart {
            pause_ms,
            fallback_ms: config.turn.fallback_ms,
        });
        endpoints.push(Endpoint::Silence { ms: pause_ms });
    }
    endpoints.push(Endpoint::Silence {
        ms: config.vad.min_silence_ms,
    });
    if !args.json {
        println!(
            "{} clips ({} with a pause); threshold {}; cut early = ended before the last word; decision = last word -> turn ended",
            clips.len(),
            clips.iter().filter(|c| c.paused).count(),
            config.turn.threshold
        );
        println!(
            "{:<36} {:>16} {:>13} {:>16} {:>13} {:>8}",
            "setting", "paused cut early", "paused p50", "one-go cut early", "one-go p50", "no end"
        );
    }
    let mut verdict_times: Vec<Duration> = Vec::new();
    for endpoint in endpoints {
        let (mut paused, mut whole) = (Tally::default(), Tally::default());
        for clip in &clips {
            let detector: &mut dyn TurnDetector = match endpoint {
                Endpoint::Smart { .. } => &mut smart,
                Endpoint::Silence { .. } => &mut SilenceOnly,
            };
            let end = eval::walk(&clip.audio, &mut vad, detector, endpoint)
                .with_context(|| format!("{} with {endpoint}", clip.file))?;
            verdict_times.extend(&end.verdict_times);
            let tally = if clip.paused { &mut paused } else { &mut whole };
            tally.clips += 1;
            match end.sample {
                None => tally.never_ended.push(clip.file.clone()),
                Some(s) if s < clip.speech_end => tally.cut_early.push(clip.file.clone()),
                Some(s) => tally.decisions.push((s - clip.speech_end) as f64 / 16.0),
            }
        }
        if args.json {
            println!(
                "{}",
                json!({"setting": endpoint.to_string(), "endpoint": endpoint_json(endpoint),
                       "paused": paused.json(), "unpaused": whole.json()})
            );
        } else {
            let ms = |m: Option<f64>| m.map_or("-".into(), |m| format!("{m:.0} ms"));
            println!(
                "{:<36} {:>16} {:>13} {:>16} {:>13} {:>8}",
                endpoint.to_string(),
                format!("{}/{}", paused.cut_early.len(), paused.clips),
                ms(paused.median()),
                format!("{}/{}", whole.cut_early.len(), whole.clips),
                ms(whole.median()),
                paused.never_ended.len() + whole.never_ended.len()
            );
        }
    }
    let mut ms: Vec<f64> = verdict_times
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    if let (Some(&p50), Some(&max)) = (ms.get(ms.len() / 2), ms.last()) {
        let line = json!({"verdicts": ms.len(), "verdict_p50_ms": p50, "verdict_max_ms": max,
                          "threads": config.turn.threads});
        if args.json {
            println!("{line}");
        } else {
            println!(
                "Smart Turn: {} verdicts, p50 {p50:.1} ms, max {max:.1} ms per call ({} thread(s), features included)",
                ms.len(),
                config.turn.threads
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn endpoint_json(endpoint: Endpoint) -> serde_json::Value {
    match endpoint {
        Endpoint::Silence { ms } => json!({"mode": "silence", "silence_ms": ms}),
        Endpoint::Smart {
            pause_ms,
            fallback_ms,
        } => json!({"mode": "smart", "pause_ms": pause_ms, "fallback_ms": fallback_ms}),
    }
}

fn load(dir: &Path) -> anyhow::Result<Vec<Clip>> {
    let list = dir.join("fixtures.tsv");
    let text =
        std::fs::read_to_string(&list).with_context(|| format!("reading {}", list.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let bad = || {
                format!(
                    "{}:{}: expected file, voice, question, pause ms, speech end s, words",
                    list.display(),
                    i + 1
                )
            };
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 5 {
                anyhow::bail!(bad());
            }
            let pause_ms: u32 = f[3].parse().with_context(bad)?;
            let end_s: f64 = f[4].parse().with_context(bad)?;
            let path = dir.join(f[0]);
            Ok(Clip {
                file: f[0].to_string(),
                paused: pause_ms > 0,
                speech_end: (end_s * 16_000.0).round() as u64,
                audio: wav::read_16k_i16(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
            })
        })
        .collect()
}
