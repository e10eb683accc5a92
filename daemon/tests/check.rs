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

/// A copy of the real install with one byte of the VAD model changed, and a config using it.
fn tampered_install(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let models = linked_install(dir);
    let vad = models.join("silero-vad/silero_vad.onnx");
    let mut bytes = std::fs::read(&vad).unwrap();
    std::fs::remove_file(&vad).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&vad, bytes).unwrap();
    let config = dir.join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\ndir = \"{}\"\nfetch_command = \"models/fetch\"\n{extra}",
            models.display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn tampered_model_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let config = tampered_install(dir.path(), "");

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

/// `hearken check` on a config with `body` must refuse it before checking anything else:
/// exit code 2 and one message naming the file and line, the key, the value and what is
/// allowed.
fn refused(body: &str, line: usize, key: &str, value: &str, allowed: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), body);
    let out = run_hearken(&["--config", config.to_str().unwrap(), "check"]);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{body}: {:?} {stderr}",
        out.status
    );
    // write_config puts three lines of [models] before `body`.
    let at = format!("{}:{}:", config.display(), line + 3);
    for part in [at.as_str(), key, value, allowed] {
        assert!(stderr.contains(part), "{body}: no `{part}` in {stderr}");
    }
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
}

#[test]
fn bad_choice_is_refused_with_the_choices() {
    for (body, key, value, allowed) in [
        (
            "[asr]\nendpoint = \"silence\"",
            "asr.endpoint",
            "`silence`",
            "`rules`, `vad`, `both`",
        ),
        (
            "[asr]\nendpoint_preset = \"fast\"",
            "asr.endpoint_preset",
            "`fast`",
            "`aggressive`, `default`, `relaxed`",
        ),
        (
            "[asr]\nprovider = \"gpu\"",
            "asr.provider",
            "`gpu`",
            "`cpu`, `cuda`, `trt`, `xnnpack`",
        ),
        (
            "[audio]\ncapture_pacing = \"fast\"",
            "audio.capture_pacing",
            "`fast`",
            "`device`, `realtime`, `unpaced`",
        ),
        (
            "[service]\nlog_level = \"loud\"",
            "service.log_level",
            "`loud`",
            "`error`, `warn`, `info`, `debug`, `trace`",
        ),
        (
            "[service]\nlog_target = \"syslog\"",
            "service.log_target",
            "`syslog`",
            "`auto`, `journald`, `stderr`",
        ),
    ] {
        refused(body, 2, key, value, allowed);
    }
}

#[test]
fn unknown_model_is_refused_with_the_bundles_of_its_kind() {
    refused(
        "[asr]\nmodel = \"silero-vad\"",
        2,
        "asr.model",
        "\"silero-vad\"",
        "asr-whisper-tiny.en",
    );
    refused(
        "[wake]\nwords = [\"alexa\", \"computer\"]",
        2,
        "wake.words",
        "\"computer\"",
        "alexa, hey_jarvis, hey_mycroft",
    );
    refused("[wake]\nwords = []", 2, "wake.words", "[]", "hey_jarvis");
    refused(
        "[vad]\nmodel = \"wake-alexa\"",
        2,
        "vad.model",
        "\"wake-alexa\"",
        "silero-vad",
    );
    refused(
        "[tts]\nvoice = \"joe\"",
        2,
        "tts.voice",
        "\"joe\"",
        "piper-en_US-joe-medium",
    );
    refused(
        "[turn]\nmodel = \"silero-vad\"",
        2,
        "turn.model",
        "\"silero-vad\"",
        "smart-turn-v3.2",
    );
}

#[test]
fn smart_turn_mode_checks_and_loads_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[turn]\nmode = \"smart\"\n");
    let out = run_hearken(&["--config", config.to_str().unwrap(), "check"]);
    let stdout = text(&out.stdout);
    for item in ["model: smart-turn-v3.2", "turn: smart"] {
        let line = stdout
            .lines()
            .find(|l| l.contains(item))
            .unwrap_or_else(|| panic!("no `{item}` line in\n{stdout}{}", text(&out.stderr)));
        assert!(line.starts_with("ok"), "{line}");
    }
    assert!(
        stdout.contains("smart-turn-v3.2-cpu.onnx loaded"),
        "{stdout}"
    );
}

#[test]
fn threshold_outside_0_to_1_is_refused() {
    refused(
        "[wake]\nthreshold = 1.5",
        2,
        "wake.threshold",
        "1.5",
        "0..1",
    );
    refused(
        "[vad]\nthreshold = -0.1",
        2,
        "vad.threshold",
        "-0.1",
        "0..1",
    );
    refused("[vad]\nthreshold = nan", 2, "vad.threshold", "NaN", "0..1");
    refused(
        "[wake]\nthresholds = { alexa = 7 }",
        2,
        "wake.thresholds",
        "alexa = 7",
        "0..1",
    );
    refused(
        "[pipeline.earcons]\nvolume = 2.0",
        2,
        "pipeline.earcons.volume",
        "2",
        "0..1",
    );
    refused("[tts]\nvolume = 1.5", 2, "tts.volume", "1.5", "0..1");
}

