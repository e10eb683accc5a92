//! The capture and playback threads in-process, on file-backed ALSA devices: overrun
//! recovery, reopening with backoff, ring overflow and flushing during playback.
//!
//! alsa-lib reads its configuration once per process, so every device these tests use is
//! defined in one generated file, activated before the first device is opened.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use hearken::audio::filedev::{self, FileDevice};
use hearken::audio::{
    AudioConfig, Capture, CaptureSettings, CaptureState, Pacing, Playback, PlaybackSettings,
};

struct Env {
    dir: PathBuf,
    speech: Vec<i16>,
}

/// Device names, each backed by files in the shared directory.
const SPEECH_IN: &str = "t_speech_in";
const LATE_IN: &str = "t_late_in";
const FLUSH_OUT: &str = "t_flush_out";

/// Every log line, to check that retries log once per state change.
struct Recorder(Mutex<Vec<String>>);

static LOG: Recorder = Recorder(Mutex::new(Vec::new()));

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let line = format!("{} {}", record.level(), record.args());
        self.0.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

fn log_lines_about(device: &str) -> Vec<String> {
    let lines = LOG.0.lock().unwrap();
    lines
        .iter()
        .filter(|l| l.contains(device))
        .cloned()
        .collect()
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        log::set_logger(&LOG).unwrap();
        log::set_max_level(log::LevelFilter::Info);
        let dir = tempfile::tempdir().unwrap().keep();
        let wav = common::librivox_wavs().into_iter().next().unwrap();
        let speech = hearken::audio::wav::read_16k_i16(&wav).unwrap();
        filedev::write_raw(&dir.join("speech.raw"), &speech).unwrap();
        let dev = |name: &str, input: Option<&str>, output: &str| FileDevice {
            name: name.into(),
            input_raw: input.map(|i| dir.join(i)),
            output_raw: dir.join(output),
        };
        let path = filedev::write_config(
            &dir.join("alsa.conf"),
            &[
                dev(SPEECH_IN, Some("speech.raw"), "speech_in.out"),
                // Its input appears only later (a USB microphone being plugged in).
                dev(LATE_IN, Some("late.raw"), "late.out"),
                dev(FLUSH_OUT, None, "flush.raw"),
            ],
        )
        .unwrap();
        filedev::activate(&path);
        Env { dir, speech }
    })
}

fn capture_settings(device: &str, frames: usize) -> CaptureSettings {
    let mut s = CaptureSettings::from_config(&AudioConfig::default());
    s.device = device.into();
    s.pacing = Pacing::Unpaced;
    s.retry_open = false;
    s.end_after_frames = Some(frames as u64);
    s
}

fn read_all(capture: &mut Capture) -> Vec<i16> {
    let mut out = Vec::new();
    let mut buf = vec![0i16; 1600];
    loop {
        let n = capture.read_blocking(&mut buf);
        out.extend_from_slice(&buf[..n]);
        if n < buf.len() {
            return out;
        }
    }
}

#[test]
fn forced_overruns_are_recovered_and_counted() {
    let env = env();
    let mut s = capture_settings(SPEECH_IN, env.speech.len());
    s.inject_overrun_every = 25;
    let mut capture = Capture::start(&s).unwrap();
    let got = read_all(&mut capture);
    let stats = capture.stop();
    // One overrun per 25 period attempts: 355 periods of audio → 14 or 15 overruns.
    let periods = env.speech.len().div_ceil(320) as u64;
    assert!(
        stats.xruns >= periods / 25 && stats.xruns <= periods / 24 + 1,
        "{stats:?}"
    );
    assert_eq!(stats.reopens, 0, "{stats:?}");
    assert_eq!(stats.state, CaptureState::Ended);
    assert!(got == env.speech, "audio after recovery differs");
}

#[test]
fn a_full_ring_drops_and_counts_instead_of_blocking() {
    let env = env();
    let mut s = capture_settings(SPEECH_IN, env.speech.len());
    s.pacing = Pacing::Device;
    s.ring_ms = 1000;
    let mut capture = Capture::start(&s).unwrap();
    // Nobody reads until the device has delivered everything.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !capture.handle().ended() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let got = read_all(&mut capture);
    let stats = capture.stop();
    assert_eq!(got.len(), 16_000, "{stats:?}");
    assert_eq!(
        stats.dropped as usize,
        env.speech.len() - 16_000,
        "{stats:?}"
    );
    assert!(got[..] == env.speech[..16_000]);
}

