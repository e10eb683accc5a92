//! Shared by the integration tests: where the repo, the models and the binary are.
#![allow(dead_code)]

pub mod api;
pub mod daemon;
pub mod journal;
pub mod mic;
pub mod rig;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The models installed by `scripts/setup` (or $HEARKEN_MODELS_DIR).
pub fn models_dir() -> PathBuf {
    std::env::var_os("HEARKEN_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".hearken/models"))
}

pub fn dev_config() -> PathBuf {
    repo_root().join("config/dev.toml")
}

/// Real speech: LibriVox utterances from Debian's pocketsphinx-testdata.
pub const LIBRIVOX_DIR: &str = "/usr/share/pocketsphinx/test/data/librivox";

pub fn librivox_wavs() -> Vec<PathBuf> {
    let mut wavs: Vec<PathBuf> = std::fs::read_dir(LIBRIVOX_DIR)
        .unwrap_or_else(|e| {
            panic!("{LIBRIVOX_DIR}: {e} (scripts/setup installs pocketsphinx-testdata)")
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    wavs.sort();
    wavs
}

pub fn hearken() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hearken"));
    cmd.env_remove("HEARKEN_CONFIG").env_remove("RUST_LOG");
    cmd
}

/// Runs `hearken ARGS`, returning the output whatever the exit code.
pub fn run_hearken(args: &[&str]) -> Output {
    hearken().args(args).output().expect("hearken runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One JSON object per line, as the `--json` subcommands print them.
pub fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    text(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A config file in `dir` with the dev config's models section plus `extra`.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("hearken.toml");
    let body = format!(
        "[models]\ndir = \"{}\"\nfetch_command = \"models/fetch\"\n{extra}",
        models_dir().display()
    );
    std::fs::write(&path, body).unwrap();
    path
}

/// `dir/models`: the real install's bundles that the default config uses, each file a
/// symlink to the installed one, for a test to damage one of them (replace the link).
pub fn linked_install(dir: &Path) -> PathBuf {
    let models = dir.join("models");
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
    models
}

/// A config for `hearken run` on file-backed devices (`ALSA_CONFIG_PATH` from `devices`):
/// capture paced like a sound card, the local LLM server, logs on stderr at debug.
pub fn daemon_config(
    dir: &Path,
    devices: &hearken::audio::filedev::FileDevices,
    playback_device: &str,
    llm_extra: &str,
) -> PathBuf {
    daemon_config_at(dir, devices, playback_device, &llm_url(), llm_extra, "")
}

/// As [`daemon_config`] with the LLM server at `base_url` and `api_extra` in `[api]`
/// (whose socket is `dir/api.sock`).
pub fn daemon_config_at(
    dir: &Path,
    devices: &hearken::audio::filedev::FileDevices,
    playback_device: &str,
    base_url: &str,
    llm_extra: &str,
    api_extra: &str,
) -> PathBuf {
    let config = dir.join("hearken.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\ndir = \"{}\"\n\
             [audio]\ncapture_device = \"{}\"\nplayback_device = \"{playback_device}\"\n\
             capture_pacing = \"realtime\"\n\
             [llm]\nbase_url = \"{}\"\n{llm_extra}\n\
             [pipeline]\nfollow_up_ms = 0\n\
             [service]\nlog_target = \"stderr\"\nlog_level = \"debug\"\n\
             [api]\nsocket = \"{}\"\n{api_extra}\n",
            models_dir().display(),
            devices.capture,
            base_url,
            dir.join("api.sock").display(),
        ),
    )
    .unwrap();
    config
}

/// Starts (or finds) the embedded llama.cpp server (`scripts/local-llm start`); its OpenAI
/// base URL, the script's last line.
pub fn llm_url() -> String {
    let out = Command::new(repo_root().join("scripts/local-llm"))
        .arg("start")
        .output()
        .expect("scripts/local-llm runs");
    assert!(
        out.status.success(),
        "scripts/local-llm start failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout).lines().last().unwrap().trim().to_string()
}

/// `host:port` of an `http://host:port/...` URL.
pub fn host_port(url: &str) -> String {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

/// A TCP port free right now on 127.0.0.1 (for a daemon to listen on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs a scenario of scripts/wyoming-peer (the `wyoming` package acting as Home
/// Assistant) against `address`; the JSON object it prints.
pub fn wyoming_peer(scenario: &str, address: &str, args: &[&str]) -> serde_json::Value {
    let python = repo_root().join(".hearken/venv/bin/python");
    let out = Command::new(&python)
        .arg(repo_root().join("scripts/wyoming-peer"))
        .arg(scenario)
        .arg(address)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/setup creates it)", python.display()));
    assert!(
        out.status.success(),
        "wyoming-peer {scenario} failed: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    serde_json::from_str(text(&out.stdout).trim())
        .unwrap_or_else(|e| panic!("wyoming-peer {scenario}: {e}: {}", text(&out.stdout)))
}
