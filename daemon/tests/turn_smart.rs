//! Smart Turn v3.2 against pipecat's LocalSmartTurnAnalyzerV3 with its own Whisper feature
//! code (scripts/reference/smart_turn.py -> fixtures/turn/reference.json): the same
//! probabilities within 1e-3, and the same log-mel features, on real and synthetic speech,
//! finished and stopped part-way, shorter and longer than the model's 8 s.
//!
//! The clips are the reference file's keys; to remake it (after `scripts/setup --reference`):
//! `.hearken/ref-turn/bin/python scripts/reference/smart_turn.py
//!  .hearken/models/smart-turn-v3.2/smart-turn-v3.2-cpu.onnx daemon/tests/fixtures/turn/reference.json
//!  $(python3 -c 'import json; print(*json.load(open("daemon/tests/fixtures/turn/reference.json"))["clips"])')`

mod common;

use common::*;
use hearken::audio::wav;
use hearken::models::{ModelStore, ModelsConfig};
use hearken::turn::{SmartTurn, TurnConfig, TurnDetector};

fn store() -> ModelStore {
    ModelStore::new(&ModelsConfig {
        dir: models_dir(),
        ..Default::default()
    })
}

fn reference() -> serde_json::Value {
    let path = repo_root().join("daemon/tests/fixtures/turn/reference.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A clip as the reference script names it: WAV[+WAV...][@SECONDS].
fn clip(spec: &str) -> Vec<i16> {
    let (wavs, seconds) = match spec.split_once('@') {
        Some((w, s)) => (w, Some(s.parse::<f64>().unwrap())),
        None => (spec, None),
    };
    let mut audio = Vec::new();
    for part in wavs.split('+') {
        let path = repo_root().join(part);
        audio.extend(wav::read_16k_i16(&path).unwrap_or_else(|e| panic!("{part}: {e}")));
    }
    if let Some(s) = seconds {
        audio.truncate((s * 16_000.0).round() as usize);
    }
    audio
}

#[test]
fn probabilities_and_features_match_the_reference() {
    let reference = reference();
    let stride = reference["feature_stride"].as_u64().unwrap() as usize;
    let clips = reference["clips"].as_object().unwrap();
    assert!(clips.len() >= 8, "reference has {} clips", clips.len());
    let mut model = SmartTurn::new(&TurnConfig::default(), &store()).unwrap();
    let (mut worst_prob, mut worst_feature) = (0f64, 0f64);
    let (mut complete, mut incomplete) = (0, 0);
    for (spec, expected) in clips {
        let audio = clip(spec);
        let verdict = model.verdict(&audio).unwrap();
        let want = expected["probability"].as_f64().unwrap();
        let diff = (verdict.probability as f64 - want).abs();
        worst_prob = worst_prob.max(diff);
        assert!(
            diff <= 1e-3,
            "{spec}: probability {} vs reference {want}",
            verdict.probability
        );
        if want >= 0.5 {
            complete += 1;
        } else {
            incomplete += 1;
        }
        let sampled: Vec<f32> = model.features().iter().step_by(stride).copied().collect();
        let want: Vec<f64> = expected["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(sampled.len(), want.len(), "{spec}: feature count");
        for (i, (&got, &want)) in sampled.iter().zip(&want).enumerate() {
            let diff = (got as f64 - want).abs();
            worst_feature = worst_feature.max(diff);
            assert!(
                diff <= 1e-4,
                "{spec}: feature {} is {got}, reference {want}",
                i * stride
            );
        }
    }
    // Both answers are exercised, not only one side of the threshold.
    assert!(
        complete >= 2 && incomplete >= 2,
        "{complete} complete, {incomplete} incomplete"
    );
    eprintln!("max |probability - reference| {worst_prob:.2e}, max |feature - reference| {worst_feature:.2e}");
}

#[test]
fn missing_model_names_the_file_and_the_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(&ModelsConfig {
        dir: dir.path().to_owned(),
        fetch_command: "models/fetch".into(),
        ..Default::default()
    });
    let err = SmartTurn::new(&TurnConfig::default(), &store)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("smart-turn-v3.2/smart-turn-v3.2-cpu.onnx")
            && err.contains("models/fetch --dest")
            && err.contains("smart-turn-v3.2"),
        "{err}"
    );
}

#[test]
fn a_model_that_is_not_smart_turn_is_refused_on_load() {
    // Silero VAD: a real ONNX model with other inputs.
    let cfg = TurnConfig {
        model: models_dir()
            .join("silero-vad/silero_vad.onnx")
            .display()
            .to_string(),
        ..Default::default()
    };
    let err = SmartTurn::new(&cfg, &store()).err().unwrap().to_string();
    assert!(
        err.contains("silero_vad.onnx") && err.contains("input_features"),
        "{err}"
    );
}
