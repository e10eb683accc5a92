//! `hearken run` under a service manager's notify protocol, served by the test itself: a
//! unix datagram socket as NOTIFY_SOCKET and WATCHDOG_USEC set, on file-backed ALSA devices
//! paced in real time, with the real models and LLM server, under the kernel's
//! memory-deny-write-execute rule where it has one (as the unit's MemoryDenyWriteExecute).
//!
//! - READY=1 comes only after the models are loaded (and EXTEND_TIMEOUT_USEC before it),
//!   STATUS= follows a turn (listening → thinking → speaking → listening), WATCHDOG=1 comes
//!   at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM; SIGHUP with a broken config keeps
//!   the daemon running, with a changed one names the changed key.
//! - SIGHUP applies live keys to the running loop: a wake threshold raised to 0.99 makes
//!   the spoken wake word start no turn, a broken file leaves it so (the error names its
//!   line), and going back to 0.5 with the LLM pointed at a dead port makes the word start
//!   a turn whose answer fails, after which STATUS= says the LLM is unreachable and why.
//! - A capture thread wedged in a read (its input a FIFO whose writer stops writing but
//!   stays open, as a hung driver would) stops the listener, and the watchdog pings stop;
//!   SIGTERM still ends the daemon within 2 s.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::mic::Mic;
use common::rig::{conversation, Part};
use common::{daemon_config, hearken};
use hearken::audio::filedev::{self, FileDevices};

/// WATCHDOG_USEC given to the daemon: it should ping every half of it.
const WATCHDOG: Duration = Duration::from_secs(2);

/// One datagram from the daemon, line by line, with when it came.
#[derive(Debug, Clone)]
struct Message {
    at: Instant,
    lines: Vec<String>,
}

struct Daemon {
    child: Child,
    messages: Arc<Mutex<Vec<Message>>>,
    log: Arc<Mutex<Vec<String>>>,
}

/// `hearken`, run under the kernel's memory-deny-write-execute (scripts/check-mdwe), as the
/// unit's MemoryDenyWriteExecute=yes runs it, where the kernel has it (Linux >= 6.3).
fn hearken_under_mdwe() -> std::process::Command {
    let wrapper = common::repo_root().join("scripts/check-mdwe");
    let supported = std::process::Command::new(&wrapper)
        .arg("true")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !supported {
        eprintln!("no PR_SET_MDWE here: running hearken without it");
        return hearken();
    }
    let mut cmd = std::process::Command::new(wrapper);
    cmd.arg(env!("CARGO_BIN_EXE_hearken"))
        .env_remove("HEARKEN_CONFIG")
        .env_remove("RUST_LOG");
    cmd
}

/// Starts `hearken run` with `capture_input` (a raw file or a FIFO) as the microphone.
fn start(dir: &Path, capture_input: &Path) -> Daemon {
    let devices = FileDevices::create(dir, Some(capture_input), &dir.join("out.raw")).unwrap();
    let config = daemon_config(dir, &devices, &devices.playback, "max_tokens = 48");
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut child = hearken_under_mdwe()
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("ALSA_CONFIG_PATH", &devices.alsa_config_path)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hearken runs");
    let messages = Arc::new(Mutex::new(Vec::new()));
    let keep = messages.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        loop {
            match socket.recv(&mut buf) {
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    let lines = text.lines().map(str::to_string).collect();
                    keep.lock().unwrap().push(Message {
                        at: Instant::now(),
                        lines,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
            if std::sync::Arc::strong_count(&keep) == 1 {
                break;
            }
        }
    });
    let log = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().unwrap();
    let keep = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            keep.lock().unwrap().push(line);
        }
    });
    Daemon {
        child,
        messages,
        log,
    }
}

