//! `hearken run` as a child process on file-backed ALSA devices paced like a sound card,
//! its stderr (the log) and stdout (one JSON turn report a line) collected as they come.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::mic::Mic;
use super::{daemon_config_at, hearken, llm_url};
use hearken::audio::filedev::{self, FileDevices};

pub struct Daemon {
    pub dir: PathBuf,
    pub child: Child,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
    turns: Arc<Mutex<Vec<serde_json::Value>>>,
    /// Where the file-backed speaker writes (raw 16-bit mono at the voice's rate).
    pub playback_raw: PathBuf,
}

/// `hearken run` on file-backed devices in `dir` (input `input`, output `dir/out.raw`),
/// with the local LLM server; `llm_extra` goes into `[llm]`.
pub fn start(dir: &Path, input: &[i16], playback_device: Option<&str>, llm_extra: &str) -> Daemon {
    start_at(dir, input, playback_device, &llm_url(), llm_extra, "", &[])
}

/// As [`start`] with the LLM at `base_url`, `tail` after the config's `[api] socket` line
/// (more `[api]` keys, then any whole sections) and more environment for the daemon.
pub fn start_at(
    dir: &Path,
    input: &[i16],
    playback_device: Option<&str>,
    base_url: &str,
    llm_extra: &str,
    tail: &str,
    env: &[(&str, &str)],
) -> Daemon {
    let input_raw = dir.join("input.raw");
    filedev::write_raw(&input_raw, input).unwrap();
    spawn(
        dir,
        &input_raw,
        playback_device,
        base_url,
        llm_extra,
        tail,
        env,
    )
}

/// As [`start_at`] with a [`Mic`] as the microphone (its FIFO `dir/mic.fifo`): the test
/// says a phrase when it wants one heard.
pub fn start_with_mic(
    dir: &Path,
    base_url: &str,
    llm_extra: &str,
    tail: &str,
    env: &[(&str, &str)],
) -> (Daemon, Mic) {
    let fifo = dir.join("mic.fifo");
    let mic = Mic::fifo(&fifo);
    let daemon = spawn(dir, &fifo, None, base_url, llm_extra, tail, env);
    (daemon, mic)
}

/// `hearken run` reading `capture_input` (a raw file or a FIFO) as its microphone.
fn spawn(
    dir: &Path,
    capture_input: &Path,
    playback_device: Option<&str>,
    base_url: &str,
    llm_extra: &str,
    tail: &str,
    env: &[(&str, &str)],
) -> Daemon {
    let playback_raw = dir.join("out.raw");
    let devices = FileDevices::create(dir, Some(capture_input), &playback_raw).unwrap();
    let playback = playback_device.unwrap_or(&devices.playback);
    let config = daemon_config_at(dir, &devices, playback, base_url, llm_extra, tail);
    let mut child = hearken()
        .envs(env.iter().copied())
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("ALSA_CONFIG_PATH", &devices.alsa_config_path)
        .stdout(Stdio::piped())
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
    let turns = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().unwrap();
    let keep = turns.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(turn) = serde_json::from_str(&line) {
                keep.lock().unwrap().push(turn);
            }
        }
    });
    Daemon {
        dir: dir.to_owned(),
        child,
        lines,
        log,
        turns,
        playback_raw,
    }
}

impl Daemon {
    /// The API's unix socket (`[api] socket`).
    pub fn socket(&self) -> PathBuf {
        self.dir.join("api.sock")
    }

    /// Waits (60 s at most) until the API answers on its socket.
    pub async fn wait_for_socket(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while hearken::api::client::get(&self.socket(), "/v1/state")
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "no API socket:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn wait_for_line(&self, needle: &str) {
        self.wait_for_line_within(needle, Duration::from_secs(120));
    }

    pub fn wait_for_line_within(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("never logged {needle:?}:\n{}", self.log());
    }

    /// The turn reports printed so far.
    pub fn turns(&self) -> Vec<serde_json::Value> {
        self.turns.lock().unwrap().clone()
    }

    /// Waits for a turn report that `accept` takes.
    pub fn wait_for_turn(
        &self,
        within: Duration,
        accept: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(turn) = self.turns().into_iter().find(|t| accept(t)) {
                return turn;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no such turn: {:?}\n{}", self.turns(), self.log());
    }

    /// Waits (2 s at most) for `needle` anywhere in the log so far.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            if Instant::now() > deadline {
                panic!("never logged {needle:?}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM; returns the exit status and how long the daemon took.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let asked = Instant::now();
        // SAFETY: a plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        self.wait(asked)
    }

    pub fn wait(&mut self, since: Instant) -> (std::process::ExitStatus, Duration) {
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
