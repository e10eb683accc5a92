//! Turns with Home Assistant answering, the real `wyoming` package acting as HA
//! (scripts/wyoming-peer) and the daemon running for real on file-backed ALSA, one daemon
//! through three questions:
//! 1. HA answers: the wake word reaches it as `detection` + `run-pipeline`, the question as
//!    16 kHz `audio-chunk`s; HA's 22050 Hz speech lands in the playback file sample for
//!    sample, `played` comes back and the turn's reply is HA's text, not the LLM's; an
//!    announcement on the same connection plays and reports `played` too.
//! 2. A timer HA says went off rings until the next wake word; then HA goes away in the
//!    middle of that turn, while hearken's answer waits for it: the local LLM answers.
//! 3. HA pauses the satellite: the third wake word sends it nothing.
//! 4. HA starts a turn itself (`supports_trigger`) and answers it.
//!
//! And with `[wyoming] turns = "local"`, HA connected hears of no turn: hearken answers.

mod common;

use std::time::Duration;

use common::daemon::start_at;
use common::rig::{conversation, Part};
use common::{free_port, llm_url, wyoming_peer};
use hearken::audio::filedev;

const HA_REPLY: &str = "Paris is the capital of France.";

/// scripts/wyoming-peer's tone(): HA's speech stand-in.
fn tone(hz: f64) -> Vec<i16> {
    (0..22050)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 22050.0).sin()) as i16)
        .collect()
}

/// Where `needle` lies in `hay` (each sample within 1 of it), if anywhere.
fn find(hay: &[i16], needle: &[i16]) -> Option<usize> {
    let close = |a: i16, b: i16| (a as i32 - b as i32).abs() <= 1;
    (0..hay.len().saturating_sub(needle.len()))
        .find(|&at| needle.iter().zip(&hay[at..]).all(|(&n, &h)| close(n, h)))
}

