//! Fuzzing hearken's parsers of outside input: the config loader, the WAV reader, the LLM
//! answer stream, the chunker, the text normaliser before TTS and the phonemizer.
//!
//! `regression_corpus` (part of `make test`) runs every input kept in `corpus/<target>/`:
//! the ones that once failed, each fixed since. `make fuzz` runs the ignored `fuzz` test
//! once per target (`FUZZ_TARGET`, for `FUZZ_SECONDS`); a failing input is saved under
//! `FUZZ_OUT` (default: the target dir's `fuzz/`) to be fixed and added to the corpus.

mod driver;
mod llm_stream;
mod targets;

use std::path::{Path, PathBuf};
use std::time::Duration;

use targets::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target)
}

/// The kept inputs of `target`, sorted.
pub fn corpus_files(target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn regression_corpus() {
    driver::quiet_panics();
    let mut failed = Vec::new();
    let mut ran = 0;
    for target in TARGETS {
        for file in corpus_files(target.name) {
            let data = std::fs::read(&file).unwrap();
            ran += 1;
            if let Err((at, message)) = driver::run_one(target, &data) {
                failed.push(format!("{}: {at}: {message}", file.display()));
            }
        }
    }
    let _ = std::panic::take_hook();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(
        ran > 0,
        "no corpus files under {}",
        corpus_dir("").display()
    );
}

/// One target for a while: `FUZZ_TARGET=chunker FUZZ_SECONDS=600 cargo test --test fuzz
/// -- --ignored --nocapture`.
#[test]
#[ignore = "long: run by `make fuzz`"]
fn fuzz() {
    let name = std::env::var("FUZZ_TARGET").expect("FUZZ_TARGET names the target");
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .map(|s| s.parse().expect("FUZZ_SECONDS is a number of seconds"))
        .unwrap_or(600);
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let out = std::env::var_os("FUZZ_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
                .join("fuzz")
        });
    let target = targets::by_name(&name);
    let report = driver::fuzz(target, Duration::from_secs(seconds), seed, &out);
    let secs = report.elapsed.as_secs_f64();
    println!(
        "fuzz {name}: {secs:.0} s, {} executions ({:.0}/s), {} failures ({} slow), seed {seed}",
        report.execs,
        report.execs as f64 / secs,
        report.failures.len(),
        report.slow,
    );
    for (at, file) in &report.failures {
        println!("  {at}: {}", file.display());
    }
    assert!(report.failures.is_empty(), "fuzz {name} found failures");
}
