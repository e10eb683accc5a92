//! Silero VAD against the reference implementation's segments (scripts/reference/vad_segments.py).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use hearken::audio::wav;
use hearken::models::{ModelStore, ModelsConfig};
use hearken::vad::{self, SileroVad, VadConfig, VadEvent, VoiceDetector};

/// 50 ms at 16 kHz.
const TOLERANCE: i64 = 800;

fn store() -> ModelStore {
    ModelStore::new(&ModelsConfig {
        dir: models_dir(),
        ..Default::default()
    })
}

fn reference(name: &str) -> Vec<(String, Vec<(i64, i64)>)> {
    let path = repo_root().join("daemon/tests/fixtures/vad").join(name);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut out: Vec<_> = json["segments"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(file, segs)| {
            let segs = segs
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s[0].as_i64().unwrap(), s[1].as_i64().unwrap()))
                .collect();
            (file.clone(), segs)
        })
        .collect();
    out.sort();
    out
}

fn check_against_reference(fixture: &str, dir: &Path) {
    let mut vad = SileroVad::new(&VadConfig::default(), &store()).unwrap();
    let reference = reference(fixture);
    assert!(!reference.is_empty());
    for (file, expected) in reference {
        let samples = wav::read_16k_i16(&dir.join(&file)).unwrap();
        let got: Vec<(i64, i64)> = vad::segments(&mut vad, &samples)
            .unwrap()
            .into_iter()
            .map(|(s, e)| (s as i64, e as i64))
            .collect();
        assert_eq!(
            got.len(),
            expected.len(),
            "{file}: {got:?} vs reference {expected:?}"
        );
        for (g, e) in got.iter().zip(&expected) {
            assert!(
                (g.0 - e.0).abs() <= TOLERANCE && (g.1 - e.1).abs() <= TOLERANCE,
                "{file}: segment {g:?} vs reference {e:?}"
            );
        }
    }
}

#[test]
fn librivox_segments_match_reference_silero() {
    check_against_reference("librivox_segments.json", Path::new(LIBRIVOX_DIR));
}

#[test]
fn wake_clips_segments_match_reference_silero() {
    let dir = repo_root().join("daemon/tests/fixtures/wake/clips");
    check_against_reference("clips_segments.json", &dir);
}

#[test]
fn events_stream_the_same_in_any_chunk_size() {
    let wav_path: PathBuf = librivox_wavs()[1].clone();
    let samples = wav::read_16k_i16(&wav_path).unwrap();
    let mut vad = SileroVad::new(&VadConfig::default(), &store()).unwrap();
    let whole = vad::segments(&mut vad, &samples).unwrap();
    vad.reset();
    let mut events = Vec::new();
    let mut in_speech_seen = false;
    for chunk in samples.chunks(1280) {
        events.extend(vad.process(chunk).unwrap());
        in_speech_seen |= vad.in_speech();
    }
    events.extend(vad.flush().unwrap());
    assert!(in_speech_seen);
    let (start, end) = whole[0];
    assert_eq!(
        events,
        vec![
            VadEvent::SpeechStart { sample: start },
            VadEvent::SpeechEnd { sample: end }
        ]
    );
}

#[test]
fn silence_has_no_speech() {
    let mut vad = SileroVad::new(&VadConfig::default(), &store()).unwrap();
    let silence = vec![0i16; 16000 * 3];
    assert!(vad::segments(&mut vad, &silence).unwrap().is_empty());
}

#[test]
fn cli_prints_segments_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let wav_path = &librivox_wavs()[0];
    let out = run_hearken(&[
        "-c",
        config.to_str().unwrap(),
        "vad",
        "--json",
        wav_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(line["file"], wav_path.to_str().unwrap());
    let seg = &line["segments"][0];
    assert!(
        (seg["start_s"].as_f64().unwrap() - 0.322).abs() < 0.05,
        "{line}"
    );
    assert!(
        (seg["end_s"].as_f64().unwrap() - 7.1).abs() < 0.05,
        "{line}"
    );
}

#[test]
fn missing_model_names_the_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(&ModelsConfig {
        dir: dir.path().to_owned(),
        fetch_command: "models/fetch".into(),
        ..Default::default()
    });
    let err = SileroVad::new(&VadConfig::default(), &store)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("silero_vad.onnx") && err.contains("models/fetch"),
        "{err}"
    );
}
