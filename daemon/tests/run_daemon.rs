//! `hearken run`, the daemon itself, on file-backed ALSA devices paced like a sound card:
//! it stops within 2 s of SIGTERM whatever it is doing and whatever state the speaker is
//! in, closing its devices; a speaker that is gone is logged as a device outage record.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::rig::{conversation, Part};
use common::{daemon_config, hearken};
use hearken::audio::filedev::{self, FileDevices};

/// The daemon stops within this after SIGTERM (the bound; systemd's is larger).
const STOP_BOUND: Duration = Duration::from_secs(2);

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

fn start(dir: &Path, input: &[i16], playback_device: Option<&str>, llm_extra: &str) -> Daemon {
    let input_raw = dir.join("input.raw");
    filedev::write_raw(&input_raw, input).unwrap();
    let devices = FileDevices::create(dir, Some(&input_raw), &dir.join("out.raw")).unwrap();
    let playback = playback_device.unwrap_or(&devices.playback);
    let config = daemon_config(dir, &devices, playback, llm_extra);
    let mut child = hearken()
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("ALSA_CONFIG_PATH", &devices.alsa_config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hearken runs");
    let (tx, lines) = mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().unwrap();
    let keep = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            keep.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    Daemon { child, lines, log }
}

impl Daemon {
    fn wait_for_line(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("never logged {needle:?}:\n{}", self.log());
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM; returns the exit status and how long the daemon took.
    fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let asked = Instant::now();
        // SAFETY: a plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        self.wait(asked)
    }

    fn wait(&mut self, since: Instant) -> (std::process::ExitStatus, Duration) {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return (status, since.elapsed());
            }
            if since.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("still running 30 s later:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    // The outage is its own journal record (HEARKEN_EVENT=device; on stderr here).
    assert!(
        log.contains("playback device `hearken_unplugged_speaker` lost; reopening it"),
        "{log}"
    );
}
