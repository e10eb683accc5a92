//! The daemon (`hearken run` on file-backed devices, the real models, the real llama.cpp
//! server of scripts/local-llm) through LLM server faults between turns: each fault is heard
//! as the spoken apology, named in the log, and the next turn is answered. The faults within
//! one answer (killed mid-stream, stalled, trickling, garbage, a refused key, rate limits)
//! are in llm_server.rs and loop_e2e.rs.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use common::daemon::{start_with_mic, Daemon};
use common::rig::pipe;
use common::{host_port, llm_url, repo_root, text};
use serde_json::Value;

/// One llama.cpp server, which one test stops and starts: one test at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A limit for a turn on two shared cores, not a measurement.
const TURN: Duration = Duration::from_secs(120);

const LLM: &str = "max_tokens = 24\nretries = 0\nfirst_token_timeout_s = 30.0";

fn fallback(turn: &Value) -> bool {
    turn["fallback"] == true
}

/// A turn whose reply came from the LLM.
fn answered(turn: &Value) -> bool {
    turn["fallback"] == false && !turn["reply"].as_str().unwrap_or_default().trim().is_empty()
}

fn transcript_has(turn: &Value, word: &str) -> bool {
    turn["transcript"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase()
        .contains(word)
}

/// Waits for the `n`th turn report and returns it.
fn nth_turn(daemon: &Daemon, n: usize) -> Value {
    daemon.wait_for_turn(TURN, |_| daemon.turns().len() >= n);
    daemon.turns()[n - 1].clone()
}

/// A forwarder to the LLM server that answers the first `fail_first` requests itself with
/// HTTP 500 (a server whose model crashed), then passes requests on. Counts connections.
fn failing_first(upstream: &str, fail_first: usize) -> (String, Arc<AtomicUsize>) {
    let upstream = host_port(upstream);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                // Read the request's head before answering, as a server would.
                let mut buf = [0u8; 8192];
                let _ = client.read(&mut buf);
                let body =
                    r#"{"error":{"message":"model crashed","type":"server_error","code":500}}"#;
                let _ = write!(
                    client,
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                continue;
            }
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
    (format!("http://127.0.0.1:{port}/v1"), count)
}

fn local_llm(what: &str) {
    let out = Command::new(repo_root().join("scripts/local-llm"))
        .arg(what)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "local-llm {what}: {}",
        text(&out.stderr)
    );
}

#[test]
fn an_http_500_is_spoken_as_the_apology_and_the_next_turn_is_answered() {
    let _serial = serial();
    let (url, connections) = failing_first(&llm_url(), 1);
    let dir = tempfile::tempdir().unwrap();
    let (daemon, mic) = start_with_mic(dir.path(), &url, LLM, "", &[]);
    daemon.wait_for_line("ready: listening");

    mic.say("loop/alexa_capital.wav");
    let failed = nth_turn(&daemon, 1);
    assert!(fallback(&failed), "{failed}\n{}", daemon.log());
    assert!(
        failed["reply"].as_str().unwrap().starts_with("Sorry"),
        "{failed}"
    );
    let line = daemon.wait_for_log("HTTP 500");
    assert!(line.contains(&url), "the log names the server: {line}");

    mic.say("loop/alexa_sum.wav");
    let next = nth_turn(&daemon, 2);
    assert!(answered(&next), "{next}\n{}", daemon.log());
    assert!(
        transcript_has(&next, "plus") || transcript_has(&next, "+"),
        "{next}"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 2, "{}", daemon.log());
}

#[test]
fn the_llm_server_restarted_between_turns_answers_the_next_turn() {
    let _serial = serial();
    let url = llm_url();
    let dir = tempfile::tempdir().unwrap();
    let (daemon, mic) = start_with_mic(dir.path(), &url, LLM, "", &[]);
    daemon.wait_for_line("ready: listening");

    mic.say("loop/alexa_capital.wav");
    let first = nth_turn(&daemon, 1);
    assert!(answered(&first), "{first}\n{}", daemon.log());

    // The server goes away (its kept-alive connection with it): the turn asked meanwhile is
    // the apology, and the log says the server is unreachable and where.
    local_llm("stop");
    mic.say("loop/alexa_sum.wav");
    let down = nth_turn(&daemon, 2);
    // Back before anything else can fail on its absence.
    local_llm("start");
    assert!(fallback(&down), "{down}\n{}", daemon.log());
    let line = daemon.wait_for_log("LLM unreachable");
    assert!(line.contains(&host_port(&url)), "{line}");

    // A new server process on the same port: a new connection, and an answer.
    mic.say("loop/alexa_colour.wav");
    let back = nth_turn(&daemon, 3);
    assert!(answered(&back), "{back}\n{}", daemon.log());
    assert!(transcript_has(&back, "colo"), "the third question: {back}");
}
