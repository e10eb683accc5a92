//! `hearken say` without --out plays through the configured ALSA device (file-backed here).

mod common;

use common::*;
use hearken::audio::filedev::{self, FileDevices};

#[test]
fn say_plays_the_speech_on_the_playback_device() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("speaker.raw");
    let devs = FileDevices::create(dir.path(), None, &output).unwrap();
    let config = write_config(
        dir.path(),
        &format!("[audio]\nplayback_device = \"{}\"\n", devs.playback),
    );
    let out = hearken()
        .env("ALSA_CONFIG_PATH", &devs.alsa_config_path)
        .args([
            "--config",
            config.to_str().unwrap(),
            "say",
            "Hello there, I am hearken.",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let played = filedev::read_raw(&output).unwrap();
    // Played at the voice's own rate (audio.playback_rate = 0): every synthesized sample.
    let expected = (json["audio_s"].as_f64().unwrap() * 22_050.0).round() as usize;
    assert_eq!(played.len(), expected, "{json}");
    let rms =
        (played.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / played.len() as f64).sqrt();
    assert!(rms > 500.0, "speech is too quiet: rms {rms}");
}
