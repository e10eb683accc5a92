//! hearken's recognizer and voice as Wyoming services (`[wyoming] services`), used by the
//! real `wyoming` package's client as Home Assistant would: a recording transcribes to the
//! same text as `hearken transcribe` gives, and a sentence synthesized by the `tts` service
//! is that sentence when hearken's recognizer hears it.

mod common;

use common::daemon::start_at;
use common::rig::{conversation, Part};
use common::{free_port, json_lines, librivox_wavs, llm_url, run_hearken, text, wyoming_peer};
use hearken::asr::text::word_errors;

const SENTENCE: &str = "The kitchen light is on.";

fn transcribe_cli(config: &std::path::Path, wav: &std::path::Path) -> String {
    let out = run_hearken(&[
        "--config",
        config.to_str().unwrap(),
        "transcribe",
        "--json",
        wav.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    json_lines(&out.stdout)[0]["text"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn home_assistant_transcribes_and_synthesizes_with_hearkens_engines() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let daemon = start_at(
        dir.path(),
        &conversation(&[Part::Silence(90.0)]),
        None,
        &llm_url(),
        "",
        &format!("[wyoming]\nservices = [\"asr\", \"tts\"]\nservices_listen = \"{address}\"\n"),
        &[],
    );
    daemon.wait_for_line("wyoming: services asr and tts on");
    let config = dir.path().join("hearken.toml");

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
}
