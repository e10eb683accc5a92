//! openWakeWord via ort against the openwakeword 0.5.1 Python package
//! (scripts/reference/wake_scores.py) on clips nobody tuned on
//! (scripts/reference/make_wake_clips.py), and on real LibriVox speech.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use hearken::audio::wav;
use hearken::models::{ModelStore, ModelsConfig};
use hearken::wake::{OpenWakeWord, WakeConfig, WakeEngine, WakeError, FRAME_SAMPLES};

const WORDS: [&str; 4] = ["alexa", "hey_jarvis", "hey_mycroft", "hey_rhasspy"];

fn store() -> ModelStore {
    ModelStore::new(&ModelsConfig {
        dir: models_dir(),
        ..Default::default()
    })
}

fn config(words: &[&str]) -> WakeConfig {
    WakeConfig {
        words: words.iter().map(|w| w.to_string()).collect(),
        ..Default::default()
    }
}

fn clips_dir() -> PathBuf {
    repo_root().join("daemon/tests/fixtures/wake/clips")
}

/// clip file -> word -> per-frame scores of the reference package.
type Reference = BTreeMap<String, BTreeMap<String, Vec<f32>>>;

fn reference() -> Reference {
    let path = repo_root().join("daemon/tests/fixtures/wake/reference_scores.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::from_value(json["clips"].clone()).unwrap()
}

/// Per-frame scores per word, and the detections, of one clip.
fn run(engine: &mut OpenWakeWord, path: &Path) -> (BTreeMap<String, Vec<f32>>, Vec<String>) {
    let samples = wav::read_16k_i16(path).unwrap();
    engine.reset();
    let mut scores: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let mut detections = Vec::new();
    for frame in samples.chunks_exact(FRAME_SAMPLES) {
        let found = engine.process(frame).unwrap();
        detections.extend(found.into_iter().map(|d| d.word));
        for (word, score) in engine.scores() {
            scores.entry(word.clone()).or_default().push(*score);
        }
    }
    (scores, detections)
}

fn max(scores: &[f32]) -> f32 {
    scores.iter().copied().fold(0.0, f32::max)
}

/// What each clip says: `alexa__piper-joe__slow.wav` -> `alexa`.
fn spoken_word(file: &str) -> &str {
    file.split("__").next().unwrap()
}

#[test]
fn per_frame_scores_match_the_openwakeword_package() {
    let reference = reference();
    assert!(reference.len() >= 20);
    let mut engine = OpenWakeWord::new(&config(&WORDS), &store()).unwrap();
    let (mut worst, mut frames) = (0.0f32, 0);
    for (file, expected) in &reference {
        let (got, _) = run(&mut engine, &clips_dir().join(file));
        for word in WORDS {
            let (got, expected) = (&got[word], &expected[word]);
            assert_eq!(got.len(), expected.len(), "{file} {word}: frame count");
            frames += got.len();
            for (i, (g, e)) in got.iter().zip(expected).enumerate() {
                worst = worst.max((g - e).abs());
                assert!(
                    (g - e).abs() <= 1e-3,
                    "{file} {word} frame {i}: hearken {g} vs openwakeword {e}"
                );
            }
        }
    }
    println!("{frames} word-frames, largest difference {worst:e}");
}

#[test]
fn piper_voice_wake_phrases_in_noise_are_detected() {
    let mut engine = OpenWakeWord::new(&config(&WORDS), &store()).unwrap();
    let mut checked = 0;
    for file in reference().keys().filter(|f| f.contains("__piper-joe__")) {
        let (_, detections) = run(&mut engine, &clips_dir().join(file));
        let word = spoken_word(file);
        if !WORDS.contains(&word) {
            continue; // the demo question and the conversation have their own tests
        }
        assert_eq!(detections, vec![word.to_string()], "{file}");
        checked += 1;
    }
    assert_eq!(checked, 6, "3 words x 2 speeds");
}

/// The espeak-ng voices are robotic, and white noise at 10 dB SNR is harsh: the bundled
/// models miss many of these clips (the reference package misses the same ones, frame for
/// frame). hearken must decide exactly as the reference's scores do, never fire on the wrong
/// word, and every word must be heard from some espeak-ng voice in the noise.
#[test]
fn espeak_voices_are_detected_wherever_the_reference_detects_them() {
    let reference = reference();
    let mut engine = OpenWakeWord::new(&config(&WORDS), &store()).unwrap();
    let mut recall: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (file, expected) in reference.iter().filter(|(f, _)| f.contains("__espeak-")) {
        let word = spoken_word(file).to_string();
        if !WORDS.contains(&word.as_str()) {
            continue;
        }
        let (_, detections) = run(&mut engine, &clips_dir().join(file));
        let reference_hit = max(&expected[&word]) >= 0.5;
        assert_eq!(
            detections.contains(&word),
            reference_hit,
            "{file}: hearken {detections:?}, reference max {}",
            max(&expected[&word])
        );
        let others: Vec<_> = detections.iter().filter(|d| **d != word).collect();
        assert!(others.is_empty(), "{file}: false detections {others:?}");
        let entry = recall.entry(word).or_default();
        entry.0 += usize::from(reference_hit);
        entry.1 += 1;
    }
    println!("espeak-ng clips detected in 10 dB white noise: {recall:?}");
    assert_eq!(
        recall.len(),
        3,
        "alexa, hey_jarvis, hey_mycroft: {recall:?}"
    );
    for (word, (hits, clips)) in &recall {
        assert_eq!(*clips, 12, "{word}: 6 voices x 2 speeds");
        assert!(*hits >= 1, "{word} is heard from no espeak-ng voice");
    }
}

#[test]
fn demo_question_triggers_alexa_once() {
    let mut engine = OpenWakeWord::new(&config(&WORDS), &store()).unwrap();
    for voice in ["piper-joe", "espeak-rp"] {
        let file = clips_dir().join(format!("demo_alexa_capital__{voice}__clean.wav"));
        let (_, detections) = run(&mut engine, &file);
        assert_eq!(detections, vec!["alexa".to_string()], "{voice}");
    }
}

#[test]
fn one_engine_hears_three_words_in_a_row() {
    let mut engine = OpenWakeWord::new(&config(&WORDS), &store()).unwrap();
    let file = clips_dir().join("conversation__piper-joe__clean.wav");
    let (_, detections) = run(&mut engine, &file);
    assert_eq!(detections, vec!["hey_jarvis", "alexa", "hey_mycroft"]);
}

#[test]
fn librivox_speech_has_no_detections() {
    let mut engine = OpenWakeWord::new(&config(&WORDS), &store()).unwrap();
    for wav_path in librivox_wavs() {
        let (scores, detections) = run(&mut engine, &wav_path);
        assert!(
            detections.is_empty(),
            "{}: {detections:?}",
            wav_path.display()
        );
        assert!(scores["alexa"].len() > 30);
    }
}

#[test]
fn refractory_period_and_per_word_threshold_apply() {
    let file = clips_dir().join("hey_jarvis__piper-joe__slow.wav");
    let mut cfg = config(&["hey_jarvis"]);
    cfg.refractory_ms = 0;
    let mut engine = OpenWakeWord::new(&cfg, &store()).unwrap();
    let (scores, detections) = run(&mut engine, &file);
    let above = scores["hey_jarvis"].iter().filter(|&&s| s >= 0.5).count();
    assert!(above >= 2, "several frames above threshold: {scores:?}");
    assert_eq!(
        detections.len(),
        above,
        "no refractory period: every frame fires"
    );

    cfg.refractory_ms = 2000;
    let mut engine = OpenWakeWord::new(&cfg, &store()).unwrap();
    assert_eq!(
        run(&mut engine, &file).1.len(),
        1,
        "one detection per utterance"
    );

    cfg.thresholds.insert("hey_jarvis".into(), 0.9999);
    let mut engine = OpenWakeWord::new(&cfg, &store()).unwrap();
    let needed = max(&scores["hey_jarvis"]) >= 0.9999;
    assert_eq!(!run(&mut engine, &file).1.is_empty(), needed);
}

#[test]
fn vad_gate_keeps_speech_detections_and_blocks_silence() {
    let mut cfg = config(&["alexa"]);
    cfg.vad_gate = true;
    cfg.threshold = 0.0; // every frame would fire without the gate
    cfg.refractory_ms = 0;
    let mut engine = OpenWakeWord::new(&cfg, &store()).unwrap();
    let silence = vec![0i16; FRAME_SAMPLES];
    for _ in 0..20 {
        assert!(engine.process(&silence).unwrap().is_empty());
    }
    cfg.threshold = 0.5;
    cfg.refractory_ms = 2000;
    let mut engine = OpenWakeWord::new(&cfg, &store()).unwrap();
    let (_, detections) = run(&mut engine, &clips_dir().join("alexa__piper-joe__slow.wav"));
    assert_eq!(detections, vec!["alexa".to_string()]);
}

#[test]
fn custom_model_by_path_is_named_after_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let custom = dir.path().join("my_word_v0.1.onnx");
    std::fs::copy(
        models_dir().join("wake-hey_jarvis/hey_jarvis_v0.1.onnx"),
        &custom,
    )
    .unwrap();
    let cfg = config(&[custom.to_str().unwrap()]);
    let mut engine = OpenWakeWord::new(&cfg, &store()).unwrap();
    assert_eq!(engine.words(), vec!["my_word".to_string()]);
    let (_, detections) = run(
        &mut engine,
        &clips_dir().join("hey_jarvis__piper-joe__fast.wav"),
    );
    assert_eq!(detections, vec!["my_word".to_string()]);
}

