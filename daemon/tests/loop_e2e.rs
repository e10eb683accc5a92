//! The conversation loop end to end: `hearken simulate` with the real models (openWakeWord,
//! Silero, Whisper, Piper), the real llama.cpp server (scripts/local-llm) and the real ALSA
//! code paths over file-backed devices. The conversations are built from phrases spoken by
//! the Piper voice (daemon/tests/fixtures/loop, made by scripts/reference/make_loop_fixtures.py).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use common::rig::Part;
use common::{hearken, host_port, llm_url, text, write_config};
use hearken::audio::wav;
use serde_json::Value;

/// The tests share two cores and one LLM server: one conversation at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A conversation recording: fixture phrases and silences, 16 kHz mono.
fn conversation(dir: &Path, parts: &[Part]) -> PathBuf {
    let path = dir.join("conversation.wav");
    wav::write_i16(&path, 16_000, 1, &common::rig::conversation(parts)).unwrap();
    path
}

struct Run {
    turns: Vec<Value>,
    reply: Vec<f32>,
    reply_rate: u32,
}

fn simulate(dir: &Path, config: &str, input: &Path, realtime: bool) -> Run {
    simulate_with(hearken(), dir, config, input, realtime)
}

fn simulate_with(mut cmd: Command, dir: &Path, config: &str, input: &Path, realtime: bool) -> Run {
    let config = write_config(dir, config);
    let reply = dir.join("reply.wav");
    cmd.args(["--config", config.to_str().unwrap(), "simulate", "--json"])
        .args(["--input", input.to_str().unwrap()])
        .args(["--out", reply.to_str().unwrap()]);
    if realtime {
        cmd.arg("--realtime");
    }
    let out = cmd.output().expect("hearken runs");
    assert!(
        out.status.success(),
        "simulate failed\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let turns: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    eprintln!("{}", text(&out.stderr));
    for t in &turns {
        eprintln!("{t}");
    }
    let audio = wav::read(&reply).unwrap();
    Run {
        turns,
        reply: audio.to_mono(),
        reply_rate: audio.sample_rate,
    }
}

fn config(llm: &str, extra: &str) -> String {
    format!(
        "[llm]\nbase_url = \"{llm}\"\nmax_tokens = 48\n[service]\nlog_target = \"stderr\"\n{extra}"
    )
}

fn transcript(turn: &Value) -> String {
    turn["transcript"].as_str().unwrap().to_lowercase()
}

/// Whisper writes "two plus two" as "2+2" or "2 plus 2".
fn asks_two_plus_two(turn: &Value) -> bool {
    let t = transcript(turn).replace(' ', "");
    t.contains("2+2") || t.contains("twoplustwo") || t.contains("2plus2")
}

fn reply(turn: &Value) -> &str {
    turn["reply"].as_str().unwrap()
}

fn ms(turn: &Value, key: &str) -> f64 {
    turn["timeline"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key} in {turn}"))
}

/// Seconds of `audio` louder than -40 dBFS, in 20 ms windows.
fn loud_seconds(audio: &[f32], rate: u32) -> f32 {
    let win = (rate / 50) as usize;
    let loud = audio
        .chunks(win)
        .filter(|w| (w.iter().map(|s| s * s).sum::<f32>() / w.len() as f32).sqrt() > 0.01)
        .count();
    loud as f32 / 50.0
}

#[test]
fn wake_word_question_gets_a_spoken_answer() {
    let _serial = serial();
    let url = llm_url();
    let dir = tempfile::tempdir().unwrap();
    let input = conversation(dir.path(), &[Part::Say("alexa_capital")]);
    let run = simulate(dir.path(), &config(&url, ""), &input, false);
    assert_eq!(run.turns.len(), 1, "{:?}", run.turns);
    let turn = &run.turns[0];
    assert_eq!(turn["wake_word"], "alexa");
    let heard = transcript(turn);
    assert!(heard.contains("capital of france"), "{heard}");
    assert!(
        !heard.starts_with("alexa"),
        "wake word sent to the LLM: {heard}"
    );
    assert!(!reply(turn).is_empty());
    assert_eq!(turn["interrupted"], false);
    assert_eq!(turn["fallback"], false);
    // Every stage of the timeline happened, in order.
    let order = [
        "wake_ms",
        "endpoint_ms",
        "asr_final_ms",
        "llm_request_ms",
        "llm_first_token_ms",
        "first_chunk_ms",
        "first_tts_audio_ms",
        "first_sample_written_ms",
        "playback_end_ms",
    ];
    for pair in order.windows(2) {
        assert!(ms(turn, pair[0]) <= ms(turn, pair[1]), "{pair:?} in {turn}");
    }
    assert!(turn["timeline"]["pipeline_overhead_ms"].is_number());
    // The answer was spoken: beyond the two cues (wake 140 ms, done 120 ms), sound for the
    // reply's text at no more than 33 characters a second (Piper speaks about 15). The LLM
    // samples at temperature 0.7, so the reply may be as short as "Paris, France.".
    let spoken = loud_seconds(&run.reply, run.reply_rate);
    let cues = 0.26;
    let least = cues + 0.03 * reply(turn).chars().count() as f32;
    assert!(
        spoken >= least,
        "only {spoken} s of sound in reply.wav for {:?} (at least {least} s)",
        reply(turn)
    );
}

#[test]
fn follow_up_question_needs_no_wake_word() {
    let _serial = serial();
    let url = llm_url();
    let dir = tempfile::tempdir().unwrap();
    let input = conversation(
        dir.path(),
        &[
            Part::Say("alexa_capital"),
            Part::Silence(0.5),
            Part::Say("germany"),
        ],
    );
    let run = simulate(dir.path(), &config(&url, ""), &input, false);
    assert_eq!(run.turns.len(), 2, "{:?}", run.turns);
    let second = &run.turns[1];
    assert_eq!(second["trigger"], "follow-up");
    assert!(second["wake_word"].is_null());
    assert!(transcript(second).contains("germany"), "{second}");
    assert!(!reply(second).is_empty());

    // With the window off, the same recording is one turn: "and what about Germany?"
    // without the wake word is not for hearken.
    let run = simulate(
        dir.path(),
        &config(&url, "[pipeline]\nfollow_up_ms = 0\n"),
        &input,
        false,
    );
    assert_eq!(run.turns.len(), 1, "{:?}", run.turns);
}

#[test]
fn wake_word_during_an_answer_barges_in() {
    let _serial = serial();
    let url = llm_url();
    let dir = tempfile::tempdir().unwrap();
    let input = conversation(
        dir.path(),
        &[
            Part::Say("alexa_story"),
            Part::Silence(6.0),
            Part::Say("alexa_sum"),
            Part::Silence(2.0),
        ],
    );
    // A long answer, so it is still playing when the second wake word comes: greedy
    // decoding, so that it is the same long story on every run (sampled at the default
    // temperature it was sometimes a two-sentence one, over before the wake word).
    let cfg = config(&url, "[pipeline]\nfollow_up_ms = 0\n")
        .replace("max_tokens = 48", "max_tokens = 300\ntemperature = 0.0");
    let run = simulate(dir.path(), &cfg, &input, true);
    assert_eq!(run.turns.len(), 2, "{:?}", run.turns);
    let (story, sum) = (&run.turns[0], &run.turns[1]);
    assert!(transcript(story).contains("dragon"), "{story}");
    assert_eq!(story["interrupted"], true, "{story}");
    assert!(asks_two_plus_two(sum), "{sum}");
    // The second answer's own first sample, not the cut-off one's.
    assert!(
        ms(sum, "first_sample_written_ms") > ms(sum, "asr_final_ms"),
        "{sum}"
    );
    assert!(ms(story, "playback_end_ms") > ms(story, "first_sample_written_ms"));
    assert_eq!(sum["wake_word"], "alexa");
    assert_eq!(sum["interrupted"], false);
    assert!(!reply(sum).is_empty());
}

#[test]
fn wake_word_while_the_first_answer_is_still_generated_is_answered() {
    let _serial = serial();
    // The server holds the first request 8 s; the second wake word comes 3 s after the
    // first question, while its answer is still being generated.
    let url = common::rig::slow_first_answer(&llm_url(), std::time::Duration::from_secs(8));
    let dir = tempfile::tempdir().unwrap();
    let input = conversation(
        dir.path(),
        &[
            Part::Say("alexa_capital"),
            Part::Silence(3.0),
            Part::Say("alexa_sum"),
            Part::Silence(4.0),
        ],
    );
    let run = simulate(
        dir.path(),
        &config(&url, "[pipeline]\nfollow_up_ms = 0\n"),
        &input,
        true,
    );
    assert_eq!(run.turns.len(), 2, "{:?}", run.turns);
    let (capital, sum) = (&run.turns[0], &run.turns[1]);
    assert!(transcript(capital).contains("france"), "{capital}");
    assert_eq!(capital["interrupted"], true, "{capital}");
    assert_eq!(reply(capital), "", "nothing of it was played: {capital}");
    assert!(asks_two_plus_two(sum), "{sum}");
    assert_eq!(sum["interrupted"], false, "{sum}");
    assert!(!reply(sum).is_empty(), "{sum}");
    assert!(ms(sum, "first_sample_written_ms") > ms(sum, "asr_final_ms"));
}

/// A TCP forwarder to the LLM server that hangs up on the first `drop_first` connections:
/// the server is down, then back.
fn flaky_proxy(upstream: &str, drop_first: usize) -> String {
    let upstream = host_port(upstream);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            if seen.fetch_add(1, Ordering::SeqCst) < drop_first {
                drop(client);
                continue;
            }
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
    format!("http://127.0.0.1:{port}/v1")
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

#[test]
fn llm_down_gets_a_spoken_apology_and_the_next_turn_works() {
    let _serial = serial();
    let url = flaky_proxy(&llm_url(), 1);
    let dir = tempfile::tempdir().unwrap();
    let input = conversation(
        dir.path(),
        &[
            Part::Say("alexa_capital"),
            Part::Silence(0.5),
            Part::Say("alexa_sum"),
        ],
    );
    let run = simulate(
        dir.path(),
        &config(&url, "[pipeline]\nfollow_up_ms = 0\n").replace("[llm]\n", "[llm]\nretries = 0\n"),
        &input,
        false,
    );
    assert_eq!(run.turns.len(), 2, "{:?}", run.turns);
    let (down, back) = (&run.turns[0], &run.turns[1]);
    assert_eq!(down["fallback"], true, "{down}");
    assert!(reply(down).starts_with("Sorry"), "{down}");
    assert_eq!(back["fallback"], false, "{back}");
    assert!(asks_two_plus_two(back), "{back}");
    assert!(!reply(back).is_empty() && !reply(back).starts_with("Sorry, I can"));
}

#[test]
fn twenty_turns_do_not_grow_threads_or_memory() {
    let _serial = serial();
    let url = llm_url();
    let dir = tempfile::tempdir().unwrap();
    let phrases = ["alexa_capital", "alexa_sum", "alexa_colour", "alexa_story"];
    let parts: Vec<Part> = (0..20)
        .flat_map(|i| [Part::Say(phrases[i % phrases.len()]), Part::Silence(0.5)])
        .collect();
    let input = conversation(dir.path(), &parts);
    // As the service runs it (systemd/hearken.service), and with greedy decoding: a
    // fresh-clone run, with glibc's default arena per thread and sampled answers of
    // varying length, rose 1-2 MB at 5 of its last 9 turns before going flat at turn 18,
    // which cannot be told from a leak.
    let mut cmd = hearken();
    cmd.env("MALLOC_ARENA_MAX", "2");
    let run = simulate_with(
        cmd,
        dir.path(),
        &config(&url, "[pipeline]\nfollow_up_ms = 0\n")
            .replace("max_tokens = 48", "max_tokens = 24\ntemperature = 0.0"),
        &input,
        false,
    );
    assert_eq!(run.turns.len(), 20, "{:?}", run.turns);
    for turn in &run.turns {
        assert_eq!(turn["wake_word"], "alexa", "{turn}");
        assert!(!reply(turn).is_empty(), "{turn}");
    }
    let threads: Vec<u64> = run
        .turns
        .iter()
        .map(|t| t["process"]["threads"].as_u64().unwrap())
        .collect();
    let rss: Vec<u64> = run
        .turns
        .iter()
        .map(|t| t["process"]["rss_kb"].as_u64().unwrap())
        .collect();
    eprintln!("threads {threads:?}\nrss_kb {rss:?}");
    // Threads: the same set from the second turn on. At the first turn's report a thread of
    // start-up may still be winding down (seen once in a fresh-clone run: [11, 10, 10, …]);
    // a leak grows turn after turn, which turns 2-20 show.
    assert!(
        threads[1..].iter().all(|&t| t == threads[1]) && threads[0] >= threads[1],
        "threads changed: {threads:?}"
    );
    // Memory: ONNX Runtime's and the allocator's arenas settle over the first turns but
    // still step now and then: measured, one step of 20-45 MB between turns 12 and 18 in
    // three of four runs, and 1-2 MB rises at 5 of the last 9 turns in a fresh clone (flat
    // from turn 18). A leak grows turn after turn: over the last ten turns, RSS may not
    // rise (by more than 256 kB) at more than 6 turns, nor by 64 MB in all. The long-run
    // bound is the soak's (make soak-short: turn 100 within 5 % of turn 50).
    let rises = rss[10..].windows(2).filter(|w| w[1] > w[0] + 256).count();
    assert!(
        rises <= 6,
        "RSS rose at {rises} of the last 9 turns: {rss:?}"
    );
    let warm = *rss[8..14].iter().max().unwrap();
    let last = *rss[14..].iter().max().unwrap();
    assert!(
        last < warm + 64 * 1024,
        "memory grew by {} kB from turns 9-14 to 15-20: {rss:?}",
        last.saturating_sub(warm)
    );
}
