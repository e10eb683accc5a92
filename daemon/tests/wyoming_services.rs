//! hearken's recognizer, voice and wake word as Wyoming services (`[wyoming] services`),
//! used by the real `wyoming` package's client as Home Assistant would: a recording
//! transcribes to the same text as `hearken transcribe` gives; a sentence synthesized by the
//! `tts` service, whole or streamed as an agent writes it, is that sentence when hearken's
//! recognizer hears it; the `wake` service hears the wake word where `hearken wake` does.

mod common;

use std::path::{Path, PathBuf};

use common::daemon::{start_at, Daemon};
use common::rig::{conversation, Part};
use common::{
    free_port, json_lines, librivox_wavs, llm_url, repo_root, run_hearken, text, wyoming_peer,
};
use hearken::asr::text::word_errors;

const SENTENCE: &str = "The kitchen light is on.";

/// Two sentences, streamed to the voice in small pieces.
const STREAMED: &str = "The front door is locked. The oven is still warm.";

/// A daemon offering `services` (`"asr", "tts"`) on a port of its own; its config, and the
/// services' address. Nothing is said to its microphone.
fn offering(dir: &Path, services: &str) -> (Daemon, PathBuf, String) {
    let address = format!("127.0.0.1:{}", free_port());
    let daemon = start_at(
        dir,
        &conversation(&[Part::Silence(90.0)]),
        None,
        &llm_url(),
        "",
        &format!("[wyoming]\nservices = [{services}]\nservices_listen = \"{address}\"\n"),
        &[],
    );
    let names = services.replace('"', "").replace(", ", " and ");
    daemon.wait_for_line(&format!("wyoming: services {names} on"));
    (daemon, dir.join("hearken.toml"), address)
}

