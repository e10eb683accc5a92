//! A bad model or file given where hearken expects a real one: garbage and truncated .onnx
//! files, valid ONNX models with the wrong outputs (daemon/tests/fixtures/bad, made by
//! scripts/reference/make_bad_models.py), WAV files that are not usable earcons, a Piper
//! voice config with sample rate 0. Each is an error that names the file; none panics.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use hearken::models::{ModelStore, ModelsConfig};
use hearken::pipeline::{EarconConfig, Earcons};
use hearken::tts::{PiperVoice, TtsConfig};
use hearken::vad::{SileroVad, VadConfig, VoiceDetector};
use hearken::wake::{OpenWakeWord, WakeConfig, WakeEngine, FRAME_SAMPLES};

fn store() -> ModelStore {
    ModelStore::new(&ModelsConfig {
        dir: models_dir(),
        ..Default::default()
    })
}

fn bad(name: &str) -> PathBuf {
    repo_root().join("daemon/tests/fixtures/bad").join(name)
}

fn words(path: &Path) -> WakeConfig {
    WakeConfig {
        words: vec![path.to_str().unwrap().to_string()],
        ..Default::default()
    }
}

fn vad_config(path: &Path) -> VadConfig {
    VadConfig {
        model: path.to_str().unwrap().to_string(),
        ..Default::default()
    }
}

/// Asserts the command failed with an error naming `file`, and did not panic.
fn assert_named_failure(out: &std::process::Output, file: &Path) {
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "succeeded: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(file.to_str().unwrap()), "{stderr}");
}

/// Files that are not ONNX models at all: random bytes, and a real model cut short.
fn broken_onnx(dir: &Path) -> [PathBuf; 2] {
    let garbage = dir.join("garbage.onnx");
    let mut state = 12345u32;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state = state.wrapping_mul(1103515245).wrapping_add(12345);
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(&garbage, bytes).unwrap();
    let truncated = dir.join("truncated_alexa.onnx");
    let real = std::fs::read(models_dir().join("wake-alexa/alexa_v0.1.onnx")).unwrap();
    std::fs::write(&truncated, &real[..real.len() / 2]).unwrap();
    [garbage, truncated]
}

#[test]
fn garbage_or_truncated_onnx_as_a_wake_word_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let clip = &librivox_wavs()[0];
    for model in broken_onnx(dir.path()) {
        let err = OpenWakeWord::new(&words(&model), &store())
            .err()
            .expect("a broken model does not load")
            .to_string();
        assert!(err.contains(model.to_str().unwrap()), "{err}");
        let out = run_hearken(&[
            "-c",
            config.to_str().unwrap(),
            "wake",
            "--words",
            model.to_str().unwrap(),
            clip.to_str().unwrap(),
        ]);
        assert_named_failure(&out, &model);
    }
}

#[test]
fn garbage_onnx_as_the_vad_or_the_voice_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let [garbage, _] = broken_onnx(dir.path());
    let err = SileroVad::new(&vad_config(&garbage), &store())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(garbage.to_str().unwrap()), "{err}");
    // A voice needs its .onnx.json: the real one, beside a garbage .onnx.
    let json = models_dir().join("piper-en_US-joe-medium/en_US-joe-medium.onnx.json");
    std::fs::copy(&json, dir.path().join("garbage.onnx.json")).unwrap();
    let err = PiperVoice::load(&garbage, &TtsConfig::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(garbage.to_str().unwrap()), "{err}");
}

#[test]
fn a_vad_model_without_silero_outputs_is_refused_when_loaded() {
    let model = bad("vad_renamed_outputs.onnx");
    let err = SileroVad::new(&vad_config(&model), &store())
        .err()
        .expect("a model without `output` and `stateN` is refused")
        .to_string();
    assert!(err.contains(model.to_str().unwrap()), "{err}");
    assert!(
        err.contains("output, stateN") && err.contains("prob, hn"),
        "{err}"
    );
    // The CLI: an error naming the file, not a panic at the first window.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("[vad]\nmodel = \"{}\"\n", model.display()),
    );
    let out = run_hearken(&[
        "-c",
        config.to_str().unwrap(),
        "vad",
        librivox_wavs()[0].to_str().unwrap(),
    ]);
    assert_named_failure(&out, &model);
}

#[test]
fn a_vad_model_with_wrong_sized_outputs_fails_its_first_window_by_name() {
    for name in ["vad_empty_output.onnx", "vad_short_state.onnx"] {
        let model = bad(name);
        let mut vad = SileroVad::new(&vad_config(&model), &store()).unwrap();
        let err = vad.process(&[0; 1024]).err().unwrap().to_string();
        assert!(err.contains(model.to_str().unwrap()), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            &format!("[vad]\nmodel = \"{}\"\n", model.display()),
        );
        let out = run_hearken(&[
            "-c",
            config.to_str().unwrap(),
            "vad",
            librivox_wavs()[0].to_str().unwrap(),
        ]);
        assert_named_failure(&out, &model);
    }
}

