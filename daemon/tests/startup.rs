//! Start-up: every engine stage is timed and logged, the loaders run in parallel after the
//! ONNX Runtime, a bad model in one stage fails start-up naming it, and hearken says when
//! it listens.

mod common;

use common::*;
use hearken::config::Config;
use hearken::pipeline::build_engines_timed;

#[test]
fn every_stage_is_timed() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load_file(&write_config(dir.path(), ""))
        .unwrap()
        .config;
    let (engines, startup) = build_engines_timed(&config).unwrap();
    let stages: Vec<&str> = startup.stages.iter().map(|s| s.stage).collect();
    assert_eq!(
        stages,
        [
            "ONNX Runtime",
            "wake word",
            "VAD",
            "ASR",
            "TTS",
            "LLM client"
        ]
    );
    let asr = &startup.stages[3];
    assert_eq!(asr.what, config.asr.model);
    assert!(startup.stages.iter().all(|s| s.seconds >= 0.0));
    // The engine loaders overlap: the whole takes no longer than the stages one after another.
    let sum: f64 = startup.stages.iter().map(|s| s.seconds).sum();
    assert!(startup.engines_s <= sum + 0.05, "{startup:?}");
    assert!(
        startup.engines_s >= startup.stages.iter().map(|s| s.seconds).fold(0.0, f64::max),
        "{startup:?}"
    );
    assert_eq!(startup.words, ["alexa"]);
    assert!(engines.tts.sample_rate() > 0);
}

#[test]
fn a_bad_model_in_one_stage_fails_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, [0x5au8; 1000]).unwrap();
    let config = Config::load_file(&write_config(
        dir.path(),
        &format!("[tts]\nvoice = \"{}\"\n", garbage.display()),
    ))
    .unwrap()
    .config;
    let err = build_engines_timed(&config).err().unwrap().to_string();
    assert!(
        err.starts_with("TTS: ") && err.contains(garbage.to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn simulate_logs_each_stage_and_when_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[service]\nlog_target = \"stderr\"\n");
    let silence = dir.path().join("silence.wav");
    hearken::audio::wav::write_i16(&silence, 16_000, 1, &[0; 16_000]).unwrap();
    let out = run_hearken(&[
        "-c",
        config.to_str().unwrap(),
        "simulate",
        "--input",
        silence.to_str().unwrap(),
        "--out",
        dir.path().join("reply.wav").to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let position = |needle: &str| {
        stderr
            .find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{stderr}"))
    };
    for stage in [
        "wake word alexa",
        "VAD silero-vad",
        "ASR asr-whisper-tiny.en",
        "TTS piper",
    ] {
        assert!(position(&format!("loading {stage}")) < position("engines loaded in"));
    }
    for stage in ["wake word", "VAD", "ASR", "TTS", "LLM client"] {
        position(&format!("{stage} ready in "));
    }
    let ready = position("ready: listening for alexa (start-up ");
    assert!(position("engines loaded in") < ready);
    let seconds: f64 = stderr[ready..]
        .split("(start-up ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no start-up time in:\n{stderr}"));
    assert!(seconds > 0.0 && seconds < 120.0, "{seconds}");
}