#[test]
fn open_failure_backs_off_and_recovers_when_the_device_appears() {
    let env = env();
    let late = env.dir.join("late.raw");
    let _ = std::fs::remove_file(&late);
    let mut s = capture_settings(LATE_IN, env.speech.len());
    s.retry_open = true;
    s.backoff_max = Duration::from_millis(200);

    // Without retry the caller is told at once, with the device and what to do.
    let mut strict = s.clone();
    strict.retry_open = false;
    let err = Capture::start(&strict).err().expect("open fails");
    assert_eq!(err.action(), hearken::audio::Action::RetryLater);
    assert_eq!(err.device(), Some(LATE_IN));

    let mut capture = Capture::start(&s).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while capture.stats().state != CaptureState::Reopening && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Several attempts fail while the device is missing.
    std::thread::sleep(Duration::from_millis(500));
    let stats = capture.stats();
    assert_eq!(stats.state, CaptureState::Reopening, "{stats:?}");
    assert_eq!(stats.samples, 0);
    filedev::write_raw(&late, &env.speech).unwrap();
    let got = read_all(&mut capture);
    let stats = capture.stop();
    assert_eq!(stats.reopens, 1, "{stats:?}");
    // Many attempts failed, but the log says so once, and once that the device is back.
    let lines = log_lines_about(LATE_IN);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with("WARN capture:") && lines[0].contains("retrying"),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with("INFO capture:") && lines[1].contains("is back"),
        "{lines:#?}"
    );
    assert!(
        got == env.speech,
        "{} of {} samples",
        got.len(),
        env.speech.len()
    );
}

fn playback_settings(device: &str) -> PlaybackSettings {
    let mut s = PlaybackSettings::from_config(&AudioConfig::default());
    s.device = device.into();
    s.retry_open = false;
    s.paced = true;
    s
}

#[test]
fn flush_during_playback_stops_the_reply_and_the_next_one_plays() {
    let env = env();
    let out = env.dir.join("flush.raw");
    let mut playback = Playback::start(&playback_settings(FLUSH_OUT), 16_000).unwrap();
    playback.arm();
    let first = &env.speech[..];
    let queued = playback.write(first);
    assert!(queued >= 16_000);
    // Paced like a speaker: let about 300 ms play, then barge in.
    std::thread::sleep(Duration::from_millis(300));
    let flushed_at = Instant::now();
    // Barge-in comes from another thread (the listener) through the control handle.
    let control = playback.control();
    std::thread::spawn(move || control.flush()).join().unwrap();
    let after_flush = playback.stats();
    assert!(playback.first_write().unwrap() < flushed_at);
    assert_eq!(playback.queued(), 0);
    assert!(playback.is_idle());
    assert!(after_flush.flushed > 0, "{after_flush:?}");
    assert_eq!(
        after_flush.written + after_flush.flushed,
        queued as u64,
        "{after_flush:?}"
    );
    assert!(after_flush.written < queued as u64 / 2, "{after_flush:?}");
    // Nothing more reaches the device after the flush returned.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(playback.stats().device_frames, after_flush.device_frames);

    // The next reply plays in full.
    let second: Vec<i16> = env.speech[..8000].iter().map(|s| s / 2).collect();
    playback.arm();
    assert_eq!(
        playback.write_blocking(&second, &AtomicBool::new(false)),
        8000
    );
    let ended = playback.drain().expect("played out");
    let started = playback.first_write().unwrap();
    assert!(ended > started);
    let stats = playback.finish();
    assert_eq!(stats.underruns, 0);
    let played = filedev::read_raw(Path::new(&out)).unwrap();
    let n = after_flush.device_frames as usize;
    assert_eq!(played.len(), n + second.len());
    assert!(
        played[..n] == first[..n],
        "flushed reply is not a prefix of the input"
    );
    assert!(played[n..] == second[..], "second reply differs");
}

#[test]
fn realtime_pacing_never_runs_ahead_of_the_clock() {
    let env = env();
    let mut s = capture_settings(SPEECH_IN, env.speech.len());
    s.pacing = Pacing::Realtime;
    let started = Instant::now();
    let mut capture = Capture::start(&s).unwrap();
    let mut buf = vec![0i16; 320];
    let mut got = Vec::new();
    for _ in 0..15 {
        let n = capture.read_blocking(&mut buf);
        got.extend_from_slice(&buf[..n]);
        // Everything delivered so far was due by now (one period of slack: a period is
        // released as soon as it is read, then the thread waits for its end).
        let stats = capture.stats();
        let due = started.elapsed().as_secs_f64() * 16_000.0 + 320.0;
        assert!(
            stats.samples as f64 <= due,
            "{} samples after {:?}",
            stats.samples,
            started.elapsed()
        );
    }
    capture.stop();
    assert!(got[..] == env.speech[..got.len()]);
}

#[test]
fn a_device_lost_mid_stream_is_reopened_and_logged_once() {
    let env = env();
    let mut s = capture_settings(SPEECH_IN, env.speech.len());
    s.retry_open = true;
    s.inject_lost_after = 50;
    let mut capture = Capture::start(&s).unwrap();
    let got = read_all(&mut capture);
    let stats = capture.stop();
    assert_eq!(stats.reopens, 1, "{stats:?}");
    assert_eq!(stats.xruns, 0, "{stats:?}");
    // 49 periods were read before the loss; the reopened file device starts its file over,
    // and the input still ends after the file's length in total.
    let k = 49 * 320;
    assert_eq!(got.len(), env.speech.len());
    assert!(got[..k] == env.speech[..k]);
    assert!(got[k..] == env.speech[..env.speech.len() - k]);
    let lines = log_lines_about(&format!("`{SPEECH_IN}`"));
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with("WARN capture:") && lines[0].contains("stopped working"),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with("INFO capture:") && lines[1].contains("is back"),
        "{lines:#?}"
    );
}
