//! models/fetch: installs from the registry cache and the local mirror, idempotently.

mod common;

use std::process::Command;

use common::*;

fn fetch(dest: &std::path::Path, bundles: &[&str]) -> (bool, String, serde_json::Value) {
    let root = repo_root();
    let out = Command::new("python3")
        .arg(root.join("models/fetch"))
        .args(["--dest", dest.to_str().unwrap(), "--cache"])
        .arg(root.join(".hearken/cache"))
        .arg("--mirror")
        .arg(root.join("../shared/models"))
        .arg("--json")
        .args(bundles)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let summary = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    (out.status.success(), stdout, summary)
}

#[test]
fn second_fetch_downloads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bundles = [
        "silero-vad",
        "wake-hey_mycroft",
        "asr-streaming-zipformer-random",
    ];
    let (ok, stdout, first) = fetch(dir.path(), &bundles);
    assert!(ok, "{stdout}");
    assert_eq!(first["installed"], 3, "{stdout}");
    let vad = dir.path().join("silero-vad/silero_vad.onnx");
    let mtime = std::fs::metadata(&vad).unwrap().modified().unwrap();

    let (ok, stdout, second) = fetch(dir.path(), &bundles);
    assert!(ok, "{stdout}");
    assert_eq!(second["installed"], 0, "{stdout}");
    assert_eq!(second["downloads"], 0, "{stdout}");
    assert_eq!(second["reused"], 3, "{stdout}");
    assert_eq!(std::fs::metadata(&vad).unwrap().modified().unwrap(), mtime);
}

#[test]
fn fetch_replaces_a_tampered_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(fetch(dir.path(), &["wake-hey_rhasspy"]).0);
    let model = dir.path().join("wake-hey_rhasspy/hey_rhasspy_v0.1.onnx");
    std::fs::write(&model, b"garbage").unwrap();
    let (ok, stdout, summary) = fetch(dir.path(), &["wake-hey_rhasspy"]);
    assert!(ok, "{stdout}");
    assert_eq!(summary["installed"], 1, "{stdout}");
    assert_eq!(std::fs::metadata(&model).unwrap().len(), 204_081);
}

#[test]
fn unknown_bundle_is_an_error() {
    let root = repo_root();
    let out = Command::new("python3")
        .arg(root.join("models/fetch"))
        .arg("no-such-model")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("models/fetch --list"));
}