#[test]
fn home_assistant_answers_turns_and_hearken_answers_when_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let input = conversation(&[
        Part::Silence(8.0),
        Part::Say("alexa_capital"),
        Part::Silence(14.0),
        Part::Say("alexa_sum"),
        Part::Silence(14.0),
        Part::Say("alexa_colour"),
        Part::Silence(40.0),
    ]);
    let daemon = start_at(
        dir.path(),
        &input,
        None,
        &llm_url(),
        "max_tokens = 32",
        &format!("[wyoming]\nenabled = true\nlisten = \"{address}\"\n"),
        &[],
    );
    daemon.wait_for_line(" and speaking on ");

    // 1. A turn HA answers, then an announcement.
    let turn = wyoming_peer("turn", &address, &[HA_REPLY]);
    assert_eq!(turn["detection"]["name"], "alexa", "{turn}");
    let run = &turn["run_pipeline"];
    assert_eq!(run["start_stage"], "asr", "{turn}");
    assert_eq!(run["end_stage"], "tts", "{turn}");
    assert_eq!(run["wake_word_name"], "alexa", "{turn}");
    assert_eq!(
        turn["formats"],
        serde_json::json!([[16000, 2, 1]]),
        "{turn}"
    );
    let first = daemon.wait_for_turn(Duration::from_secs(30), |t| t["turn"] == 1);
    assert_eq!(first["reply"], HA_REPLY, "{first}");
    // The speech as sent, less the device buffer's worth (1764 frames) at its end that
    // the file plugin may still hold.
    let (answer, announcement) = (&tone(660.0)[..20_000], &tone(440.0)[..20_000]);
    let played_at = |needle: &[i16]| {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let played = filedev::read_raw(&daemon.playback_raw).unwrap();
            if let Some(at) = find(&played, needle) {
                return at;
            }
            if std::time::Instant::now() > deadline {
                panic!("not in the playback file:\n{}", daemon.log());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let (answer, announcement) = (played_at(answer), played_at(announcement));
    assert!(announcement > answer);
    daemon.wait_for_log("an announcement from Home Assistant");

    // 2. HA vanishes mid-turn: the turn is answered all the same, by the local LLM.
    let vanished = wyoming_peer("vanish", &address, &[]);
    assert!(
        vanished["run_pipeline"]["wake_word_name"] == "alexa",
        "{vanished}"
    );
    daemon.wait_for_log("Home Assistant disconnected; hearken answers on its own");
    daemon.wait_for_log("turn 2: Home Assistant did not answer; answering locally");
    daemon.wait_for_log("timer tea finished; ringing");
    let log = daemon.log();
    let rang = log.matches("ringing: a timer went off").count();
    let stopped = log
        .find("timer ringing stopped")
        .expect("the wake word stops the ring");
    assert!(rang >= 3, "rang {rang} times:\n{log}");
    assert!(
        log.find("turn 2 goes to Home Assistant")
            .is_some_and(|at| at > stopped),
        "the ring stopped at the wake word:\n{log}"
    );
    let second = daemon.wait_for_turn(Duration::from_secs(60), |t| t["turn"] == 2);
    let reply = second["reply"].as_str().unwrap();
    assert!(!reply.is_empty() && reply != HA_REPLY, "{second}");
    assert_eq!(second["error"], serde_json::Value::Null, "{second}");

    // 3. Paused: the third wake word (about 14 s on) goes nowhere.
    let paused = wyoming_peer("paused", &address, &["22"]);
    assert_eq!(paused["seen"], serde_json::json!([]), "{paused}");
    daemon.wait_for_log("Home Assistant paused the satellite; muted");
    assert!(
        daemon.turns().iter().all(|t| t["turn"] != 3),
        "a turn while paused: {:?}",
        daemon.turns()
    );

    // 4. A remote start: a turn like the button's (no detection), answered by HA.
    let triggered = wyoming_peer("trigger", &address, &[]);
    assert_eq!(
        triggered["detection"],
        serde_json::Value::Null,
        "{triggered}"
    );
    assert_eq!(
        triggered["run_pipeline"]["start_stage"], "asr",
        "{triggered}"
    );
    assert_eq!(
        triggered["formats"],
        serde_json::json!([[16000, 2, 1]]),
        "{triggered}"
    );
    played_at(&tone(550.0)[..20_000]);
    daemon.wait_for_log("Home Assistant starts a turn");
}

#[test]
fn with_local_turns_home_assistant_hears_of_no_turn_and_hearken_answers() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let input = conversation(&[
        Part::Silence(6.0),
        Part::Say("alexa_capital"),
        Part::Silence(40.0),
    ]);
    let daemon = start_at(
        dir.path(),
        &input,
        None,
        &llm_url(),
        "max_tokens = 32",
        &format!("[wyoming]\nenabled = true\nlisten = \"{address}\"\nturns = \"local\"\n"),
        &[],
    );
    daemon.wait_for_line(" and speaking on ");
    daemon.wait_for_log("every turn is answered here");
    // Connected through the question and the answer.
    let heard = wyoming_peer("listen", &address, &["20"]);
    let turn = daemon.wait_for_turn(Duration::from_secs(60), |t| t["turn"] == 1);
    let reply = turn["reply"].as_str().unwrap();
    assert!(!reply.is_empty() && reply != HA_REPLY, "{turn}");
    assert_eq!(turn["error"], serde_json::Value::Null, "{turn}");
    assert!(
        turn["transcript"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("capital"),
        "{turn}"
    );
    // HA was there before the wake word.
    let log = daemon.log();
    let connected = log.find(" connected").expect("HA connected");
    let woke = log.find("wake word `alexa`").expect("the wake word");
    assert!(connected < woke, "{log}");
    let seen = heard["seen"].as_array().unwrap();
    for kind in ["detection", "run-pipeline", "audio-start", "audio-chunk"] {
        assert!(!seen.iter().any(|s| s == kind), "HA got {kind}: {heard}");
    }
}
