//! The turn starts when the user starts speaking: a wake word, a pause (people wait for the
//! chime), then a question, is one turn that answers the whole question. The recordings are
//! made at test time by scripts/wake-pause-fixtures (Piper and espeak-ng wake words, Piper and
//! LibriVox questions, no pause and 0.5 / 1.0 / 1.5 s) and run through `hearken simulate`
//! with the real models and the local llama.cpp server (scripts/local-llm). And the wake word
//! alone asks the LLM nothing.

mod common;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use common::{hearken, json_lines, llm_url, repo_root, text, write_config};
use hearken::asr::text::{normalize_words, word_errors};
use serde_json::Value;

/// Two cores and one LLM server: one recording at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

struct Fixture {
    name: String,
    wake_word: String,
    pause_s: f32,
    question: String,
}

fn make_fixtures(dir: &Path, config: &Path) -> Vec<Fixture> {
    let out = std::process::Command::new(repo_root().join("scripts/wake-pause-fixtures"))
        .arg(dir)
        .arg(env!("CARGO_BIN_EXE_hearken"))
        .arg(config)
        .output()
        .expect("scripts/wake-pause-fixtures runs");
    assert!(
        out.status.success(),
        "scripts/wake-pause-fixtures failed: {}",
        text(&out.stderr)
    );
    std::fs::read_to_string(dir.join("fixtures.tsv"))
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Fixture {
                name: f[0].into(),
                wake_word: f[1].into(),
                pause_s: f[2].parse().unwrap(),
                question: f[3].into(),
            }
        })
        .collect()
}

fn simulate(dir: &Path, config: &Path, input: &Path) -> Vec<Value> {
    let out = hearken()
        .args(["--config", config.to_str().unwrap(), "simulate", "--json"])
        .args(["--input", input.to_str().unwrap()])
        .args(["--out", dir.join("reply.wav").to_str().unwrap()])
        .output()
        .expect("hearken runs");
    assert!(
        out.status.success(),
        "simulate {} failed\n{}",
        input.display(),
        text(&out.stderr)
    );
    json_lines(&out.stdout)
}

/// Why this recording was not answered as one turn with the whole question, if it was not.
fn judge(fixture: &Fixture, turns: &[Value]) -> Option<String> {
    let said: Vec<String> = turns
        .iter()
        .map(|t| format!("{:?}", t["transcript"].as_str().unwrap_or("")))
        .collect();
    let [turn] = turns else {
        return Some(format!("{} turns: {}", turns.len(), said.join(", ")));
    };
    if turn["wake_word"] != fixture.wake_word.as_str() {
        return Some(format!("woken by {}", turn["wake_word"]));
    }
    let transcript = turn["transcript"].as_str().unwrap();
    // Whisper may write a word its own way ("ill-disposed", "2"): two word errors are
    // allowed; a lost half of the question, or the wake word left in, is more.
    let (errors, words) = word_errors(&fixture.question, transcript);
    if errors > 2 {
        return Some(format!("{errors}/{words} word errors in {transcript:?}"));
    }
    let last = normalize_words(&fixture.question).pop().unwrap();
    if !normalize_words(transcript).contains(&last) {
        return Some(format!("the question's end is missing: {transcript:?}"));
    }
    if turn["reply"].as_str().unwrap_or("").is_empty() {
        return Some(format!("no answer to {transcript:?}"));
    }
    None
}

#[test]
fn a_pause_after_the_wake_word_is_one_turn_with_the_whole_question() {
    let _serial = serial();
    let url = llm_url();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[llm]\nbase_url = \"{url}\"\nmax_tokens = 16\n\
             [wake]\nwords = [\"alexa\", \"hey_jarvis\"]\n\
             [service]\nlog_target = \"stderr\"\n"
        ),
    );
    let fixtures = make_fixtures(dir.path(), &config);
    assert!(fixtures.len() >= 20, "{} fixtures", fixtures.len());
    let mut failures = vec![];
    for fixture in &fixtures {
        let input = dir.path().join(format!("{}.wav", fixture.name));
        let turns = simulate(dir.path(), &config, &input);
        let verdict = judge(fixture, &turns);
        let heard: Vec<&str> = turns
            .iter()
            .map(|t| t["transcript"].as_str().unwrap_or(""))
            .collect();
        eprintln!(
            "{:<28} pause {:.1} s  {}  {heard:?}",
            fixture.name,
            fixture.pause_s,
            verdict.as_deref().unwrap_or("one turn")
        );
        if let Some(why) = verdict {
            failures.push(format!("{}: {why}", fixture.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} recordings were not one turn with the whole question:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
}

/// The wake word alone, then silence until the input ends: the turn ends without asking the
/// LLM anything, whatever the recognizer made of the wake word's tail ("Seth.", "[BLANK_AUDIO]"
/// were asked before).
#[test]
fn the_wake_word_alone_asks_nothing() {
    let _serial = serial();
    let url = llm_url();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[llm]\nbase_url = \"{url}\"\nmax_tokens = 16\n\
             [wake]\nwords = [\"alexa\", \"hey_jarvis\"]\n\
             [service]\nlog_target = \"stderr\"\n"
        ),
    );
    let clips = repo_root().join("daemon/tests/fixtures/wake/clips");
    for word in ["alexa", "hey_jarvis"] {
        for speed in ["slow", "fast"] {
            let clip = clips.join(format!("{word}__piper-joe__{speed}.wav"));
            let turns = simulate(dir.path(), &config, &clip);
            eprintln!("{}: {turns:?}", clip.display());
            assert_eq!(turns.len(), 1, "{}: {turns:?}", clip.display());
            let turn = &turns[0];
            assert_eq!(turn["wake_word"], word, "{turn}");
            assert_eq!(turn["transcript"], "", "{turn}");
            assert_eq!(turn["reply"], "", "{turn}");
        }
    }
}
