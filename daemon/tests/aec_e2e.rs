//! Barge-in by voice through the echo: `hearken simulate --realtime --echo ROOM` mixes what
//! hearken plays back into the microphone through a simulated room (delay, reverberation,
//! speaker clipping, noise), with the real models, the real llama.cpp server and the real
//! ALSA code paths. The user is a different voice (espeak-ng's, from the wake-word clips)
//! from hearken's (Piper).

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use common::rig::Part;
use common::{hearken, llm_url, repo_root, text, write_config};
use hearken::audio::wav;
use serde_json::Value;

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The echo 80 ms late and 3 dB under the level hearken plays (answers at about -21 dBFS,
/// peaks near full scale), about 4 dB above the other voice (the clip is about -28 dBFS): a
/// speaker beside the microphone, louder there than the user across the room. Offline over a
/// live run's reference and microphone (`hearken aec-test`, `hearken wake`), the other
/// voice's best wake-word score was 0.011 uncancelled and 0.89-0.94 cancelled (two noise
/// seeds). The room adds no gain: at +20 dB it clipped 10-23 % of the microphone's samples,
/// and no linear canceller takes more than 1-4 dB off a clipped echo.
const ROOM: &str = "delay_ms=80,rt60=0.3,gain_db=-3";

/// The same room 20 dB louder, the microphone clipping on loud syllables: the follow-up
/// window must not take even an echo the canceller can barely touch for the user.
const LOUD_ROOM: &str = "delay_ms=80,rt60=0.3,gain_db=20";

/// hearken asked for a story (Piper's voice), then, 14 s later, "Alexa, what is the capital
/// of France?" in espeak-ng's voice while the story plays (the LLM on two busy cores took up
/// to 10 s to start it).
fn story_then_another_voice(dir: &Path) -> PathBuf {
    let mut samples = common::rig::conversation(&[Part::Say("alexa_story"), Part::Silence(14.0)]);
    let other = repo_root()
        .join("daemon/tests/fixtures/wake/clips/demo_alexa_capital__espeak-rp__clean.wav");
    samples.extend(wav::read_16k_i16(&other).unwrap());
    samples.extend(common::rig::conversation(&[Part::Silence(4.0)]));
    let path = dir.join("conversation.wav");
    wav::write_i16(&path, 16_000, 1, &samples).unwrap();
    path
}

fn simulate(dir: &Path, extra: &str, input: &Path) -> Vec<Value> {
    let url = llm_url();
    // A long, greedy answer: still playing when the other voice speaks.
    let config = write_config(
        dir,
        &format!(
            "[llm]\nbase_url = \"{url}\"\nmax_tokens = 300\ntemperature = 0.0\n\
             [service]\nlog_target = \"stderr\"\n[pipeline]\nfollow_up_ms = 0\n{extra}"
        ),
    );
    simulate_in_room(dir, &config, input, ROOM)
}

/// `hearken simulate --realtime` through `room`: the turn reports.
fn simulate_in_room(dir: &Path, config: &Path, input: &Path, room: &str) -> Vec<Value> {
    let out = hearken()
        .args([
            "--config",
            config.to_str().unwrap(),
            "simulate",
            "--json",
            "--realtime",
        ])
        .args(["--echo", room])
        .args(["--input", input.to_str().unwrap()])
        .args(["--out", dir.join("reply.wav").to_str().unwrap()])
        .output()
        .expect("hearken runs");
    assert!(
        out.status.success(),
        "simulate failed\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    eprintln!("{}", text(&out.stderr));
    let turns: Vec<Value> = common::json_lines(&out.stdout);
    for t in &turns {
        eprintln!("{t}");
    }
    turns
}

fn transcript(turn: &Value) -> String {
    turn["transcript"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
}

#[test]
fn another_voice_interrupts_through_the_cancelled_echo() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let input = story_then_another_voice(dir.path());

    let turns = simulate(dir.path(), "", &input);
    assert_eq!(turns.len(), 2, "{turns:?}");
    let (story, capital) = (&turns[0], &turns[1]);
    assert!(transcript(story).contains("dragon"), "{story}");
    // Interrupted while playing: part of the story was spoken.
    assert_eq!(story["interrupted"], true, "{story}");
    assert!(
        story["timeline"]["first_sample_written_ms"].is_number(),
        "{story}"
    );
    assert_eq!(capital["wake_word"], "alexa", "{capital}");
    assert!(transcript(capital).contains("capital"), "{capital}");
    assert!(!capital["reply"].as_str().unwrap_or_default().is_empty());
}

/// The other half of the proof that the canceller does the work. It needs the story to be
/// playing when the other voice speaks: on a loaded machine Piper falls behind, the story has
/// gaps, and the word can land in one (seen with two cores kept busy: score 0.96).
#[test]
#[ignore = "holds on an unloaded machine only (the word can land in a gap of a story Piper \
            is late with); run with --ignored"]
fn without_the_canceller_the_echo_drowns_the_other_voice() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let input = story_then_another_voice(dir.path());
    let turns = simulate(dir.path(), "[aec]\nenabled = false\n", &input);
    assert!(transcript(&turns[0]).contains("dragon"), "{turns:?}");
    assert!(
        turns[0]["timeline"]["first_sample_written_ms"].is_number(),
        "the story never played: {turns:?}"
    );
    assert_eq!(turns[0]["interrupted"], false, "{turns:?}");
}

#[test]
fn after_an_answer_the_follow_up_window_does_not_hear_hearken() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    // One question, then silence through the answer and the follow-up window after it.
    let samples = common::rig::conversation(&[Part::Say("alexa_capital"), Part::Silence(16.0)]);
    let input = dir.path().join("conversation.wav");
    wav::write_i16(&input, 16_000, 1, &samples).unwrap();
    let url = llm_url();
    let config = write_config(
        dir.path(),
        &format!(
            "[llm]\nbase_url = \"{url}\"\nmax_tokens = 48\n[service]\nlog_target = \"stderr\"\n"
        ),
    );
    let turns = simulate_in_room(dir.path(), &config, &input, LOUD_ROOM);
    assert!(
        transcript(&turns[0]).contains("capital of france"),
        "{turns:?}"
    );
    // Only the user's turn: no follow-up made of the answer's echo.
    assert_eq!(turns.len(), 1, "{turns:?}");
}