#[test]
fn bad_models_and_frames_are_reported() {
    let err = OpenWakeWord::new(&config(&["/nonexistent/word.onnx"]), &store())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("/nonexistent/word.onnx"), "{err}");
    let err = OpenWakeWord::new(&config(&["no_such_word"]), &store())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("wake-no_such_word"), "{err}");
    // The VAD model is an ONNX model but not a keyword classifier.
    let vad = models_dir().join("silero-vad/silero_vad.onnx");
    let err = OpenWakeWord::new(&config(&[vad.to_str().unwrap()]), &store())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not an openWakeWord classifier"), "{err}");
    let mut engine = OpenWakeWord::new(&config(&["alexa"]), &store()).unwrap();
    assert!(matches!(
        engine.process(&[0; 100]),
        Err(WakeError::FrameSize(100))
    ));
}

#[test]
fn cli_prints_detections_and_max_scores() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let clip = clips_dir().join("hey_jarvis__piper-joe__fast.wav");
    let librivox = &librivox_wavs()[0];
    let out = run_hearken(&[
        "-c",
        config.to_str().unwrap(),
        "wake",
        "--words",
        "alexa,hey_jarvis",
        "--json",
        clip.to_str().unwrap(),
        librivox.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["file"], clip.to_str().unwrap());
    let det = &lines[0]["detections"][0];
    assert_eq!(det["word"], "hey_jarvis");
    let t = det["time_s"].as_f64().unwrap();
    assert!(t > 1.0 && t < 2.5, "{det}");
    assert!(lines[0]["max_scores"]["hey_jarvis"].as_f64().unwrap() > 0.9);
    assert!(lines[0]["max_scores"]["alexa"].as_f64().unwrap() < 0.5);
    assert_eq!(lines[1]["detections"].as_array().unwrap().len(), 0);
}

