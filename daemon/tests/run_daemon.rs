//! `hearken run`, the daemon itself, on file-backed ALSA devices paced like a sound card:
//! it stops within 2 s of SIGTERM whatever it is doing (listening, thinking, speaking) and
//! whatever state the speaker is in, closing its devices; a speaker that is gone is logged
//! as a device outage record; killed outright (SIGKILL, an OOM kill, a power cut of the
//! process), it starts again where it was and answers, with nothing to clean up first.

mod common;

use std::time::Duration;

use common::daemon::{start, start_at};
use common::llm_url;
use common::rig::{conversation, slow_first_answer, Part};

/// The daemon stops within this after SIGTERM (the bound; systemd's is larger).
const STOP_BOUND: Duration = Duration::from_secs(2);

fn assert_closed_devices(log: &str) {
    assert!(
        log.contains("capture: `hearken_file_capture` closed"),
        "{log}"
    );
}

#[test]
fn sigterm_while_speaking_stops_within_two_seconds_with_the_devices_closed() {
    let dir = tempfile::tempdir().unwrap();
    let input = conversation(&[Part::Say("alexa_story"), Part::Silence(60.0)]);
    let mut daemon = start(dir.path(), &input, None, "max_tokens = 300");
    daemon.wait_for_line("state: Speaking");
    let (status, took) = daemon.terminate();
    let log = daemon.log();
    eprintln!("stopped in {took:?}, {status}");
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    assert!(status.success(), "{status}\n{log}");
    assert!(took < STOP_BOUND, "took {took:?}\n{log}");
    assert_closed_devices(&log);
    assert!(
        log.contains("playback: `hearken_file_playback` closed"),
        "{log}"
    );
    assert!(log.contains("cut off"), "the answer was cut off: {log}");
}

#[test]
fn sigterm_with_the_speaker_gone_stops_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let input = conversation(&[Part::Say("alexa_capital"), Part::Silence(60.0)]);
    // No such PCM: the playback thread keeps trying to reopen it while the answer waits.
    let mut daemon = start(
        dir.path(),
        &input,
        Some("hearken_unplugged_speaker"),
        "max_tokens = 48",
    );
    daemon.wait_for_line("hearken_unplugged_speaker");
    daemon.wait_for_line("state: Thinking");
    // Give the answer time to fill what the speaker would take.
    std::thread::sleep(Duration::from_secs(2));
    let (status, took) = daemon.terminate();
    let log = daemon.log();
    eprintln!("stopped in {took:?}, {status}");
    assert!(status.success(), "{status}\n{log}");
    assert!(took < STOP_BOUND, "took {took:?}\n{log}");
    assert_closed_devices(&log);
    // The outage is its own journal record (HEARKEN_EVENT=device; on stderr here).
    assert!(
        log.contains("playback device `hearken_unplugged_speaker` lost; reopening it"),
        "{log}"
    );
}

/// SIGTERM in `state` (the daemon's `state: ...` log line) ends it within the bound,
/// successfully and with the devices closed.
fn assert_stops_in(daemon: &mut common::daemon::Daemon, state: &str) {
    daemon.wait_for_line(&format!("state: {state}"));
    let (status, took) = daemon.terminate();
    let log = daemon.log();
    eprintln!("stopped in {took:?} while {state}, {status}");
    assert!(status.success(), "{status}\n{log}");
    assert!(took < STOP_BOUND, "took {took:?}\n{log}");
    assert_closed_devices(&log);
}

#[test]
fn sigterm_while_listening_stops_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    // The question after the wake word takes seconds to say: SIGTERM comes in the middle.
    let input = conversation(&[Part::Say("alexa_story"), Part::Silence(60.0)]);
    let mut daemon = start(dir.path(), &input, None, "max_tokens = 48");
    assert_stops_in(&mut daemon, "Listening");
}

#[test]
fn sigterm_while_thinking_stops_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let input = conversation(&[Part::Say("alexa_capital"), Part::Silence(60.0)]);
    // The server holds the request: the daemon is thinking for 60 s if left alone.
    let busy = slow_first_answer(&llm_url(), Duration::from_secs(60));
    let mut daemon = start_at(
        dir.path(),
        &input,
        None,
        &busy,
        "max_tokens = 48\nfirst_token_timeout_s = 90.0",
        "",
        &[],
    );
    assert_stops_in(&mut daemon, "Thinking");
}

#[test]
fn sigkill_then_restart_is_ready_and_answers_with_nothing_to_clean_up() {
    let dir = tempfile::tempdir().unwrap();
    let silence = conversation(&[Part::Silence(120.0)]);
    let mut killed = start(dir.path(), &silence, None, "max_tokens = 24");
    killed.wait_for_line("ready: listening");
    // Killed once it is serving its API: the socket file stays behind, as after a crash.
    while !killed.socket().exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    killed.child.kill().unwrap();
    let status = killed.child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    assert!(killed.socket().exists(), "a crash leaves its socket behind");
    drop(killed);

    // The same directory, config and socket path, nothing removed by hand.
    let input = conversation(&[Part::Say("alexa_capital"), Part::Silence(60.0)]);
    let mut daemon = start(dir.path(), &input, None, "max_tokens = 24");
    daemon.wait_for_line("ready: listening");
    let turn = daemon.wait_for_turn(Duration::from_secs(120), |_| true);
    assert_eq!(turn["fallback"], false, "{turn}\n{}", daemon.log());
    assert!(
        !turn["reply"].as_str().unwrap_or_default().trim().is_empty(),
        "{turn}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let state = rt
        .block_on(hearken::api::client::get(&daemon.socket(), "/v1/state"))
        .expect("the API answers on the reused socket path");
    assert_eq!(state.status, 200, "{}", state.body);
    let log = daemon.log();
    assert!(!log.contains("ERROR"), "{log}");
    let (status, _) = daemon.terminate();
    assert!(status.success(), "{status}\n{log}");
}
