//! Broken files at start: a truncated model and an unreadable config stop `hearken run`
//! at once with an error naming the file (and, for a model, the command that reinstalls
//! it), `hearken check` says the same, and once the file is put right the same install
//! answers a question (the real models and the local LLM server, `hearken simulate`).

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::rig::{conversation, Part};
use common::{hearken, linked_install, llm_url, models_dir, text};
use hearken::audio::wav;

/// `cmd` run to its end, which must come within `within`: a daemon that cannot start must
/// not linger half-started.
fn exits_within(mut cmd: Command, within: Duration) -> Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if started.elapsed() > within {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    waiter.join().unwrap()
}

fn config(dir: &Path, models: &Path) -> PathBuf {
    let config = dir.join("hearken.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\ndir = \"{}\"\nfetch_command = \"models/fetch\"\n\
             [llm]\nbase_url = \"{}\"\nmax_tokens = 24\n\
             [pipeline]\nfollow_up_ms = 0\n[service]\nlog_target = \"stderr\"\n\
             [api]\nsocket = \"{}\"\n",
            models.display(),
            llm_url(),
            dir.join("api.sock").display()
        ),
    )
    .unwrap();
    config
}

fn check(config: &Path) -> Output {
    let mut cmd = hearken();
    cmd.args(["--config", config.to_str().unwrap(), "check"]);
    exits_within(cmd, Duration::from_secs(120))
}

fn run(config: &Path) -> Output {
    let mut cmd = hearken();
    cmd.args(["--config", config.to_str().unwrap(), "run"]);
    exits_within(cmd, Duration::from_secs(120))
}

/// One question through `hearken simulate`: the turn it answered.
fn answers_a_question(dir: &Path, config: &Path) -> serde_json::Value {
    let input = dir.join("question.wav");
    wav::write_i16(
        &input,
        16_000,
        1,
        &conversation(&[Part::Say("alexa_capital"), Part::Silence(0.5)]),
    )
    .unwrap();
    let mut cmd = hearken();
    cmd.args(["--config", config.to_str().unwrap(), "simulate", "--json"])
        .args(["--input", input.to_str().unwrap()])
        .args(["--out", dir.join("reply.wav").to_str().unwrap()]);
    let out = exits_within(cmd, Duration::from_secs(300));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let turns = common::json_lines(&out.stdout);
    assert_eq!(turns.len(), 1, "{turns:?}\n{}", text(&out.stderr));
    let turn = turns[0].clone();
    assert_eq!(turn["fallback"], false, "{turn}");
    assert!(
        turn["transcript"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("france"),
        "{turn}"
    );
    turn
}

#[test]
fn a_truncated_model_is_named_with_its_fetch_command_then_the_reinstalled_one_answers() {
    let dir = tempfile::tempdir().unwrap();
    let models = linked_install(dir.path());
    let model = models.join("wake-alexa/alexa_v0.1.onnx");
    let whole = std::fs::read(&model).unwrap();
    // A download cut short: the first third of the file.
    std::fs::remove_file(&model).unwrap();
    std::fs::write(&model, &whole[..whole.len() / 3]).unwrap();
    let config = config(dir.path(), &models);

    let out = check(&config);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let failing: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(failing.len(), 1, "{stdout}");
    assert!(
        failing[0].contains(&model.display().to_string()),
        "{stdout}"
    );
    assert!(failing[0].contains("models/fetch"), "{stdout}");

    // The daemon stops at start (systemd sees the failure), naming the same.
    let out = run(&config);
    let stderr = text(&out.stderr);
    eprintln!("{stderr}");
    assert!(!out.status.success(), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "panicked: {stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains(&model.display().to_string()), "{stderr}");
    assert!(last.contains("models/fetch"), "{stderr}");

    // Reinstalled: the same install answers.
    std::fs::remove_file(&model).unwrap();
    std::fs::copy(models_dir().join("wake-alexa/alexa_v0.1.onnx"), &model).unwrap();
    assert!(check(&config).status.success());
    answers_a_question(dir.path(), &config);
}

/// `hearken` as a user who may not read a file with no read permission: without the
/// capabilities that let root read anyway, when the tests run as root.
fn without_dac_override() -> Command {
    let mut cmd = hearken();
    // SAFETY: prctl only, between fork and exec; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            // CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (linux/capability.h).
            for cap in [1, 2] {
                if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && libc::geteuid() == 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd
}

#[test]
fn an_unreadable_config_is_named_by_check_and_run_then_the_readable_one_answers() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &models_dir());
    let mode = |m: u32| {
        std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
    };
    mode(0o000);
    let expected = format!("cannot read config {}: Permission denied", config.display());
    for what in ["check", "run"] {
        let mut cmd = without_dac_override();
        cmd.args(["--config", config.to_str().unwrap(), what]);
        let out = exits_within(cmd, Duration::from_secs(30));
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{what}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{what} panicked: {stderr}");
        assert!(stderr.contains(&expected), "{what}: {stderr}");
    }

    mode(0o644);
    answers_a_question(dir.path(), &config);
}