/// A 44.1 kHz stereo recording (converted by sox, not by hearken) is heard as its 16 kHz
/// mono original is: the same word, within one 80 ms frame; `hearken vad` finds the same
/// speech within the 50 ms the VAD tests allow.
#[test]
fn cli_takes_any_rate_and_channel_count() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let config = config.to_str().unwrap();
    let mono = clips_dir().join("hey_jarvis__piper-joe__fast.wav");
    let stereo = dir.path().join("stereo_44k.wav");
    let sox = std::process::Command::new("sox")
        .args([mono.to_str().unwrap(), "-r", "44100", "-c", "2"])
        .arg(&stereo)
        .status()
        .expect("sox runs (scripts/setup installs it)");
    assert!(sox.success());
    let header = wav::read(&stereo).unwrap();
    assert_eq!((header.sample_rate, header.channels), (44_100, 2));

    let json = |args: &[&str], file: &Path| -> serde_json::Value {
        let mut all = vec!["-c", config];
        all.extend_from_slice(args);
        all.push(file.to_str().unwrap());
        let out = run_hearken(&all);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_str(text(&out.stdout).trim()).unwrap()
    };
    let words = ["wake", "--words", "hey_jarvis", "--json"];
    let (a, b) = (json(&words, &mono), json(&words, &stereo));
    let time = |v: &serde_json::Value| v["detections"][0]["time_s"].as_f64().unwrap();
    assert_eq!(b["detections"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b["detections"][0]["word"], "hey_jarvis");
    assert!((time(&a) - time(&b)).abs() <= 0.08, "{a} vs {b}");

    let (a, b) = (
        json(&["vad", "--json"], &mono),
        json(&["vad", "--json"], &stereo),
    );
    let (sa, sb) = (
        a["segments"].as_array().unwrap(),
        b["segments"].as_array().unwrap(),
    );
    assert_eq!(sa.len(), sb.len(), "{a} vs {b}");
    for (x, y) in sa.iter().zip(sb) {
        for key in ["start_s", "end_s"] {
            let d = (x[key].as_f64().unwrap() - y[key].as_f64().unwrap()).abs();
            assert!(d <= 0.05, "{key}: {x} vs {y}");
        }
    }
}
