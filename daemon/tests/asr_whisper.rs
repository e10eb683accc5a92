//! Whisper tiny.en through `hearken transcribe` equals the sherpa-onnx Python package's output
//! (scripts/reference/asr_reference.py) on the LibriVox utterances; WER is reported.

mod common;

use std::collections::BTreeMap;

use common::*;
use hearken::asr::text::word_errors;

fn reference() -> serde_json::Value {
    let path = repo_root().join("daemon/tests/fixtures/asr/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The utterances' own transcripts: `<s> words </s> (file-stem)`.
fn librivox_transcripts() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(format!("{LIBRIVOX_DIR}/transcription")).unwrap();
    text.lines()
        .filter_map(|line| {
            let (words, id) = line.rsplit_once(" (")?;
            let words = words.replace("<s>", "").replace("</s>", "");
            Some((
                format!("{}.wav", id.trim_end_matches(')')),
                words.trim().to_string(),
            ))
        })
        .collect()
}

#[test]
fn whisper_transcripts_equal_the_python_package() {
    let reference = reference();
    let wavs = librivox_wavs();
    assert_eq!(wavs.len(), 5);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[asr]\nmodel = \"asr-whisper-tiny.en\"\n");
    let mut args = vec![
        "-c",
        config.to_str().unwrap(),
        "transcribe",
        "--whole",
        "--json",
    ];
    args.extend(wavs.iter().map(|w| w.to_str().unwrap()));
    let out = run_hearken(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let truth = librivox_transcripts();
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), wavs.len());
    let (mut errors, mut words) = (0, 0);
    for (line, wav) in lines.iter().zip(&wavs) {
        let name = wav.file_name().unwrap().to_str().unwrap();
        assert_eq!(line["file"], wav.to_str().unwrap());
        let hyp = line["text"].as_str().unwrap();
        assert_eq!(hyp, reference["whisper"][name], "{name}");
        assert!(line["audio_s"].as_f64().unwrap() > 2.0);
        assert!(line["decode_s"].as_f64().unwrap() > 0.0);
        assert!(line["partials"].as_array().unwrap().is_empty());
        let (e, n) = word_errors(&truth[name], hyp);
        println!("{name}: {e}/{n} errors: {hyp}");
        errors += e;
        words += n;
    }
    println!(
        "WER over {} utterances: {errors}/{words} = {:.2} %",
        wavs.len(),
        100.0 * errors as f64 / words as f64
    );
    // The model's known errors (see ../shared/models/sherpa-onnx-whisper-tiny.en/README.md).
    assert_eq!((errors, words), (5, 71));
}

#[test]
fn missing_model_names_the_file_and_the_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hearken.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\ndir = \"{}\"\nfetch_command = \"models/fetch\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let wav = &librivox_wavs()[0];
    let out = run_hearken(&[
        "-c",
        config.to_str().unwrap(),
        "transcribe",
        "--whole",
        wav.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("asr-whisper-tiny.en/tiny.en-encoder.int8.onnx"),
        "{err}"
    );
    assert!(err.contains("models/fetch --dest"), "{err}");
}

/// The daemon's way (80 ms frames, Silero VAD segments, partial re-decodes) through the CLI.
#[test]
fn vad_mode_json_has_partials_during_speech_and_the_same_accuracy() {
    let wavs = librivox_wavs();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mut args = vec!["-c", config.to_str().unwrap(), "transcribe", "--json"];
    args.extend(wavs.iter().map(|w| w.to_str().unwrap()));
    let out = run_hearken(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let truth = librivox_transcripts();
    let (mut errors, mut words) = (0, 0);
    for (line, wav) in text(&out.stdout).lines().zip(&wavs) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = wav.file_name().unwrap().to_str().unwrap();
        let audio_ms = v["audio_s"].as_f64().unwrap() * 1000.0;
        let partials = v["partials"].as_array().unwrap();
        // The recognizer waits twice the last decode time between re-decodes, so how many
        // partials fit in a 3 s utterance follows the machine's speed; one early is the claim.
        assert!(!partials.is_empty(), "{name}: {line}");
        let t: Vec<f64> = partials
            .iter()
            .map(|p| p["t_ms"].as_f64().unwrap())
            .collect();
        assert!(t.windows(2).all(|w| w[0] < w[1]), "{name}: {t:?}");
        assert!(
            t[0] < audio_ms / 2.0,
            "{name}: first partial at {} ms",
            t[0]
        );
        let (e, n) = word_errors(&truth[name], v["text"].as_str().unwrap());
        errors += e;
        words += n;
    }
    println!("VAD mode WER: {errors}/{words}");
    assert!(errors <= 5, "VAD mode WER {errors}/{words}");
}
