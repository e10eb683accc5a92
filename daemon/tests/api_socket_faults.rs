//! The API's unix socket under the daemon (`hearken run` on file-backed devices, the real
//! models, the real llama.cpp server of scripts/local-llm): its path removed while the
//! daemon runs (a tmpfiles clean-up, a hand) is bound again and a turn still works; removed
//! over and over, the daemon exits non-zero naming the stage, for systemd to restart it,
//! rather than listen on where no client can reach it. The LED and button threads dying
//! are in supervision.rs, a handler's panic closing only its connection in api::listen.

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::daemon::{start_with_mic, Daemon};
use common::llm_url;
use hearken::api::client;

/// A limit for a turn on two shared cores, not a measurement.
const TURN: Duration = Duration::from_secs(120);

const LLM: &str = "max_tokens = 24\nfirst_token_timeout_s = 30.0";

/// The tests share two cores and one LLM server: one daemon at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn started() -> (
    tempfile::TempDir,
    Daemon,
    common::mic::Mic,
    tokio::runtime::Runtime,
) {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, mic) = start_with_mic(dir.path(), &llm_url(), LLM, "", &[]);
    daemon.wait_for_line("ready: listening");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(daemon.wait_for_socket());
    (dir, daemon, mic, runtime)
}

#[test]
fn a_removed_api_socket_is_bound_again_and_the_next_turn_is_answered() {
    let _serial = serial();
    let (_dir, mut daemon, mic, runtime) = started();
    let socket = daemon.socket();
    std::fs::remove_file(&socket).unwrap();
    let line = daemon.wait_for_line_within(
        "was removed; listening on it again",
        Duration::from_secs(10),
    );
    assert!(
        line.contains(&socket.display().to_string()),
        "the line names the socket: {line}"
    );
    let health = runtime
        .block_on(client::get(&socket, "/health"))
        .expect("the API answers on its path again");
    assert_eq!(health.status, 200, "{}", health.body);

    mic.say("loop/alexa_capital.wav");
    let turn = daemon.wait_for_turn(TURN, |_| true);
    assert_eq!(turn["fallback"], false, "{turn}\n{}", daemon.log());
    assert!(
        !turn["reply"].as_str().unwrap_or_default().trim().is_empty(),
        "{turn}"
    );
    let (status, _) = daemon.terminate();
    assert!(status.success(), "{status}\n{}", daemon.log());
}

#[test]
fn an_api_socket_removed_again_and_again_stops_the_daemon_non_zero_naming_the_stage() {
    let _serial = serial();
    let (_dir, mut daemon, _mic, _runtime) = started();
    let socket = daemon.socket();
    // Bound again three times within the minute; the fourth removal is one too many.
    for _ in 0..3 {
        std::fs::remove_file(&socket).unwrap();
        // Logged once the socket is there again.
        daemon.wait_for_line_within(
            "was removed; listening on it again",
            Duration::from_secs(10),
        );
    }
    std::fs::remove_file(&socket).unwrap();
    let removed = Instant::now();
    // The path is checked every second, then the loop stops within its 2 s.
    let (status, took) = daemon.wait(removed);
    eprintln!("exited {status} after {took:?}");
    assert_eq!(status.code(), Some(1), "{}", daemon.log());
    assert!(took < Duration::from_secs(5), "{took:?}\n{}", daemon.log());
    let line = daemon.wait_for_log("hearken: the api socket thread failed:");
    assert!(
        line.contains(&format!(
            "{}: removed 4 times within 60 s; not binding it again",
            socket.display()
        )),
        "{line}"
    );
}
