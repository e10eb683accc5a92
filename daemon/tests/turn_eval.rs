//! Smart Turn against a fixed silence on questions with a 400-700 ms pause in the middle and
//! the same questions said in one go (scripts/turn-pause-fixtures: the Piper voice and three
//! espeak-ng voices), walked by `hearken turn-eval` as the listener walks the microphone,
//! with the real Silero VAD and Smart Turn model.

mod common;

use common::{hearken, json_lines, text, write_config};
use serde_json::Value;

const PAUSES_MS: [u64; 2] = [200, 300];
const FALLBACK_MS: f64 = 1600.0;
/// Windows the VAD needs to see the silence start (its 32 ms windows and hysteresis).
const VAD_LAG_MS: f64 = 200.0;

#[test]
fn smart_turn_cuts_fewer_paused_questions_than_silence_and_ends_whole_ones_sooner() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = dir.path().join("fixtures");
    let made = std::process::Command::new(common::repo_root().join("scripts/turn-pause-fixtures"))
        .arg(&fixtures)
        .output()
        .expect("scripts/turn-pause-fixtures runs");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let config = write_config(
        dir.path(),
        &format!("[turn]\nmode = \"smart\"\nfallback_ms = {FALLBACK_MS}\n"),
    );
    let mut cmd = hearken();
    cmd.args(["--config", config.to_str().unwrap(), "turn-eval", "--json"])
        .arg(&fixtures);
    for p in PAUSES_MS {
        cmd.args(["--pause-ms", &p.to_string()]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    eprintln!("{}", text(&out.stdout));
    let setting = |mode: &str, key: &str, ms: u64| -> &Value {
        lines
            .iter()
            .find(|l| l["endpoint"]["mode"] == mode && l["endpoint"][key] == ms)
            .unwrap_or_else(|| panic!("no {mode} {ms} ms line"))
    };
    let num = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("{v}"));

    let default_silence = setting("silence", "silence_ms", 600);
    for pause in PAUSES_MS {
        let smart = setting("smart", "pause_ms", pause);
        let silence = setting("silence", "silence_ms", pause);
        assert!(num(&smart["paused"]["clips"]) >= 48.0, "{smart}");
        // The point of the model: a pause mid-question is not always the end.
        assert!(
            num(&smart["paused"]["cut_early"]) < num(&silence["paused"]["cut_early"]),
            "at {pause} ms smart mode cut as many paused questions early as silence mode:\n{smart}\n{silence}"
        );
        // And the questions said in one go: none cut early, every one ended by the fallback,
        let whole = &smart["unpaused"];
        assert_eq!(num(&whole["cut_early"]), 0.0, "{smart}");
        assert_eq!(num(&whole["never_ended"]), 0.0, "{smart}");
        assert!(
            num(&whole["max_decision_ms"]) <= FALLBACK_MS + VAD_LAG_MS,
            "{smart}"
        );
        // most of them at the first pause: sooner than today's 600 ms silence.
        assert!(
            num(&whole["median_decision_ms"])
                < num(&default_silence["unpaused"]["median_decision_ms"]),
            "smart at {pause} ms ends whole questions no sooner than silence 600 ms:\n{smart}\n{default_silence}"
        );
    }
}