#[test]
fn threshold_for_a_word_not_listened_for_is_refused() {
    refused(
        "[wake]\nwords = [\"alexa\"]\nthresholds = { hey_jarvis = 0.6 }",
        3,
        "wake.thresholds",
        "\"hey_jarvis\"",
        "configured words (alexa)",
    );
}

#[test]
fn negative_nan_zero_or_huge_timeout_is_refused() {
    for (key, value, shown) in [
        ("connect_timeout_s", "-1.0", "-1"),
        ("first_token_timeout_s", "nan", "NaN"),
        ("answer_timeout_s", "0.0", "0"),
        (
            "answer_timeout_s",
            "1e30",
            "1000000000000000000000000000000",
        ),
        ("answer_timeout_s", "inf", "inf"),
    ] {
        refused(
            &format!("[llm]\n{key} = {value}"),
            2,
            &format!("llm.{key}"),
            shown,
            "more than 0 and at most 3600 seconds",
        );
    }
}

#[test]
fn zero_threads_is_refused() {
    refused("[asr]\nthreads = 0", 2, "asr.threads", "0 is", "1..64");
    refused("[asr]\nthreads = -2", 2, "asr.threads", "-2 is", "1..64");
}

#[test]
fn integer_out_of_range_is_refused() {
    for (body, key, value, allowed) in [
        (
            "[audio]\nsample_rate = 1000",
            "audio.sample_rate",
            "1000",
            "8000..192000",
        ),
        ("[audio]\nperiod_ms = 0", "audio.period_ms", "0", "1..500"),
        ("[audio]\nperiods = 1", "audio.periods", "1", "2..64"),
        ("[audio]\nchannels = 0", "audio.channels", "0", "1..32"),
        (
            "[audio]\nplayback_rate = 100",
            "audio.playback_rate",
            "100",
            "8000..192000 (or 0)",
        ),
        ("[llm]\nmax_tokens = 0", "llm.max_tokens", "0", "1..32768"),
        ("[llm]\ntemperature = 3.0", "llm.temperature", "3", "0..2"),
        ("[llm]\nretries = 99", "llm.retries", "99", "0..10"),
        (
            "[pipeline]\nmax_utterance_ms = 10",
            "pipeline.max_utterance_ms",
            "10",
            "1000..120000",
        ),
        (
            "[asr]\npreroll_ms = 60000",
            "asr.preroll_ms",
            "60000",
            "0..5000",
        ),
    ] {
        refused(body, 2, key, value, allowed);
    }
}

#[test]
fn keys_checked_together_name_the_line_of_the_refused_one() {
    refused(
        "[audio]\nperiod_ms = 100\nring_ms = 150",
        3,
        "audio.ring_ms",
        "150 ms",
        "two periods (2 × audio.period_ms = 200 ms)",
    );
    refused(
        "[llm]\nbase_url = \"localhost:8080\"",
        2,
        "llm.base_url",
        "\"localhost:8080\"",
        "http:// or https://",
    );
}

#[test]
fn defaults_and_the_shipped_config_pass() {
    let dir = tempfile::tempdir().unwrap();
    // The built-in defaults (only the models directory points at this install).
    let defaults = write_config(dir.path(), "");
    let shipped = dir.path().join("shipped.toml");
    let text_of_shipped = std::fs::read_to_string(repo_root().join("config/hearken.toml"))
        .unwrap()
        .replace(
            "dir = \"/var/lib/hearken/models\"",
            &format!("dir = \"{}\"", models_dir().display()),
        );
    std::fs::write(&shipped, text_of_shipped).unwrap();
    for config in [defaults, shipped] {
        let out = run_hearken(&["--config", config.to_str().unwrap(), "check"]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        let engines = stdout.lines().find(|l| l.contains("engines")).unwrap();
        assert!(engines.starts_with("ok"), "{engines}");
    }
}

/// `models.verify_on_start` makes the engines `run` builds refuse a damaged model.
#[test]
fn verify_on_start_refuses_a_tampered_model_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let config = tampered_install(dir.path(), "verify_on_start = true\n");
    let loaded = hearken::config::Config::load_file(&config).unwrap();
    let err = hearken::pipeline::build_engines(&loaded.config)
        .err()
        .expect("a damaged model is refused")
        .to_string();
    assert!(
        err.contains("silero_vad.onnx is damaged or replaced"),
        "{err}"
    );
}
