//! Debug recordings (`audio.debug_recordings_dir`) through `hearken simulate` on the real
//! models and the local LLM server: each turn's audio is saved exactly as the recognizer got
//! it, named for its turn and what was heard; on a full filesystem (a 64 KiB tmpfs in a
//! mount namespace of its own) recording stops with one warning, leaves no partial file, and
//! every turn is still answered.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::rig::{conversation, Part};
use common::{hearken, json_lines, llm_url, models_dir, text};
use hearken::audio::wav;

fn config(dir: &Path, recordings: &Path) -> PathBuf {
    let config = dir.join("hearken.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\ndir = \"{}\"\n[llm]\nbase_url = \"{}\"\nmax_tokens = 24\n\
             [pipeline]\nfollow_up_ms = 0\n[service]\nlog_target = \"stderr\"\n\
             [audio]\ndebug_recordings_dir = \"{}\"\n",
            models_dir().display(),
            llm_url(),
            recordings.display()
        ),
    )
    .unwrap();
    config
}

/// Two questions, each after the wake word.
fn two_questions(dir: &Path) -> (PathBuf, Vec<i16>) {
    let samples = conversation(&[
        Part::Say("alexa_capital"),
        Part::Silence(1.0),
        Part::Say("alexa_sum"),
        Part::Silence(0.5),
    ]);
    let input = dir.join("questions.wav");
    wav::write_i16(&input, 16_000, 1, &samples).unwrap();
    (input, samples)
}

fn simulate(mut cmd: Command, config: &Path, input: &Path, dir: &Path) -> Command {
    cmd.args(["--config", config.to_str().unwrap(), "simulate", "--json"])
        .args(["--input", input.to_str().unwrap()])
        .args(["--out", dir.join("reply.wav").to_str().unwrap()]);
    cmd
}

/// Both questions heard and answered by the LLM (not its apology).
fn assert_answered_both(out: &Output) {
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let turns = json_lines(&out.stdout);
    assert_eq!(turns.len(), 2, "{turns:?}\n{stderr}");
    for (turn, heard) in turns.iter().zip(["france", "plus"]) {
        assert_eq!(turn["fallback"], false, "{turn}");
        let transcript = turn["transcript"].as_str().unwrap().to_lowercase();
        assert!(
            transcript.contains(heard) || (heard == "plus" && transcript.contains('+')),
            "{turn}"
        );
    }
}

fn recordings_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn each_turn_is_saved_as_the_recognizer_heard_it() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().join("recordings");
    let config = config(dir.path(), &recordings);
    let (input, said) = two_questions(dir.path());
    let out = simulate(hearken(), &config, &input, dir.path())
        .output()
        .unwrap();
    assert_answered_both(&out);

    let files = recordings_in(&recordings);
    assert_eq!(files.len(), 2, "{files:?}");
    let mut ends = Vec::new();
    for (file, (turn, heard)) in files.iter().zip([(1, "france"), (2, "plus")]) {
        let name = file.file_name().unwrap().to_string_lossy().to_lowercase();
        assert!(
            name.starts_with("turn-") && name.ends_with(".wav"),
            "{name}"
        );
        assert!(name.contains(&format!("-{turn}-")), "{name}");
        // "2 + 2" is heard as often as "two plus two": the name keeps what was heard.
        assert!(
            name.contains(heard) || (heard == "plus" && name.contains('2')),
            "{name}"
        );
        let audio = wav::read(file).unwrap();
        assert_eq!((audio.sample_rate, audio.channels), (16_000, 1), "{name}");
        let got: Vec<i16> = audio.samples.iter().map(|&s| wav::f32_to_i16(s)).collect();
        // At least the question (over a second of speech), and the microphone's own samples:
        // one stretch of the input, not a mix or a resampling of it.
        assert!(got.len() > 16_000, "{name}: {} samples", got.len());
        let at = said
            .windows(got.len())
            .position(|w| w == got.as_slice())
            .unwrap_or_else(|| panic!("{name} is not a stretch of the input"));
        ends.push((at, at + got.len()));
    }
    // In order, the second turn's audio after the first's.
    assert!(ends[0].1 <= ends[1].0, "{ends:?}");
}

#[test]
fn a_full_filesystem_stops_recording_with_one_warning_and_the_turns_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().join("recordings");
    std::fs::create_dir(&recordings).unwrap();
    let config = config(dir.path(), &recordings);
    let (input, _) = two_questions(dir.path());
    let listing = dir.path().join("left.txt");

    // A 64 KiB tmpfs over the recordings directory, 56 KiB of it taken: less room than a
    // turn's audio needs. Its own mount namespace (as root, or as a user through a user
    // namespace), so nothing is mounted on the host; what is left in it is listed before
    // the namespace goes.
    let mut cmd = Command::new("unshare");
    cmd.env_remove("HEARKEN_CONFIG")
        .env_remove("RUST_LOG")
        .args(["--mount", "--map-root-user", "sh", "-c"])
        .arg(
            "set -e; dir=$1; listing=$2; shift 2; \
             mount -t tmpfs -o size=64k hearken-full \"$dir\"; \
             head -c 57344 /dev/zero > \"$dir/filler\"; \
             status=0; \"$@\" || status=$?; ls -A \"$dir\" > \"$listing\"; exit $status",
        )
        .args([
            "sh",
            recordings.to_str().unwrap(),
            listing.to_str().unwrap(),
        ])
        .arg(env!("CARGO_BIN_EXE_hearken"));
    let out = simulate(cmd, &config, &input, dir.path()).output().unwrap();
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains("unshare:") && !stderr.contains("mount:"),
        "no tmpfs in a mount namespace here: {stderr}"
    );
    assert_answered_both(&out);

    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("debug recordings stopped"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("WARN"), "{}", warnings[0]);
    assert!(
        warnings[0].contains("No space left on device"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains(&recordings.display().to_string()),
        "{}",
        warnings[0]
    );
    // The failed write took its partial file with it.
    let left = std::fs::read_to_string(&listing).unwrap();
    assert_eq!(left.split_whitespace().collect::<Vec<_>>(), ["filler"]);
}
