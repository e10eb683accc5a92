//! The talk button and the LEDs end to end: `hearken simulate --press / --hold` with the
//! real models, the real llama.cpp server (scripts/local-llm) and file-backed ALSA devices.
//! The simulated button is pressed at times of the input; the recorded LED timeline comes
//! back per turn in `--json`. Input runs at real time (`--realtime`) so that a press lands
//! where it is meant to in the conversation, as on a live device.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use common::{hearken, llm_url, repo_root, text, write_config};
use hearken::audio::wav;
use serde_json::Value;

/// The tests share two cores and one LLM server: one conversation at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

enum Part {
    Say(&'static str),
    Silence(f32),
}

/// A conversation recording; also where each part starts and ends (seconds).
fn conversation(dir: &Path, parts: &[Part]) -> (PathBuf, Vec<(f32, f32)>) {
    let mut samples = Vec::new();
    let mut spans = Vec::new();
    for part in parts {
        let start = samples.len() as f32 / 16_000.0;
        match part {
            Part::Say(name) => {
                let path = repo_root().join(format!("daemon/tests/fixtures/loop/{name}.wav"));
                samples.extend(wav::read_16k_i16(&path).unwrap());
            }
            Part::Silence(s) => samples.extend(std::iter::repeat_n(0i16, (s * 16_000.0) as usize)),
        }
        spans.push((start, samples.len() as f32 / 16_000.0));
    }
    let path = dir.join("conversation.wav");
    wav::write_i16(&path, 16_000, 1, &samples).unwrap();
    (path, spans)
}

fn simulate(dir: &Path, config: &str, input: &Path, button: &[&str]) -> Vec<Value> {
    let config = write_config(dir, config);
    let reply = dir.join("reply.wav");
    let mut cmd = hearken();
    cmd.args(["--config", config.to_str().unwrap(), "simulate", "--json"])
        .args(["--input", input.to_str().unwrap()])
        .args(["--out", reply.to_str().unwrap(), "--realtime"])
        .args(button);
    let out = cmd.output().expect("hearken runs");
    eprintln!("{}", text(&out.stderr));
    assert!(
        out.status.success(),
        "simulate failed\nstdout:\n{}",
        text(&out.stdout)
    );
    let turns: Vec<Value> = common::json_lines(&out.stdout);
    for t in &turns {
        eprintln!("{t}");
    }
    turns
}

fn config(llm: &str, extra: &str) -> String {
    format!(
        "[llm]\nbase_url = \"{llm}\"\nmax_tokens = 48\n[service]\nlog_target = \"stderr\"\n\
         [pipeline]\nfollow_up_ms = 0\n{extra}"
    )
}

fn transcript(turn: &Value) -> String {
    turn["transcript"].as_str().unwrap().to_lowercase()
}

fn reply(turn: &Value) -> &str {
    turn["reply"].as_str().unwrap()
}

fn ms(turn: &Value, key: &str) -> f64 {
    turn["timeline"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key} in {turn}"))
}

/// Whisper writes "two plus two" as "2+2" or "2 plus 2".
fn asks_two_plus_two(turn: &Value) -> bool {
    let t = transcript(turn).replace(' ', "");
    t.contains("2+2") || t.contains("twoplustwo") || t.contains("2plus2")
}

/// The turn's LED changes: (t_ms, pattern).
fn leds(turn: &Value) -> Vec<(f64, String)> {
    turn["leds"]
        .as_array()
        .unwrap_or_else(|| panic!("no leds in {turn}"))
        .iter()
        .map(|l| {
            (
                l["t_ms"].as_f64().unwrap(),
                l["pattern"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn patterns(turn: &Value) -> Vec<String> {
    leds(turn).into_iter().map(|(_, p)| p).collect()
}

/// `want` appears in `have` in this order (other changes may come between).
fn in_order(have: &[String], want: &[&str]) -> bool {
    let mut it = have.iter();
    want.iter().all(|w| it.any(|h| h == w))
}

/// The first change to `pattern` at or after `from_ms`.
fn change_to(turn: &Value, pattern: &str, from_ms: f64) -> f64 {
    leds(turn)
        .into_iter()
        .find(|(t, p)| p == pattern && *t >= from_ms)
        .unwrap_or_else(|| panic!("no change to {pattern} after {from_ms} ms in {turn}"))
        .0
}

/// One animation frame at the default 30 fps, and what a loaded two-core machine adds
/// between a stage's own stamp and the controller's state change (the stamp comes first).
const FRAME_MS: f64 = 1000.0 / 30.0;
const SLACK_MS: f64 = 100.0;

#[test]
fn a_press_starts_a_turn_without_a_wake_word_and_the_leds_follow_it() {
    let _serial = serial();
    let url = llm_url();
    let dir = tempfile::tempdir().unwrap();
    // "And what about Germany?": no wake word anywhere.
    let (input, _) = conversation(
        dir.path(),
        &[Part::Silence(2.0), Part::Say("germany"), Part::Silence(1.0)],
    );
    let turns = simulate(dir.path(), &config(&url, ""), &input, &["--press", "0.3"]);
    assert_eq!(turns.len(), 1, "{turns:?}");
    let turn = &turns[0];
    assert_eq!(turn["trigger"], "button", "{turn}");
    assert!(turn["wake_word"].is_null());
    assert!(transcript(turn).contains("germany"), "{turn}");
    assert!(!reply(turn).is_empty(), "{turn}");
    assert_eq!(turn["interrupted"], false);

    // Every state the turn went through, in order, then off at the end.
    let p = patterns(turn);
    assert!(
        in_order(
            &p,
            &["idle", "listening", "thinking", "speaking", "idle", "off"]
        ),
        "{p:?}"
    );
    assert_eq!(p.last().map(String::as_str), Some("off"));
    // Each change lands within a frame (plus the controller's hop) of the stage that
    // caused it.
    for (pattern, stage) in [
        ("listening", "wake_ms"),
        ("thinking", "asr_final_ms"),
        ("speaking", "first_sample_written_ms"),
        ("idle", "playback_end_ms"),
    ] {
        let stamp = ms(turn, stage);
        let shown = change_to(turn, pattern, stamp - 1.0);
        assert!(
            shown - stamp <= FRAME_MS + SLACK_MS,
            "{pattern} shown at {shown} ms, {stage} at {stamp} ms: {turn}"
        );
    }
}

#[test]
fn a_press_during_the_answer_stops_it_and_the_next_turn_works() {
    let _serial = serial();
    let url = llm_url();
    let dir = tempfile::tempdir().unwrap();
    let (input, spans) = conversation(
        dir.path(),
        &[
            Part::Say("alexa_story"),
            Part::Silence(9.0),
            Part::Say("alexa_sum"),
            Part::Silence(3.0),
        ],
    );
    // A long answer; the press comes 2.5 s after the question, while it is thought about
    // or spoken (a press is acted on once the double-press window has closed: +0.5 s).
    let press = format!("{:.2}", spans[0].1 + 2.5);
    let cfg = config(&url, "").replace("max_tokens = 48", "max_tokens = 300");
    let turns = simulate(dir.path(), &cfg, &input, &["--press", &press]);
    assert_eq!(turns.len(), 2, "{turns:?}");
    let (story, sum) = (&turns[0], &turns[1]);
    assert!(transcript(story).contains("dragon"), "{story}");
    assert_eq!(story["trigger"], "wake");
    assert_eq!(story["interrupted"], true, "the press cut it: {story}");
    // Stopped, not barged into: no turn of the button's own, the LEDs went back to idle
    // while the answer was cut.
    let p = patterns(story);
    assert!(in_order(&p, &["listening", "thinking", "idle"]), "{p:?}");
    // The next turn, by wake word, is answered in full.
    assert!(asks_two_plus_two(sum), "{sum}");
    assert_eq!(sum["wake_word"], "alexa");
    assert_eq!(sum["interrupted"], false, "{sum}");
    assert!(!reply(sum).is_empty(), "{sum}");
    let p = patterns(sum);
    assert!(
        in_order(&p, &["listening", "thinking", "speaking", "idle", "off"]),
        "{p:?}"
    );
}

#[test]
fn a_long_press_mutes_and_another_unmutes() {
    let _serial = serial();
    let url = llm_url();
    let dir = tempfile::tempdir().unwrap();
    let (input, spans) = conversation(
        dir.path(),
        &[
            Part::Silence(2.0),
            Part::Say("alexa_capital"),
            Part::Silence(2.2),
            Part::Say("alexa_sum"),
            Part::Silence(2.0),
        ],
    );
    // Held 1.4 s (a long press at 1 s): mute before "alexa, what is the capital of
    // France?", unmute after it, before "alexa, what is two plus two?".
    let unmute_at = spans[1].1 + 0.2;
    assert!(unmute_at + 1.0 < spans[3].0);
    let holds = format!("0.3:1.4,{unmute_at:.2}:1.4");
    let turns = simulate(dir.path(), &config(&url, ""), &input, &["--hold", &holds]);
    // The wake word while muted started nothing.
    assert_eq!(turns.len(), 1, "{turns:?}");
    let sum = &turns[0];
    assert!(asks_two_plus_two(sum), "{sum}");
    assert_eq!(sum["wake_word"], "alexa");
    assert!(!reply(sum).is_empty(), "{sum}");
    let p = patterns(sum);
    assert!(
        in_order(
            &p,
            &[
                "idle",
                "muted",
                "idle",
                "listening",
                "thinking",
                "speaking",
                "idle",
                "off"
            ]
        ),
        "{p:?}"
    );
    // Muted exactly once, and for the whole of the first question.
    assert_eq!(p.iter().filter(|p| *p == "muted").count(), 1, "{p:?}");
}

#[test]
fn gpio_backends_without_gpio_stop_run_at_start_with_the_device_and_the_fix() {
    let model = std::fs::read_to_string("/proc/device-tree/model").unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    for (backend, device, fix) in [
        ("rppal", "/dev/gpiomem", "`gpio` group"),
        ("cdev", "/dev/gpiochip0", "hw.backend = \"none\""),
        ("apa102", "/dev/spidev0.0", "`spi` group"),
    ] {
        if Path::new(device).exists() || (backend == "rppal" && model.contains("Raspberry Pi")) {
            eprintln!("{device} exists here: not testing {backend}'s failure");
            continue;
        }
        let config = write_config(
            dir.path(),
            &format!("[service]\nlog_target = \"stderr\"\n[hw]\nbackend = \"{backend}\"\n"),
        );
        let started = std::time::Instant::now();
        let out = hearken()
            .args(["--config", config.to_str().unwrap(), "run"])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{backend}: {err}");
        assert!(
            err.contains(device) && err.contains(fix),
            "{backend}: {err}"
        );
        // Before any model loads.
        assert!(!err.contains("loading"), "{backend}: {err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

#[test]
fn hw_test_cycles_every_state_pattern_and_turns_the_leds_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[service]\nlog_target = \"stderr\"\n[hw]\nbackend = \"simulated\"\n",
    );
    let out = hearken()
        .args(["--config", config.to_str().unwrap(), "hw", "test"])
        .args(["--seconds", "0.2", "--duration", "1.6"])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Every state's pattern was shown (the simulated LEDs log each change), in order.
    let shown: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.split("leds: ").nth(1))
        .collect();
    let want = [
        "Idle: idle",
        "Listening: listening",
        "Thinking: thinking",
        "Speaking: speaking",
        "FollowUp: follow_up",
        "Muted: muted #ff0000",
        "Error: error",
    ];
    for (i, w) in want.iter().enumerate() {
        assert!(
            shown.get(i).is_some_and(|s| s.starts_with(w)),
            "{w} at {i}: {shown:?}"
        );
    }
    assert_eq!(shown.last(), Some(&"off"), "{shown:?}");

    // Without any LEDs or button, it says how to configure them.
    let config = write_config(dir.path(), "[hw]\nbackend = \"none\"\n");
    let out = hearken()
        .args(["--config", config.to_str().unwrap(), "hw", "test"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("hw.backend = \"none\" gives no LEDs and no button"));
}