#[test]
fn a_wake_model_scoring_in_integers_fails_by_name() {
    let model = bad("wake_int_score.onnx");
    let mut wake = OpenWakeWord::new(&words(&model), &store()).unwrap();
    let frame = [0i16; FRAME_SAMPLES];
    let err = (0..10)
        .find_map(|_| wake.process(&frame).err())
        .expect("an int64 score is an error")
        .to_string();
    assert!(err.contains(model.to_str().unwrap()), "{err}");
}

/// A 16-bit PCM WAV with whatever header values are given.
fn wav_bytes(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut out = Vec::new();
    out.extend(b"RIFF");
    out.extend((36 + data.len() as u32).to_le_bytes());
    out.extend(b"WAVEfmt ");
    out.extend(16u32.to_le_bytes());
    out.extend(1u16.to_le_bytes());
    out.extend(channels.to_le_bytes());
    out.extend(rate.to_le_bytes());
    out.extend((rate * u32::from(channels) * 2).to_le_bytes());
    out.extend((channels * 2).to_le_bytes());
    out.extend(16u16.to_le_bytes());
    out.extend(b"data");
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(data);
    out
}

#[test]
fn earcons_that_are_not_usable_wavs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let tone: Vec<i16> = (0..800).map(|i| ((i % 40) * 500) as i16).collect();
    let cases: [(&str, Vec<u8>); 5] = [
        ("rate0.wav", wav_bytes(0, 1, &tone)),
        ("channels0.wav", wav_bytes(16_000, 0, &tone)),
        ("no_samples.wav", wav_bytes(16_000, 1, &[])),
        ("empty.wav", Vec::new()),
        ("not_a.wav", b"this is a text file, not audio\n".to_vec()),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        for cue in 0..3 {
            let mut config = EarconConfig::default();
            *[&mut config.wake, &mut config.done, &mut config.error][cue] = path.clone();
            let err = Earcons::load(&config, 22_050)
                .err()
                .unwrap_or_else(|| panic!("{name} loaded as an earcon"))
                .to_string();
            assert!(err.contains(path.to_str().unwrap()), "{err}");
        }
    }
    // The same file the daemon's way: `hearken simulate` stops before listening, naming it.
    let rate0 = dir.path().join("rate0.wav");
    let config = write_config(
        dir.path(),
        &format!("[pipeline.earcons]\nwake = \"{}\"\n", rate0.display()),
    );
    let out = run_hearken(&[
        "-c",
        config.to_str().unwrap(),
        "simulate",
        "--input",
        repo_root()
            .join("scripts/demo-conversation.wav")
            .to_str()
            .unwrap(),
        "--out",
        dir.path().join("reply.wav").to_str().unwrap(),
    ]);
    assert_named_failure(&out, &rate0);
}

#[test]
fn a_voice_config_with_sample_rate_0_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let voice = models_dir().join("piper-en_US-joe-medium/en_US-joe-medium.onnx");
    let onnx = dir.path().join("joe.onnx");
    std::os::unix::fs::symlink(&voice, &onnx).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.json", voice.display())).unwrap(),
    )
    .unwrap();
    json["audio"]["sample_rate"] = 0.into();
    let json_path = dir.path().join("joe.onnx.json");
    std::fs::write(&json_path, json.to_string()).unwrap();
    let err = PiperVoice::load(&onnx, &TtsConfig::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(json_path.to_str().unwrap()) && err.contains("sample_rate"),
        "{err}"
    );
}

#[test]
fn a_garbage_asr_model_file_is_named() {
    // A models directory like the real one, except that Whisper's encoder is garbage.
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    for entry in std::fs::read_dir(models_dir()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "asr-whisper-tiny.en" {
            std::os::unix::fs::symlink(entry.path(), models.join(entry.file_name())).unwrap();
        }
    }
    let whisper = models.join("asr-whisper-tiny.en");
    std::fs::create_dir(&whisper).unwrap();
    let mut encoder = None;
    for entry in std::fs::read_dir(models_dir().join("asr-whisper-tiny.en")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains("encoder") {
            std::fs::write(whisper.join(&name), [0x5au8; 5000]).unwrap();
            encoder = Some(whisper.join(&name));
        } else {
            std::os::unix::fs::symlink(entry.path(), whisper.join(&name)).unwrap();
        }
    }
    let encoder = encoder.expect("Whisper has an encoder");
    let store = ModelStore::new(&ModelsConfig {
        dir: models.clone(),
        ..Default::default()
    });
    let err = hearken::asr::build(&Default::default(), &VadConfig::default(), &store)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(encoder.to_str().unwrap()), "{err}");
    let config = dir.path().join("hearken.toml");
    std::fs::write(
        &config,
        format!("[models]\ndir = \"{}\"\n", models.display()),
    )
    .unwrap();
    let out = run_hearken(&[
        "-c",
        config.to_str().unwrap(),
        "transcribe",
        librivox_wavs()[0].to_str().unwrap(),
    ]);
    assert_named_failure(&out, &encoder);
}
