//! `hearken check` against the installed models and native libraries.

mod common;

use common::*;

#[test]
fn dev_install_passes_every_check() {
    let out = run_hearken(&["--config", dev_config().to_str().unwrap(), "check"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for item in [
        "native: sherpa-onnx",
        "model: openwakeword-features",
        "model: wake-alexa",
        "model: silero-vad",
        "model: asr-whisper-tiny.en",
        "model: piper-en_US-joe-medium",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.contains(item))
            .unwrap_or_else(|| panic!("no `{item}` line in\n{stdout}"));
        assert!(line.starts_with("ok"), "{line}");
    }
    assert!(stdout.contains("ONNX Runtime 1.28.2"), "{stdout}");
}

#[test]
fn missing_model_names_file_and_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\ndir = \"{}\"\nfetch_command = \"models/fetch\"\n",
            models.display()
        ),
    )
    .unwrap();
    let out = run_hearken(&["--config", config.to_str().unwrap(), "check"]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("model: silero-vad"))
        .unwrap();
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(
        line.contains(&format!("{}/silero-vad/silero_vad.onnx", models.display())),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "models/fetch --dest {} silero-vad",
            models.display()
        )),
        "{line}"
    );
}

#[test]
fn tampered_model_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    // A copy of the real install with one byte of the VAD model changed.
    for bundle in [
        "openwakeword-features",
        "wake-alexa",
        "silero-vad",
        "asr-whisper-tiny.en",
        "piper-en_US-joe-medium",
    ] {
        std::fs::create_dir_all(models.join(bundle)).unwrap();
        for entry in std::fs::read_dir(models_dir().join(bundle)).unwrap() {
            let entry = entry.unwrap();
            std::os::unix::fs::symlink(entry.path(), models.join(bundle).join(entry.file_name()))
                .unwrap();
        }
    }
    let vad = models.join("silero-vad/silero_vad.onnx");
    let mut bytes = std::fs::read(&vad).unwrap();
    std::fs::remove_file(&vad).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&vad, bytes).unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\ndir = \"{}\"\nfetch_command = \"models/fetch\"\n",
            models.display()
        ),
    )
    .unwrap();

    let out = run_hearken(&["--config", config.to_str().unwrap(), "check"]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let failing: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(failing.len(), 1, "{stdout}");
    assert!(
        failing[0].contains("silero_vad.onnx is damaged or replaced"),
        "{}",
        failing[0]
    );
}

#[test]
fn malformed_config_is_refused_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[audio]\nperiod_ms = 20\nperiods = [4\n").unwrap();
    let out = run_hearken(&["--config", config.to_str().unwrap(), "check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:", config.display())),
        "{stderr}"
    );
}

#[test]
fn unknown_key_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[vad]\nthreshhold = 0.4\n");
    let out = run_hearken(&["--config", config.to_str().unwrap(), "check"]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unknown key `vad.threshhold`"), "{stderr}");
    assert!(stderr.contains("did you mean `vad.threshold`"), "{stderr}");
}
