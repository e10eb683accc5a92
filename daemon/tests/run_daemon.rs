//! `hearken run`, the daemon itself, on file-backed ALSA devices paced like a sound card:
//! it stops within 2 s of SIGTERM whatever it is doing and whatever state the speaker is
//! in, closing its devices.

mod common;

use std::path::Path;
use std::time::Duration;

use common::daemon::Daemon;
use common::rig::{conversation, Part};

/// The daemon stops within this after SIGTERM (the bound; systemd's is larger).
const STOP_BOUND: Duration = Duration::from_secs(2);

fn start(dir: &Path, input: &[i16], playback_device: Option<&str>, llm_extra: &str) -> Daemon {
    Daemon::start(dir, input, playback_device, llm_extra, "")
}

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
}