impl Daemon {
    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn messages(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until a datagram has a line for which `want` holds; returns when it came.
    fn wait_for(&mut self, what: &str, within: Duration, want: impl Fn(&str) -> bool) -> Instant {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(m) = self
                .messages()
                .into_iter()
                .find(|m| m.lines.iter().any(|l| want(l)))
            {
                return m.at;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("hearken exited ({status}) before {what}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no {what} within {within:?}; got {:#?}\n{}",
            self.lines(),
            self.log()
        );
    }

    /// Every line received, in order.
    fn lines(&self) -> Vec<String> {
        self.messages().into_iter().flat_map(|m| m.lines).collect()
    }

    /// The STATUS= values, in order, with repeats collapsed.
    fn statuses(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in self.lines() {
            if let Some(s) = line.strip_prefix("STATUS=") {
                if out.last().map(String::as_str) != Some(s) {
                    out.push(s.to_string());
                }
            }
        }
        out
    }

    /// When each WATCHDOG=1 came.
    fn pings(&self) -> Vec<Instant> {
        self.messages()
            .into_iter()
            .filter(|m| m.lines.iter().any(|l| l == "WATCHDOG=1"))
            .map(|m| m.at)
            .collect()
    }

    fn hangup(&self) {
        // SAFETY: a plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGHUP) };
    }

    fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("never logged {needle:?}:\n{}", self.log());
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: a plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let asked = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            assert!(
                asked.elapsed() < Duration::from_secs(10),
                "still running:\n{}",
                self.log()
            );
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

#[test]
fn ready_after_loading_status_through_a_turn_watchdog_at_half_the_interval_reload_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let input_raw = dir.path().join("input.raw");
    let input = conversation(&[
        Part::Silence(3.0),
        Part::Say("alexa_capital"),
        Part::Silence(60.0),
    ]);
    filedev::write_raw(&input_raw, &input).unwrap();
    let mut daemon = start(dir.path(), &input_raw);

    let ready = daemon.wait_for("READY=1", Duration::from_secs(120), |l| l == "READY=1");
    let log = daemon.log();
    assert!(
        log.contains("engines loaded"),
        "READY before the models: {log}"
    );
    // The start timeout was extended while the models loaded, before READY.
    let lines = daemon.lines();
    let extend = lines
        .iter()
        .position(|l| l.starts_with("EXTEND_TIMEOUT_USEC="))
        .expect("EXTEND_TIMEOUT_USEC while loading");
    let ready_at = lines.iter().position(|l| l == "READY=1").unwrap();
    assert!(extend < ready_at, "{lines:#?}");
    assert!(
        lines[..ready_at].contains(&"STATUS=loading models".to_string()),
        "{lines:#?}"
    );

    // A turn: the status goes listening → thinking → speaking → listening.
    daemon.wait_for("STATUS=speaking", Duration::from_secs(60), |l| {
        l == "STATUS=speaking"
    });
    let back = Instant::now();
    let deadline = back + Duration::from_secs(30);
    while Instant::now() < deadline {
        if daemon.statuses().last().map(String::as_str) == Some("listening for alexa") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let statuses = daemon.statuses();
    eprintln!("statuses: {statuses:#?}");
    let after_ready: Vec<&str> = statuses
        .iter()
        .map(String::as_str)
        .skip_while(|s| *s == "loading models")
        .collect();
    let expected = [
        "listening for alexa",
        "listening to a question",
        "thinking",
        "speaking",
        "listening for alexa",
    ];
    assert_eq!(after_ready, expected, "{}", daemon.log());

    // The watchdog: a ping every WATCHDOG / 2 from READY on, none missed.
    let pings: Vec<Instant> = daemon.pings().into_iter().filter(|&p| p >= ready).collect();
    let span = pings.last().unwrap().duration_since(ready);
    assert!(span > Duration::from_secs(5), "{} pings", pings.len());
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("{} pings over {span:?}, gaps {gaps:?}", pings.len());
    let half = WATCHDOG / 2;
    for gap in &gaps {
        assert!(
            *gap > half.mul_f32(0.7) && *gap < half.mul_f32(1.5),
            "a ping every {half:?}: {gaps:?}"
        );
    }
    assert!(
        daemon.log().contains("a ping every 1000 ms"),
        "{}",
        daemon.log()
    );

    // SIGHUP: a broken file changes nothing and the daemon keeps running; a valid one with a
    // changed threshold is read and the key named (applied live: see below).
    let config = dir.path().join("hearken.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{good}[wake]\nthreshold = \"high\"\n")).unwrap();
    daemon.hangup();
    daemon.wait_for_log("still running on the previous config");
    assert!(
        daemon.log().contains(&format!("{}:", config.display())),
        "the error names the file and line: {}",
        daemon.log()
    );
    std::fs::write(&config, format!("{good}[wake]\nthreshold = 0.7\n")).unwrap();
    daemon.hangup();
    daemon.wait_for_log("wake.threshold");
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "{}",
        daemon.log()
    );

    let status = daemon.terminate();
    assert!(status.success(), "{status}\n{}", daemon.log());
    let lines = daemon.lines();
    assert!(lines.contains(&"STOPPING=1".to_string()), "{lines:#?}");
    assert_eq!(
        daemon.statuses().last().map(String::as_str),
        Some("stopping")
    );
}

#[test]
fn a_wedged_capture_thread_stops_the_watchdog_pings() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("mic.fifo");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path in our own temporary directory.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let mut daemon = start(dir.path(), &fifo);
    // The "microphone": 4 s of audio, then nothing, with the pipe held open, so the
    // capture thread's read(2) inside alsa-lib blocks for good (a hung driver).
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        let audio = conversation(&[Part::Silence(4.0)]);
        let bytes: Vec<u8> = audio.iter().flat_map(|s| s.to_le_bytes()).collect();
        let _ = pipe.write_all(&bytes);
        let _ = done_rx.recv();
        drop(pipe);
    });

    let ready = daemon.wait_for("READY=1", Duration::from_secs(120), |l| l == "READY=1");
    // Pings while audio flows…
    daemon.wait_for("a first WATCHDOG=1", Duration::from_secs(10), |l| {
        l == "WATCHDOG=1"
    });
    // …and none once the capture is stuck.
    let stalled = daemon.wait_for("the stall reported", Duration::from_secs(15), |l| {
        l.starts_with("STATUS=stalled")
    });
    std::thread::sleep(WATCHDOG * 2);
    let pings = daemon.pings();
    let before = pings.iter().filter(|&&p| p >= ready && p < stalled).count();
    let after = pings.iter().filter(|&&p| p > stalled).count();
    eprintln!(
        "{before} pings before the stall, {after} after; {:?}",
        daemon.statuses()
    );
    assert!(before >= 1, "{:#?}", daemon.lines());
    assert_eq!(after, 0, "{:#?}", daemon.lines());
    let log = daemon.log();
    assert!(
        log.contains("the listener (or capture) thread made no progress"),
        "{log}"
    );
    assert_eq!(
        daemon.statuses().last().map(String::as_str),
        Some("stalled: the listener (or capture) thread is stuck"),
        "{log}"
    );
    // SIGTERM still stops it within 2 s: the stuck capture thread is left behind, not
    // joined forever.
    let asked = Instant::now();
    let status = daemon.terminate();
    let took = asked.elapsed();
    drop(done_tx);
    let _ = writer.join();
    let log = daemon.log();
    assert!(status.success(), "{status}\n{log}");
    assert!(took < Duration::from_secs(2), "took {took:?}\n{log}");
    assert!(
        log.contains("is stuck in the device; not waiting for it"),
        "{log}"
    );
}

