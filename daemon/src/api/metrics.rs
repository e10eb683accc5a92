//! `GET /metrics`: Prometheus text, from the notices the loop broadcasts and the devices'
//! own counters.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::Api;
use crate::pipeline::{Notice, TimelineMs};

/// Upper bounds of the latency histograms' buckets, in seconds.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, n) in BUCKETS.iter().zip(&mut self.counts) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// What the notices add up to.
#[derive(Default)]
pub struct Counts {
    turns: BTreeMap<&'static str, u64>,
    stages: BTreeMap<&'static str, Histogram>,
    wakes: BTreeMap<String, u64>,
    false_starts: u64,
    barge_ins: u64,
    llm_errors: BTreeMap<&'static str, u64>,
    errors: u64,
}

impl Counts {
    pub fn turns(&self) -> u64 {
        self.turns.values().sum()
    }

    pub fn count(&mut self, notice: &Notice) {
        match notice {
            Notice::TurnStarted {
                wake_word: Some(word),
                ..
            } => *self.wakes.entry(word.clone()).or_default() += 1,
            Notice::Turn { report } => {
                *self.turns.entry(report.outcome()).or_default() += 1;
                // A wake (or press) that led to no question.
                self.false_starts += u64::from(report.no_speech);
                self.barge_ins += u64::from(report.interrupted);
                for (stage, ms) in stages(&report.timeline) {
                    if let Some(ms) = ms {
                        self.stages
                            .entry(stage)
                            .or_default()
                            .observe(ms.max(0.0) / 1000.0);
                    }
                }
            }
            Notice::LlmError { kind, .. } => *self.llm_errors.entry(kind).or_default() += 1,
            Notice::Error { .. } => self.errors += 1,
            _ => {}
        }
    }
}

fn stages(t: &TimelineMs) -> [(&'static str, Option<f64>); 7] {
    [
        ("turn_decision", t.turn_decision_ms),
        ("asr", t.asr_ms),
        ("llm_first_token", t.llm_ms),
        ("first_sentence", t.first_sentence_ms),
        ("tts", t.tts_ms),
        ("response", t.response_ms),
        ("pipeline_overhead", t.pipeline_overhead_ms),
    ]
}

pub async fn get(State(api): State<Api>) -> impl IntoResponse {
    let mut out = String::new();
    {
        let seen = api.seen.lock().unwrap_or_else(|e| e.into_inner());
        render(&mut out, &seen.metrics);
    }
    let state = *api.handle.state().borrow();
    family(
        &mut out,
        "hearken_state",
        "gauge",
        "1 for the loop's current state.",
    );
    let _ = writeln!(out, "hearken_state{{state=\"{}\"}} 1", state_name(state));
    if let Some(devices) = api.handle.devices() {
        let (c, p) = (devices.capture.stats(), devices.playback.stats());
        family(
            &mut out,
            "hearken_device_reopens_total",
            "counter",
            "Audio devices reopened after an outage.",
        );
        let _ = writeln!(
            out,
            "hearken_device_reopens_total{{device=\"capture\"}} {}",
            c.reopens
        );
        let _ = writeln!(
            out,
            "hearken_device_reopens_total{{device=\"playback\"}} {}",
            p.reopens
        );
        family(
            &mut out,
            "hearken_xruns_total",
            "counter",
            "ALSA overruns (capture) and underruns (playback) recovered.",
        );
        let _ = writeln!(out, "hearken_xruns_total{{device=\"capture\"}} {}", c.xruns);
        let _ = writeln!(
            out,
            "hearken_xruns_total{{device=\"playback\"}} {}",
            p.underruns
        );
    }
    let stats = crate::pipeline::process_stats();
    family(
        &mut out,
        "hearken_resident_memory_bytes",
        "gauge",
        "The daemon's resident set size.",
    );
    let _ = writeln!(out, "hearken_resident_memory_bytes {}", stats.rss_kb * 1024);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

fn state_name(state: crate::pipeline::State) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn render(out: &mut String, c: &Counts) {
    family(
        out,
        "hearken_turns_total",
        "counter",
        "Turns finished, by outcome.",
    );
    for outcome in ["answered", "interrupted", "fallback", "error", "no_speech"] {
        let n = c.turns.get(outcome).copied().unwrap_or(0);
        let _ = writeln!(out, "hearken_turns_total{{outcome=\"{outcome}\"}} {n}");
    }
    family(
        out,
        "hearken_wake_detections_total",
        "counter",
        "Turns started by each wake word.",
    );
    for (word, n) in &c.wakes {
        let _ = writeln!(
            out,
            "hearken_wake_detections_total{{word=\"{}\"}} {n}",
            escape(word)
        );
    }
    family(
        out,
        "hearken_false_starts_total",
        "counter",
        "Turns started that heard no question.",
    );
    let _ = writeln!(out, "hearken_false_starts_total {}", c.false_starts);
    family(
        out,
        "hearken_barge_ins_total",
        "counter",
        "Answers cut off by the user.",
    );
    let _ = writeln!(out, "hearken_barge_ins_total {}", c.barge_ins);
    family(
        out,
        "hearken_llm_errors_total",
        "counter",
        "LLM failures, by class.",
    );
    for class in [
        "unreachable",
        "auth",
        "rate_limited",
        "timeout",
        "malformed",
    ] {
        let n = c.llm_errors.get(class).copied().unwrap_or(0);
        let _ = writeln!(out, "hearken_llm_errors_total{{class=\"{class}\"}} {n}");
    }
    family(
        out,
        "hearken_engine_errors_total",
        "counter",
        "Listening engine failures (wake word, VAD, ASR).",
    );
    let _ = writeln!(out, "hearken_engine_errors_total {}", c.errors);
    family(
        out,
        "hearken_stage_latency_seconds",
        "histogram",
        "Per-stage latency of each turn, from its timeline.",
    );
    for (stage, h) in &c.stages {
        for (bound, n) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(
                out,
                "hearken_stage_latency_seconds_bucket{{stage=\"{stage}\",le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "hearken_stage_latency_seconds_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "hearken_stage_latency_seconds_sum{{stage=\"{stage}\"}} {}",
            h.sum
        );
        let _ = writeln!(
            out,
            "hearken_stage_latency_seconds_count{{stage=\"{stage}\"}} {}",
            h.count
        );
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