/// What `hearken <command> --json <wav>` says of the file.
fn cli_json(config: &Path, command: &str, wav: &Path) -> serde_json::Value {
    let out = run_hearken(&[
        "--config",
        config.to_str().unwrap(),
        command,
        "--json",
        wav.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    json_lines(&out.stdout).remove(0)
}

fn transcribe_cli(config: &Path, wav: &Path) -> String {
    cli_json(config, "transcribe", wav)["text"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Where `hearken wake` hears the word in `wav`: the end of the frame, in ms.
fn wake_cli_ms(config: &Path, wav: &Path) -> Vec<u64> {
    cli_json(config, "wake", wav)["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["time_s"].as_f64().unwrap() * 1000.0).round() as u64)
        .collect()
}

#[test]
fn home_assistant_transcribes_and_synthesizes_with_hearkens_engines() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, config, address) = offering(dir.path(), r#""asr", "tts""#);

    let wav = &librivox_wavs()[0];
    let heard = wyoming_peer("transcribe", &address, &[wav.to_str().unwrap()]);
    let expected = transcribe_cli(&config, wav);
    assert!(!expected.is_empty());
    assert_eq!(heard["text"], expected.as_str(), "{heard}");

    let spoken = dir.path().join("spoken.wav");
    let said = wyoming_peer(
        "synthesize",
        &address,
        &[SENTENCE, spoken.to_str().unwrap()],
    );
    assert_eq!(said["width"], 2, "{said}");
    assert_eq!(said["channels"], 1, "{said}");
    let rate = said["rate"].as_u64().unwrap();
    let samples = said["samples"].as_u64().unwrap();
    assert!(samples > rate / 2, "under half a second of speech: {said}");
    assert!(said["chunks"].as_u64().unwrap() > 1, "{said}");
    // Piper samples its noise afresh on each call, so the recognizer may slip on a word of a
    // good rendering: the round trip's rule (tts_asr_roundtrip.rs), two slips in a sentence.
    // A voice that is silent, garbled or says another sentence misses far more.
    let back = transcribe_cli(&config, &spoken);
    let (errors, _) = word_errors(SENTENCE, &back);
    assert!(errors <= 2, "said {SENTENCE:?}, heard {back:?}");

    // Streamed text: each sentence is spoken once it is whole, and the copy of the whole
    // text HA sends for services that do not stream is not spoken again.
    let info = wyoming_peer("describe", &address, &[]);
    assert_eq!(
        info["info"]["tts"][0]["supports_synthesize_streaming"], true,
        "{info}"
    );
    let streamed = dir.path().join("streamed.wav");
    let said = wyoming_peer(
        "synthesize_streamed",
        &address,
        &[STREAMED, streamed.to_str().unwrap()],
    );
    assert_eq!(said["streams"], 2, "one audio stream a sentence: {said}");
    let back = transcribe_cli(&config, &streamed);
    let (errors, words) = word_errors(STREAMED, &back);
    eprintln!("streamed: {said}; heard {back:?}: {errors}/{words} word errors");
    assert!(
        errors <= 4,
        "said {STREAMED:?}, heard {back:?}: {errors}/{words}"
    );
}

#[test]
fn home_assistant_hears_the_wake_word_with_hearkens_detector() {
    let dir = tempfile::tempdir().unwrap();
    // With the recognizer on the same port: `detect` and `transcribe` say what audio is for.
    let (_daemon, config, address) = offering(dir.path(), r#""asr", "wake""#);

    let info = wyoming_peer("describe", &address, &[]);
    let models = &info["info"]["wake"][0]["models"];
    assert_eq!(models[0]["name"], "alexa", "{info}");
    assert_eq!(models[0]["phrase"], "alexa", "{info}");

    let fixtures = repo_root().join("daemon/tests/fixtures/loop");
    let wake_wav = fixtures.join("alexa_capital.wav");
    let expected = wake_cli_ms(&config, &wake_wav);
    let wake = wake_wav.to_str().unwrap();
    assert_eq!(expected.len(), 1, "{expected:?}");
    let heard = wyoming_peer("detect", &address, &[wake]);
    let detections = heard["detections"].as_array().unwrap();
    assert_eq!(detections.len(), 1, "{heard}");
    assert_eq!(detections[0]["name"], "alexa", "{heard}");
    assert_eq!(heard["not_detected"], false, "{heard}");
    // The chunk that completed the frame: 80 ms chunks, so it starts one frame before.
    assert_eq!(
        detections[0]["timestamp"].as_u64().unwrap() + 80,
        expected[0],
        "{heard}"
    );

    // At another rate, resampled as it streams: heard in the same place, within a frame.
    let resampled = wyoming_peer("detect", &address, &[wake, "", "22050"]);
    let detections = resampled["detections"].as_array().unwrap();
    assert_eq!(detections.len(), 1, "{resampled}");
    let at = detections[0]["timestamp"].as_u64().unwrap() + 80;
    assert!(
        at.abs_diff(expected[0]) <= 80,
        "{resampled} vs {expected:?}"
    );

    // A question without the wake word, and the word when only another was asked for.
    let plain = fixtures.join("germany.wav");
    let missed = wyoming_peer("detect", &address, &[plain.to_str().unwrap()]);
    assert_eq!(
        missed["detections"].as_array().unwrap().len(),
        0,
        "{missed}"
    );
    assert_eq!(missed["not_detected"], true, "{missed}");
    let other = wyoming_peer("detect", &address, &[wake, "hey_jarvis"]);
    eprintln!("cli {expected:?} ms\n16 kHz {heard}\n22050 Hz {resampled}\nno word {missed}\nother word {other}");
    assert_eq!(other["detections"].as_array().unwrap().len(), 0, "{other}");
    assert_eq!(other["not_detected"], true, "{other}");

    // The same port transcribes once asked to.
    let heard = wyoming_peer("transcribe", &address, &[wake]);
    let expected = transcribe_cli(&config, &wake_wav);
    assert_eq!(heard["text"], expected.as_str(), "{heard}");
}