impl Daemon {
    /// How often `needle` is in the log so far.
    fn count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Sends SIGHUP and waits for the reload's outcome (the `n`th line with `outcome`).
    fn reload(&self, outcome: &str) {
        let before = self.count(outcome);
        self.hangup();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(outcome) == before {
            assert!(
                Instant::now() < deadline,
                "no {outcome:?} after SIGHUP:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Time for a phrase asked of the [`Mic`] to pass through the pipe and the wake word.
const HEARD_WITHIN: Duration = Duration::from_secs(8);
/// "alexa" alone, said slowly by the Piper voice: scores about 0.86 (`hearken wake`), so a
/// threshold of 0.99 misses it and the default 0.5 takes it. (The loop fixtures' "alexa"
/// scores 0.99999: no threshold below 1 would miss it.)
const SLOW_ALEXA: &str = "wake/clips/alexa__piper-joe__slow.wav";
const ALEXA_CAPITAL: &str = "loop/alexa_capital.wav";

#[test]
fn sighup_applies_the_wake_threshold_and_llm_live_and_a_broken_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("mic.fifo");
    let mic = Mic::fifo(&fifo);
    let mut daemon = start(dir.path(), &fifo);
    let config = dir.path().join("hearken.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    daemon.wait_for("READY=1", Duration::from_secs(120), |l| l == "READY=1");

    // The threshold raised to 0.99, live: the wake word no longer starts a turn.
    std::fs::write(&config, format!("{good}[wake]\nthreshold = 0.99\n")).unwrap();
    daemon.reload("reload: applied");
    assert!(daemon.log().contains("wake.threshold"), "{}", daemon.log());
    mic.say(SLOW_ALEXA);
    std::thread::sleep(HEARD_WITHIN);
    assert_eq!(daemon.count("wake word `alexa`"), 0, "{}", daemon.log());

    // A broken file (the threshold back to 0.5, and a bad value on the next line) changes
    // nothing: the error names the file and the line, and 0.99 stays.
    let broken = format!("{good}[wake]\nthreshold = 0.5\nrefractory_ms = \"soon\"\n");
    let bad_line = broken.lines().count();
    std::fs::write(&config, &broken).unwrap();
    daemon.reload("still running on the previous config");
    let at = format!("{}:{bad_line}:", config.display());
    assert!(daemon.log().contains(&at), "no {at} in:\n{}", daemon.log());
    mic.say(SLOW_ALEXA);
    std::thread::sleep(HEARD_WITHIN);
    assert_eq!(daemon.count("wake word `alexa`"), 0, "{}", daemon.log());
    assert!(
        daemon.child.try_wait().unwrap().is_none(),
        "{}",
        daemon.log()
    );

    // Back to 0.5, and the LLM moved to a port nobody listens on, both live: the same word
    // now starts a turn (nothing is said after it: the turn ends unheard), and a question
    // gets an answer that cannot reach the server, after which the status says so.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let moved = good.replace(
        &format!("base_url = \"{}\"", common::llm_url()),
        &format!("base_url = \"http://{dead}/v1\""),
    );
    assert_ne!(moved, good, "the test config has an [llm] base_url line");
    std::fs::write(&config, format!("{moved}[wake]\nthreshold = 0.5\n")).unwrap();
    daemon.reload("reload: applied");
    assert!(daemon.log().contains("llm.base_url"), "{}", daemon.log());
    let idle = daemon.count("state: idle");
    mic.say(SLOW_ALEXA);
    let deadline = Instant::now() + HEARD_WITHIN + Duration::from_secs(10);
    while daemon.count("state: idle") == idle {
        assert!(
            Instant::now() < deadline,
            "no turn ended:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(daemon.count("wake word `alexa`"), 1, "{}", daemon.log());
    mic.say(ALEXA_CAPITAL);
    let want = format!("STATUS=LLM unreachable: connection refused ({dead})");
    daemon.wait_for(&want, Duration::from_secs(60), |l| l == want);
    assert_eq!(daemon.count("wake word `alexa`"), 2, "{}", daemon.log());
    let statuses = daemon.statuses();
    let thinking = statuses.iter().rposition(|s| s == "thinking").unwrap();
    assert_eq!(
        statuses.last().map(String::as_str),
        Some(&want["STATUS=".len()..]),
        "after {:?}",
        &statuses[thinking..]
    );
    // The outage is a journal record of its own (HEARKEN_EVENT=llm; here on stderr).
    assert!(
        daemon
            .log()
            .contains(&format!("LLM unreachable: connection refused ({dead})")),
        "{}",
        daemon.log()
    );

    let status = daemon.terminate();
    assert!(status.success(), "{status}\n{}", daemon.log());
    drop(mic);
}
